//! The ingest job: [`IngestJobHandler`] runs `ingest-stream` and `ingest-epg` jobs for the job
//! runtime, through `tvarr-core`'s [`JobHandler`] trait. It reads the source, runs the ingest
//! service with the job's progress and cancellation, records the outcome on the source, and
//! tells an [`IngestObserver`] (metrics, regeneration: the binary's business) what happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracing::Instrument;
use tvarr_core::{
    EpgSourceId, IngestState, Job, JobControl, JobError, JobHandler, JobId, JobKind, JobProgress,
    Repositories, StreamSourceId,
};
use uuid::Uuid;

use crate::fetch::Fetcher;
use crate::service::{
    IngestProgress, IngestReport, IngestSettings, PROGRESS_INTERVAL, ProgressSnapshot,
    ingest_epg_source, ingest_stream_source,
};

/// Told of every ingest that ran to its end (not cancelled), after its outcome is recorded on
/// the source.
pub trait IngestObserver: Send + Sync {
    /// `source` (a stream source for [`JobKind::IngestStream`], an EPG source for
    /// [`JobKind::IngestEpg`]) was ingested with `report`, whatever its state.
    fn ingest_finished(&self, kind: JobKind, source: Uuid, report: &IngestReport);
}

/// Runs ingest jobs: `ingest-stream` jobs into the channels repository, `ingest-epg` jobs into
/// the programmes repository. Register it for both kinds.
pub struct IngestJobHandler {
    repos: Repositories,
    fetcher: Arc<dyn Fetcher>,
    settings: IngestSettings,
    observer: Option<Arc<dyn IngestObserver>>,
}

impl IngestJobHandler {
    /// A handler reading sources from and writing records to `repos`, fetching with `fetcher`.
    pub fn new(repos: Repositories, fetcher: Arc<dyn Fetcher>, settings: IngestSettings) -> Self {
        Self {
            repos,
            fetcher,
            settings,
            observer: None,
        }
    }

    /// Tells `observer` of every ingest that ran to its end.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn IngestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    async fn ingest(
        &self,
        kind: JobKind,
        subject: Uuid,
        control: &dyn JobControl,
    ) -> Result<(), JobError> {
        let cell = ProgressCell::default();
        let report = match kind {
            JobKind::IngestStream => {
                let source = self
                    .repos
                    .stream_sources
                    .get(StreamSourceId::from_uuid(subject))
                    .await?;
                let work = ingest_stream_source(
                    &source,
                    self.fetcher.as_ref(),
                    self.repos.channels.as_ref(),
                    &cell,
                    &self.settings,
                );
                let report = with_progress(&cell, control, work).await;
                if !report.cancelled {
                    self.repos
                        .stream_sources
                        .record_ingest(source.id, report.outcome.clone())
                        .await?;
                }
                report
            }
            // `run` lets no other kind through.
            _ => {
                let source = self
                    .repos
                    .epg_sources
                    .get(EpgSourceId::from_uuid(subject))
                    .await?;
                let work = ingest_epg_source(
                    &source,
                    self.fetcher.as_ref(),
                    self.repos.programmes.as_ref(),
                    &cell,
                    &self.settings,
                );
                let report = with_progress(&cell, control, work).await;
                if !report.cancelled {
                    self.repos
                        .epg_sources
                        .record_ingest(source.id, report.outcome.clone())
                        .await?;
                }
                report
            }
        };
        if !report.cancelled
            && let Some(observer) = &self.observer
        {
            observer.ingest_finished(kind, subject, &report);
        }
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

#[async_trait]
impl JobHandler for IngestJobHandler {
    async fn run(&self, job: &Job, control: Arc<dyn JobControl>) -> Result<(), JobError> {
        let subject = job
            .subject_id
            .ok_or_else(|| JobError::failed("the job names no source"))?;
        let kind = match job.kind {
            JobKind::IngestStream => "stream",
            JobKind::IngestEpg => "epg",
            other => {
                return Err(JobError::failed(format!(
                    "the ingest handler cannot run {} jobs",
                    other.as_str()
                )));
            }
        };
        self.ingest(job.kind, subject, control.as_ref())
            .instrument(ingest_span(job.id, subject, kind))
            .await
    }
}

/// Progress from the ingest (synchronous, called from its task) kept here, and written to the
/// job by a ticker, so the ingest never waits for the database.
#[derive(Default)]
struct ProgressCell {
    latest: Mutex<Option<ProgressSnapshot>>,
    changed: AtomicBool,
    cancelled: AtomicBool,
}

impl IngestProgress for ProgressCell {
    fn report(&self, progress: &ProgressSnapshot) -> bool {
        // Held for a copy only; a poisoned lock just means a stale progress line.
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(*progress);
            self.changed.store(true, Ordering::Release);
        }
        !self.cancelled.load(Ordering::Relaxed)
    }
}

impl ProgressCell {
    /// The job's progress for the latest report, once, when it changed: the stage, bytes in
    /// `done`/`total` (the total known from `Content-Length` or the file's size), and the
    /// records (channels or programmes, as the job's kind says) written so far in `records`.
    fn take_job_progress(&self) -> Option<JobProgress> {
        if !self.changed.swap(false, Ordering::AcqRel) {
            return None;
        }
        let latest = (*self.latest.lock().ok()?)?;
        Some(JobProgress {
            stage: latest.stage.as_str().to_owned(),
            done: latest.bytes,
            total: latest.total_bytes,
            records: Some(latest.records),
        })
    }

    async fn forward(&self, control: &dyn JobControl) {
        if let Some(progress) = self.take_job_progress() {
            control.report(progress).await;
        }
        if control.is_cancelled() {
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }
}

/// The span of one ingest job: every log line of the job, the parser's included, carries the
/// job id and the source id.
fn ingest_span(job_id: JobId, source_id: Uuid, kind: &'static str) -> tracing::Span {
    tracing::info_span!("ingest", job_id = %job_id, source_id = %source_id, kind)
}

/// Runs `work` while forwarding `cell` to the job every [`PROGRESS_INTERVAL`].
///
/// The forwarding runs *beside* the work, both polled together: never in a `select!` branch
/// body, which would stop polling the work while the progress is written. The work may be
/// holding SQLite's write lock mid-batch at that moment, so the progress write would wait out
/// the busy timeout for a lock its own task holds (a 30 s stall per tick, seen in bench-e2e).
async fn with_progress<F: std::future::Future<Output = IngestReport>>(
    cell: &ProgressCell,
    control: &dyn JobControl,
    work: F,
) -> IngestReport {
    let forwarding = async {
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        loop {
            ticker.tick().await;
            cell.forward(control).await;
        }
    };
    let report = tokio::select! {
        report = work => report,
        never = forwarding => never,
    };
    cell.forward(control).await;
    report
}

/// The job's end for an ingest's `report`: a suspicious result (the guard kept the previous
/// data) fails the job, so that people see it.
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;
    use crate::service::IngestStage;

    fn snapshot(stage: IngestStage, bytes: u64, records: u64) -> ProgressSnapshot {
        ProgressSnapshot {
            stage,
            bytes,
            total_bytes: Some(10_000),
            records,
            unit: "channels",
        }
    }

    fn job_progress(stage: &str, done: u64, records: u64) -> Option<JobProgress> {
        Some(JobProgress {
            stage: stage.to_owned(),
            done,
            total: Some(10_000),
            records: Some(records),
        })
    }

    #[test]
    fn job_progress_shows_bytes_and_records_together() {
        let cell = ProgressCell::default();
        assert!(cell.report(&snapshot(IngestStage::Downloading, 100, 0)));
        assert_eq!(
            cell.take_job_progress(),
            job_progress("downloading", 100, 0)
        );
        assert_eq!(cell.take_job_progress(), None, "written once per change");
        cell.report(&snapshot(IngestStage::Parsing, 4_000, 2_000));
        cell.report(&snapshot(IngestStage::Parsing, 6_000, 4_000));
        assert_eq!(
            cell.take_job_progress(),
            job_progress("parsing", 6_000, 4_000),
            "the latest report, with bytes and records side by side"
        );
        cell.report(&snapshot(IngestStage::Storing, 10_000, 5_000));
        assert_eq!(
            cell.take_job_progress(),
            job_progress("storing", 10_000, 5_000)
        );
    }

    /// A control that is cancelled from the start and keeps what it is told.
    struct CancelledControl(Mutex<Vec<JobProgress>>);

    #[async_trait]
    impl JobControl for CancelledControl {
        fn job_id(&self) -> JobId {
            JobId::new()
        }
        async fn report(&self, progress: JobProgress) {
            self.0.lock().unwrap().push(progress);
        }
        fn is_cancelled(&self) -> bool {
            true
        }
        async fn cancelled(&self) {}
    }

    #[tokio::test]
    async fn a_cancelled_job_tells_the_ingest_to_stop() {
        let cell = ProgressCell::default();
        assert!(cell.report(&snapshot(IngestStage::Parsing, 1, 1)));
        let control = CancelledControl(Mutex::new(Vec::new()));
        cell.forward(&control).await;
        assert_eq!(
            control.0.lock().unwrap().as_slice(),
            &[job_progress("parsing", 1, 1).unwrap()],
            "the last progress is written before the ingest hears of the cancellation"
        );
        assert!(!cell.report(&snapshot(IngestStage::Parsing, 2, 2)));
    }

    #[test]
    fn a_suspicious_ingest_fails_its_job_and_says_why() {
        let mut report = IngestReport {
            outcome: tvarr_core::IngestOutcome {
                state: IngestState::Suspicious,
                at: chrono::Utc::now(),
                record_count: 0,
                skipped_count: 0,
                error: Some("the playlist shrank by 90%".into()),
            },
            skipped: crate::SkipReport::default(),
            parsed: 0,
            bytes: 0,
            cancelled: false,
            playlist: None,
            lossy_lines: 0,
        };
        assert_eq!(
            job_result(&report),
            Err(JobError::Failed(
                "suspicious result, previous data kept: the playlist shrank by 90%".into()
            ))
        );
        report.outcome.state = IngestState::Ok;
        assert_eq!(job_result(&report), Ok(()));
        report.cancelled = true;
        assert_eq!(job_result(&report), Err(JobError::Cancelled));
    }

    /// Records the fields of every new span.
    #[derive(Default)]
    struct SpanFields {
        spans: Mutex<Vec<HashMap<String, String>>>,
    }

    struct FieldMap<'a>(&'a mut HashMap<String, String>);

    impl Visit for FieldMap<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl Subscriber for &'static SpanFields {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut fields = HashMap::new();
            fields.insert("name".to_owned(), span.metadata().name().to_owned());
            span.record(&mut FieldMap(&mut fields));
            let mut spans = self.spans.lock().unwrap();
            spans.push(fields);
            Id::from_u64(spans.len() as u64)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn the_ingest_span_carries_the_job_and_source_ids() {
        let recorder: &'static SpanFields = Box::leak(Box::default());
        let job_id = JobId::new();
        let source_id = Uuid::new_v4();
        tracing::subscriber::with_default(recorder, || {
            let _span = ingest_span(job_id, source_id, "stream");
        });
        let spans = recorder.spans.lock().unwrap();
        let span = &spans[0];
        assert_eq!(span["name"], "ingest");
        assert_eq!(span["job_id"], job_id.to_string());
        assert_eq!(span["source_id"], source_id.to_string());
        assert_eq!(span["kind"], "stream");
    }
}
