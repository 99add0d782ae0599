//! tvarr-metrics: the metrics of one tvarr process, in a Prometheus registry, and their text
//! exposition for `/metrics`.
//!
//! This crate owns what is measured and how it is labelled: HTTP request counts and latencies
//! (recorded by the API's middleware), job counts by kind and status (read from the jobs table
//! at scrape time, so they are true across worker processes: [`Metrics::refresh_job_counts`]),
//! job durations and ingested records (recorded by whoever runs the jobs in this process). Every
//! label has a bounded set of values, so no client can grow the registry.
//!
//! It knows no web framework: the server serves [`Metrics::encode`] from its API, and a worker
//! from its own small listener.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tvarr_core::{JobKind, JobQuery, JobRepository, JobStatus, PageRequest};

/// The label of whatever falls outside a bounded label set.
pub const OTHER: &str = "other";

/// The HTTP methods that get a label of their own; any other method is `other`, so a client
/// inventing methods cannot grow the metrics.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A route pattern longer than this is labelled `other` (patterns come from the route table,
/// so this only guards against a caller passing a raw path).
pub const MAX_ROUTE_LEN: usize = 128;

fn method_label(method: &str) -> &str {
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or(OTHER)
}

fn route_label(route: &str) -> &str {
    if route.starts_with('/') && route.len() <= MAX_ROUTE_LEN {
        route
    } else {
        OTHER
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    kind: String,
}

/// The metrics of one process.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    jobs: Family<JobLabels, Gauge>,
    job_duration: Family<JobLabels, Histogram>,
    records_ingested: Family<RecordLabels, Counter>,
    relay_sessions: Gauge,
    relay_viewers: Gauge,
    relay_open_breakers: Gauge,
    relay_upstream_bytes: Counter,
    relay_failovers: Counter,
}

/// What the stream relay reports at a scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayFigures {
    /// Channels playing.
    pub sessions: u64,
    /// Viewers watching them.
    pub viewers: u64,
    /// Upstream hosts whose circuit breaker is open.
    pub open_breakers: u64,
    /// Bytes read from upstreams since the process started.
    pub upstream_bytes: u64,
    /// Failovers from one upstream to the next since the process started.
    pub failovers: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A new set of metrics with its own registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tvarr");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let jobs = Family::<JobLabels, Gauge>::default();
        let job_duration = Family::<JobLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 16))
        });
        let records_ingested = Family::<RecordLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            http_duration.clone(),
        );
        registry.register(
            "jobs",
            "Jobs in the jobs table by kind and status",
            jobs.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Run time of jobs that ended in this process",
            job_duration.clone(),
        );
        registry.register(
            "records_ingested",
            "Channels and programmes stored by ingests in this process",
            records_ingested.clone(),
        );
        let relay_sessions = Gauge::default();
        let relay_viewers = Gauge::default();
        let relay_open_breakers = Gauge::default();
        let relay_upstream_bytes = Counter::default();
        let relay_failovers = Counter::default();
        registry.register(
            "relay_sessions",
            "Channels playing in proxy or relay mode",
            relay_sessions.clone(),
        );
        registry.register(
            "relay_viewers",
            "Viewers of the channels playing in proxy or relay mode",
            relay_viewers.clone(),
        );
        registry.register(
            "relay_open_breakers",
            "Upstream hosts whose circuit breaker is open",
            relay_open_breakers.clone(),
        );
        registry.register(
            "relay_upstream_bytes",
            "Bytes read from providers' streams",
            relay_upstream_bytes.clone(),
        );
        registry.register(
            "relay_failovers",
            "Switches from a failed or stalled upstream to the channel's next one",
            relay_failovers.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            jobs,
            job_duration,
            records_ingested,
            relay_sessions,
            relay_viewers,
            relay_open_breakers,
            relay_upstream_bytes,
            relay_failovers,
        }
    }

    /// Records one answered request. `route` is the matched pattern, not the raw path (or
    /// `other` for a path no route knows). Every label has a bounded set of values: the
    /// method folds into [`METHODS`] or `other`, a route longer than [`MAX_ROUTE_LEN`] into
    /// `other`, and the status is a real HTTP status code (100 to 999), else `0`.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels {
            method: method_label(method).to_string(),
            route: route_label(route).to_string(),
            status: if (100..=999).contains(&status) {
                status
            } else {
                0
            },
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records a job that ended after running for `elapsed`.
    pub fn observe_job(&self, kind: JobKind, status: JobStatus, elapsed: Duration) {
        let labels = JobLabels {
            kind: kind.as_str().to_string(),
            status: status.as_str().to_string(),
        };
        self.job_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts records stored by an ingest (`kind`: `channel` or `programme`).
    pub fn add_records_ingested(&self, kind: &str, count: u64) {
        self.records_ingested
            .get_or_create(&RecordLabels {
                kind: kind.to_string(),
            })
            .inc_by(count);
    }

    /// Sets the relay's figures (the totals only grow: a smaller total is ignored).
    pub fn set_relay(&self, figures: RelayFigures) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.relay_sessions.set(gauge(figures.sessions));
        self.relay_viewers.set(gauge(figures.viewers));
        self.relay_open_breakers.set(gauge(figures.open_breakers));
        for (counter, total) in [
            (&self.relay_upstream_bytes, figures.upstream_bytes),
            (&self.relay_failovers, figures.failovers),
        ] {
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
    }

    /// The metrics in the OpenMetrics text format ([`Metrics::CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// The content type of [`Metrics::encode`]'s text.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// What a scrape answers: the job counts read from `jobs` ([`Metrics::refresh_job_counts`]),
    /// then every metric, encoded.
    pub async fn scrape(&self, jobs: &dyn JobRepository) -> Result<String, std::fmt::Error> {
        self.refresh_job_counts(jobs).await;
        self.encode()
    }

    /// Sets the job gauges from the jobs table: one count per kind and status. A count the
    /// table does not give (the database is down) keeps its last value.
    pub async fn refresh_job_counts(&self, jobs: &dyn JobRepository) {
        for kind in JobKind::ALL {
            for status in JobStatus::ALL {
                let query = JobQuery {
                    kind: Some(kind),
                    status: Some(status),
                };
                if let Ok(page) = jobs.list(&query, PageRequest::new(0, 0)).await {
                    let labels = JobLabels {
                        kind: kind.as_str().to_string(),
                        status: status.as_str().to_string(),
                    };
                    self.jobs
                        .get_or_create(&labels)
                        .set(i64::try_from(page.total).unwrap_or(i64::MAX));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fold_into_bounded_sets() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("FOOBAR"), "other");
        assert_eq!(route_label("/api/v1/jobs/{id}"), "/api/v1/jobs/{id}");
        assert_eq!(route_label("other"), "other");
        assert_eq!(route_label(&format!("/{}", "a".repeat(200))), "other");
    }

    #[test]
    fn relay_figures_are_gauges_and_totals_that_only_grow() {
        let metrics = Metrics::new();
        let figures = |sessions, upstream_bytes| RelayFigures {
            sessions,
            viewers: 3,
            open_breakers: 1,
            upstream_bytes,
            failovers: 2,
        };
        metrics.set_relay(figures(2, 1_000));
        metrics.set_relay(figures(1, 4_000));
        // A relay restarted (a new process would start at 0) must not move a counter back.
        metrics.set_relay(figures(1, 10));
        let text = metrics.encode().unwrap();
        for line in [
            "tvarr_relay_sessions 1",
            "tvarr_relay_viewers 3",
            "tvarr_relay_open_breakers 1",
            "tvarr_relay_upstream_bytes_total 4000",
            "tvarr_relay_failovers_total 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
