//! The server process: the HTTP API and outputs over the shared wiring of `runtime.rs`, the
//! cron scheduler, the job events, and `settings.workers` in-process workers. Behind the
//! `server` feature, so that `tvarr-worker` links no web framework.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tvarr_api::{ApiSettings, AppState, Authenticator, Readiness};
use tvarr_core::{Job, JobId, JobQueue, NewJob, RepoError, RepoResult};
use tvarr_jobs::{CronScheduler, JobEvents, JobScheduler, JobsError, WorkerRuntime};
use tvarr_metrics::Metrics;
use tvarr_storage::Store;

use crate::error::AppError;
use crate::regeneration::Regeneration;
use crate::runtime::{
    Opened, StopDeadline, close_store, fetcher, generation_wiring, open, output_store, worker_name,
    worker_options,
};
use crate::settings::Settings;

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

    if let Some(address) = settings.hdhomerun_discovery_listen {
        let answering = crate::hdhomerun_discovery::serve(
            address,
            repos.proxies.clone(),
            crate::hdhomerun_discovery::Addresses {
                base_url: settings
                    .base_url_configured
                    .then(|| settings.base_url.clone()),
                listen: settings.listen,
            },
            shutdown.clone(),
        )
        .await?;
        tasks.spawn(async move {
            let _ = answering.await;
        });
    }

    let transcoding = tvarr_relay::Transcoding::detect(settings.relay.ffmpeg_path.as_deref()).await;
    match transcoding.ffmpeg() {
        Some(ffmpeg) => {
            tracing::info!(ffmpeg = %ffmpeg.path().display(), version = ffmpeg.version(), "relay mode uses FFmpeg");
            let probing = transcoding.clone();
            tasks.spawn(async move { probing.probe_hardware().await });
        }
        None => tracing::warn!(
            reason = transcoding.status().error.unwrap_or_default(),
            "relay mode is unavailable: proxies in relay mode answer 503"
        ),
    }
    let relay = tvarr_relay::Relay::with_ffmpeg(
        (*fetcher(settings.fetch.clone())?).clone(),
        tvarr_relay::RelayConfig {
            ring_bytes: settings.relay.buffer_bytes,
            idle_grace: settings.relay.idle_grace,
            stall_timeout: settings.relay.stall_timeout,
            ..Default::default()
        },
        transcoding.ffmpeg().cloned(),
    );
    let state = AppState {
        relay: relay.clone(),
        transcoding: transcoding.clone(),
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
    let stop = StopDeadline::on_signal(
        shutdown.clone(),
        "stopping: no new requests or jobs; running jobs get a few seconds",
        async move { handle.stop(true).await },
    );
    let served = server.await;
    relay.end_all();
    shutdown.cancel();
    let deadline = stop.deadline();
    let _ = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    close_store(store, deadline).await;
    served.map_err(|e| AppError::Start(format!("the HTTP server failed: {e}")))
}
