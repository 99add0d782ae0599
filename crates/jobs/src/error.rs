//! What can go wrong in this crate.

use tvarr_core::RepoError;

/// An error of the job system (the queue, the jobs table, the configuration).
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// The queue URL or a setting is not usable.
    #[error("invalid queue configuration: {0}")]
    Config(String),
    /// The queue backend could not be reached or refused the work.
    #[error("job queue unavailable: {0}")]
    Queue(String),
    /// The jobs table refused the work.
    #[error(transparent)]
    Repository(#[from] RepoError),
}

/// Why a handler did not complete its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The work failed; the text is shown to people as the job's error.
    #[error("{0}")]
    Failed(String),
    /// The handler stopped because its cancellation token fired.
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
