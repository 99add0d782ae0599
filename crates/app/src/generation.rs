//! The job handler that generates a proxy: an adapter from `tvarr-jobs`' `JobHandler` to
//! `tvarr-pipeline`'s [`generate`], with the records the proxy refers to read from storage.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument;
use tvarr_core::{
    Job, JobKind, JobQuery, JobStatus, OutputStore, PageRequest, ProxyId, RepoError, RepoResult,
    Repositories,
};
use tvarr_jobs::{JobContext, JobError, JobHandler};
use tvarr_pipeline::{
    GenerationOptions, GenerationPorts, GenerationProgress, PipelineError, ProviderLogos,
    ProxyDefinition, StageProgress, Timer, generate,
};

/// How often a generation waiting for another generation of the same proxy looks again.
const BUSY_POLL: Duration = Duration::from_millis(500);

/// Generates proxies.
pub(crate) struct GenerateHandler {
    pub(crate) repos: Repositories,
    pub(crate) outputs: Arc<dyn OutputStore>,
    /// The base URL written into the outputs.
    pub(crate) base_url: String,
    /// How long a generation waits for a running ingest of its sources.
    pub(crate) ingest_wait: Duration,
}

struct TokioTimer;

#[async_trait]
impl Timer for TokioTimer {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The job's view of a generation's progress.
struct JobProgressSink<'a>(&'a JobContext);

#[async_trait]
impl GenerationProgress for JobProgressSink<'_> {
    async fn report(&self, progress: StageProgress<'_>) -> bool {
        self.0.report(progress.into()).await;
        !self.0.is_cancelled()
    }
}

/// Reads the records with `ids`, leaving out those that no longer exist.
async fn existing<T, I: Copy, F, Fut>(ids: &[I], get: F) -> RepoResult<Vec<T>>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = RepoResult<T>>,
{
    let mut found = Vec::with_capacity(ids.len());
    for &id in ids {
        match get(id).await {
            Ok(record) => found.push(record),
            Err(RepoError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

#[async_trait]
impl JobHandler for GenerateHandler {
    async fn run(&self, job: &Job, ctx: JobContext) -> Result<(), JobError> {
        let subject = job
            .subject_id
            .ok_or_else(|| JobError::failed("the job names no proxy"))?;
        let proxy_id = ProxyId::from_uuid(subject);
        self.generate(job, proxy_id, &ctx)
            .instrument(tracing::info_span!("generate", job_id = %job.id, proxy_id = %proxy_id))
            .await
    }
}

impl GenerateHandler {
    /// Waits while an earlier generation of the same proxy runs (in any process), so that two
    /// never write one proxy's outputs at once; the later one then runs on the newer data.
    async fn wait_for_earlier(
        &self,
        job: &Job,
        proxy: ProxyId,
        ctx: &JobContext,
    ) -> Result<(), JobError> {
        let query = JobQuery {
            kind: Some(JobKind::GenerateProxy),
            status: Some(JobStatus::Running),
        };
        loop {
            let running = self
                .repos
                .jobs
                .list(&query, PageRequest::new(PageRequest::MAX_LIMIT, 0))
                .await?;
            // Job ids are UUID v7: ordered by creation.
            let earlier = running.items.iter().any(|other| {
                other.subject_id == Some(proxy.as_uuid()) && other.id.as_uuid() < job.id.as_uuid()
            });
            if !earlier {
                return Ok(());
            }
            tokio::select! {
                _ = ctx.cancelled() => return Err(JobError::Cancelled),
                _ = tokio::time::sleep(BUSY_POLL) => {}
            }
        }
    }

    async fn generate(&self, job: &Job, id: ProxyId, ctx: &JobContext) -> Result<(), JobError> {
        self.wait_for_earlier(job, id, ctx).await?;
        let proxy = self.repos.proxies.get(id).await?;
        let force = self.repos.proxies.take_forced_generation(id).await?;
        let input = &proxy.input;
        let stream_sources = existing(&input.stream_source_ids, |id| {
            self.repos.stream_sources.get(id)
        })
        .await?;
        let epg_sources =
            existing(&input.epg_source_ids, |id| self.repos.epg_sources.get(id)).await?;
        let filters = existing(&input.filter_ids, |id| self.repos.filters.get(id)).await?;
        let mapping_rules = if input.mapping_rule_ids.is_empty() {
            self.repos
                .mapping_rules
                .list(None, PageRequest::new(PageRequest::MAX_LIMIT, 0))
                .await?
                .items
        } else {
            existing(&input.mapping_rule_ids, |id| {
                self.repos.mapping_rules.get(id)
            })
            .await?
        };
        let progress = JobProgressSink(ctx);
        let ports = GenerationPorts {
            channels: self.repos.channels.as_ref(),
            programmes: self.repos.programmes.as_ref(),
            lineups: self.repos.lineups.as_ref(),
            outputs: self.outputs.as_ref(),
            jobs: self.repos.jobs.as_ref(),
            logos: &ProviderLogos,
            timer: &TokioTimer,
            progress: &progress,
        };
        let definition = ProxyDefinition {
            proxy: &proxy,
            stream_sources: &stream_sources,
            epg_sources: &epg_sources,
            filters: &filters,
            mapping_rules: &mapping_rules,
        };
        let mut options = GenerationOptions::new(self.base_url.clone(), chrono::Utc::now());
        options.force = force;
        options.ingest_wait = self.ingest_wait;
        match generate(&ports, &definition, &options).await {
            Ok(summary) => {
                tracing::info!(
                    channels = summary.channels,
                    programmes = summary.programmes,
                    duration_ms = summary.duration_ms,
                    added = summary.changes.added.count,
                    removed = summary.changes.removed.count,
                    "proxy generated"
                );
                match serde_json::to_value(&summary) {
                    Ok(result) => self.repos.jobs.record_result(job.id, &result).await?,
                    Err(e) => tracing::warn!(error = %e, "cannot record the generation's summary"),
                }
                Ok(())
            }
            Err(PipelineError::Cancelled { .. }) => Err(JobError::Cancelled),
            Err(e) => {
                tracing::warn!(error = %e, "proxy generation failed; the previous output stays");
                Err(JobError::failed(e))
            }
        }
    }
}
