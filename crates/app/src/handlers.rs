//! The job handlers of this deployment: adapters from `tvarr-jobs`' `JobHandler` to the
//! services of the domain crates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument;
use tvarr_core::{
    EpgSourceId, IngestState, Job, JobId, JobKind, JobProgress, OutputStore, Repositories,
    StreamSourceId,
};
use tvarr_ingest::fetch::Fetcher;
use tvarr_ingest::{IngestProgress, IngestReport, IngestSettings, ProgressSnapshot};
use tvarr_jobs::{HandlerRegistry, JobContext, JobError, JobHandler};
use tvarr_metrics::Metrics;
use uuid::Uuid;

use crate::generation::GenerateHandler;
use crate::regeneration::Regeneration;

/// What the generation handler needs besides the repositories.
pub(crate) struct GenerationWiring {
    /// Where outputs are published.
    pub(crate) outputs: Arc<dyn OutputStore>,
    /// The base URL written into the outputs.
    pub(crate) base_url: String,
    /// How long a generation waits for a running ingest of its sources.
    pub(crate) ingest_wait: Duration,
    /// Told of every successful ingest, to regenerate the proxies that use the source.
    pub(crate) regeneration: Option<Regeneration>,
}

/// Every handler this build knows, wired to `repos`, ingesting with `settings`.
pub(crate) fn registry(
    repos: Repositories,
    fetcher: Arc<dyn Fetcher>,
    settings: IngestSettings,
    metrics: Arc<Metrics>,
    generation: GenerationWiring,
) -> HandlerRegistry {
    let generate = Arc::new(GenerateHandler {
        repos: repos.clone(),
        outputs: generation.outputs,
        base_url: generation.base_url,
        ingest_wait: generation.ingest_wait,
    });
    let ingest = Arc::new(IngestHandler {
        repos,
        fetcher,
        settings,
        metrics,
        regeneration: generation.regeneration,
    });
    let mut registry = HandlerRegistry::new();
    registry.register(JobKind::IngestStream, ingest.clone());
    registry.register(JobKind::IngestEpg, ingest);
    registry.register(JobKind::GenerateProxy, generate);
    registry
}

/// Ingests stream and EPG sources.
struct IngestHandler {
    repos: Repositories,
    fetcher: Arc<dyn Fetcher>,
    settings: IngestSettings,
    metrics: Arc<Metrics>,
    regeneration: Option<Regeneration>,
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

    async fn forward(&self, ctx: &JobContext) {
        if let Some(progress) = self.take_job_progress() {
            ctx.report(progress).await;
        }
        if ctx.is_cancelled() {
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }
}

/// The span of one ingest job: every log line of the job, the parser's included, carries the
/// job id and the source id.
fn ingest_span(job_id: JobId, source_id: Uuid, kind: &'static str) -> tracing::Span {
    tracing::info_span!("ingest", job_id = %job_id, source_id = %source_id, kind)
}

/// Runs `work` while forwarding `cell` to the job every 250 ms.
///
/// The forwarding runs *beside* the work, both polled together: never in a `select!` branch
/// body, which would stop polling the work while the progress is written. The work may be
/// holding SQLite's write lock mid-batch at that moment, so the progress write would wait out
/// the busy timeout for a lock its own task holds (a 30 s stall per tick, seen in bench-e2e).
async fn with_progress<F: std::future::Future<Output = IngestReport>>(
    cell: &ProgressCell,
    ctx: &JobContext,
    work: F,
) -> IngestReport {
    let forwarding = async {
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        loop {
            ticker.tick().await;
            cell.forward(ctx).await;
        }
    };
    let report = tokio::select! {
        report = work => report,
        never = forwarding => never,
    };
    cell.forward(ctx).await;
    report
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
        self.ingest(job.kind, subject, &ctx)
            .instrument(ingest_span(job.id, subject, kind))
            .await
    }
}

impl IngestHandler {
    async fn ingest(&self, kind: JobKind, subject: Uuid, ctx: &JobContext) -> Result<(), JobError> {
        let cell = ProgressCell::default();
        let report = match kind {
            JobKind::IngestStream => {
                let source = self
                    .repos
                    .stream_sources
                    .get(StreamSourceId::from_uuid(subject))
                    .await?;
                let report = with_progress(
                    &cell,
                    ctx,
                    tvarr_ingest::ingest_stream_source(
                        &source,
                        self.fetcher.as_ref(),
                        self.repos.channels.as_ref(),
                        &cell,
                        &self.settings,
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
            // `run` lets no other kind through.
            _ => {
                let source = self
                    .repos
                    .epg_sources
                    .get(EpgSourceId::from_uuid(subject))
                    .await?;
                let report = with_progress(
                    &cell,
                    ctx,
                    tvarr_ingest::ingest_epg_source(
                        &source,
                        self.fetcher.as_ref(),
                        self.repos.programmes.as_ref(),
                        &cell,
                        &self.settings,
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
        };
        if report.outcome.state == IngestState::Ok
            && let Some(regeneration) = &self.regeneration
        {
            regeneration.source_ingested(subject);
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};
    use tvarr_ingest::IngestStage;

    use super::*;

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

    #[test]
    fn a_cancelled_job_tells_the_ingest_to_stop() {
        let cell = ProgressCell::default();
        cell.cancelled.store(true, Ordering::Relaxed);
        assert!(!cell.report(&snapshot(IngestStage::Parsing, 1, 1)));
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

    /// A span's fields by name, its name under `name`.
    type Fields = HashMap<String, String>;

    /// The fields of the spans around every `lines decoded lossily` event, innermost first.
    #[derive(Clone, Default)]
    struct LossyEventScopes(Arc<Mutex<Vec<Vec<Fields>>>>);

    struct SpanFieldMap(Fields);

    impl<S> tracing_subscriber::Layer<S> for LossyEventScopes
    where
        S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_new_span(
            &self,
            attrs: &Attributes<'_>,
            id: &Id,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut fields = HashMap::new();
            fields.insert("name".to_owned(), attrs.metadata().name().to_owned());
            attrs.record(&mut FieldMap(&mut fields));
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(SpanFieldMap(fields));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
            let mut fields = HashMap::new();
            event.record(&mut FieldMap(&mut fields));
            if fields.get("message").map(String::as_str) != Some("lines decoded lossily") {
                return;
            }
            let scope = ctx
                .event_scope(event)
                .map(|scope| {
                    scope
                        .filter_map(|span| {
                            span.extensions().get::<SpanFieldMap>().map(|f| f.0.clone())
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.0.lock().unwrap().push(scope);
        }
    }

    #[tokio::test]
    async fn the_parser_of_an_ingest_job_logs_with_the_job_and_source_ids() {
        use tracing_subscriber::layer::SubscriberExt;
        use tvarr_core::{NewJob, StreamSourceInput, StreamSourceType};
        use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = tvarr_storage::Store::connect(&url).await.unwrap();
        let repos = store.repositories();
        // A line that is not UTF-8: the parser, on its own thread, logs it.
        let playlist = dir.path().join("latin1.m3u");
        std::fs::write(
            &playlist,
            b"#EXTM3U\n#EXTINF:-1,Caf\xe9\nhttp://h.test/a.ts\n#EXTINF:-1,B\nhttp://h.test/b.ts\n",
        )
        .unwrap();
        let source = repos
            .stream_sources
            .create(StreamSourceInput {
                name: "latin1".into(),
                source_type: StreamSourceType::M3u,
                url: playlist.display().to_string(),
                username: None,
                password: None,
                update_cron: None,
                enabled: true,
                user_agent: None,
                headers: vec![],
            })
            .await
            .unwrap();
        let job = repos
            .jobs
            .create(NewJob {
                kind: JobKind::IngestStream,
                subject_id: Some(source.id.as_uuid()),
            })
            .await
            .unwrap();
        let handler = IngestHandler {
            repos: repos.clone(),
            fetcher: Arc::new(
                HttpFetcher::new(FetchOptions {
                    import_dir: Some(dir.path().to_path_buf()),
                    ..FetchOptions::default()
                })
                .unwrap(),
            ),
            settings: IngestSettings::default(),
            metrics: Arc::new(Metrics::new()),
            regeneration: None,
        };
        let scopes = LossyEventScopes::default();
        let _default =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(scopes.clone()));
        handler
            .run(&job, JobContext::new(&job, repos.jobs.clone()))
            .await
            .unwrap();
        assert_eq!(
            repos
                .stream_sources
                .get(source.id)
                .await
                .unwrap()
                .channel_count,
            2
        );
        let scopes = scopes.0.lock().unwrap().clone();
        assert_eq!(scopes.len(), 1, "the parser's event reached the subscriber");
        let ingest = scopes[0]
            .iter()
            .find(|fields| fields.get("name").map(String::as_str) == Some("ingest"))
            .unwrap_or_else(|| panic!("no ingest span around the parser's event: {scopes:?}"));
        assert_eq!(ingest["job_id"], job.id.to_string());
        assert_eq!(ingest["source_id"], source.id.to_string());
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
