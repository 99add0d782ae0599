//! Why a tvarr process could not start or stopped.

/// A start-up or run failure of a tvarr process, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The data directory cannot be used.
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be opened or migrated.
    #[error("cannot open the database at {url}: {reason}")]
    Database {
        /// The URL, with its password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// The job queue cannot be opened.
    #[error("cannot open the job queue at {url}: {reason}")]
    Queue {
        /// The URL, with its password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// The HTTP server cannot listen.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Something else failed while starting.
    #[error("{0}")]
    Start(String),
}
