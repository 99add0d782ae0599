//! Cron schedules that queue jobs when they are due.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cron::Schedule;
use tokio_util::sync::CancellationToken;
use tvarr_core::{JobKind, JobQuery, NewJob, PageRequest};
use uuid::Uuid;

use crate::scheduler::JobScheduler;

/// Where the schedules come from (the sources' and proxies' settings, in the binaries).
#[async_trait]
pub trait ScheduleProvider: Send + Sync {
    /// Every schedule: the job to queue and its cron expression. Re-read every
    /// [`CronScheduler::RELOAD_INTERVAL`], so edits apply without a restart.
    async fn schedules(&self) -> Vec<(NewJob, String)>;
}

/// Parses a cron expression: 5 fields (`min hour day month weekday`, crontab style; a
/// seconds field of `0` is added), 6 fields (with seconds) or 7 (with seconds and years), or
/// an `@hourly`-style shortcut. Times are UTC.
pub fn parse_cron(expr: &str) -> Result<Schedule, String> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    let full = match fields {
        _ if expr.starts_with('@') => expr.to_owned(),
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_owned(),
        0 => return Err("the cron expression is empty".to_owned()),
        n => {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day month weekday), or 6-7 with \
                 seconds and years; this one has {n}"
            ));
        }
    };
    Schedule::from_str(&full).map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

/// Checks a cron expression for the API's validation; the error is for a person to read.
pub fn validate_cron(expr: &str) -> Result<(), String> {
    parse_cron(expr).map(|_| ())
}

/// Queues jobs when their schedules are due.
///
/// Every process that runs workers may run one. They do not coordinate; two of them firing
/// the same schedule queue one job because [`JobScheduler::enqueue`] returns the job of the same
/// kind and subject that is already queued (atomically when the repository's
/// `create_deduplicated` is), and because a schedule is skipped when a job of its kind and
/// subject was created at or after the due time (it was queued by another process and may
/// already be running).
pub struct CronScheduler {
    scheduler: JobScheduler,
    provider: Arc<dyn ScheduleProvider>,
    reload_interval: Duration,
}

impl std::fmt::Debug for CronScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CronScheduler")
            .field("scheduler", &self.scheduler)
            .field("reload_interval", &self.reload_interval)
            .finish_non_exhaustive()
    }
}

type ScheduleKey = (JobKind, Option<Uuid>, String);

struct Entry {
    job: NewJob,
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
}

impl CronScheduler {
    /// How often schedules are re-read.
    pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

    /// Queues through `scheduler` the jobs `provider` schedules.
    pub fn new(scheduler: JobScheduler, provider: Arc<dyn ScheduleProvider>) -> Self {
        Self {
            scheduler,
            provider,
            reload_interval: Self::RELOAD_INTERVAL,
        }
    }

    /// Re-reads schedules every `interval` instead of every minute.
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Runs until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut entries: HashMap<ScheduleKey, Entry> = HashMap::new();
        let mut next_reload = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_reload {
                entries = self.reload(entries).await;
                next_reload = tokio::time::Instant::now() + self.reload_interval;
            }
            let now = Utc::now();
            for entry in entries.values_mut() {
                let Some(due) = entry.next.filter(|due| *due <= now) else {
                    continue;
                };
                self.fire(&entry.job, due).await;
                entry.next = entry.schedule.after(&now).next();
            }
            let earliest = entries.values().filter_map(|e| e.next).min();
            let until_due = earliest
                .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(self.reload_interval);
            let until_reload = next_reload.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(until_due.min(until_reload)) => {}
            }
        }
    }

    async fn reload(&self, mut old: HashMap<ScheduleKey, Entry>) -> HashMap<ScheduleKey, Entry> {
        let now = Utc::now();
        let mut entries = HashMap::new();
        for (job, expr) in self.provider.schedules().await {
            let key = (job.kind, job.subject_id, expr.trim().to_owned());
            if let Some(entry) = old.remove(&key) {
                entries.insert(key, entry);
                continue;
            }
            match parse_cron(&expr) {
                Ok(schedule) => {
                    let next = schedule.after(&now).next();
                    entries.insert(
                        key,
                        Entry {
                            job,
                            schedule,
                            next,
                        },
                    );
                }
                Err(e) => tracing::warn!(
                    kind = job.kind.as_str(),
                    subject_id = ?job.subject_id,
                    error = %e,
                    "schedule ignored"
                ),
            }
        }
        entries
    }

    async fn fire(&self, job: &NewJob, due: DateTime<Utc>) {
        match self.created_since(job, due).await {
            Ok(true) => {
                tracing::debug!(kind = job.kind.as_str(), subject_id = ?job.subject_id, %due,
                    "scheduled job already queued by another process");
                return;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not check for a scheduled job"),
        }
        match self.scheduler.enqueue(job.clone()).await {
            Ok(queued) => tracing::info!(
                job_id = %queued.id,
                kind = job.kind.as_str(),
                subject_id = ?job.subject_id,
                %due,
                "scheduled job queued"
            ),
            Err(e) => tracing::warn!(
                kind = job.kind.as_str(),
                subject_id = ?job.subject_id,
                error = %e,
                "could not queue scheduled job"
            ),
        }
    }

    /// Whether a job of the same kind and subject was created at or after `due`.
    async fn created_since(
        &self,
        job: &NewJob,
        due: DateTime<Utc>,
    ) -> tvarr_core::RepoResult<bool> {
        let query = JobQuery {
            kind: Some(job.kind),
            status: None,
        };
        let recent = self
            .scheduler
            .repository()
            .list(&query, PageRequest::new(100, 0))
            .await?;
        Ok(recent
            .items
            .iter()
            .any(|j| j.subject_id == job.subject_id && j.created_at >= due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_crontab_and_extended_expressions() {
        assert!(validate_cron("*/5 * * * *").is_ok());
        assert!(validate_cron("0 3 * * Mon").is_ok());
        assert!(validate_cron("* * * * * *").is_ok());
        assert!(validate_cron("0 0 3 * * * 2030").is_ok());
        assert!(validate_cron("@daily").is_ok());
    }

    #[test]
    fn five_fields_run_at_second_zero() {
        let schedule = parse_cron("30 4 * * *").unwrap();
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = schedule.after(&start).next().unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-01T04:30:00+00:00");
    }

    #[test]
    fn rejects_bad_expressions_with_a_reason() {
        let err = validate_cron("* * *").unwrap_err();
        assert!(err.contains("5 fields"), "{err}");
        assert!(validate_cron("").is_err());
        assert!(validate_cron("61 * * * *").is_err());
        assert!(validate_cron("a b c d e").is_err());
    }
}
