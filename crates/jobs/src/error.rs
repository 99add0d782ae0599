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
