//! Starting and stopping a tvarr process: the server (API, outputs, in-process workers) and
//! the worker-only process.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tvarr_api::{ApiSettings, AppState, Authenticator, Readiness};
use tvarr_core::{Job, JobId, JobQueue, NewJob, OutputStore, RepoError, RepoResult, Repositories};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_jobs::{
    CronScheduler, JobEvents, JobScheduler, JobsError, Queue, QueueConfig, WorkerRuntime,
};
use tvarr_metrics::Metrics;
use tvarr_storage::{DatabaseOutputStore, DirectoryOutputStore, Store};

use crate::error::AppError;
use crate::handlers::GenerationWiring;
use crate::regeneration::Regeneration;
use crate::settings::{OutputStoreKind, Settings, redact};

/// How long the process may take to stop after SIGTERM or SIGINT.
const STOP_DEADLINE: Duration = Duration::from_secs(9);

/// The parts both process kinds open at start.
struct Opened {
    store: Store,
    repos: Repositories,
    queue: Queue,
}

async fn open(settings: &Settings) -> Result<Opened, AppError> {
    install_crypto_provider();
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| AppError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    // Local-file sources are read from here only; without it they all fail, which is safe.
    if let Some(dir) = &settings.fetch.import_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the import directory");
    }
    let store = Store::connect(&settings.database_url)
        .await
        .map_err(|e| AppError::Database {
            url: redact(&settings.database_url),
            reason: e.to_string(),
        })?;
    tracing::info!(backend = store.backend().as_str(), "database ready");
    let repos = store.repositories();
    let queue_error = |e: JobsError| AppError::Queue {
        url: redact(&settings.queue_url),
        reason: e.to_string(),
    };
    let queue_config = QueueConfig::from_url(&settings.queue_url).map_err(queue_error)?;
    let queue = Queue::connect(&queue_config).await.map_err(queue_error)?;
    tracing::info!(backend = queue_config.backend.name(), "job queue ready");
    Ok(Opened {
        store,
        repos,
        queue,
    })
}

/// reqwest (through rustls) and sqlx bring different crypto providers; pick one for the process.
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tvarr".into());
    format!("{host}-{}", std::process::id())
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct StoreReadiness(Store);

#[async_trait]
impl Readiness for StoreReadiness {
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// The API's view of the job scheduler.
struct SchedulerQueue(JobScheduler);

fn repo_error(e: JobsError) -> RepoError {
    match e {
        JobsError::Repository(e) => e,
        other => RepoError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl JobQueue for SchedulerQueue {
    async fn enqueue(&self, job: NewJob) -> RepoResult<Job> {
        self.0.enqueue(job).await.map_err(repo_error)
    }
    async fn cancel(&self, id: JobId) -> RepoResult<Job> {
        self.0.cancel(id).await.map_err(repo_error)
    }
}

/// The key that signs login sessions, kept in the data directory so sessions survive restarts.
fn session_key(data_dir: &Path) -> Result<[u8; 32], AppError> {
    let path = data_dir.join("session.key");
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    write_private(&path, &key).map_err(|source| AppError::DataDir {
        path: path.clone(),
        source,
    })?;
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

fn fetcher(options: FetchOptions) -> Result<Arc<HttpFetcher>, AppError> {
    HttpFetcher::new(options)
        .map(Arc::new)
        .map_err(|e| AppError::Start(format!("cannot build the HTTP client: {e}")))
}

fn worker_options(settings: &Settings, concurrency: usize) -> tvarr_jobs::WorkerOptions {
    let stale = settings.job_stale_after;
    tvarr_jobs::WorkerOptions {
        concurrency,
        stale_after: stale,
        heartbeat_interval: (stale / 4).max(Duration::from_millis(250)),
        sweep_interval: (stale / 2).max(Duration::from_millis(500)),
        ..Default::default()
    }
}

/// The store generated outputs are published to, as the settings say.
fn output_store(settings: &Settings, store: &Store) -> Result<Arc<dyn OutputStore>, AppError> {
    let outputs: Arc<dyn OutputStore> = match settings.output_store {
        OutputStoreKind::Directory => Arc::new(
            DirectoryOutputStore::new(settings.data_dir.join("outputs"))
                .map_err(|e| AppError::Start(format!("cannot open the output directory: {e}")))?,
        ),
        OutputStoreKind::Database => Arc::new(
            DatabaseOutputStore::new(store, settings.data_dir.join("output-cache")).map_err(
                |e| AppError::Start(format!("cannot open the output cache directory: {e}")),
            )?,
        ),
    };
    Ok(outputs)
}

fn generation_wiring(
    settings: &Settings,
    outputs: Arc<dyn OutputStore>,
    regeneration: Regeneration,
) -> GenerationWiring {
    GenerationWiring {
        outputs,
        base_url: settings.base_url.clone(),
        ingest_wait: settings.generation_ingest_wait,
        regeneration: Some(regeneration),
    }
}

/// Runs the server until SIGTERM or SIGINT: the API and outputs, the cron scheduler, and
/// `settings.workers` in-process workers.
pub async fn run_server(settings: Settings) -> Result<(), AppError> {
    let opened = open(&settings).await?;
    let Opened {
        store,
        repos,
        queue,
    } = opened;
    let metrics = Arc::new(Metrics::new());
    let events = JobEvents::new(1024);
    // The in-process workers share the scheduler's queue: one pool, and a push wakes them at
    // once instead of at their next poll.
    let scheduler =
        JobScheduler::new(repos.jobs.clone(), queue.clone()).with_events(events.clone());
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    if let Ok(swept) = store.sweep_abandoned(Duration::from_secs(0)).await
        && swept > 0
    {
        tracing::info!(rows = swept, "removed data of ingests that never finished");
    }

    let outputs = output_store(&settings, &store)?;
    if settings.workers > 0 {
        let (regeneration, _) = Regeneration::spawn(
            repos.proxies.clone(),
            scheduler.clone(),
            settings.generation_debounce,
            shutdown.clone(),
        );
        let registry = crate::handlers::registry(
            repos.clone(),
            fetcher(settings.fetch.clone())?,
            settings.ingest.clone(),
            metrics.clone(),
            generation_wiring(&settings, outputs.clone(), regeneration),
        );
        let runtime = WorkerRuntime::new(queue, repos.jobs.clone(), registry, worker_name())
            .with_options(worker_options(&settings, settings.workers))
            .with_events(events.clone());
        let token = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = runtime.serve(token).await {
                tracing::error!(error = %e, "in-process workers stopped");
            }
        });
        tracing::info!(workers = settings.workers, "in-process workers started");
    } else {
        // Workers run elsewhere: follow their progress through the jobs table.
        events
            .poll_repository(repos.jobs.clone(), Duration::from_secs(1), shutdown.clone())
            .await;
    }

    let cron = CronScheduler::new(
        scheduler.clone(),
        Arc::new(crate::schedules::SourceSchedules::new(repos.clone())),
    )
    .with_min_interval(settings.cron_min_interval);
    // The API's source changes reload the schedules at once (a deleted source stops firing).
    let repos = crate::schedules::refreshing(repos, &cron.refresher());
    tasks.spawn(cron.run(shutdown.clone()));

    let auth = Authenticator::new(
        repos.users.clone(),
        repos.api_keys.clone(),
        session_key(&settings.data_dir)?,
    )
    .await
    .map_err(|e| AppError::Start(format!("cannot set up access control: {e}")))?;
    match &settings.admin_password {
        Some(password) => auth
            .ensure_admin(password)
            .await
            .map_err(|e| AppError::Start(format!("cannot set the admin password: {e}")))?,
        None if !auth.is_required() => tracing::warn!(
            "NO ADMIN PASSWORD IS SET: the API is open to anyone who can reach {}. \
             Set TVARR_ADMIN_PASSWORD or call POST /api/v1/auth/setup.",
            settings.listen
        ),
        None => {}
    }

    let (job_events, _) = broadcast::channel::<Job>(1024);
    {
        let mut receiver = events.subscribe();
        let sender = job_events.clone();
        let metrics = metrics.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    event = receiver.recv() => match event {
                        Ok(event) => {
                            let job = event.job;
                            if job.status.is_terminal()
                                && let (Some(start), Some(end)) = (job.started_at, job.finished_at)
                            {
                                let elapsed = (end - start).to_std().unwrap_or_default();
                                metrics.observe_job(job.kind, job.status, elapsed);
                            }
                            let _ = sender.send(job);
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            }
        });
    }

    let state = AppState {
        repos,
        outputs,
        queue: Arc::new(SchedulerQueue(scheduler)),
        readiness: Arc::new(StoreReadiness(store.clone())),
        job_events,
        settings: ApiSettings {
            base_url: settings.base_url.clone(),
            base_url_configured: settings.base_url_configured,
            trusted_proxies: settings.trusted_proxies.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            cron_min_interval: settings.cron_min_interval,
            import_dir: settings.fetch.import_dir.clone(),
        },
        auth: Arc::new(auth),
        metrics,
    };
    let server = actix_web::HttpServer::new(move || tvarr_api::build_app(state.clone()))
        .disable_signals()
        .shutdown_timeout(5)
        .bind(settings.listen)
        .map_err(|source| AppError::Listen {
            address: settings.listen,
            source,
        })?
        .run();
    tracing::info!(listen = %settings.listen, base_url = %settings.base_url, "tvarr is serving");
    let handle = server.handle();
    let stopper = shutdown.clone();
    // One deadline from the moment the signal arrives covers draining requests, running jobs
    // and closing the database, so the whole stop fits in the promised ten seconds.
    let stop_deadline = Arc::new(std::sync::OnceLock::new());
    let deadline_setter = stop_deadline.clone();
    tokio::spawn(async move {
        stop_signal().await;
        let _ = deadline_setter.set(tokio::time::Instant::now() + STOP_DEADLINE);
        tracing::info!("stopping: no new requests or jobs; running jobs get a few seconds");
        stopper.cancel();
        handle.stop(true).await;
    });
    let served = server.await;
    shutdown.cancel();
    let deadline = stop_deadline
        .get()
        .copied()
        .unwrap_or_else(|| tokio::time::Instant::now() + STOP_DEADLINE);
    let _ = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    close_store(store, deadline).await;
    served.map_err(|e| AppError::Start(format!("the HTTP server failed: {e}")))
}

/// Closes the database pools, giving up at `deadline` (plus a moment, so a pool that is already
/// closing can finish): a stuck connection must not hold the process past its stop deadline.
async fn close_store(store: Store, deadline: tokio::time::Instant) {
    let deadline = deadline.max(tokio::time::Instant::now()) + Duration::from_millis(500);
    if tokio::time::timeout_at(deadline, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close in time; stopping anyway");
    }
}

/// Runs workers only, until SIGTERM or SIGINT.
pub async fn run_worker(settings: Settings) -> Result<(), AppError> {
    let opened = open(&settings).await?;
    let Opened {
        store,
        repos,
        queue,
    } = opened;
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let listener = settings
        .metrics_listen
        .map(|address| {
            crate::worker_http::serve(
                address,
                metrics.clone(),
                repos.jobs.clone(),
                shutdown.clone(),
            )
        })
        .transpose()?;
    let outputs = output_store(&settings, &store)?;
    let (regeneration, _) = Regeneration::spawn(
        repos.proxies.clone(),
        JobScheduler::new(repos.jobs.clone(), queue.clone()),
        settings.generation_debounce,
        shutdown.clone(),
    );
    let registry = crate::handlers::registry(
        repos.clone(),
        fetcher(settings.fetch.clone())?,
        settings.ingest.clone(),
        metrics,
        generation_wiring(&settings, outputs, regeneration),
    );
    let workers = settings.workers.max(1);
    let runtime = WorkerRuntime::new(queue, repos.jobs.clone(), registry, worker_name())
        .with_options(worker_options(&settings, workers));
    let stopper = shutdown.clone();
    let stop_deadline = Arc::new(std::sync::OnceLock::new());
    let deadline_setter = stop_deadline.clone();
    tokio::spawn(async move {
        stop_signal().await;
        let _ = deadline_setter.set(tokio::time::Instant::now() + STOP_DEADLINE);
        tracing::info!("stopping: no new jobs; running jobs get a few seconds");
        stopper.cancel();
    });
    tracing::info!(workers, "tvarr-worker is running");
    let result = runtime.serve(shutdown.clone()).await;
    shutdown.cancel();
    if let Some(listener) = listener {
        let _ = tokio::time::timeout(Duration::from_secs(2), listener).await;
    }
    let deadline = stop_deadline
        .get()
        .copied()
        .unwrap_or_else(|| tokio::time::Instant::now() + STOP_DEADLINE);
    close_store(store, deadline).await;
    result.map_err(|e| AppError::Start(format!("the workers failed: {e}")))
}
