//! Faults during a generation: a rule that breaks one record, failing stores, cancellation,
//! the removal guard and running ingests. Whatever fails, the previous outputs stay.

mod generation_support;

use std::time::Duration;

use generation_support::*;
use tvarr_core::{ChannelData, Domain, JobKind, OutputKind};
use tvarr_pipeline::PipelineError;

fn world() -> World {
    let mut w = World::new();
    w.stream_source(
        "alpha",
        (1..=6)
            .map(|i| {
                ch(&format!("Channel {i}"), &format!("http://alpha/{i}")).tvg_id(&format!("c{i}"))
            })
            .collect(),
    );
    let mut programmes = Vec::new();
    for i in 1..=6 {
        programmes.extend(hourly(&format!("c{i}"), 0, 3));
    }
    w.epg_source(
        "guide",
        (1..=6)
            .map(|i| guide_channel(&format!("c{i}"), &[&format!("Channel {i}")]))
            .collect(),
        programmes,
    );
    w
}

/// The published M3U, XMLTV and lineup, to compare before and after a failed generation.
#[derive(Debug, PartialEq)]
struct Snapshot(Option<String>, Option<String>, Vec<(u32, String, String)>);

fn snapshot(w: &World) -> Snapshot {
    Snapshot(w.m3u(), w.xmltv(), w.lineup())
}

fn shrink(w: &World, keep: usize) {
    let source = w.stream_sources[0].id;
    let channels: Vec<ChannelData> = (1..=keep)
        .map(|i| ch(&format!("Channel {i}"), &format!("http://alpha/{i}")).tvg_id(&format!("c{i}")))
        .collect();
    w.channels.replace(source, channels);
}

#[tokio::test]
async fn a_rule_that_breaks_one_channel_skips_it_and_counts_it() {
    let mut w = world();
    w.rule(
        Domain::Stream,
        r#"channel_name == "Channel 3" SET stream_url = """#,
    );
    w.rule(Domain::Epg, r#"title == "c2 show 1" SET title = """#);
    let summary = w.generate().await.unwrap();
    let names: Vec<String> = w.lineup().into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(
        names,
        [
            "Channel 1",
            "Channel 2",
            "Channel 4",
            "Channel 5",
            "Channel 6"
        ]
    );
    let mapping = stage(&summary, "stream_mapping");
    assert_eq!(
        (mapping.records_in, mapping.records_out, mapping.errors),
        (6, 5, 1)
    );
    let epg = stage(&summary, "epg_mapping");
    assert_eq!((epg.records_in, epg.records_out, epg.errors), (15, 14, 1));
    assert_eq!(summary.programmes, 14);
    assert_eq!(w.programme_counts()[1], ("c2".to_string(), 2));
}

#[tokio::test]
async fn a_failing_commit_keeps_the_previous_output_and_names_the_reason() {
    let w = world();
    w.generate().await.unwrap();
    let before = snapshot(&w);
    shrink(&w, 5);
    w.outputs.state.lock().unwrap().fail_commit = Some(OutputKind::Xmltv);
    let err = w.generate().await.unwrap_err();
    match &err {
        PipelineError::Output { kind, reason } => {
            assert_eq!(*kind, "xmltv");
            assert!(reason.contains("permission denied"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("permission denied"));
    assert_eq!((w.m3u(), w.xmltv()), (before.0, before.1));
    let state = w.outputs.state.lock().unwrap();
    assert_eq!(state.open, 0, "every writer ended");
    assert!(state.aborted.contains(&OutputKind::M3u));
}

#[tokio::test]
async fn a_failing_lineup_publish_aborts_both_outputs() {
    let w = world();
    w.generate().await.unwrap();
    let before = snapshot(&w);
    shrink(&w, 5);
    *w.lineups.fail_publish.lock().unwrap() = true;
    let err = w.generate().await.unwrap_err();
    assert!(
        matches!(&err, PipelineError::Repository { reason, .. } if reason.contains("database is locked")),
        "{err:?}"
    );
    assert_eq!(snapshot(&w), before);
    let state = w.outputs.state.lock().unwrap();
    assert_eq!(state.open, 0);
    assert_eq!(state.aborted, [OutputKind::Xmltv, OutputKind::M3u]);
}

#[tokio::test]
async fn a_full_disk_while_writing_aborts_and_keeps_the_previous_output() {
    let w = world();
    w.generate().await.unwrap();
    let before = snapshot(&w);
    shrink(&w, 5);
    w.outputs.state.lock().unwrap().fail_write_after = Some((OutputKind::Xmltv, 700));
    let err = w.generate().await.unwrap_err();
    assert!(
        matches!(&err, PipelineError::Output { kind: "xmltv", reason } if reason.contains("No space left")),
        "{err:?}"
    );
    assert_eq!(snapshot(&w), before);
    assert_eq!(*w.lineups.publishes.lock().unwrap(), 1, "only the first");
    let state = w.outputs.state.lock().unwrap();
    assert_eq!(state.open, 0);
    assert_eq!(state.aborted, [OutputKind::Xmltv]);
}

#[tokio::test]
async fn cancellation_mid_way_publishes_nothing() {
    for (stage, done) in [
        ("stream_read", 3),
        ("numbering", 0),
        ("epg_read", 4),
        ("xmltv", 4),
        ("m3u", 0),
        ("publish", 0),
    ] {
        let w = world();
        *w.progress.cancel_at.lock().unwrap() = Some((stage.to_string(), done));
        let err = w.generate().await.unwrap_err();
        assert_eq!(
            err,
            PipelineError::Cancelled {
                stage: stage.to_string()
            }
        );
        assert_eq!(*w.lineups.publishes.lock().unwrap(), 0, "{stage}");
        assert!(w.m3u().is_none() && w.xmltv().is_none(), "{stage}");
        assert_eq!(w.outputs.state.lock().unwrap().open, 0, "{stage}");
    }
}

#[tokio::test]
async fn the_removal_guard_keeps_the_previous_output_unless_forced() {
    let w = world();
    w.generate().await.unwrap();
    let before = snapshot(&w);

    // Half may go (50 % by default)…
    shrink(&w, 3);
    let summary = w.generate().await.unwrap();
    assert_eq!(summary.changes.removed.count, 3);
    assert!(!summary.forced);
    let three = snapshot(&w);
    assert_ne!(three, before);

    // …but not more: 2 of 3 is 67 %.
    shrink(&w, 1);
    let err = w.generate().await.unwrap_err();
    assert_eq!(
        err,
        PipelineError::RemovalGuard {
            removed: 2,
            previous: 3,
            max_percent: 50
        }
    );
    assert!(err.to_string().contains("force"));
    assert_eq!(snapshot(&w), three);
    assert_eq!(w.outputs.state.lock().unwrap().open, 0);

    // Forced, it publishes and says so.
    let mut options = w.options();
    options.force = true;
    let summary = w.generate_with(&options).await.unwrap();
    assert!(summary.forced);
    assert_eq!(summary.changes.removed.count, 2);
    assert_eq!(w.lineup().len(), 1);
    assert!(w.lineups.get(w.proxy.id).unwrap().summary.forced);
}

#[tokio::test]
async fn the_guard_is_off_at_100_percent_and_force_alone_is_not_forced() {
    let mut w = world();
    w.proxy.input.max_removed_percent = 100;
    w.generate().await.unwrap();
    shrink(&w, 0);
    let summary = w.generate().await.unwrap();
    assert_eq!(summary.channels, 0);
    assert!(!summary.forced);

    let w = world();
    let mut options = w.options();
    options.force = true;
    assert!(
        !w.generate_with(&options).await.unwrap().forced,
        "nothing to override"
    );
}

#[tokio::test]
async fn waits_for_a_running_ingest_of_its_sources() {
    let w = world();
    w.jobs
        .running(JobKind::IngestStream, w.stream_sources[0].id.as_uuid());
    // An ingest of another source is not waited for.
    w.jobs.running(JobKind::IngestEpg, uuid::Uuid::nil());
    // Lists: 2 per look (stream, epg); the ingest ends at the third look.
    *w.jobs.finish_after_lists.lock().unwrap() = Some(4);
    let summary = w.generate().await.unwrap();
    assert!(summary.stale_sources.is_empty());
    assert_eq!(*w.timer.slept.lock().unwrap(), Duration::from_secs(4));
    assert_eq!(summary.channels, 6);
}

#[tokio::test]
async fn goes_on_with_the_last_good_data_after_the_bound() {
    let w = world();
    w.jobs
        .running(JobKind::IngestEpg, w.epg_sources[0].id.as_uuid());
    let mut options = w.options();
    options.ingest_wait = Duration::from_secs(5);
    let summary = w.generate_with(&options).await.unwrap();
    assert_eq!(summary.stale_sources, ["guide"]);
    assert_eq!(*w.timer.slept.lock().unwrap(), Duration::from_secs(5));
    assert_eq!(summary.programmes, 18);
    let guard = stage(&summary, "ingestion_guard");
    assert_eq!((guard.records_in, guard.records_out), (2, 1));
}
