//! Submitting background work. `tvarr-jobs` implements this on apalis; the API only sees the trait.

use async_trait::async_trait;

use crate::error::RepoResult;
use crate::id::JobId;
use crate::job::{Job, NewJob};

/// Queues jobs for workers and asks running ones to stop.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Records and queues a job. A job of the same kind for the same subject that is still
    /// queued is returned instead of queueing a second one.
    async fn enqueue(&self, job: NewJob) -> RepoResult<Job>;
    /// Cancels a queued job at once, or asks a running one to stop.
    async fn cancel(&self, id: JobId) -> RepoResult<Job>;
}
