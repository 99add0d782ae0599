//! The shape of a generation step: a [`Stage`] works on batches of records, reports how far it
//! came to a [`GenerationProgress`] (which may ask it to stop) and ends with a
//! [`StageReport`].

use std::time::{Duration, Instant};

use async_trait::async_trait;
use tvarr_core::{JobProgress, LineupChannel, RepoError, StageReport};

use crate::error::PipelineError;

/// One step of a generation over batches of records of type `T`.
///
/// A stage changes the records of a batch in place and removes those it drops; it never keeps
/// records beyond the batch (the orchestrator's lineup is the only full data set). A record the
/// stage cannot handle (a rule left it unusable) is removed and counted in `errors`, and the
/// run goes on; an `Err` ends the whole generation.
///
/// Stages that work on the whole lineup (numbering, logos, guide matching) receive it as one
/// batch.
#[async_trait]
pub trait Stage<T: Send>: Send {
    /// The stage's name in progress and reports (`stream_mapping`, `epg_filter`, …).
    fn name(&self) -> &'static str;

    /// Processes one batch.
    async fn process(&mut self, batch: &mut Vec<T>, errors: &mut u64) -> Result<(), PipelineError>;
}

/// How far a stage has come, as reported while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageProgress<'a> {
    /// The stage's name.
    pub stage: &'a str,
    /// Records it has received so far.
    pub done: u64,
    /// Records it will receive, when known.
    pub total: Option<u64>,
    /// Records it has passed on so far.
    pub records: u64,
}

impl From<StageProgress<'_>> for JobProgress {
    fn from(p: StageProgress<'_>) -> Self {
        JobProgress {
            stage: p.stage.to_string(),
            done: p.done,
            total: p.total,
            records: Some(p.records),
        }
    }
}

/// Receives a generation's progress; the job that runs the generation implements it.
#[async_trait]
pub trait GenerationProgress: Send + Sync {
    /// Records `progress`; returns whether to go on (`false`: cancellation was requested, and
    /// the generation stops without publishing anything).
    async fn report(&self, progress: StageProgress<'_>) -> bool;
}

/// A [`GenerationProgress`] that records nothing and never cancels.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

#[async_trait]
impl GenerationProgress for NoProgress {
    async fn report(&self, _progress: StageProgress<'_>) -> bool {
        true
    }
}

/// Waiting, for the ingestion guard: the pipeline owns no timer of its own, so the runtime
/// that drives it sleeps (`tokio::time::sleep`), and tests can pass time instantly.
#[async_trait]
pub trait Timer: Send + Sync {
    /// Returns after `duration`.
    async fn sleep(&self, duration: Duration);
}

/// Rewrites lineup channels' logo URLs, for instance to tvarr's own logo cache.
///
/// The logo stage hands it the lineup in batches after numbering. [`ProviderLogos`], the
/// default, keeps the providers' URLs.
#[async_trait]
pub trait LogoRewriter: Send + Sync {
    /// Rewrites `channels`' `tvg_logo` in place. Returns how many logos it could not handle
    /// (those channels keep their URL); an `Err` ends the generation.
    async fn rewrite(&self, channels: &mut [LineupChannel]) -> Result<u64, RepoError>;
}

/// The pass-through [`LogoRewriter`]: every channel keeps its provider's logo URL.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProviderLogos;

#[async_trait]
impl LogoRewriter for ProviderLogos {
    async fn rewrite(&self, _channels: &mut [LineupChannel]) -> Result<u64, RepoError> {
        Ok(0)
    }
}

/// Keeps one stage's counts and time while it runs over batches, and reports its progress.
pub(crate) struct StageMeter {
    report: StageReport,
    elapsed: Duration,
    total: Option<u64>,
    last_report: Option<Instant>,
    interval: Duration,
}

impl StageMeter {
    pub(crate) fn new(name: &'static str, total: Option<u64>, interval: Duration) -> Self {
        Self {
            report: StageReport {
                stage: name.to_string(),
                ..StageReport::default()
            },
            elapsed: Duration::ZERO,
            total,
            last_report: None,
            interval,
        }
    }

    /// Adds time spent in the stage.
    pub(crate) fn add_time(&mut self, elapsed: Duration) {
        self.elapsed += elapsed;
    }

    /// Counts records in and out, and errors.
    pub(crate) fn count(&mut self, records_in: u64, records_out: u64, errors: u64) {
        self.report.records_in += records_in;
        self.report.records_out += records_out;
        self.report.errors += errors;
    }

    /// Reports progress unless the last report was less than the interval ago; `Cancelled`
    /// when the receiver asks to stop.
    pub(crate) async fn tick(
        &mut self,
        progress: &dyn GenerationProgress,
    ) -> Result<(), PipelineError> {
        if self
            .last_report
            .is_some_and(|at| at.elapsed() < self.interval)
        {
            return Ok(());
        }
        self.report_now(progress).await
    }

    /// Reports progress now; `Cancelled` when the receiver asks to stop.
    pub(crate) async fn report_now(
        &mut self,
        progress: &dyn GenerationProgress,
    ) -> Result<(), PipelineError> {
        self.last_report = Some(Instant::now());
        let go_on = progress
            .report(StageProgress {
                stage: &self.report.stage,
                done: self.report.records_in,
                total: self.total,
                records: self.report.records_out,
            })
            .await;
        if go_on {
            Ok(())
        } else {
            Err(PipelineError::Cancelled {
                stage: self.report.stage.clone(),
            })
        }
    }

    /// Runs `stage` over `batch`, counting and timing it.
    pub(crate) async fn run<T: Send, S: Stage<T> + ?Sized>(
        &mut self,
        stage: &mut S,
        batch: &mut Vec<T>,
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        let before = batch.len() as u64;
        let mut errors = 0;
        stage.process(batch, &mut errors).await?;
        self.elapsed += started.elapsed();
        self.count(before, batch.len() as u64, errors);
        Ok(())
    }

    /// The stage's report.
    pub(crate) fn finish(mut self) -> StageReport {
        self.report.duration_ms = u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX);
        self.report
    }
}
