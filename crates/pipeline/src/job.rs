//! The generation job: [`GenerateJobHandler`] runs `generate-proxy` jobs for the job runtime,
//! through `tvarr-core`'s [`JobHandler`] trait. It waits out an earlier generation of the same
//! proxy, reads the proxy and the records it names, runs [`generate`] with the job's progress
//! and cancellation, and records the generation's summary as the job's result.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::{Either, select};
use tracing::Instrument;
use tvarr_core::{
    Job, JobControl, JobError, JobHandler, JobKind, JobQuery, JobStatus, OutputStore, PageRequest,
    ProxyId, RepoError, RepoResult, Repositories,
};

use crate::error::PipelineError;
use crate::generation::{GenerationOptions, GenerationPorts, ProxyDefinition, generate};
use crate::stage::{GenerationProgress, LogoRewriter, ProviderLogos, StageProgress, Timer};

/// How often a generation waiting for another generation of the same proxy looks again.
const BUSY_POLL: Duration = Duration::from_millis(500);

/// Runs `generate-proxy` jobs: one generation of the job's proxy, published to an
/// [`OutputStore`].
pub struct GenerateJobHandler {
    repos: Repositories,
    outputs: Arc<dyn OutputStore>,
    base_url: String,
    timer: Arc<dyn Timer>,
    ingest_wait: Option<Duration>,
    logos: Arc<dyn LogoRewriter>,
}

impl GenerateJobHandler {
    /// A handler reading proxies and records from `repos` and publishing to `outputs`, with
    /// `base_url` (tvarr's public URL) written into the outputs and `timer` to sleep on.
    pub fn new(
        repos: Repositories,
        outputs: Arc<dyn OutputStore>,
        base_url: impl Into<String>,
        timer: Arc<dyn Timer>,
    ) -> Self {
        Self {
            repos,
            outputs,
            base_url: base_url.into(),
            timer,
            ingest_wait: None,
            logos: Arc::new(ProviderLogos),
        }
    }

    /// Waits up to `wait` for a running ingest of a proxy's sources (the default is
    /// [`GenerationOptions::new`]'s).
    #[must_use]
    pub fn with_ingest_wait(mut self, wait: Duration) -> Self {
        self.ingest_wait = Some(wait);
        self
    }

    /// Rewrites the lineup's logos with `logos` (the default, [`ProviderLogos`], keeps the
    /// providers' URLs).
    #[must_use]
    pub fn with_logos(mut self, logos: Arc<dyn LogoRewriter>) -> Self {
        self.logos = logos;
        self
    }

    /// Waits while an earlier generation of the same proxy runs (in any process), so that two
    /// never write one proxy's outputs at once; the later one then runs on the newer data.
    async fn wait_for_earlier(
        &self,
        job: &Job,
        proxy: ProxyId,
        control: &dyn JobControl,
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
            let cancelled = pin!(control.cancelled());
            let slept = pin!(self.timer.sleep(BUSY_POLL));
            if let Either::Left(_) = select(cancelled, slept).await {
                return Err(JobError::Cancelled);
            }
        }
    }

    async fn generate(
        &self,
        job: &Job,
        id: ProxyId,
        control: &dyn JobControl,
    ) -> Result<(), JobError> {
        self.wait_for_earlier(job, id, control).await?;
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
        let progress = JobProgressSink(control);
        let ports = GenerationPorts {
            channels: self.repos.channels.as_ref(),
            programmes: self.repos.programmes.as_ref(),
            lineups: self.repos.lineups.as_ref(),
            outputs: self.outputs.as_ref(),
            jobs: self.repos.jobs.as_ref(),
            logos: self.logos.as_ref(),
            timer: self.timer.as_ref(),
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
        if let Some(wait) = self.ingest_wait {
            options.ingest_wait = wait;
        }
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

#[async_trait]
impl JobHandler for GenerateJobHandler {
    async fn run(&self, job: &Job, control: Arc<dyn JobControl>) -> Result<(), JobError> {
        let subject = job
            .subject_id
            .ok_or_else(|| JobError::failed("the job names no proxy"))?;
        let proxy_id = ProxyId::from_uuid(subject);
        self.generate(job, proxy_id, control.as_ref())
            .instrument(tracing::info_span!("generate", job_id = %job.id, proxy_id = %proxy_id))
            .await
    }
}

/// The job's view of a generation's progress.
struct JobProgressSink<'a>(&'a dyn JobControl);

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
