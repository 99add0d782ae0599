//! What a job does, seen from the crate that owns the work: a [`JobHandler`] runs one kind of
//! job and reports through a [`JobControl`]. The job runtime (`tvarr-jobs`) calls handlers;
//! the crates that own the work (ingest, pipeline, and later logos and the relay) implement
//! them without depending on the runtime, its queue or its database.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Job, JobId, JobProgress, RepoError};

/// Why a handler did not complete its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The work failed; the text is shown to people as the job's error.
    #[error("{0}")]
    Failed(String),
    /// The handler stopped because the job was cancelled or its worker is stopping.
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    /// A failure described by `reason`.
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        JobError::Failed(reason.to_string())
    }
}

impl From<RepoError> for JobError {
    fn from(e: RepoError) -> Self {
        JobError::Failed(e.to_string())
    }
}

/// What a running handler reports through: progress, and whether it should stop.
///
/// The runtime decides how often progress reaches the jobs table; a handler reports as often
/// as it likes.
#[async_trait]
pub trait JobControl: Send + Sync {
    /// The job's id.
    fn job_id(&self) -> JobId;

    /// Records `progress` whole: a stage, its units, and the records handled so far. A failed
    /// write is the runtime's to log: progress is for people, the work goes on.
    async fn report(&self, progress: JobProgress);

    /// Whether the job should stop (cancelled by someone, or the worker is shutting down).
    fn is_cancelled(&self) -> bool;

    /// Completes when the job should stop.
    async fn cancelled(&self);

    /// Records that the job is at `done` of `total` units in `stage`.
    async fn progress(&self, stage: &str, done: u64, total: Option<u64>) {
        self.report(JobProgress {
            stage: stage.to_owned(),
            done,
            total,
            records: None,
        })
        .await;
    }

    /// `Err(JobError::Cancelled)` when the job should stop, for `?` between steps.
    fn check_cancelled(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Does the work of one kind of job. Handlers live in the crates that own the work; the
/// binaries register them with the job runtime for the [`crate::JobKind`]s they run.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Does the work of `job`. Report progress through `control` and stop soon after
    /// [`JobControl::is_cancelled`] turns true, returning [`JobError::Cancelled`]: that happens
    /// when someone cancels the job and when the worker shuts down.
    async fn run(&self, job: &Job, control: Arc<dyn JobControl>) -> Result<(), JobError>;
}
