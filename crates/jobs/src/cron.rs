//! Cron schedules that queue jobs when they are due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cron::Schedule;
use tokio_util::sync::CancellationToken;
use tvarr_core::{Clock, JobKind, JobQuery, JobStatus, NewJob, PageRequest};
use uuid::Uuid;

use crate::scheduler::JobScheduler;

use tvarr_core::schedule::{parse_cron, shortest_gap};

/// Where the schedules come from (the sources' and proxies' settings, in the binaries).
#[async_trait]
pub trait ScheduleProvider: Send + Sync {
    /// Every schedule: the job to queue and its cron expression. Re-read every
    /// [`CronScheduler::RELOAD_INTERVAL`] and whenever a [`ScheduleRefresh`] asks, so edits
    /// apply without a restart.
    async fn schedules(&self) -> Vec<(NewJob, String)>;

    /// Whether the schedule `(job, expr)` still stands (its subject exists, is enabled and
    /// still has this expression). Asked just before each firing, so a source deleted or
    /// changed through another process stops firing at once, not at the next reload.
    async fn is_current(&self, _job: &NewJob, _expr: &str) -> bool {
        true
    }
}

/// Asks a running [`CronScheduler`] to re-read its schedules now (after a source was
/// created, changed or deleted in this process). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ScheduleRefresh(Arc<tokio::sync::Notify>);

impl ScheduleRefresh {
    /// Makes the scheduler reload before it fires anything else; a request made while it is
    /// busy is kept, not lost.
    pub fn refresh(&self) {
        self.0.notify_one();
    }
}

/// The system's clock: [`Utc::now`], and tokio's timer to wait.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        // Re-read after each wake: the wall clock can be set back or forward meanwhile.
        loop {
            let left = at - Utc::now();
            let Ok(left) = left.to_std() else { return };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(Duration::from_secs(60))).await;
        }
    }
}

/// The words the API refuses such a schedule with, for the scheduler's warning.
fn too_often(expr: &str, gap: Duration, min_interval: Duration) -> String {
    tvarr_core::schedule::CronProblem::TooOften {
        expr: expr.trim().to_owned(),
        gap,
        min_interval,
    }
    .to_string()
}

/// Queues jobs when their schedules are due.
///
/// Every process that runs workers may run one. They do not coordinate; two of them firing
/// the same schedule queue one job because each firing is recorded once by its kind, subject
/// and due time ([`JobScheduler::enqueue_firing`], atomic across processes on the database
/// store), whatever the processes' clocks say and however long after the job ran the slower
/// one gets to it.
///
/// Two firings of one schedule are never closer than the minimum interval
/// ([`CronScheduler::with_min_interval`]): a schedule that fires more often (stored before the
/// API enforced the minimum) is clamped, with a warning. A schedule is not fired while a job of
/// its kind and subject is queued or running.
pub struct CronScheduler {
    scheduler: JobScheduler,
    clock: Arc<dyn Clock>,
    provider: Arc<dyn ScheduleProvider>,
    reload_interval: Duration,
    min_interval: Duration,
    refresh: ScheduleRefresh,
}

impl std::fmt::Debug for CronScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CronScheduler")
            .field("scheduler", &self.scheduler)
            .field("reload_interval", &self.reload_interval)
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

type ScheduleKey = (JobKind, Option<Uuid>, String);

struct Entry {
    job: NewJob,
    expr: String,
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
}

/// The first firing of `schedule` after `now` that is at least `min_interval` after `last`
/// (the firing just done, if any).
fn next_firing(
    schedule: &Schedule,
    now: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    min_interval: Duration,
) -> Option<DateTime<Utc>> {
    let min = chrono::Duration::from_std(min_interval).unwrap_or(chrono::Duration::MAX);
    // `after` is exclusive: start a nanosecond early so a firing exactly `min` later counts.
    let earliest = last
        .and_then(|last| last.checked_add_signed(min))
        .and_then(|t| t.checked_sub_signed(chrono::Duration::nanoseconds(1)))
        .map_or(now, |t| t.max(now));
    schedule.after(&earliest).next()
}

impl CronScheduler {
    /// How often schedules are re-read.
    pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

    /// The default minimum time between two firings of one schedule.
    pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(300);

    /// Queues through `scheduler` the jobs `provider` schedules.
    pub fn new(scheduler: JobScheduler, provider: Arc<dyn ScheduleProvider>) -> Self {
        Self {
            scheduler,
            clock: Arc::new(SystemClock),
            provider,
            reload_interval: Self::RELOAD_INTERVAL,
            min_interval: Self::DEFAULT_MIN_INTERVAL,
            refresh: ScheduleRefresh::default(),
        }
    }

    /// Re-reads schedules every `interval` instead of every minute.
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Fires one schedule at most once per `interval` (default
    /// [`CronScheduler::DEFAULT_MIN_INTERVAL`]; zero: as often as the expression says).
    pub fn with_min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// Tells the time by `clock` instead of the system's (tests move a clock by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A handle that makes this scheduler re-read its schedules at once.
    pub fn refresher(&self) -> ScheduleRefresh {
        self.refresh.clone()
    }

    /// Runs until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let reload_every =
            chrono::Duration::from_std(self.reload_interval).unwrap_or(chrono::Duration::MAX);
        let mut entries: HashMap<ScheduleKey, Entry> = HashMap::new();
        let mut next_reload = self.clock.now();
        loop {
            let now = self.clock.now();
            if now >= next_reload {
                entries = self.reload(entries, now).await;
                next_reload = now
                    .checked_add_signed(reload_every)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
            }
            let mut gone = Vec::new();
            for (key, entry) in entries.iter_mut() {
                let Some(due) = entry.next.filter(|due| *due <= now) else {
                    continue;
                };
                if !self.provider.is_current(&entry.job, &entry.expr).await {
                    tracing::info!(kind = entry.job.kind.as_str(), subject_id = ?entry.job.subject_id,
                        "schedule removed or changed; not fired");
                    gone.push(key.clone());
                    continue;
                }
                self.fire(&entry.job, due).await;
                entry.next = next_firing(&entry.schedule, now, Some(due), self.min_interval);
            }
            if !gone.is_empty() {
                for key in &gone {
                    entries.remove(key);
                }
                // Pick up a changed expression now rather than at the next reload.
                next_reload = self.clock.now();
                continue;
            }
            let wake = entries
                .values()
                .filter_map(|e| e.next)
                .min()
                .map_or(next_reload, |due| due.min(next_reload));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.refresh.0.notified() => next_reload = self.clock.now(),
                _ = self.clock.sleep_until(wake) => {}
            }
        }
    }

    async fn reload(
        &self,
        mut old: HashMap<ScheduleKey, Entry>,
        now: DateTime<Utc>,
    ) -> HashMap<ScheduleKey, Entry> {
        let mut entries = HashMap::new();
        for (job, expr) in self.provider.schedules().await {
            let key = (job.kind, job.subject_id, expr.trim().to_owned());
            if let Some(entry) = old.remove(&key) {
                entries.insert(key, entry);
                continue;
            }
            match parse_cron(&expr) {
                Ok(schedule) => {
                    if let Some(gap) = shortest_gap(&schedule, now)
                        && gap < self.min_interval
                    {
                        tracing::warn!(
                            kind = job.kind.as_str(),
                            subject_id = ?job.subject_id,
                            "{}; it runs at most once per minimum interval",
                            too_often(&expr, gap, self.min_interval)
                        );
                    }
                    let next = next_firing(&schedule, now, None, self.min_interval);
                    entries.insert(
                        key,
                        Entry {
                            job,
                            expr: expr.trim().to_owned(),
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
        match self.is_running(job).await {
            Ok(true) => {
                tracing::info!(kind = job.kind.as_str(), subject_id = ?job.subject_id, %due,
                    "scheduled job skipped: the previous one is still running");
                return;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not check for a running job"),
        }
        match self.scheduler.enqueue_firing(job.clone(), due).await {
            Ok(Some(queued)) => tracing::info!(
                job_id = %queued.id,
                kind = job.kind.as_str(),
                subject_id = ?job.subject_id,
                %due,
                "scheduled job queued"
            ),
            Ok(None) => tracing::debug!(kind = job.kind.as_str(), subject_id = ?job.subject_id,
                %due, "scheduled job already queued, by this firing or an earlier one"),
            Err(e) => tracing::warn!(
                kind = job.kind.as_str(),
                subject_id = ?job.subject_id,
                error = %e,
                "could not queue scheduled job"
            ),
        }
    }

    /// Whether a job of the same kind and subject is running.
    async fn is_running(&self, job: &NewJob) -> tvarr_core::RepoResult<bool> {
        let query = JobQuery {
            kind: Some(job.kind),
            status: Some(JobStatus::Running),
        };
        let running = self
            .scheduler
            .repository()
            .list(&query, PageRequest::new(PageRequest::MAX_LIMIT, 0))
            .await?;
        Ok(running.items.iter().any(|j| j.subject_id == job.subject_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_run_at_second_zero() {
        let schedule = parse_cron("30 4 * * *").unwrap();
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = schedule.after(&start).next().unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-01T04:30:00+00:00");
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn shortest_gap_of_regular_expressions() {
        let from = at("2026-12-01T12:34:56Z");
        let gap = |e: &str| shortest_gap(&parse_cron(e).unwrap(), from);
        assert_eq!(gap("* * * * * *"), Some(Duration::from_secs(1)));
        assert_eq!(gap("*/5 * * * *"), Some(Duration::from_secs(300)));
        assert_eq!(gap("0 */6 * * *"), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(gap("@daily"), Some(Duration::from_secs(86_400)));
        // One firing left: no gap to measure.
        assert_eq!(gap("0 0 3 1 1 * 2030"), None);
    }

    #[test]
    fn shortest_gap_finds_the_closest_pair_of_irregular_expressions() {
        let from = at("2026-12-01T12:34:56Z");
        let gap = |e: &str| shortest_gap(&parse_cron(e).unwrap(), from);
        // Two firings a minute apart, then 59 minutes of quiet (the first gap after 12:34).
        assert_eq!(gap("0,1 * * * *"), Some(Duration::from_secs(60)));
        // 23:58 and 00:01 meet across midnight only.
        assert_eq!(gap("1,58 0,23 * * *"), Some(Duration::from_secs(180)));
        // Once a year, twice: Jan 1 00:00 and 00:02.
        assert_eq!(gap("0,2 0 1 1 *"), Some(Duration::from_secs(120)));
        // Only months of 31 days: July and August meet after 31 days, January and March 59.
        assert_eq!(
            gap("0 59 23 31 * *"),
            Some(Duration::from_secs(86_400 * 31))
        );
        // The 31st at 23:59 and the 1st at 00:00 meet only at the end of long months.
        assert_eq!(gap("0 0,59 0,23 1,31 * *"), Some(Duration::from_secs(60)));
        // Seconds lists: 0 and 30 of a minute.
        assert_eq!(gap("0,30 0 * * * *"), Some(Duration::from_secs(30)));
    }

    #[test]
    fn next_firing_is_clamped_to_the_minimum_interval() {
        let schedule = parse_cron("* * * * * *").unwrap();
        let due = at("2026-01-01T00:00:00Z");
        let now = at("2026-01-01T00:00:00.200Z");
        let min = Duration::from_secs(300);
        let next = next_firing(&schedule, now, Some(due), min).unwrap();
        assert_eq!(next, at("2026-01-01T00:05:00Z"));
        assert_eq!(
            next_firing(&schedule, now, Some(due), Duration::ZERO).unwrap(),
            at("2026-01-01T00:00:01Z")
        );
        // A regular schedule at the minimum keeps its own times.
        let every5 = parse_cron("*/5 * * * *").unwrap();
        assert_eq!(
            next_firing(&every5, now, Some(due), min).unwrap(),
            at("2026-01-01T00:05:00Z")
        );
        assert_eq!(
            next_firing(&every5, now, None, min).unwrap(),
            at("2026-01-01T00:05:00Z")
        );
    }
}
