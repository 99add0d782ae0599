//! The worker side: consuming the queue and running jobs.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::{
    BackendExt, BoxDynError, Data, PollSnapshot, PollStrategy, WorkerBuilder, WorkerBuilderExt,
    WorkerError,
};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};
use tracing::Instrument;
use tvarr_core::{Job, JobError, JobId, JobRepository, JobStatus, RepoError};

use crate::error::JobsError;
use crate::events::JobEvents;
use crate::handler::{HandlerRegistry, JobContext};
use crate::queue::{
    JobMessage, Queue, QueueConfig, QueueStorage, postgres_config, redis_config, sqlite_config,
};

/// Timings and limits of a [`WorkerRuntime`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Jobs run at the same time by this runtime.
    pub concurrency: usize,
    /// A running job whose heartbeat is older than this is considered abandoned (its worker
    /// died) and is run again.
    pub stale_after: Duration,
    /// How often a running job's heartbeat is written (and its cancel flag read). Keep it well
    /// below `stale_after`.
    pub heartbeat_interval: Duration,
    /// How often this runtime looks for abandoned jobs.
    pub sweep_interval: Duration,
    /// On shutdown, how long running jobs may take to finish before they are told to stop.
    pub shutdown_grace: Duration,
    /// After being told to stop, how long a handler may take to return before it is dropped.
    pub stop_grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 2,
            stale_after: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            sweep_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(8),
            stop_grace: Duration::from_millis(500),
        }
    }
}

/// Consumes the queue and runs jobs with the registered handlers.
///
/// For each message it claims the job in the jobs table ([`JobRepository::claim`]; a message
/// for a job that has ended, was cancelled, or is held by a live worker is dropped), runs the
/// handler with a [`JobContext`], and records how it ended. A sweeper finds jobs whose worker
/// died (no heartbeat for [`WorkerOptions::stale_after`]) and queues them again.
pub struct WorkerRuntime {
    queue: Queue,
    repo: Arc<dyn JobRepository>,
    registry: HandlerRegistry,
    name: String,
    options: WorkerOptions,
    events: Option<JobEvents>,
}

impl std::fmt::Debug for WorkerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRuntime")
            .field("name", &self.name)
            .field("queue", &self.queue)
            .field("registry", &self.registry)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WorkerRuntime {
    /// Connects to the queue described by `config` and runs jobs until `shutdown` fires: the
    /// one call a binary needs. `worker_name` must be unique among live workers (say
    /// `hostname-pid`). Returns when the runtime has stopped (within about
    /// [`WorkerOptions::shutdown_grace`] plus a second after `shutdown`).
    pub async fn run(
        config: QueueConfig,
        repo: Arc<dyn JobRepository>,
        registry: HandlerRegistry,
        worker_name: impl Into<String>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> Result<(), JobsError> {
        let queue = Queue::connect(&config).await?;
        let options = WorkerOptions {
            concurrency,
            ..WorkerOptions::default()
        };
        WorkerRuntime::new(queue, repo, registry, worker_name)
            .with_options(options)
            .serve(shutdown)
            .await
    }

    /// A runtime consuming `queue` under the name `worker_name`, with default options.
    pub fn new(
        queue: Queue,
        repo: Arc<dyn JobRepository>,
        registry: HandlerRegistry,
        worker_name: impl Into<String>,
    ) -> Self {
        Self {
            queue,
            repo,
            registry,
            name: worker_name.into(),
            options: WorkerOptions::default(),
            events: None,
        }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// Also sends an event for each change of a job it runs (claim, progress, end).
    pub fn with_events(mut self, events: JobEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Runs until `shutdown` fires, then stops taking messages, gives running jobs
    /// [`WorkerOptions::shutdown_grace`] to finish, tells the rest to stop, and returns.
    ///
    /// A job interrupted by the shutdown is left `running` without a heartbeat, so any
    /// runtime's sweeper queues it again once it is stale, exactly as after a crash.
    /// Dropping this future (aborting its task) stops everything it started at once, without
    /// recording anything: that is a crash, and the same recovery applies.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), JobsError> {
        let options = normalise(self.options);
        let killed = CancellationToken::new();
        let _kill_on_drop = killed.clone().drop_guard();
        let hard_stop = killed.child_token();
        let shared = Arc::new(Shared {
            repo: self.repo,
            registry: self.registry,
            name: self.name,
            options: options.clone(),
            events: self.events,
            shutdown: shutdown.clone(),
            hard_stop: hard_stop.clone(),
            killed: killed.clone(),
            tracker: TaskTracker::new(),
        });
        tracing::info!(
            worker = %shared.name,
            backend = self.queue.config().backend.name(),
            queue = %self.queue.config().queue,
            concurrency = options.concurrency,
            "worker runtime started"
        );

        let consumer = tokio::spawn({
            let shared = shared.clone();
            let queue = self.queue.clone();
            let killed = killed.clone();
            async move {
                tokio::select! {
                    _ = consume(queue, shared) => {}
                    _ = killed.cancelled() => {}
                }
            }
        });
        let sweeper = tokio::spawn({
            let shared = shared.clone();
            let queue = self.queue.clone();
            async move {
                tokio::select! {
                    _ = sweep(queue, shared.clone()) => {}
                    _ = shared.shutdown.cancelled() => {}
                    _ = shared.killed.cancelled() => {}
                }
            }
        });

        shutdown.cancelled().await;
        let started = Instant::now();
        tracing::info!(
            worker = %shared.name,
            running = shared.tracker.len(),
            "worker shutting down: no new jobs; waiting for running ones"
        );
        shared.tracker.close();
        if tokio::time::timeout(options.shutdown_grace, shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                worker = %shared.name,
                running = shared.tracker.len(),
                "running jobs did not finish in time; stopping them"
            );
            hard_stop.cancel();
            let _ = tokio::time::timeout(
                options.stop_grace + Duration::from_millis(200),
                shared.tracker.wait(),
            )
            .await;
        }
        // The apalis worker ends once its in-flight messages have returned; do not wait long.
        let mut consumer = consumer;
        if tokio::time::timeout(Duration::from_millis(500), &mut consumer)
            .await
            .is_err()
        {
            consumer.abort();
        }
        sweeper.abort();
        tracing::info!(
            worker = %shared.name,
            took_ms = started.elapsed().as_millis() as u64,
            "worker runtime stopped"
        );
        Ok(())
    }
}

fn normalise(mut o: WorkerOptions) -> WorkerOptions {
    o.concurrency = o.concurrency.max(1);
    // A heartbeat slower than a third of the stale interval would let live jobs look dead.
    let max_heartbeat = o.stale_after / 3;
    if o.heartbeat_interval > max_heartbeat || o.heartbeat_interval.is_zero() {
        o.heartbeat_interval = max_heartbeat.max(Duration::from_millis(10));
    }
    if o.sweep_interval.is_zero() {
        o.sweep_interval = Duration::from_secs(1);
    }
    o
}

struct Shared {
    repo: Arc<dyn JobRepository>,
    registry: HandlerRegistry,
    name: String,
    options: WorkerOptions,
    events: Option<JobEvents>,
    /// Fired by the embedder: take no new messages.
    shutdown: CancellationToken,
    /// Fired when the shutdown grace is over: running handlers must stop.
    hard_stop: CancellationToken,
    /// Fired when the runtime is dropped: everything ends now, nothing is recorded.
    killed: CancellationToken,
    tracker: TaskTracker,
}

/// Why a message goes back to the queue.
#[derive(Debug, thiserror::Error)]
enum Nack {
    #[error("worker is shutting down")]
    ShuttingDown,
    #[error("jobs table unavailable: {0}")]
    Repository(RepoError),
}

/// The apalis task function: one message.
async fn on_message(msg: JobMessage, shared: Data<Arc<Shared>>) -> Result<(), BoxDynError> {
    let shared: Arc<Shared> = Arc::clone(&shared);
    if shared.shutdown.is_cancelled() {
        return Err(Box::new(Nack::ShuttingDown));
    }
    // Jobs run on their own tasks, so a restart of the apalis worker does not cut them off,
    // and several run on several threads.
    let handle = shared.tracker.spawn({
        let shared = shared.clone();
        async move {
            tokio::select! {
                r = process(&shared, msg.job_id) => r,
                _ = shared.killed.cancelled() => Ok(()),
            }
        }
    });
    match handle.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(nack)) => Err(Box::new(nack)),
        Err(e) => {
            tracing::error!(job_id = %msg.job_id, error = %e, "job task ended abnormally");
            Ok(())
        }
    }
}

macro_rules! run_apalis_worker {
    ($backend:expr, $shared:expr) => {{
        let shared: Arc<Shared> = $shared;
        let stop = shared.shutdown.clone();
        WorkerBuilder::new(shared.name.as_str())
            .backend($backend)
            .concurrency(shared.options.concurrency)
            .data(shared.clone())
            .build(on_message)
            .run_until(async move {
                stop.cancelled().await;
                Ok::<(), WorkerError>(())
            })
            .await
    }};
}

/// Wakes the apalis worker every `interval` to look for messages, and at once when this
/// process pushes one (`pushed`).
///
/// apalis 1.0's `IntervalStrategy` replaces an elapsed timer without polling the new one, so
/// when the timer fires while a fetch is in flight (a slow database, a busy machine) nothing
/// is left to wake the worker and it stops fetching until its next heartbeat (30 s). This
/// strategy always leaves a registered timer behind.
struct WakeEvery {
    interval: tokio::time::Interval,
    pushed: Arc<Notify>,
    notified: Pin<Box<OwnedNotified>>,
}

impl WakeEvery {
    fn new(every: Duration, pushed: Arc<Notify>) -> Self {
        let mut interval = tokio::time::interval(every.max(Duration::from_millis(10)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let notified = Box::pin(pushed.clone().notified_owned());
        Self {
            interval,
            pushed,
            notified,
        }
    }
}

impl PollStrategy for WakeEvery {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let mut fired = false;
        // Poll until Pending, so the next tick's waker is registered.
        while self.interval.poll_tick(cx).is_ready() {
            fired = true;
        }
        // The same for a push: a push while a fetch is in flight leaves a permit, so it is
        // seen on the next call and nothing is lost.
        while self.notified.as_mut().poll(cx).is_ready() {
            fired = true;
            self.notified = Box::pin(self.pushed.clone().notified_owned());
        }
        if fired {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Runs the apalis worker, restarting it after backend errors, until shutdown.
async fn consume(queue: Queue, shared: Arc<Shared>) {
    let poll = queue.config().poll_interval;
    let batch = shared.options.concurrency;
    let mut delay = Duration::from_millis(500);
    loop {
        if shared.shutdown.is_cancelled() {
            return;
        }
        let config = queue.config();
        let result = match &queue.storage {
            QueueStorage::Sqlite(s) => {
                let backend = s
                    .clone()
                    .with_config(sqlite_config(config, batch))
                    .poll_with_strategy(WakeEvery::new(poll, queue.pushed.clone()));
                run_apalis_worker!(backend, shared.clone())
            }
            QueueStorage::Postgres(s) => {
                let backend = s
                    .clone()
                    .with_config(postgres_config(config, batch))
                    .poll_with_strategy(WakeEvery::new(poll, queue.pushed.clone()));
                run_apalis_worker!(backend, shared.clone())
            }
            QueueStorage::Redis(s) => {
                let backend = s
                    .clone()
                    .with_config(redis_config(config, batch))
                    .poll_with_strategy(WakeEvery::new(poll, queue.pushed.clone()));
                run_apalis_worker!(backend, shared.clone())
            }
        };
        if shared.shutdown.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!(worker = %shared.name, "queue consumer ended; restarting"),
            Err(e) => {
                tracing::warn!(worker = %shared.name, error = %e, "queue consumer failed; restarting")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

/// Finds abandoned jobs and queues them again.
async fn sweep(queue: Queue, shared: Arc<Shared>) {
    let stale_after = chrono::Duration::from_std(shared.options.stale_after)
        .unwrap_or_else(|_| chrono::Duration::seconds(30));
    // What was re-queued, so a job waiting for a worker is not queued again every sweep.
    let mut requeued: HashMap<JobId, (Option<DateTime<Utc>>, Instant)> = HashMap::new();
    let mut ticker = tokio::time::interval(shared.options.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let stale = match shared.repo.stale(Utc::now() - stale_after).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for abandoned jobs");
                continue;
            }
        };
        requeued.retain(|id, _| stale.iter().any(|j| j.id == *id));
        for job in stale {
            if job.cancel_requested {
                // Its worker died after the cancellation was asked for: end it as asked, rather
                // than queue a job no worker may claim.
                match shared
                    .repo
                    .finish(
                        job.id,
                        JobStatus::Cancelled,
                        Some("cancelled; its worker stopped before it could end".into()),
                    )
                    .await
                {
                    Ok(ended) => {
                        tracing::info!(job_id = %job.id, "abandoned job ended as cancelled");
                        if let Some(events) = &shared.events {
                            events.send(ended);
                        }
                    }
                    Err(e) => tracing::warn!(job_id = %job.id, error = %e, "could not end job"),
                }
                continue;
            }
            let already = requeued.get(&job.id).is_some_and(|(hb, at)| {
                *hb == job.heartbeat_at && at.elapsed() < shared.options.stale_after
            });
            if already {
                continue;
            }
            match queue.push(job.id).await {
                Ok(()) => {
                    tracing::info!(
                        job_id = %job.id,
                        subject_id = ?job.subject_id,
                        kind = job.kind.as_str(),
                        previous_worker = job.worker.as_deref().unwrap_or(""),
                        heartbeat_at = ?job.heartbeat_at,
                        "abandoned job queued again"
                    );
                    requeued.insert(job.id, (job.heartbeat_at, Instant::now()));
                }
                Err(e) => tracing::warn!(job_id = %job.id, error = %e, "could not re-queue job"),
            }
        }
    }
}

/// Claims and runs one job.
async fn process(shared: &Arc<Shared>, job_id: JobId) -> Result<(), Nack> {
    let stale_after = chrono::Duration::from_std(shared.options.stale_after)
        .unwrap_or_else(|_| chrono::Duration::seconds(30));
    let job = match claim(shared, job_id, stale_after).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            tracing::debug!(%job_id, "job not claimable (ended, cancelled or running elsewhere)");
            return Ok(());
        }
        Err(RepoError::NotFound { .. }) => {
            tracing::warn!(%job_id, "message for a job that does not exist; dropped");
            return Ok(());
        }
        Err(e) => return Err(Nack::Repository(e)),
    };
    shared.emit(&job);
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        subject_id = ?job.subject_id,
        kind = job.kind.as_str(),
        attempt = job.attempts,
        worker = %shared.name,
    );
    run_claimed(shared, job).instrument(span).await;
    Ok(())
}

/// Claims `job_id`, retrying for a while when the jobs table is unavailable (a message
/// handed back to apalis comes again at once, so waiting here is the gentler retry).
async fn claim(
    shared: &Arc<Shared>,
    job_id: JobId,
    stale_after: chrono::Duration,
) -> Result<Option<Job>, RepoError> {
    let mut delay = Duration::from_millis(250);
    let mut waited = Duration::ZERO;
    loop {
        match shared.repo.claim(job_id, &shared.name, stale_after).await {
            Err(RepoError::Unavailable(e)) if waited < CLAIM_PATIENCE => {
                tracing::warn!(%job_id, error = %e, "jobs table unavailable; retrying the claim");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.shutdown.cancelled() => return Err(RepoError::Unavailable(e)),
                }
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

/// How long a claim waits for an unavailable jobs table before handing the message back.
const CLAIM_PATIENCE: Duration = Duration::from_secs(60);

enum Outcome {
    Finished(JobStatus, Option<String>),
    Interrupted,
}

async fn run_claimed(shared: &Arc<Shared>, job: Job) {
    let started = Instant::now();
    tracing::info!(
        kind = job.kind.as_str(),
        attempt = job.attempts,
        "job started"
    );
    let Some(handler) = shared.registry.get(job.kind) else {
        let error = format!(
            "no handler for {} jobs on worker {}",
            job.kind.as_str(),
            shared.name
        );
        finish(shared, &job, JobStatus::Failed, Some(error), started).await;
        return;
    };
    let token = shared.hard_stop.child_token();
    let ctx = JobContext::build(&job, shared.repo.clone(), token, shared.events.clone());

    let beating = CancellationToken::new();
    // Both tasks die with this future: when the runtime is dropped nothing of the job
    // survives, like in a crash.
    let heartbeat = AbortOnDropHandle::new(tokio::spawn({
        let ctx = ctx.clone();
        let beating = beating.clone();
        let every = shared.options.heartbeat_interval;
        async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = beating.cancelled() => return,
                    _ = ticker.tick() => ctx.heartbeat().await,
                }
            }
        }
    }));
    let _stop_heartbeat = beating.clone().drop_guard();

    let mut task = AbortOnDropHandle::new(tokio::spawn({
        let ctx = ctx.clone();
        let job = job.clone();
        async move { handler.run(&job, Arc::new(ctx)).await }.in_current_span()
    }));
    let result = tokio::select! {
        r = &mut task => Some(r),
        _ = async {
            shared.hard_stop.cancelled().await;
            tokio::time::sleep(shared.options.stop_grace).await;
        } => None,
    };
    if result.is_none() {
        task.abort();
    }
    beating.cancel();
    let _ = heartbeat.await;

    let interrupted = shared.hard_stop.is_cancelled() && !ctx.cancel_requested();
    let outcome = match result {
        Some(Ok(Ok(()))) => Outcome::Finished(JobStatus::Succeeded, None),
        // Stopped by the shutdown: whatever it returned, it did not finish.
        Some(Ok(Err(_))) | None if interrupted => Outcome::Interrupted,
        Some(Ok(Err(JobError::Failed(reason)))) => {
            Outcome::Finished(JobStatus::Failed, Some(reason))
        }
        Some(Ok(Err(JobError::Cancelled))) => Outcome::Finished(JobStatus::Cancelled, None),
        Some(Err(e)) if e.is_panic() => Outcome::Finished(
            JobStatus::Failed,
            Some("the job's handler panicked".to_owned()),
        ),
        Some(Err(_)) | None => Outcome::Interrupted,
    };
    ctx.flush().await;
    match outcome {
        Outcome::Finished(status, error) => finish(shared, &job, status, error, started).await,
        Outcome::Interrupted => tracing::warn!(
            kind = job.kind.as_str(),
            duration_ms = started.elapsed().as_millis() as u64,
            "job interrupted by shutdown; it runs again once its heartbeat is stale"
        ),
    }
}

async fn finish(
    shared: &Arc<Shared>,
    job: &Job,
    status: JobStatus,
    error: Option<String>,
    started: Instant,
) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=4 {
        match shared.repo.finish(job.id, status, error.clone()).await {
            Ok(done) => {
                shared.emit(&done);
                tracing::info!(
                    kind = job.kind.as_str(),
                    status = status.as_str(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    error = error.as_deref().unwrap_or(""),
                    "job finished"
                );
                return;
            }
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, "could not record the end of the job; retrying");
                tokio::time::sleep(delay).await;
                delay *= 3;
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    status = status.as_str(),
                    "could not record the end of the job; it will run again once stale"
                );
            }
        }
    }
}

impl Shared {
    fn emit(&self, job: &Job) {
        if let Some(events) = &self.events {
            events.send(job.clone());
        }
    }
}
