//! The job handlers of this deployment: adapters from `tvarr-jobs`' `JobHandler` to the
//! services of the domain crates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tvarr_api::Metrics;
use tvarr_core::{EpgSourceId, IngestState, Job, JobKind, Repositories, StreamSourceId};
use tvarr_ingest::fetch::Fetcher;
use tvarr_ingest::{IngestProgress, IngestReport, IngestSettings};
use tvarr_jobs::{HandlerRegistry, JobContext, JobError, JobHandler};

/// Every handler this build knows, wired to `repos`.
pub fn registry(
    repos: Repositories,
    fetcher: Arc<dyn Fetcher>,
    metrics: Arc<Metrics>,
) -> HandlerRegistry {
    let ingest = Arc::new(IngestHandler {
        repos,
        fetcher,
        settings: IngestSettings::default(),
        metrics,
    });
    let mut registry = HandlerRegistry::new();
    registry.register(JobKind::IngestStream, ingest.clone());
    registry.register(JobKind::IngestEpg, ingest);
    registry
}

/// Ingests stream and EPG sources.
struct IngestHandler {
    repos: Repositories,
    fetcher: Arc<dyn Fetcher>,
    settings: IngestSettings,
    metrics: Arc<Metrics>,
}

/// Progress from the ingest (synchronous, called from its tasks) kept in atomics, and written
/// to the job by a ticker, so the parser never waits for the database.
#[derive(Default)]
struct ProgressCell {
    stage: Mutex<String>,
    done: AtomicU64,
    total: AtomicU64,
    has_total: AtomicBool,
    changed: AtomicBool,
    cancelled: AtomicBool,
}

impl IngestProgress for ProgressCell {
    fn report(&self, stage: &str, done: u64, total: Option<u64>) -> bool {
        if let Ok(mut current) = self.stage.try_lock()
            && current.as_str() != stage
        {
            *current = stage.to_string();
        }
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
        self.has_total.store(total.is_some(), Ordering::Relaxed);
        self.changed.store(true, Ordering::Release);
        !self.cancelled.load(Ordering::Relaxed)
    }
}

impl ProgressCell {
    async fn forward(&self, ctx: &JobContext) {
        if self.changed.swap(false, Ordering::AcqRel) {
            let stage = self.stage.lock().await.clone();
            let total = self
                .has_total
                .load(Ordering::Relaxed)
                .then(|| self.total.load(Ordering::Relaxed));
            ctx.progress(stage, self.done.load(Ordering::Relaxed), total)
                .await;
        }
        if ctx.is_cancelled() {
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `work` while forwarding `cell` to the job every 250 ms.
async fn with_progress<F: std::future::Future<Output = IngestReport>>(
    cell: &ProgressCell,
    ctx: &JobContext,
    work: F,
) -> IngestReport {
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            report = &mut work => {
                cell.forward(ctx).await;
                return report;
            }
            _ = ticker.tick() => cell.forward(ctx).await,
        }
    }
}

fn job_result(report: &IngestReport) -> Result<(), JobError> {
    if report.cancelled {
        return Err(JobError::Cancelled);
    }
    match report.outcome.state {
        IngestState::Ok => Ok(()),
        IngestState::Suspicious => Err(JobError::failed(format!(
            "suspicious result, previous data kept: {}",
            report.outcome.error.as_deref().unwrap_or("unknown reason")
        ))),
        IngestState::Failed | IngestState::Never => Err(JobError::failed(
            report
                .outcome
                .error
                .clone()
                .unwrap_or_else(|| "ingest failed".into()),
        )),
    }
}

#[async_trait]
impl JobHandler for IngestHandler {
    async fn run(&self, job: &Job, ctx: JobContext) -> Result<(), JobError> {
        let subject = job
            .subject_id
            .ok_or_else(|| JobError::failed("the job names no source"))?;
        let cell = ProgressCell::default();
        let report = match job.kind {
            JobKind::IngestStream => {
                let source = self
                    .repos
                    .stream_sources
                    .get(StreamSourceId::from_uuid(subject))
                    .await?;
                let span = tracing::info_span!("ingest", source_id = %source.id, kind = "stream");
                let report = with_progress(
                    &cell,
                    &ctx,
                    tracing::Instrument::instrument(
                        tvarr_ingest::ingest_stream_source(
                            &source,
                            self.fetcher.as_ref(),
                            self.repos.channels.as_ref(),
                            &cell,
                            &self.settings,
                        ),
                        span,
                    ),
                )
                .await;
                if !report.cancelled {
                    self.repos
                        .stream_sources
                        .record_ingest(source.id, report.outcome.clone())
                        .await?;
                }
                if report.outcome.state == IngestState::Ok {
                    self.metrics
                        .add_records_ingested("channel", report.outcome.record_count);
                }
                report
            }
            JobKind::IngestEpg => {
                let source = self
                    .repos
                    .epg_sources
                    .get(EpgSourceId::from_uuid(subject))
                    .await?;
                let span = tracing::info_span!("ingest", source_id = %source.id, kind = "epg");
                let report = with_progress(
                    &cell,
                    &ctx,
                    tracing::Instrument::instrument(
                        tvarr_ingest::ingest_epg_source(
                            &source,
                            self.fetcher.as_ref(),
                            self.repos.programmes.as_ref(),
                            &cell,
                            &self.settings,
                        ),
                        span,
                    ),
                )
                .await;
                if !report.cancelled {
                    self.repos
                        .epg_sources
                        .record_ingest(source.id, report.outcome.clone())
                        .await?;
                }
                if report.outcome.state == IngestState::Ok {
                    self.metrics
                        .add_records_ingested("programme", report.outcome.record_count);
                }
                report
            }
            other => {
                return Err(JobError::failed(format!(
                    "the ingest handler cannot run {} jobs",
                    other.as_str()
                )));
            }
        };
        tracing::info!(
            state = report.outcome.state.as_str(),
            records = report.outcome.record_count,
            parsed = report.parsed,
            skipped = report.outcome.skipped_count,
            bytes = report.bytes,
            "ingest finished"
        );
        job_result(&report)
    }
}
