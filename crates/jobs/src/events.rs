//! Job events for the API's server-sent events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tvarr_core::{Job, JobId, JobQuery, JobRepository, JobStatus, PageRequest};

/// A job changed: its status, its progress, or a cancel request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    /// The job as it is now.
    pub job: Job,
}

/// A broadcast of [`JobEvent`]s. Cheap to clone; every clone sends to the same subscribers.
///
/// When workers run inside the server, give the same `JobEvents` to the [`crate::JobScheduler`]
/// and the [`crate::WorkerRuntime`]. When they run in other processes, run
/// [`JobEvents::poll_repository`] in the server instead: it turns changes it sees in the jobs
/// table into events, so server-sent events work in both deployments.
#[derive(Clone, Debug)]
pub struct JobEvents {
    sender: broadcast::Sender<JobEvent>,
}

impl Default for JobEvents {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl JobEvents {
    /// A broadcast that keeps up to `capacity` events for slow subscribers (older ones are
    /// dropped for them: they see `RecvError::Lagged`).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// A new receiver of every event sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.sender.subscribe()
    }

    /// Sends `job` as an event. Nobody listening is fine.
    pub fn send(&self, job: Job) {
        let _ = self.sender.send(JobEvent { job });
    }

    /// Polls the jobs table every `interval` and sends an event for each job whose status,
    /// progress, error, cancel request or attempt count changed since the previous poll (and for
    /// each job seen for the first time after the first poll). It looks at queued and running
    /// jobs and the 200 most recent ones. Stops when `shutdown` fires.
    ///
    /// Returns once the first poll is done (the table as it stands is the baseline, not a burst
    /// of events), so every change made after this returns is sent. When that first poll
    /// fails, the first one that succeeds is the baseline.
    pub async fn poll_repository(
        &self,
        repo: Arc<dyn JobRepository>,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let events = self.clone();
        let baseline: Option<HashMap<JobId, Fingerprint>> = visible_jobs(repo.as_ref())
            .await
            .ok()
            .map(|jobs| jobs.iter().map(|j| (j.id, Fingerprint::of(j))).collect());
        tokio::spawn(async move {
            let mut first = baseline.is_none();
            let mut seen = baseline.unwrap_or_default();
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let jobs = match visible_jobs(repo.as_ref()).await {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not poll the jobs table for events");
                        continue;
                    }
                };
                let mut current = HashMap::with_capacity(jobs.len());
                for job in jobs {
                    let print = Fingerprint::of(&job);
                    let changed = seen.get(&job.id).is_none_or(|old| *old != print);
                    current.insert(job.id, print);
                    if changed && !first {
                        events.send(job);
                    }
                }
                seen = current;
                first = false;
            }
        })
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Fingerprint {
    status: JobStatus,
    stage: String,
    done: u64,
    total: Option<u64>,
    error: Option<String>,
    cancel_requested: bool,
    attempts: u32,
}

impl Fingerprint {
    fn of(job: &Job) -> Self {
        Self {
            status: job.status,
            stage: job.progress.stage.clone(),
            done: job.progress.done,
            total: job.progress.total,
            error: job.error.clone(),
            cancel_requested: job.cancel_requested,
            attempts: job.attempts,
        }
    }
}

async fn visible_jobs(repo: &dyn JobRepository) -> tvarr_core::RepoResult<Vec<Job>> {
    let mut out: HashMap<JobId, Job> = HashMap::new();
    for status in [Some(JobStatus::Running), Some(JobStatus::Queued), None] {
        let query = JobQuery { kind: None, status };
        let limit = if status.is_some() { 1000 } else { 200 };
        for job in repo.list(&query, PageRequest::new(limit, 0)).await?.items {
            out.insert(job.id, job);
        }
    }
    Ok(out.into_values().collect())
}
