//! A circuit breaker per upstream host: after [`BreakerPolicy::failures`] failures in a row a
//! host is not tried for [`BreakerPolicy::open_for`], so a dead provider costs viewers one
//! quick refusal (or a failover to another source) instead of a connect timeout each; then one
//! probe is let through (half-open), and its outcome closes or reopens the breaker. A probe
//! that ends with neither (its session stopped first) is given back, so the next request
//! probes instead of the host staying refused.
//!
//! A host here is whatever key the caller gives: the relay uses `host:port`, and counts as
//! failures only what says the host is unwell (see the session module), not a refusal of one
//! channel.
//!
//! Written here rather than taken from a crate: what is needed is a map of small breakers
//! keyed by host whose states the session list and the metrics read, which the breaker crates
//! (one breaker per value, state hidden) do not offer; the logic is the twenty lines below.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// When a host's breaker opens and for how long.
#[derive(Clone, Copy, Debug)]
pub struct BreakerPolicy {
    /// Failures in a row that open it.
    pub failures: u32,
    /// How long it stays open before a probe.
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures: 3,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The state of one host's breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BreakerState {
    /// Requests go through.
    Closed,
    /// Requests are refused until the probe time.
    Open,
    /// One probe is under way.
    HalfOpen,
}

#[derive(Debug, Default)]
struct Host {
    failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

/// The breakers of every upstream host.
#[derive(Debug, Default)]
pub(crate) struct Breakers {
    policy: BreakerPolicy,
    hosts: Mutex<HashMap<String, Host>>,
}

impl Breakers {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Host>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `host` may be tried now; `Err` with the time left while it is open.
    pub(crate) fn allow(&self, host: &str) -> Result<(), Duration> {
        let mut hosts = self.lock();
        let Some(state) = hosts.get_mut(host) else {
            return Ok(());
        };
        let Some(opened) = state.opened_at else {
            return Ok(());
        };
        let elapsed = opened.elapsed();
        if elapsed < self.policy.open_for {
            return Err(self.policy.open_for - elapsed);
        }
        if state.probing {
            return Err(Duration::ZERO);
        }
        state.probing = true;
        Ok(())
    }

    /// `host` delivered: its breaker closes.
    pub(crate) fn success(&self, host: &str) {
        self.lock().remove(host);
    }

    /// An attempt on `host` ended without telling whether it works (it was stopped, or
    /// refused for a reason of its own): when it was the probe, the next attempt probes.
    pub(crate) fn release(&self, host: &str) {
        if let Some(state) = self.lock().get_mut(host) {
            state.probing = false;
        }
    }

    /// `host` failed.
    pub(crate) fn failure(&self, host: &str) {
        let mut hosts = self.lock();
        // Bounded: a host is kept only while it fails, and a flood of distinct failing hosts
        // is cut back to the open ones.
        if hosts.len() >= 10_000 {
            hosts.retain(|_, h| h.opened_at.is_some());
        }
        let state = hosts.entry(host.to_owned()).or_default();
        state.failures += 1;
        if state.probing || state.failures >= self.policy.failures {
            state.opened_at = Some(Instant::now());
            state.probing = false;
        }
    }

    /// The state of `host`'s breaker.
    pub(crate) fn state(&self, host: &str) -> BreakerState {
        let hosts = self.lock();
        match hosts.get(host) {
            Some(Host { probing: true, .. }) => BreakerState::HalfOpen,
            Some(Host {
                opened_at: Some(_), ..
            }) => BreakerState::Open,
            _ => BreakerState::Closed,
        }
    }

    /// How many hosts have an open (or half-open) breaker.
    pub(crate) fn open_count(&self) -> usize {
        self.lock()
            .values()
            .filter(|h| h.opened_at.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_opens_after_failures_in_a_row_and_a_probe_closes_it() {
        let breakers = Breakers::new(BreakerPolicy {
            failures: 2,
            open_for: Duration::from_millis(50),
        });
        assert!(breakers.allow("a").is_ok());
        breakers.failure("a");
        assert!(breakers.allow("a").is_ok(), "one failure");
        breakers.failure("a");
        assert_eq!(breakers.state("a"), BreakerState::Open);
        assert!(breakers.allow("a").is_err());
        assert!(breakers.allow("b").is_ok(), "per host");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breakers.allow("a").is_ok(), "the probe");
        assert_eq!(breakers.state("a"), BreakerState::HalfOpen);
        assert!(breakers.allow("a").is_err(), "one probe at a time");
        breakers.success("a");
        assert_eq!(breakers.state("a"), BreakerState::Closed);
        assert!(breakers.allow("a").is_ok());
    }

    #[test]
    fn a_failed_probe_reopens_at_once() {
        let breakers = Breakers::new(BreakerPolicy {
            failures: 3,
            open_for: Duration::from_millis(20),
        });
        for _ in 0..3 {
            breakers.failure("a");
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(breakers.allow("a").is_ok());
        breakers.failure("a");
        assert_eq!(breakers.state("a"), BreakerState::Open);
        assert!(breakers.allow("a").is_err());
        assert_eq!(breakers.open_count(), 1);
    }

    #[test]
    fn a_probe_given_back_lets_the_next_attempt_probe() {
        let breakers = Breakers::new(BreakerPolicy {
            failures: 1,
            open_for: Duration::from_millis(20),
        });
        breakers.failure("a");
        std::thread::sleep(Duration::from_millis(30));
        assert!(breakers.allow("a").is_ok(), "the probe");
        assert!(breakers.allow("a").is_err(), "one probe at a time");
        breakers.release("a");
        assert!(breakers.allow("a").is_ok(), "the next probe");
        assert_eq!(breakers.state("a"), BreakerState::HalfOpen);
    }
}
