//! The job handlers of this deployment: the domain crates' handlers (`tvarr-ingest`'s
//! [`IngestJobHandler`], `tvarr-pipeline`'s [`GenerateJobHandler`]) wired to storage, the
//! fetcher, the metrics and the regeneration task, and registered for their job kinds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tvarr_core::{IngestState, JobKind, OutputStore, Repositories};
use tvarr_ingest::fetch::Fetcher;
use tvarr_ingest::{IngestJobHandler, IngestObserver, IngestReport, IngestSettings};
use tvarr_jobs::HandlerRegistry;
use tvarr_metrics::Metrics;
use tvarr_pipeline::{GenerateJobHandler, Timer};
use uuid::Uuid;

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
    let generate = GenerateJobHandler::new(
        repos.clone(),
        generation.outputs,
        generation.base_url,
        Arc::new(TokioTimer),
    )
    .with_ingest_wait(generation.ingest_wait);
    let ingest = Arc::new(
        IngestJobHandler::new(repos, fetcher, settings).with_observer(Arc::new(IngestEffects {
            metrics,
            regeneration: generation.regeneration,
        })),
    );
    let mut registry = HandlerRegistry::new();
    registry.register(JobKind::IngestStream, ingest.clone());
    registry.register(JobKind::IngestEpg, ingest);
    registry.register(JobKind::GenerateProxy, Arc::new(generate));
    registry
}

/// The pipeline's sleeps, on tokio's timer.
struct TokioTimer;

#[async_trait]
impl Timer for TokioTimer {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// What a successful ingest changes beyond its source: the ingested-records counter, and the
/// regeneration of the proxies that use the source.
struct IngestEffects {
    metrics: Arc<Metrics>,
    regeneration: Option<Regeneration>,
}

impl IngestObserver for IngestEffects {
    fn ingest_finished(&self, kind: JobKind, source: Uuid, report: &IngestReport) {
        if report.outcome.state != IngestState::Ok {
            return;
        }
        let record = if kind == JobKind::IngestEpg {
            "programme"
        } else {
            "channel"
        };
        self.metrics
            .add_records_ingested(record, report.outcome.record_count);
        if let Some(regeneration) = &self.regeneration {
            regeneration.source_ingested(source);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing::{Event, Subscriber};
    use tvarr_jobs::{JobContext, JobHandler};

    use super::*;

    struct FieldMap<'a>(&'a mut HashMap<String, String>);

    impl Visit for FieldMap<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
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
                max_connections: None,
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
        let handler = IngestJobHandler::new(
            repos.clone(),
            Arc::new(
                HttpFetcher::new(FetchOptions {
                    import_dir: Some(dir.path().to_path_buf()),
                    ..FetchOptions::default()
                })
                .unwrap(),
            ),
            IngestSettings::default(),
        );
        let scopes = LossyEventScopes::default();
        let _default =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(scopes.clone()));
        handler
            .run(&job, Arc::new(JobContext::new(&job, repos.jobs.clone())))
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

    fn report(state: IngestState, records: u64) -> IngestReport {
        IngestReport {
            outcome: tvarr_core::IngestOutcome {
                state,
                at: chrono::Utc::now(),
                record_count: records,
                skipped_count: 0,
                error: None,
            },
            skipped: Default::default(),
            parsed: records,
            bytes: 0,
            cancelled: false,
            playlist: None,
            lossy_lines: 0,
        }
    }

    /// The `tvarr_records_ingested_total` line for `kind`, if any.
    fn ingested_line(metrics: &Metrics, kind: &str) -> Option<String> {
        let text = metrics.encode().unwrap();
        text.lines()
            .find(|line| {
                !line.starts_with('#') && line.contains("records_ingested") && line.contains(kind)
            })
            .map(str::to_owned)
    }

    #[test]
    fn only_a_successful_ingest_counts_its_records() {
        let metrics = Arc::new(Metrics::new());
        let effects = IngestEffects {
            metrics: metrics.clone(),
            regeneration: None,
        };
        let source = Uuid::new_v4();
        effects.ingest_finished(
            JobKind::IngestStream,
            source,
            &report(IngestState::Suspicious, 10),
        );
        effects.ingest_finished(JobKind::IngestEpg, source, &report(IngestState::Failed, 10));
        assert_eq!(
            ingested_line(&metrics, "\"channel\""),
            None,
            "nothing stored"
        );
        assert_eq!(
            ingested_line(&metrics, "\"programme\""),
            None,
            "nothing stored"
        );
        effects.ingest_finished(JobKind::IngestStream, source, &report(IngestState::Ok, 7));
        effects.ingest_finished(JobKind::IngestEpg, source, &report(IngestState::Ok, 40));
        let channels = ingested_line(&metrics, "\"channel\"").unwrap();
        let programmes = ingested_line(&metrics, "\"programme\"").unwrap();
        assert!(channels.ends_with(" 7"), "{channels}");
        assert!(programmes.ends_with(" 40"), "{programmes}");
    }
}
