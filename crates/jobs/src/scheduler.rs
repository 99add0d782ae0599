//! The API side: queueing and cancelling jobs.

use std::sync::Arc;

use tvarr_core::{Job, JobId, JobRepository, JobStatus, NewJob};

use crate::error::JobsError;
use crate::events::JobEvents;
use crate::queue::Queue;

/// Queues and cancels jobs: the jobs table gets the record, the queue gets a `{job_id}` message.
#[derive(Clone)]
pub struct JobScheduler {
    repo: Arc<dyn JobRepository>,
    queue: Queue,
    events: Option<JobEvents>,
}

impl std::fmt::Debug for JobScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobScheduler")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl JobScheduler {
    /// A scheduler recording jobs in `repo` and queueing them on `queue`.
    pub fn new(repo: Arc<dyn JobRepository>, queue: Queue) -> Self {
        Self {
            repo,
            queue,
            events: None,
        }
    }

    /// Also sends an event for each job it queues or cancels.
    pub fn with_events(mut self, events: JobEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// The jobs table.
    pub fn repository(&self) -> &Arc<dyn JobRepository> {
        &self.repo
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Queues `job`, or returns the job of the same kind and subject that is already queued
    /// (so repeated clicks, and several processes firing the same schedule, queue it once; the
    /// guarantee across processes is as strong as the repository's
    /// [`JobRepository::create_deduplicated`]).
    ///
    /// When the queue refuses the message, the new job is recorded as failed with the reason,
    /// and the error is returned.
    pub async fn enqueue(&self, job: NewJob) -> Result<Job, JobsError> {
        let (job, created) = self.repo.create_deduplicated(job).await?;
        if !created {
            tracing::debug!(job_id = %job.id, kind = job.kind.as_str(), "already queued");
            return Ok(job);
        }
        self.push(job).await
    }

    /// Queues the job of a schedule's firing at `due`, unless that firing was queued already
    /// (by the scheduler of another process, whatever its clock says) or a job of the same kind
    /// and subject is queued: then `None`. The guarantee across processes is as strong as the
    /// repository's [`JobRepository::create_for_firing`].
    pub async fn enqueue_firing(
        &self,
        job: NewJob,
        due: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Job>, JobsError> {
        match self.repo.create_for_firing(job, due).await? {
            Some(job) => self.push(job).await.map(Some),
            None => Ok(None),
        }
    }

    /// Puts a recorded job on the queue, failing the job when the queue refuses it.
    async fn push(&self, job: Job) -> Result<Job, JobsError> {
        if let Err(e) = self.queue.push(job.id).await {
            tracing::error!(job_id = %job.id, error = %e, "could not queue job");
            let failed = self
                .repo
                .finish(
                    job.id,
                    JobStatus::Failed,
                    Some(format!("could not queue: {e}")),
                )
                .await;
            if let (Ok(failed), Some(events)) = (failed, &self.events) {
                events.send(failed);
            }
            return Err(e);
        }
        tracing::info!(
            job_id = %job.id,
            subject_id = ?job.subject_id,
            kind = job.kind.as_str(),
            "job queued"
        );
        if let Some(events) = &self.events {
            events.send(job.clone());
        }
        Ok(job)
    }

    /// Cancels a job: a queued job is cancelled at once (a worker that gets its message skips
    /// it); a running job is flagged, and its handler sees its cancellation token fire at its
    /// next progress report or heartbeat. An ended job is returned unchanged.
    pub async fn cancel(&self, id: JobId) -> Result<Job, JobsError> {
        let job = self.repo.request_cancel(id).await?;
        tracing::info!(job_id = %id, status = job.status.as_str(), "job cancel requested");
        if let Some(events) = &self.events {
            events.send(job.clone());
        }
        Ok(job)
    }
}
