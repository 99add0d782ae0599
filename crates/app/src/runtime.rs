//! Starting and stopping a tvarr process: what both process kinds open (database, queue,
//! fetcher, output store, job handlers) and the worker-only process. The server's own part
//! (the HTTP API) is in `server.rs`, behind the `server` feature.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tvarr_core::{OutputStore, Repositories};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_jobs::{JobScheduler, JobsError, Queue, QueueConfig, WorkerRuntime};
use tvarr_metrics::Metrics;
use tvarr_storage::{DatabaseOutputStore, DirectoryOutputStore, Store};

use crate::error::AppError;
use crate::handlers::GenerationWiring;
use crate::regeneration::Regeneration;
use crate::settings::{OutputStoreKind, Settings, redact};

/// How long the process may take to stop after SIGTERM or SIGINT.
pub(crate) const STOP_DEADLINE: Duration = Duration::from_secs(9);

/// The parts both process kinds open at start.
pub(crate) struct Opened {
    pub(crate) store: Store,
    pub(crate) repos: Repositories,
    pub(crate) queue: Queue,
}

pub(crate) async fn open(settings: &Settings) -> Result<Opened, AppError> {
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

pub(crate) fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tvarr".into());
    format!("{host}-{}", std::process::id())
}

/// Resolves when SIGTERM or SIGINT arrives.
pub(crate) async fn stop_signal() {
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

pub(crate) fn fetcher(options: FetchOptions) -> Result<Arc<HttpFetcher>, AppError> {
    HttpFetcher::new(options)
        .map(Arc::new)
        .map_err(|e| AppError::Start(format!("cannot build the HTTP client: {e}")))
}

pub(crate) fn worker_options(settings: &Settings, concurrency: usize) -> tvarr_jobs::WorkerOptions {
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
pub(crate) fn output_store(
    settings: &Settings,
    store: &Store,
) -> Result<Arc<dyn OutputStore>, AppError> {
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

pub(crate) fn generation_wiring(
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

/// When a stopping process must be done by: [`STOP_DEADLINE`] after SIGTERM or SIGINT. One
/// deadline from the moment the signal arrives covers draining requests, running jobs and
/// closing the database, so the whole stop fits in the promised ten seconds.
pub(crate) struct StopDeadline(Arc<std::sync::OnceLock<tokio::time::Instant>>);

impl StopDeadline {
    /// Waits for SIGTERM or SIGINT in a task of its own; then sets the deadline, logs
    /// `message`, cancels `shutdown` and runs `then` (the HTTP server's stop, for one).
    pub(crate) fn on_signal(
        shutdown: CancellationToken,
        message: &'static str,
        then: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        let deadline = Arc::new(std::sync::OnceLock::new());
        let setter = deadline.clone();
        tokio::spawn(async move {
            stop_signal().await;
            let _ = setter.set(tokio::time::Instant::now() + STOP_DEADLINE);
            tracing::info!("{message}");
            shutdown.cancel();
            then.await;
        });
        Self(deadline)
    }

    /// The deadline: [`STOP_DEADLINE`] after the signal, or from now when the process stops
    /// without one (its server or workers ended).
    pub(crate) fn deadline(&self) -> tokio::time::Instant {
        self.0
            .get()
            .copied()
            .unwrap_or_else(|| tokio::time::Instant::now() + STOP_DEADLINE)
    }
}

/// Closes the database pools, giving up at `deadline` (plus a moment, so a pool that is already
/// closing can finish): a stuck connection must not hold the process past its stop deadline.
pub(crate) async fn close_store(store: Store, deadline: tokio::time::Instant) {
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
    let stop = StopDeadline::on_signal(
        shutdown.clone(),
        "stopping: no new jobs; running jobs get a few seconds",
        async {},
    );
    tracing::info!(workers, "tvarr-worker is running");
    let result = runtime.serve(shutdown.clone()).await;
    shutdown.cancel();
    if let Some(listener) = listener {
        let _ = tokio::time::timeout(Duration::from_secs(2), listener).await;
    }
    close_store(store, stop.deadline()).await;
    result.map_err(|e| AppError::Start(format!("the workers failed: {e}")))
}
