//! The queue and the worker runtime against real backends: an SQLite file, PostgreSQL and
//! Redis (`TVARR_TEST_QUEUE_POSTGRES_URL`, `TVARR_TEST_QUEUE_REDIS_URL`; skipped when they
//! do not answer, except under `CI=true`, where that fails).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::TestJobs;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tvarr_core::{Job, JobId, JobKind, JobRepository, JobStatus, NewJob};
use tvarr_jobs::{
    HandlerRegistry, JobControl, JobError, JobEvents, JobHandler, JobScheduler, Queue, QueueConfig,
    WorkerOptions, WorkerRuntime,
};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
    Redis,
}

struct TestQueue {
    config: QueueConfig,
    _dir: Option<tempfile::TempDir>,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A queue with a unique name on `backend`, or `None` (skip) when the server is not there.
async fn test_queue(backend: Backend) -> Option<TestQueue> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let name = format!("tvarr-test-{}", Uuid::now_v7().simple());
    let (config, dir) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            (QueueConfig::sqlite_in(dir.path()), Some(dir))
        }
        Backend::Postgres => {
            let url = std::env::var("TVARR_TEST_QUEUE_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            (QueueConfig::from_url(&url).unwrap(), None)
        }
        Backend::Redis => {
            let url = std::env::var("TVARR_TEST_QUEUE_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            (QueueConfig::from_url(&url).unwrap(), None)
        }
    };
    let config = config
        .with_queue(name)
        .with_poll_interval(Duration::from_millis(100));
    let probe = tokio::time::timeout(Duration::from_secs(10), Queue::connect(&config)).await;
    match probe {
        Ok(Ok(_)) => Some(TestQueue { config, _dir: dir }),
        Ok(Err(e)) if !in_ci() => {
            eprintln!("skipping: {backend:?} queue unavailable: {e}");
            None
        }
        Err(_) if !in_ci() => {
            eprintln!("skipping: {backend:?} queue did not answer");
            None
        }
        Ok(Err(e)) => panic!("{backend:?} queue unavailable under CI: {e}"),
        Err(_) => panic!("{backend:?} queue did not answer under CI"),
    }
}

fn fast_options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 3,
        stale_after: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(200),
        sweep_interval: Duration::from_millis(300),
        shutdown_grace: Duration::from_secs(5),
        stop_grace: Duration::from_millis(300),
    }
}

fn ingest(subject: Uuid) -> NewJob {
    NewJob {
        kind: JobKind::IngestStream,
        subject_id: Some(subject),
    }
}

/// Counts executions per job and does what `behave` says for each attempt.
#[derive(Clone, Default)]
struct Recorder {
    runs: Arc<Mutex<HashMap<JobId, Vec<String>>>>,
    started: Arc<Notify>,
}

impl Recorder {
    fn record(&self, job: &Job, worker: &str) {
        self.runs
            .lock()
            .unwrap()
            .entry(job.id)
            .or_default()
            .push(worker.to_owned());
        self.started.notify_waiters();
    }
    fn runs(&self, id: JobId) -> usize {
        self.runs.lock().unwrap().get(&id).map_or(0, Vec::len)
    }
    /// Waits until `id` has started `count` times.
    async fn wait_runs(&self, id: JobId, count: usize) {
        let started = async {
            loop {
                let notified = self.started.notified();
                if self.runs(id) >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), started)
            .await
            .expect("the handler started within 30 s");
    }
}

type Behaviour = Arc<
    dyn Fn(Job, Arc<dyn JobControl>) -> futures::future::BoxFuture<'static, Result<(), JobError>>
        + Send
        + Sync,
>;

struct TestHandler {
    recorder: Recorder,
    behave: Behaviour,
}

#[async_trait]
impl JobHandler for TestHandler {
    async fn run(&self, job: &Job, ctx: Arc<dyn JobControl>) -> Result<(), JobError> {
        self.recorder
            .record(job, job.worker.as_deref().unwrap_or_default());
        (self.behave)(job.clone(), ctx).await
    }
}

fn registry(recorder: &Recorder, behave: Behaviour) -> HandlerRegistry {
    HandlerRegistry::new().with(
        JobKind::IngestStream,
        TestHandler {
            recorder: recorder.clone(),
            behave,
        },
    )
}

fn behaviour<F, Fut>(f: F) -> Behaviour
where
    F: Fn(Job, Arc<dyn JobControl>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
{
    Arc::new(move |job, ctx| Box::pin(f(job, ctx)))
}

struct Running {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), tvarr_jobs::JobsError>>,
}

impl Running {
    async fn stop(self) -> Duration {
        let started = Instant::now();
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("runtime stops within 30 s")
            .unwrap()
            .unwrap();
        started.elapsed()
    }
}

async fn start(
    config: &QueueConfig,
    repo: &Arc<dyn JobRepository>,
    registry: HandlerRegistry,
    name: &str,
    options: WorkerOptions,
    events: Option<JobEvents>,
) -> Running {
    let queue = Queue::connect(config).await.unwrap();
    let mut runtime = WorkerRuntime::new(queue, repo.clone(), registry, name).with_options(options);
    if let Some(events) = events {
        runtime = runtime.with_events(events);
    }
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(runtime.serve(shutdown.clone()));
    Running { shutdown, handle }
}

async fn scheduler(config: &QueueConfig, repo: &Arc<dyn JobRepository>) -> JobScheduler {
    JobScheduler::new(repo.clone(), Queue::connect(config).await.unwrap())
}

/// Waits (up to `secs`) until `id` has ended, and returns it.
async fn wait_ended(repo: &Arc<dyn JobRepository>, id: JobId, secs: u64) -> Job {
    wait_for(repo, id, secs, |j| j.status.is_terminal()).await
}

async fn wait_for(
    repo: &Arc<dyn JobRepository>,
    id: JobId,
    secs: u64,
    what: impl Fn(&Job) -> bool,
) -> Job {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let job = repo.get(id).await.unwrap();
        if what(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job not there in {secs} s: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// --- every job runs exactly once, on each backend -------------------------------------------

async fn every_job_runs_exactly_once(backend: Backend) {
    let Some(q) = test_queue(backend).await else {
        return;
    };
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let work = behaviour(|_job, ctx: Arc<dyn JobControl>| async move {
        ctx.progress("working", 1, Some(2)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.progress("working", 2, Some(2)).await;
        Ok(())
    });
    let a = start(
        &q.config,
        &repo,
        registry(&recorder, work.clone()),
        "worker-a",
        fast_options(),
        None,
    )
    .await;
    let b = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "worker-b",
        fast_options(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id);
    }
    for id in &ids {
        let job = wait_ended(&repo, *id, 60).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
        assert_eq!(job.attempts, 1, "{job:?}");
    }
    // Late duplicate deliveries would show up as second runs: give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(
            recorder.runs(*id),
            1,
            "job {id} ran {} times",
            recorder.runs(*id)
        );
    }
    let workers: std::collections::HashSet<String> = recorder
        .runs
        .lock()
        .unwrap()
        .values()
        .flatten()
        .cloned()
        .collect();
    eprintln!("{backend:?}: jobs ran on {workers:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_every_job_runs_exactly_once() {
    every_job_runs_exactly_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_every_job_runs_exactly_once() {
    every_job_runs_exactly_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_every_job_runs_exactly_once() {
    every_job_runs_exactly_once(Backend::Redis).await;
}

// --- crash recovery, on each backend ----------------------------------------------------------

async fn abandoned_job_is_run_again_by_another_worker(backend: Backend) {
    let Some(q) = test_queue(backend).await else {
        return;
    };
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    // The first attempt hangs (its worker will "crash"), the second succeeds.
    let work = behaviour(|job: Job, _ctx| async move {
        if job.attempts == 1 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(())
    });
    let a = start(
        &q.config,
        &repo,
        registry(&recorder, work.clone()),
        "crashing-a",
        fast_options(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    let running = wait_for(&repo, id, 30, |j| j.status == JobStatus::Running).await;
    assert_eq!(running.worker.as_deref(), Some("crashing-a"));
    // The claim is recorded just before the handler starts: wait for the handler itself.
    recorder.wait_runs(id, 1).await;
    // Crash: the runtime's task is aborted, nothing is recorded, its heartbeat stops.
    a.handle.abort();
    let _ = a.handle.await;
    let frozen = repo.get(id).await.unwrap();
    assert_eq!(frozen.status, JobStatus::Running);

    let b = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "rescuer-b",
        fast_options(),
        None,
    )
    .await;
    let job = wait_ended(&repo, id, 30).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.attempts, 2);
    assert_eq!(job.worker.as_deref(), Some("rescuer-b"));
    assert_eq!(recorder.runs(id), 2);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_abandoned_job_is_run_again_by_another_worker() {
    abandoned_job_is_run_again_by_another_worker(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_abandoned_job_is_run_again_by_another_worker() {
    abandoned_job_is_run_again_by_another_worker(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_abandoned_job_is_run_again_by_another_worker() {
    abandoned_job_is_run_again_by_another_worker(Backend::Redis).await;
}

// --- progress, cancellation, failure (SQLite; the queue plays no part in them) ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_recorded_and_broadcast() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let work = behaviour(|_job, ctx: Arc<dyn JobControl>| async move {
        ctx.progress("fetching", 10, None).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for done in 1..=100 {
            ctx.progress("parsing", done, Some(100)).await;
        }
        Ok(())
    });
    let events = JobEvents::new(1024);
    let mut rx = events.subscribe();
    let w = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "w",
        fast_options(),
        Some(events),
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    let job = wait_ended(&repo, id, 30).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    // The last value is written even though the writes are throttled.
    assert_eq!(job.progress.stage, "parsing");
    assert_eq!(job.progress.done, 100);
    assert_eq!(job.progress.total, Some(100));
    // The end is recorded before its event is sent: read events up to the one that ends it.
    let mut seen = Vec::new();
    while seen
        .last()
        .is_none_or(|s: &(JobStatus, String, u64)| !s.0.is_terminal())
    {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event ended the job within 10 s: {seen:?}"))
            .unwrap();
        if event.job.id == id {
            seen.push((
                event.job.status,
                event.job.progress.stage.clone(),
                event.job.progress.done,
            ));
        }
    }
    assert_eq!(
        seen.first().map(|s| s.0),
        Some(JobStatus::Running),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(|s| s.0),
        Some(JobStatus::Succeeded),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.1 == "fetching"), "{seen:?}");
    // 101 progress calls, throttled to a few writes.
    assert!(seen.len() < 20, "{} events", seen.len());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_queued_job_never_runs() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let scheduler = scheduler(&q.config, &repo).await;
    let doomed = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap();
    let cancelled = scheduler.cancel(doomed.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let w = start(
        &q.config,
        &repo,
        registry(&recorder, behaviour(|_, _| async { Ok(()) })),
        "w",
        fast_options(),
        None,
    )
    .await;
    let marker = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap();
    assert_eq!(
        wait_ended(&repo, marker.id, 30).await.status,
        JobStatus::Succeeded
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.runs(doomed.id), 0);
    assert_eq!(
        repo.get(doomed.id).await.unwrap().status,
        JobStatus::Cancelled
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_job_whose_cancellation_was_asked_ends_cancelled_instead_of_running_again() {
    let Some(q) = test_queue(Backend::Sqlite).await else {
        return;
    };
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    // A worker claimed it, was asked to stop it, and died before it could.
    let job = repo.create(ingest(Uuid::now_v7())).await.unwrap();
    repo.claim(job.id, "dead", chrono::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    repo.request_cancel(job.id).await.unwrap();
    let w = start(
        &q.config,
        &repo,
        registry(&recorder, behaviour(|_, _| async { Ok(()) })),
        "sweeper",
        fast_options(),
        None,
    )
    .await;
    let ended = wait_ended(&repo, job.id, 30).await;
    assert_eq!(ended.status, JobStatus::Cancelled, "{ended:?}");
    assert_eq!(recorder.runs(job.id), 0, "a cancelled job is not run again");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_running_job_sees_its_token_and_ends_cancelled() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let work = behaviour(|_job, ctx: Arc<dyn JobControl>| async move {
        tokio::select! {
            _ = ctx.cancelled() => Err(JobError::Cancelled),
            // Never cancelled: the test fails on the status.
            _ = tokio::time::sleep(Duration::from_secs(30)) => Ok(()),
        }
    });
    let w = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "w",
        fast_options(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    wait_for(&repo, id, 30, |j| j.status == JobStatus::Running).await;
    let flagged = scheduler.cancel(id).await.unwrap();
    assert!(flagged.cancel_requested);
    let job = wait_ended(&repo, id, 20).await;
    assert_eq!(job.status, JobStatus::Cancelled, "{job:?}");
    assert_eq!(recorder.runs(id), 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_fails_the_job_with_its_error() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let work =
        behaviour(|_, _| async { Err(JobError::failed("fetch failed: HTTP 503 from provider")) });
    let w = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "w",
        fast_options(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    let job = wait_ended(&repo, id, 30).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        job.error.as_deref(),
        Some("fetch failed: HTTP 503 from provider")
    );
    assert_eq!(
        recorder.runs(id),
        1,
        "a failed job is not retried by the queue"
    );
    // A kind without a handler fails too, and says why.
    let cleanup = scheduler
        .enqueue(NewJob {
            kind: JobKind::Cleanup,
            subject_id: None,
        })
        .await
        .unwrap();
    let job = wait_ended(&repo, cleanup.id, 30).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.error.unwrap().contains("no handler for cleanup"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_deduplicates_queued_jobs_per_subject() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let scheduler = scheduler(&q.config, &repo).await;
    let subject = Uuid::now_v7();
    let first = scheduler.enqueue(ingest(subject)).await.unwrap();
    let again = scheduler.enqueue(ingest(subject)).await.unwrap();
    assert_eq!(first.id, again.id);
    let other = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(jobs.all().await.len(), 2);
}

// --- shutdown ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_short_job_finish() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let work = behaviour(|_, _| async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Ok(())
    });
    let w = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "w",
        fast_options(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    wait_for(&repo, id, 30, |j| j.status == JobStatus::Running).await;
    let took = w.stop().await;
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_eq!(repo.get(id).await.unwrap().status, JobStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_stubborn_job_in_time_and_it_runs_again_later() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    // Attempt 1 ignores its token; later attempts succeed.
    let work = behaviour(|job: Job, _ctx| async move {
        if job.attempts == 1 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(())
    });
    let options = WorkerOptions {
        shutdown_grace: Duration::from_secs(1),
        ..fast_options()
    };
    let a = start(
        &q.config,
        &repo,
        registry(&recorder, work.clone()),
        "a",
        options.clone(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    wait_for(&repo, id, 30, |j| j.status == JobStatus::Running).await;
    let took = a.stop().await;
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    // Interrupted, not failed: left for recovery.
    assert_eq!(repo.get(id).await.unwrap().status, JobStatus::Running);

    let b = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "b",
        options,
        None,
    )
    .await;
    let job = wait_ended(&repo, id, 30).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.attempts, 2);
    b.stop().await;
}

// --- duplicate deliveries and the one-call entry point ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_messages_for_a_running_job_do_not_run_it_twice() {
    let q = test_queue(Backend::Sqlite).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let work = behaviour(|_, _| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(())
    });
    let a = start(
        &q.config,
        &repo,
        registry(&recorder, work.clone()),
        "a",
        fast_options(),
        None,
    )
    .await;
    let b = start(
        &q.config,
        &repo,
        registry(&recorder, work),
        "b",
        fast_options(),
        None,
    )
    .await;
    let scheduler = scheduler(&q.config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    wait_for(&repo, id, 30, |j| j.status == JobStatus::Running).await;
    // What apalis's orphan re-delivery or a sweeper would do while the job is alive.
    for _ in 0..4 {
        scheduler.queue().push(id).await.unwrap();
    }
    let job = wait_ended(&repo, id, 30).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    // And after it ended.
    scheduler.queue().push(id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(recorder.runs(id), 1);
    assert_eq!(repo.get(id).await.unwrap().attempts, 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_starts_the_runtime_with_one_call_from_a_queue_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/queue.db", dir.path().display());
    let config = QueueConfig::from_url(&url).unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(WorkerRuntime::run(
        config.clone(),
        repo.clone(),
        registry(&recorder, behaviour(|_, _| async { Ok(()) })),
        "tvarr-worker-1",
        2,
        shutdown.clone(),
    ));
    let scheduler = scheduler(&config, &repo).await;
    let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
    assert_eq!(wait_ended(&repo, id, 30).await.status, JobStatus::Succeeded);
    assert!(dir.path().join("data/queue.db").exists());
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_a_worker_sharing_the_queue_long_before_its_poll() {
    // The poll (60 s) and apalis's heartbeat (30 s) are both far beyond the 10 s each job is
    // given: only the push's own wake-up can start them in time.
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig::sqlite_in(dir.path()).with_poll_interval(Duration::from_secs(60));
    let queue = Queue::connect(&config).await.unwrap();
    let jobs = TestJobs::new().await;
    let repo = jobs.repo();
    let recorder = Recorder::default();
    let runtime = WorkerRuntime::new(
        queue.clone(),
        repo.clone(),
        registry(&recorder, behaviour(|_, _| async { Ok(()) })),
        "in-process",
    )
    .with_options(fast_options());
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(runtime.serve(shutdown.clone()));
    let running = Running { shutdown, handle };
    // The first job may be found by the worker's first look at start; the second and third
    // are pushed while it is idle on its 60 s poll, after the one before ended, so only the
    // push's wake-up starts them within 10 s.
    let scheduler = JobScheduler::new(repo.clone(), queue);
    for _ in 0..3 {
        let id = scheduler.enqueue(ingest(Uuid::now_v7())).await.unwrap().id;
        assert_eq!(wait_ended(&repo, id, 10).await.status, JobStatus::Succeeded);
        assert_eq!(recorder.runs(id), 1);
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_new_queue_file_at_once_all_connect() {
    // A server and its workers start together on a fresh data directory: each opens the queue
    // file, switches it to WAL and runs apalis's migrations, racing the others.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let config = QueueConfig::sqlite_in(dir.path());
        let opening: Vec<_> = (0..16)
            .map(|_| {
                let config = config.clone();
                tokio::spawn(async move { Queue::connect(&config).await })
            })
            .collect();
        for opened in opening {
            opened
                .await
                .unwrap()
                .expect("every process opens the queue");
        }
    }
}
