//! tvarr-jobs: background jobs — their queue, the worker runtime, and cron scheduling.
//!
//! This crate owns how a job gets from a request to a handler and back:
//!
//! - the **jobs table** (through [`tvarr_core::JobRepository`]) is the record people see:
//!   status, progress, error, attempts, worker, heartbeat;
//! - the **apalis queue** ([`Queue`], on SQLite, PostgreSQL or Redis, chosen by
//!   [`QueueConfig::from_url`]) only carries `{job_id}` messages ([`JobMessage`]) to workers;
//! - [`JobScheduler`] (API side) records and queues jobs, deduplicating queued ones, and
//!   cancels them;
//! - [`WorkerRuntime`] (worker side) consumes the queue, claims each job, runs its
//!   [`JobHandler`] from a [`HandlerRegistry`], handing it a [`JobContext`] as its
//!   [`JobControl`] (progress, heartbeat, cancellation), records the outcome, re-queues jobs
//!   whose worker died, and shuts down gracefully;
//! - [`JobEvents`] broadcasts job changes for server-sent events, in-process or by polling
//!   the jobs table;
//! - [`CronScheduler`] queues jobs when their cron schedules are due.
//!
//! Exactly-once execution rests on [`tvarr_core::JobRepository::claim`], not on the queue:
//! a message may be delivered twice (apalis re-delivers messages of silent workers, and the
//! sweeper re-queues stale jobs), but only one claim of a job succeeds while its worker's
//! heartbeat is fresh.
//!
//! Wiring, in a binary (`repo` is storage's `JobRepository`, `shutdown` fires on SIGTERM):
//!
//! ```text
//! let config = QueueConfig::from_url(&queue_url)?;            // or QueueConfig::sqlite_in(data_dir)
//! let queue = Queue::connect(&config).await?;                  // one per process
//! let events = JobEvents::default();
//! let scheduler = JobScheduler::new(repo.clone(), queue.clone()).with_events(events.clone());
//! let registry = HandlerRegistry::new().with(JobKind::IngestStream, ingest_handler) /* … */;
//! WorkerRuntime::new(queue, repo, registry, worker_name)
//!     .with_events(events)
//!     .serve(shutdown)                                         // returns within ~9 s of shutdown
//!     .await?;
//! // a worker-only binary: WorkerRuntime::run(config, repo, registry, name, concurrency, shutdown)
//! ```
//!
//! Cron schedules are evaluated in UTC.
//!
//! It must not depend on actix-web or sea-orm: it works against `tvarr-core` traits, and the
//! binaries give it the storage implementations. It knows no handler: `JobHandler`,
//! `JobControl` and `JobError` are `tvarr-core`'s (re-exported here), implemented beside the
//! work they do (`tvarr_ingest::IngestJobHandler`, `tvarr_pipeline::GenerateJobHandler`), which
//! therefore never depend on this crate. Its tests run on the real job store (`tvarr-storage`),
//! on every database, and every store passes one contract suite
//! (`tvarr_testkit::job_repository_contract!`).
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cron;
mod error;
mod events;
mod handler;
mod queue;
mod runtime;
mod scheduler;

pub use crate::cron::{CronScheduler, ScheduleProvider, ScheduleRefresh, SystemClock};
pub use error::JobsError;
pub use events::{JobEvent, JobEvents};
pub use handler::{HandlerRegistry, JobContext};
pub use queue::{JobMessage, Queue, QueueBackend, QueueConfig};
pub use runtime::{WorkerOptions, WorkerRuntime};
pub use scheduler::JobScheduler;
pub use tvarr_core::{JobControl, JobError, JobHandler};
