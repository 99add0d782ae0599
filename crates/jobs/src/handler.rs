//! Which handler runs which job ([`HandlerRegistry`]), and the context a running handler
//! reports through ([`JobContext`], the runtime's [`JobControl`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tvarr_core::{Job, JobControl, JobHandler, JobId, JobKind, JobProgress, JobRepository};

use crate::events::JobEvents;

/// Which handler runs which [`JobKind`].
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerRegistry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl HandlerRegistry {
    /// A registry without handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `handler` run jobs of `kind`, replacing any previous one.
    pub fn register(&mut self, kind: JobKind, handler: Arc<dyn JobHandler>) -> &mut Self {
        self.handlers.insert(kind, handler);
        self
    }

    /// [`HandlerRegistry::register`], for building a registry in one expression.
    pub fn with(mut self, kind: JobKind, handler: impl JobHandler + 'static) -> Self {
        self.handlers.insert(kind, Arc::new(handler));
        self
    }

    /// The handler of `kind`.
    pub fn get(&self, kind: JobKind) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(&kind).cloned()
    }

    /// The kinds that have a handler.
    pub fn kinds(&self) -> Vec<JobKind> {
        JobKind::ALL
            .into_iter()
            .filter(|k| self.handlers.contains_key(k))
            .collect()
    }
}

/// What a running handler reports through: progress, and whether it should stop.
///
/// Progress goes to the jobs table at most every [`JobContext::PROGRESS_INTERVAL`] (the latest
/// value is always written when the job ends). Cancellation is seen when a progress write or
/// the runtime's heartbeat finds the job's cancel flag set, and when the worker shuts down.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<ContextInner>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.inner.job_id)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

struct ContextInner {
    job_id: JobId,
    repo: Arc<dyn JobRepository>,
    token: CancellationToken,
    cancel_requested: AtomicBool,
    progress: tokio::sync::Mutex<ProgressState>,
    snapshot: Mutex<Job>,
    events: Option<JobEvents>,
    interval: Duration,
}

struct ProgressState {
    current: JobProgress,
    last_write: Option<Instant>,
    dirty: bool,
}

impl JobContext {
    /// The shortest time between two progress writes.
    pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

    /// A context for `job` that writes to `repo`. The worker runtime makes these; build one
    /// yourself to run a handler outside it (in a handler's tests, say).
    pub fn new(job: &Job, repo: Arc<dyn JobRepository>) -> Self {
        Self::build(job, repo, CancellationToken::new(), None)
    }

    pub(crate) fn build(
        job: &Job,
        repo: Arc<dyn JobRepository>,
        token: CancellationToken,
        events: Option<JobEvents>,
    ) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                job_id: job.id,
                repo,
                token,
                cancel_requested: AtomicBool::new(job.cancel_requested),
                progress: tokio::sync::Mutex::new(ProgressState {
                    current: job.progress.clone(),
                    last_write: None,
                    dirty: false,
                }),
                snapshot: Mutex::new(job.clone()),
                events,
                interval: Self::PROGRESS_INTERVAL,
            }),
        }
    }

    /// Whether someone asked to cancel the job (as opposed to a shutdown).
    pub(crate) fn cancel_requested(&self) -> bool {
        self.inner.cancel_requested.load(Ordering::SeqCst)
    }

    /// Writes progress now if a change has not been written yet.
    pub(crate) async fn flush(&self) {
        let mut state = self.inner.progress.lock().await;
        if state.dirty {
            self.write(&mut state).await;
        }
    }

    /// Writes the current progress, which refreshes the heartbeat and reads the cancel flag.
    pub(crate) async fn heartbeat(&self) {
        let mut state = self.inner.progress.lock().await;
        self.write(&mut state).await;
    }

    async fn write(&self, state: &mut ProgressState) {
        let inner = &self.inner;
        match inner
            .repo
            .report_progress(inner.job_id, &state.current)
            .await
        {
            Ok(cancel) => {
                let was_dirty = state.dirty;
                state.last_write = Some(Instant::now());
                state.dirty = false;
                let newly_cancelled =
                    cancel && !inner.cancel_requested.swap(true, Ordering::SeqCst);
                if newly_cancelled {
                    tracing::info!(job_id = %inner.job_id, "cancellation requested");
                    inner.token.cancel();
                }
                let snapshot = inner.snapshot.lock().ok().map(|mut job| {
                    job.progress = state.current.clone();
                    job.heartbeat_at = Some(chrono::Utc::now());
                    job.cancel_requested |= cancel;
                    job.clone()
                });
                if let (Some(events), Some(job)) = (&inner.events, snapshot)
                    && (was_dirty || newly_cancelled)
                {
                    events.send(job);
                }
            }
            Err(e) => {
                tracing::warn!(job_id = %inner.job_id, error = %e, "could not record job progress");
            }
        }
    }
}

/// Progress is written through to the jobs table when the previous write is older than
/// [`JobContext::PROGRESS_INTERVAL`] (the rest when the job ends); a failed write is logged,
/// not returned: progress is for people, the work goes on.
#[async_trait]
impl JobControl for JobContext {
    fn job_id(&self) -> JobId {
        self.inner.job_id
    }

    async fn report(&self, progress: JobProgress) {
        let mut state = self.inner.progress.lock().await;
        state.current = progress;
        state.dirty = true;
        if state
            .last_write
            .is_none_or(|at| at.elapsed() >= self.inner.interval)
        {
            self.write(&mut state).await;
        }
    }

    fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    async fn cancelled(&self) {
        self.inner.token.cancelled().await;
    }
}
