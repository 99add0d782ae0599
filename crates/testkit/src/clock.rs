//! A clock the test moves by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tvarr_core::Clock;

/// A [`Clock`] that stands still until the test calls [`ManualClock::advance`].
///
/// It also knows who is asleep on it, so a test can wait for the components it drives to have
/// done what the new time asked of them and gone back to sleep
/// ([`ManualClock::wait_for_sleepers`]) instead of waiting a guessed while.
#[derive(Debug)]
pub struct ManualClock {
    state: watch::Sender<State>,
    next_sleeper: AtomicU64,
}

#[derive(Debug, Clone)]
struct State {
    now: DateTime<Utc>,
    /// Who sleeps, until when.
    sleepers: Vec<(u64, DateTime<Utc>)>,
    /// How many waits have begun so far.
    sleeps: u64,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        let (state, _) = watch::channel(State {
            now: start,
            sleepers: Vec::new(),
            sleeps: 0,
        });
        Self {
            state,
            next_sleeper: AtomicU64::new(0),
        }
    }

    /// Moves the time on by `by`. The sleepers whose moment has come stop counting as asleep at
    /// once, so a [`ManualClock::wait_for_sleepers`] that follows waits for them to sleep again.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.state.send_modify(|state| {
            state.now += by;
            let now = state.now;
            state.sleepers.retain(|(_, at)| *at > now);
        });
    }

    /// Waits until at least `count` tasks sleep on this clock (they have finished reacting to
    /// the last [`ManualClock::advance`]). Panics after 10 s of real time.
    pub async fn wait_for_sleepers(&self, count: usize) {
        let mut rx = self.state.subscribe();
        let asleep = rx.wait_for(|state| state.sleepers.len() >= count);
        match tokio::time::timeout(Duration::from_secs(10), asleep).await {
            Ok(Ok(_)) => {}
            _ => panic!("fewer than {count} tasks went to sleep on the clock within 10 s"),
        }
    }
}

impl ManualClock {
    /// How many waits have begun so far: give it to [`ManualClock::wait_for_sleep_since`].
    pub fn sleeps(&self) -> u64 {
        self.state.borrow().sleeps
    }

    /// Waits until a task begins a wait after the [`ManualClock::sleeps`] count `mark` was
    /// read (a task woken by something other than the clock, such as a refresh request, has
    /// done its work and sleeps again). Panics after 10 s of real time.
    pub async fn wait_for_sleep_since(&self, mark: u64) {
        let mut rx = self.state.subscribe();
        let asleep = rx.wait_for(|state| state.sleeps > mark && !state.sleepers.is_empty());
        match tokio::time::timeout(Duration::from_secs(10), asleep).await {
            Ok(Ok(_)) => {}
            _ => panic!("no task went to sleep on the clock again within 10 s"),
        }
    }
}

/// Removes a sleeper's entry when its wait ends or is dropped.
struct Sleeping<'a> {
    clock: &'a ManualClock,
    id: u64,
}

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        let id = self.id;
        self.clock.state.send_if_modified(|state| {
            let before = state.sleepers.len();
            state.sleepers.retain(|(sleeper, _)| *sleeper != id);
            state.sleepers.len() != before
        });
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.state.borrow().now
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let id = self.next_sleeper.fetch_add(1, Ordering::Relaxed);
        let mut rx = self.state.subscribe();
        let registered = self.state.send_if_modified(|state| {
            if state.now >= at {
                return false;
            }
            state.sleepers.push((id, at));
            state.sleeps += 1;
            true
        });
        if !registered {
            return;
        }
        let _sleeping = Sleeping { clock: self, id };
        // The sender lives as long as `self`, so the wait ends only when the time comes.
        let _ = rx.wait_for(|state| state.now >= at).await;
    }
}
