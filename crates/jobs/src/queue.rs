//! The apalis queue: where it lives, and the `{job_id}` messages it carries.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::SqliteStorage;
use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
// The connection types come through apalis's re-exports of sqlx: this crate writes no SQL of
// its own, so it does not depend on an SQL driver directly.
use apalis_postgres::{PgConnectOptions, PgPool};
use apalis_sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::sync::Notify;
use tvarr_core::JobId;

use crate::error::JobsError;

/// The message the queue carries: which job to run. The job itself is in the jobs table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job to run.
    pub job_id: JobId,
}

/// Where the queue is stored.
#[derive(Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// An SQLite file of its own (never the main database's file: apalis tunes its connections
    /// for a queue, not for data).
    Sqlite {
        /// The file, created when missing.
        path: PathBuf,
    },
    /// PostgreSQL; apalis keeps its tables in the `apalis` schema, so the server (and database)
    /// of the main data can be shared.
    Postgres {
        /// `postgres://…`
        url: String,
    },
    /// Redis; keys start with the queue name.
    Redis {
        /// `redis://…`
        url: String,
    },
}

impl std::fmt::Debug for QueueBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueBackend::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            QueueBackend::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &redact_url(url))
                .finish(),
            QueueBackend::Redis { url } => f
                .debug_struct("Redis")
                .field("url", &redact_url(url))
                .finish(),
        }
    }
}

impl QueueBackend {
    /// The backend's name: `sqlite`, `postgres` or `redis`.
    pub fn name(&self) -> &'static str {
        match self {
            QueueBackend::Sqlite { .. } => "sqlite",
            QueueBackend::Postgres { .. } => "postgres",
            QueueBackend::Redis { .. } => "redis",
        }
    }
}

/// How to reach the job queue (`TVARR_QUEUE_URL`) and how to poll it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Where the queue is stored.
    pub backend: QueueBackend,
    /// The queue's name (a namespace within the backend). Every process of one tvarr
    /// installation must use the same name; tests use unique ones.
    pub queue: String,
    /// How often an idle worker looks for new messages.
    pub poll_interval: Duration,
    /// How often apalis records that a worker is alive (apalis re-delivers the messages of a
    /// worker silent for twice this long).
    pub heartbeat_interval: Duration,
}

impl QueueConfig {
    /// The default queue name.
    pub const DEFAULT_QUEUE: &'static str = "tvarr-jobs";
    /// The file name of the default SQLite queue in the data directory.
    pub const SQLITE_FILE: &'static str = "queue.db";

    /// A queue on `backend` with the default name and timings.
    ///
    /// An idle worker polls every 500 ms. A worker sharing the [`Queue`] with the scheduler
    /// (the server's in-process workers) does not wait for the poll: every push wakes it.
    pub fn new(backend: QueueBackend) -> Self {
        Self {
            backend,
            queue: Self::DEFAULT_QUEUE.to_owned(),
            poll_interval: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(30),
        }
    }

    /// The default: an SQLite queue in `<data_dir>/queue.db`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::new(QueueBackend::Sqlite {
            path: data_dir.join(Self::SQLITE_FILE),
        })
    }

    /// Reads a queue URL: `sqlite://path/queue.db` (relative) or `sqlite:///abs/queue.db`,
    /// `postgres://…` (or `postgresql://…`), `redis://…` (or `rediss://…`).
    pub fn from_url(url: &str) -> Result<Self, JobsError> {
        let url = url.trim();
        let backend = if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(JobsError::Config(
                    "an SQLite queue needs a file path, as in sqlite://data/queue.db".into(),
                ));
            }
            QueueBackend::Sqlite { path: path.into() }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            QueueBackend::Postgres { url: url.into() }
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            QueueBackend::Redis { url: url.into() }
        } else {
            return Err(JobsError::Config(format!(
                "unsupported queue URL {:?}: use sqlite://, postgres:// or redis:// \
                 (there is no MySQL queue; a MySQL main database pairs with any of these)",
                redact_url(url)
            )));
        };
        Ok(Self::new(backend))
    }

    /// The same configuration with another queue name.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// The same configuration with another poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
}

/// Hides the password of a URL for logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// A connected queue. Clone it freely: clones share the connections. Make one per process
/// and give it to the [`crate::JobScheduler`] and the [`crate::WorkerRuntime`].
#[derive(Clone)]
pub struct Queue {
    pub(crate) storage: QueueStorage,
    config: QueueConfig,
    /// Rung after every push, so a worker in this process starts the job at once instead of
    /// at its next poll. Workers in other processes still find it by polling.
    pub(crate) pushed: Arc<Notify>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .finish()
    }
}

#[derive(Clone)]
pub(crate) enum QueueStorage {
    Sqlite(SqliteStorage<JobMessage>),
    Postgres(PostgresStorage<JobMessage>),
    Redis(RedisStorage<JobMessage, ConnectionManager>),
}

fn queue_err(e: impl std::fmt::Display) -> JobsError {
    JobsError::Queue(e.to_string())
}

impl Queue {
    /// Connects to the queue and creates its tables (apalis's migrations) when needed.
    pub async fn connect(config: &QueueConfig) -> Result<Self, JobsError> {
        let storage = match &config.backend {
            QueueBackend::Sqlite { path } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        JobsError::Queue(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                // apalis-sqlite's own `setup` sets `synchronous = OFF` on a pooled connection;
                // we run its migrations ourselves and keep NORMAL, the safe setting under WAL.
                let options = SqliteConnectOptions::from_str("sqlite:")
                    .map_err(queue_err)?
                    .filename(path)
                    .create_if_missing(true)
                    .pragma("journal_mode", "WAL")
                    .pragma("synchronous", "NORMAL")
                    .busy_timeout(Duration::from_secs(10));
                // Two processes opening a new queue file at once race twice: switching the
                // file to WAL takes a lock SQLite's busy timeout does not wait for ("database
                // is locked" at once), and SQLite migrations take no lock. The loser of either
                // race sees the winner's work on a later try.
                let open = || async {
                    let pool = SqlitePoolOptions::new()
                        .max_connections(4)
                        .connect_with(options.clone())
                        .await
                        .map_err(queue_err)?;
                    match SqliteStorage::migrations().run(&pool).await {
                        Ok(()) => Ok(pool),
                        Err(e) => {
                            pool.close().await;
                            Err(queue_err(e))
                        }
                    }
                };
                let backoff = ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(1))
                    .with_max_times(8)
                    .with_jitter();
                let pool = open
                    .retry(backoff)
                    .sleep(tokio::time::sleep)
                    .notify(|error, delay| {
                        tracing::debug!(%error, ?delay, "opening the queue raced; retrying");
                    })
                    .await?;
                QueueStorage::Sqlite(
                    SqliteStorage::new(&pool).with_config(sqlite_config(config, 10)),
                )
            }
            QueueBackend::Postgres { url } => {
                let options = PgConnectOptions::from_str(url).map_err(queue_err)?;
                // sqlx's default pool: at most 10 connections, 30 s to get one.
                let pool = PgPool::connect_with(options).await.map_err(queue_err)?;
                PostgresStorage::setup(&pool).await.map_err(queue_err)?;
                QueueStorage::Postgres(
                    PostgresStorage::new(&pool).with_config(postgres_config(config, 10)),
                )
            }
            QueueBackend::Redis { url } => {
                let conn = apalis_redis::connect(url.as_str())
                    .await
                    .map_err(queue_err)?;
                QueueStorage::Redis(RedisStorage::new(conn).with_config(redis_config(config, 10)))
            }
        };
        tracing::info!(backend = config.backend.name(), queue = %config.queue, "job queue connected");
        Ok(Self {
            storage,
            config: config.clone(),
            pushed: Arc::new(Notify::new()),
        })
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Puts a message for `job_id` on the queue.
    pub async fn push(&self, job_id: JobId) -> Result<(), JobsError> {
        let task = TaskBuilder::new(JobMessage { job_id })
            .max_attempts(MAX_DELIVERIES)
            .build();
        match &self.storage {
            QueueStorage::Sqlite(s) => s.clone().push_task(task).await.map_err(queue_err)?,
            QueueStorage::Postgres(s) => s.clone().push_task(task).await.map_err(queue_err)?,
            QueueStorage::Redis(s) => s.clone().push_task(task).await.map_err(queue_err)?,
        }
        // A stored permit if no worker is waiting right now: the next look is immediate.
        self.pushed.notify_one();
        Ok(())
    }
}

/// apalis's settings for `config`, fetching up to `batch` messages at a time.
pub(crate) fn sqlite_config(config: &QueueConfig, batch: usize) -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(&config.queue)
        .heartbeat_interval(config.heartbeat_interval)
        .missed_heartbeats(2)
        .batch_size(batch.max(1))
}

/// apalis's settings for `config`, fetching up to `batch` messages at a time.
pub(crate) fn postgres_config(config: &QueueConfig, batch: usize) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(&config.queue)
        .heartbeat_interval(config.heartbeat_interval)
        .missed_heartbeats(2)
        .batch_size(batch.max(1))
}

/// apalis's settings for `config`, fetching up to `batch` messages at a time.
pub(crate) fn redis_config(config: &QueueConfig, batch: usize) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(&config.queue)
        .heartbeat_interval(config.heartbeat_interval)
        .missed_heartbeats(2)
        .batch_size(batch.max(1))
}

/// How often apalis delivers one message when the worker hands it back (it does when the jobs
/// table cannot be reached, or when the worker is shutting down).
const MAX_DELIVERIES: usize = 25;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queue_urls() {
        let c = QueueConfig::from_url("sqlite://data/queue.db").unwrap();
        assert_eq!(
            c.backend,
            QueueBackend::Sqlite {
                path: "data/queue.db".into()
            }
        );
        let c = QueueConfig::from_url("sqlite:///var/lib/tvarr/queue.db?mode=rwc").unwrap();
        assert_eq!(
            c.backend,
            QueueBackend::Sqlite {
                path: "/var/lib/tvarr/queue.db".into()
            }
        );
        assert_eq!(
            QueueConfig::from_url("postgresql://u:p@db/tvarr")
                .unwrap()
                .backend
                .name(),
            "postgres"
        );
        assert_eq!(
            QueueConfig::from_url("redis://127.0.0.1:6379/2")
                .unwrap()
                .backend
                .name(),
            "redis"
        );
        assert_eq!(
            QueueConfig::from_url("redis://x").unwrap().queue,
            QueueConfig::DEFAULT_QUEUE
        );
        let err = QueueConfig::from_url("mysql://u:secret@db/tvarr").unwrap_err();
        assert!(err.to_string().contains("no MySQL queue"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(QueueConfig::from_url("sqlite://").is_err());
        assert!(QueueConfig::from_url("sqlite::memory:").is_err());
    }

    #[test]
    fn hides_passwords() {
        assert_eq!(
            redact_url("postgres://tvarr:hunter2@db:5432/tvarr"),
            "postgres://tvarr:***@db:5432/tvarr"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("redis://:pw@host/0"), "redis://:***@host/0");
        let config = QueueConfig::from_url("postgres://a:hunter2@db/x").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
