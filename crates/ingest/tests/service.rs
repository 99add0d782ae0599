//! The ingest service and its guard, against a loopback HTTP server and in-memory repositories.
#![cfg(feature = "fetch")]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::{MemoryChannels, MemoryGuide, epg_source, fixture, gzip, stream_source};
use tvarr_core::{
    Channel, ChannelData, IngestState, ProgrammeData, Secret, StreamSourceId, StreamSourceType,
};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_ingest::{
    IngestProgress, IngestSettings, IngestStage, NoProgress, ProgressSnapshot, SkipReason,
    ingest_epg_source, ingest_stream_source,
};
use tvarr_testkit::{ProviderServer, Reply};

fn fetcher() -> HttpFetcher {
    HttpFetcher::new(FetchOptions {
        retries: 1,
        retry_min_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(10),
        import_dir: Some(fixture("")),
        ..FetchOptions::default()
    })
    .unwrap()
}

fn playlist(n: usize) -> String {
    let mut text = String::from("#EXTM3U\n");
    for i in 0..n {
        text.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"c{i}\" group-title=\"G{}\",Channel {i}\nhttp://stream.test/{i}.ts\n",
            i % 3
        ));
    }
    text
}

fn previous_channels(source: StreamSourceId, n: usize) -> Vec<Channel> {
    (0..n)
        .map(|i| {
            let data = ChannelData {
                name: format!("old {i}"),
                stream_url: format!("http://old.test/{i}"),
                ..ChannelData::default()
            };
            Channel::new(source, data.identity_key(), i as u32, data)
        })
        .collect()
}

#[tokio::test]
async fn ingests_a_playlist_in_batches_with_stable_deduplicated_keys() {
    let mut text = playlist(4_500).replacen(
        "#EXTM3U",
        "#EXTM3U x-tvg-url=\"http://epg.test/a.xml.gz, http://epg.test/b.xml\"",
        1,
    );
    // The same URL twice more, and a relative URL.
    text.push_str(
        "#EXTINF:-1,Dup A\nhttp://stream.test/1.ts\n#EXTINF:-1,Dup B\nhttp://stream.test/1.ts\n",
    );
    text.push_str("#EXTINF:-1,Relative\nlive/rel.m3u8\n[NO PUBLIC STREAM]\n");
    let server = ProviderServer::answering(move |_, _| Reply::ok(text.clone()))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/lists/all.m3u"), StreamSourceType::M3u);
    let settings = IngestSettings::default();
    let report = ingest_stream_source(&source, &fetcher(), &repo, &NoProgress, &settings).await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    let header = report.playlist.as_ref().unwrap();
    assert_eq!(
        header.tvg_urls,
        ["http://epg.test/a.xml.gz", "http://epg.test/b.xml"]
    );
    assert_eq!(report.outcome.record_count, 4_503);
    assert_eq!(report.outcome.skipped_count, 1);
    assert_eq!(report.skipped.count(SkipReason::NotAUrl), 1);
    let channels = repo.channels(source.id);
    assert_eq!(channels.len(), 4_503);
    assert_eq!(*repo.batches.lock().unwrap(), vec![2_000, 2_000, 503]);
    assert_eq!(channels[1].key, "url:http://stream.test/1.ts");
    assert_eq!(channels[4_500].key, "url:http://stream.test/1.ts#2");
    assert_eq!(channels[4_501].key, "url:http://stream.test/1.ts#3");
    assert_eq!(
        channels[4_502].data.stream_url,
        server.url("/lists/live/rel.m3u8")
    );
    assert!(
        channels
            .iter()
            .enumerate()
            .all(|(i, c)| c.position as usize == i)
    );
    // Ids are stable across re-ingests.
    let again = ingest_stream_source(&source, &fetcher(), &repo, &NoProgress, &settings).await;
    assert_eq!(again.outcome.state, IngestState::Ok);
    let ids: Vec<_> = repo.channels(source.id).iter().map(|c| c.id).collect();
    assert_eq!(ids, channels.iter().map(|c| c.id).collect::<Vec<_>>());
}

#[tokio::test]
async fn invalid_utf8_lines_are_kept_lossily_and_counted() {
    let body = b"#EXTM3U\n#EXTINF:-1,Caf\xe9\nhttp://h.test/a.ts\n".to_vec();
    let server = ProviderServer::answering(move |_, _| Reply::ok(body.clone()))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/latin1.m3u"), StreamSourceType::M3u);
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Ok);
    assert_eq!(report.lossy_lines, 1);
    assert_eq!(repo.channels(source.id)[0].data.name, "Caf\u{fffd}");
}

#[tokio::test]
async fn keeps_last_good_channels_when_fetch_fails() {
    let server = ProviderServer::answering(|_, _| Reply::status(500, "boom"))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 10));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(report.outcome.record_count, 10);
    assert!(report.outcome.error.unwrap().contains("500"));
    assert_eq!(repo.channels(source.id).len(), 10);
    assert_eq!(server.hits("/a.m3u"), 2, "one retry on 5xx");
}

#[tokio::test]
async fn fails_on_404_without_retry_and_keeps_data() {
    let server = ProviderServer::answering(|_, _| Reply::status(404, ""))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 3));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(report.outcome.record_count, 3);
    assert_eq!(server.hits("/a.m3u"), 1);
}

#[tokio::test]
async fn an_html_page_served_with_200_fails_and_keeps_data() {
    let server = ProviderServer::answering(|_, _| {
        Reply::ok("\n  <!DOCTYPE html><html><body>Account suspended</body></html>")
    })
    .await
    .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 7));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert!(report.outcome.error.unwrap().contains("HTML"));
    assert_eq!(report.outcome.record_count, 7);
    assert_eq!(repo.channels(source.id)[0].data.name, "old 0");
}

#[tokio::test]
async fn a_truncated_download_fails_and_keeps_data() {
    let text = playlist(3_000);
    let server = ProviderServer::answering(move |_, _| {
        let body = text.as_bytes()[..text.len() / 2].to_vec();
        let mut reply = Reply::ok(body);
        reply.announced_length = Some(text.len());
        reply
    })
    .await
    .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 5));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(
        report.outcome.state,
        IngestState::Failed,
        "{:?}",
        report.outcome
    );
    assert_eq!(report.outcome.record_count, 5);
    assert_eq!(repo.channels(source.id).len(), 5);
    assert!(
        *repo.aborts.lock().unwrap() >= 1,
        "the replacement was aborted"
    );
    assert_eq!(*repo.commits.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_shrink_by_more_than_half_is_suspicious_and_keeps_data() {
    let server = ProviderServer::answering(|_, _| Reply::ok(playlist(40)))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 100));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Suspicious);
    assert_eq!(report.outcome.record_count, 100);
    assert!(report.outcome.error.unwrap().contains("100 to 40"));
    assert_eq!(repo.channels(source.id).len(), 100);
    // A looser guard accepts it.
    let settings = IngestSettings {
        max_shrink: 0.7,
        ..IngestSettings::default()
    };
    let report = ingest_stream_source(&source, &fetcher(), &repo, &NoProgress, &settings).await;
    assert_eq!(report.outcome.state, IngestState::Ok);
    assert_eq!(repo.channels(source.id).len(), 40);
}

#[tokio::test]
async fn an_empty_result_fails_and_keeps_data() {
    let server = ProviderServer::answering(|_, _| Reply::ok("#EXTM3U\n# nothing here\n"))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 2));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(report.outcome.record_count, 2);
    assert!(report.outcome.error.unwrap().contains("no channels"));
}

#[tokio::test]
async fn exceeding_the_size_limit_fails() {
    let server = ProviderServer::answering(|_, _| {
        let mut reply = Reply::ok(playlist(2_000));
        reply.close_delimited = true;
        reply
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        max_bytes: 20_000,
        ..FetchOptions::default()
    })
    .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/big.m3u"), StreamSourceType::M3u);
    let report = ingest_stream_source(
        &source,
        &fetcher,
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert!(
        report
            .outcome
            .error
            .unwrap()
            .contains("larger than the limit")
    );
    assert!(repo.channels(source.id).is_empty());
}

struct CancelAfter {
    records: AtomicU64,
    limit: u64,
    stages: std::sync::Mutex<Vec<IngestStage>>,
}

impl IngestProgress for CancelAfter {
    fn report(&self, progress: &ProgressSnapshot) -> bool {
        self.stages.lock().unwrap().push(progress.stage);
        self.records.store(progress.records, Ordering::Relaxed);
        progress.records < self.limit
    }
}

#[tokio::test]
async fn cancellation_stops_and_aborts() {
    let server = ProviderServer::answering(|_, _| Reply::ok(playlist(20_000)))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 4));
    let progress = CancelAfter {
        records: AtomicU64::new(0),
        limit: 4_000,
        stages: Default::default(),
    };
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &progress,
        &IngestSettings::default(),
    )
    .await;
    assert!(report.cancelled);
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(report.outcome.record_count, 4);
    assert_eq!(progress.records.load(Ordering::Relaxed), 4_000);
    assert_eq!(repo.channels(source.id).len(), 4);
    assert_eq!(*repo.aborts.lock().unwrap(), 1);
    assert!(
        progress
            .stages
            .lock()
            .unwrap()
            .contains(&IngestStage::Parsing)
    );
}

#[tokio::test]
async fn ingests_an_xtream_panel() {
    let auth = std::fs::read(fixture("xtream/go.xtream-codes/hellraiser/auth.json")).unwrap();
    let categories = std::fs::read(fixture(
        "xtream/go.xtream-codes/hellraiser/get_live_categories.json",
    ))
    .unwrap();
    let streams = std::fs::read(fixture(
        "xtream/go.xtream-codes/hellraiser/get_live_streams.json",
    ))
    .unwrap();
    // The captured account expired in 2019: answer as the panel would today for a live one.
    let auth = String::from_utf8(auth)
        .unwrap()
        .replace("\"1550619710\"", "null");
    let server = ProviderServer::answering(move |request, _| {
        let path = &request.path;
        if !path.starts_with("/player_api.php?username=me&password=pw") {
            return Reply::status(401, "");
        }
        if path.contains("action=get_live_categories") {
            Reply::ok(categories.clone())
        } else if path.contains("action=get_live_streams") {
            Reply::ok(streams.clone())
        } else {
            Reply::ok(auth.clone())
        }
    })
    .await
    .unwrap();
    let repo = MemoryChannels::default();
    let mut source = stream_source(server.url("/"), StreamSourceType::Xtream);
    source.username = Some("me".into());
    source.password = Some(Secret::new("pw"));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    assert_eq!(report.outcome.record_count, 4950);
    let channels = repo.channels(source.id);
    let bbc2 = channels.iter().find(|c| c.key == "id:24806").unwrap();
    assert_eq!(bbc2.data.stream_url, server.url("/live/me/pw/24806.ts"));
    assert_eq!(bbc2.data.catchup_days.as_deref(), Some("3"));
    assert!(bbc2.data.group_title.is_some());
    assert_eq!(server.hits("/player_api.php"), 3);
}

#[tokio::test]
async fn a_refused_xtream_account_fails_clearly() {
    let server = ProviderServer::answering(|_, _| Reply::ok(r#"{"user_info":{"auth":0}}"#))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let mut source = stream_source(server.url(""), StreamSourceType::Xtream);
    source.username = Some("me".into());
    source.password = Some(Secret::new("wrong-password"));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    let error = report.outcome.error.unwrap();
    assert!(error.contains("auth: 0"), "{error}");
    assert!(!error.contains("wrong-password"));
}

#[tokio::test]
async fn an_xtream_account_answer_over_8_mib_is_refused_not_read_whole() {
    // 9 MiB of JSON, gzip-encoded so that its Content-Length (a few KB) says nothing: the
    // reader itself must stop at the cap.
    let mut account = br#"{"user_info":{"auth":1,"status":"Active","pad":""#.to_vec();
    account.resize(9 * 1024 * 1024, b'x');
    account.extend_from_slice(br#""},"server_info":{}}"#);
    let body = gzip(&account);
    let server = ProviderServer::answering(move |_, _| {
        Reply::ok(body.clone())
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/json")
    })
    .await
    .unwrap();
    let repo = MemoryChannels::default();
    let mut source = stream_source(server.url("/"), StreamSourceType::Xtream);
    source.username = Some("me".into());
    source.password = Some(Secret::new("pw"));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    let error = report.outcome.error.unwrap();
    assert!(
        error.contains("larger than the limit of 8388608 bytes"),
        "{error}"
    );
    assert_eq!(server.hits("/player_api.php"), 1, "no stream list asked");
}

#[tokio::test]
async fn ingests_a_gzipped_guide_while_it_arrives() {
    let guide = std::fs::read(fixture("xmltv/jellyfin-xmltv/UK_Data.xml")).unwrap();
    let compressed = gzip(&guide);
    let server = ProviderServer::answering(move |_, _| Reply::ok(compressed.clone()))
        .await
        .unwrap();
    let repo = MemoryGuide::default();
    let mut source = epg_source(server.url("/guide.xml.gz"));
    source.time_offset_minutes = 60;
    let report = ingest_epg_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    assert_eq!(report.outcome.record_count, 1964);
    assert_eq!(repo.guide_channels(source.id).len(), 5);
    let first = &repo.programmes(source.id)[0];
    assert_eq!(
        first.start.to_rfc3339(),
        "2015-11-26T07:00:00+00:00",
        "offset applied"
    );
}

#[tokio::test]
async fn a_broken_guide_fails_and_keeps_the_previous_guide() {
    let broken = std::fs::read(fixture("xmltv/ektotv-xmltv/broken.xml")).unwrap();
    let server = ProviderServer::answering(move |_, _| Reply::ok(broken.clone()))
        .await
        .unwrap();
    let repo = MemoryGuide::default();
    let source = epg_source(server.url("/broken.xml"));
    let old = ProgrammeData {
        channel: "x".into(),
        ..ProgrammeData::default()
    };
    repo.set(source.id, vec![old.clone(), old]);
    let report = ingest_epg_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert!(report.outcome.error.unwrap().contains("XML"));
    assert_eq!(report.outcome.record_count, 2);
    assert_eq!(repo.programmes(source.id).len(), 2);
}

#[tokio::test]
async fn an_html_guide_fails() {
    let server =
        ProviderServer::answering(|_, _| Reply::ok("<html><head><title>502</title></head></html>"))
            .await
            .unwrap();
    let repo = MemoryGuide::default();
    let source = epg_source(server.url("/guide.xml"));
    let report = ingest_epg_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert!(report.outcome.error.unwrap().contains("HTML"));
}

#[tokio::test]
async fn an_unknown_timezone_fails_before_fetching() {
    let server = ProviderServer::answering(|_, _| Reply::ok("<tv/>"))
        .await
        .unwrap();
    let repo = MemoryGuide::default();
    let mut source = epg_source(server.url("/guide.xml"));
    source.timezone = Some("Mars/Base".into());
    let report = ingest_epg_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(server.hits("/"), 0);
}

#[tokio::test]
async fn ingests_a_local_playlist_file() {
    let repo = MemoryChannels::default();
    let path = fixture("m3u/iptv-playlist-parser/base.m3u");
    let source = stream_source(path.to_str().unwrap().to_owned(), StreamSourceType::M3u);
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    assert_eq!(report.outcome.record_count, 6);
    let channels = repo.channels(source.id);
    assert!(channels[1].data.stream_url.starts_with("file:///"));
    assert!(
        channels[1]
            .data
            .stream_url
            .ends_with("iptv-playlist-parser/stream/chunklist.m3u8")
    );
}

#[test]
fn the_ingest_futures_can_be_spawned() {
    fn assert_send<T: Send>(_: T) {}
    let fetcher = fetcher();
    let channels = MemoryChannels::default();
    let source = stream_source("http://127.0.0.1:9/a.m3u".into(), StreamSourceType::M3u);
    let settings = IngestSettings::default();
    assert_send(ingest_stream_source(
        &source,
        &fetcher,
        &channels,
        &NoProgress,
        &settings,
    ));
    let guide = MemoryGuide::default();
    let source = epg_source("http://127.0.0.1:9/g.xml".into());
    assert_send(ingest_epg_source(
        &source,
        &fetcher,
        &guide,
        &NoProgress,
        &settings,
    ));
}

#[tokio::test]
async fn a_connection_reset_mid_stream_fails_and_keeps_data() {
    // A chunked body that stops in the middle of a chunk, then the connection closes.
    let text = playlist(3_000);
    let server = ProviderServer::answering(move |_, _| {
        let mut body = format!("{:x}\r\n", text.len()).into_bytes();
        body.extend_from_slice(&text.as_bytes()[..text.len() / 3]);
        let mut reply = Reply::ok(body).header("Transfer-Encoding", "chunked");
        reply.close_delimited = true;
        reply
    })
    .await
    .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/reset.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 9));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(
        report.outcome.state,
        IngestState::Failed,
        "{:?}",
        report.outcome
    );
    assert_eq!(report.outcome.record_count, 9);
    assert_eq!(repo.channels(source.id).len(), 9);
    assert_eq!(*repo.commits.lock().unwrap(), 0);
}

/// Every progress report, in order.
#[derive(Default)]
struct RecordedProgress(std::sync::Mutex<Vec<ProgressSnapshot>>);

impl IngestProgress for RecordedProgress {
    fn report(&self, progress: &ProgressSnapshot) -> bool {
        self.0.lock().unwrap().push(*progress);
        true
    }
}

#[tokio::test]
async fn progress_reports_bytes_and_records_together() {
    let text = playlist(5_000);
    let length = text.len() as u64;
    let server = ProviderServer::answering(move |_, _| Reply::ok(text.clone()))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    let progress = RecordedProgress::default();
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &progress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Ok);
    let reports = progress.0.lock().unwrap().clone();
    assert_eq!(reports[0].stage, IngestStage::Downloading);
    assert_eq!(reports[0].records, 0);
    assert!(
        reports.iter().any(|p| p.stage == IngestStage::Parsing
            && p.records > 0
            && p.bytes > 0
            && p.total_bytes == Some(length)),
        "{reports:?}"
    );
    assert!(reports.windows(2).all(|w| w[0].records <= w[1].records));
    let last = reports.last().unwrap();
    assert_eq!(last.stage, IngestStage::Storing);
    assert_eq!(
        (last.bytes, last.total_bytes, last.records, last.unit),
        (length, Some(length), 5_000, "channels")
    );
}

/// Asks to stop once the ingest has run for `after`.
struct StopAfter {
    started: std::time::Instant,
    after: Duration,
}

impl IngestProgress for StopAfter {
    fn report(&self, _progress: &ProgressSnapshot) -> bool {
        self.started.elapsed() < self.after
    }
}

#[tokio::test]
async fn cancelling_during_a_slow_download_stops_at_once() {
    // About 70 KB at 256 bytes every 50 ms: some 14 s to download, and no batch fills before.
    let text = playlist(1_000);
    let server = ProviderServer::answering(move |_, _| {
        Reply::ok(text.clone()).drip(256, Duration::from_millis(50))
    })
    .await
    .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/slow.m3u"), StreamSourceType::M3u);
    let started = std::time::Instant::now();
    let progress = StopAfter {
        started,
        after: Duration::from_millis(400),
    };
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &progress,
        &IngestSettings::default(),
    )
    .await;
    assert!(report.cancelled, "{:?}", report.outcome);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the parser stopped reading at once, not at the end of the download ({:?})",
        started.elapsed()
    );
    assert_eq!(*repo.commits.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_download_past_its_deadline_fails_and_keeps_data() {
    let text = playlist(1_000);
    let server = ProviderServer::answering(move |_, _| {
        Reply::ok(text.clone()).drip(64, Duration::from_millis(20))
    })
    .await
    .unwrap();
    let fetcher = HttpFetcher::new(FetchOptions {
        deadline: Duration::from_millis(600),
        ..FetchOptions::default()
    })
    .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/drip.m3u"), StreamSourceType::M3u);
    repo.set(source.id, previous_channels(source.id, 6));
    let report = ingest_stream_source(
        &source,
        &fetcher,
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    let error = report.outcome.error.unwrap();
    assert!(error.contains("deadline"), "{error}");
    assert_eq!(report.outcome.record_count, 6);
    assert_eq!(repo.channels(source.id).len(), 6);
}

#[tokio::test]
async fn a_failed_ingest_keeps_the_last_known_skipped_count() {
    let server = ProviderServer::answering(|_, _| Reply::status(500, "boom"))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let mut source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    source.channel_count = 10;
    source.skipped_count = 7;
    repo.set(source.id, previous_channels(source.id, 10));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(
        (report.outcome.record_count, report.outcome.skipped_count),
        (10, 7)
    );
}

#[tokio::test]
async fn a_suspicious_ingest_keeps_the_skipped_count_and_tells_what_it_skipped() {
    let text = format!("{}=====junk=====\n=====more=====\n", playlist(40));
    let server = ProviderServer::answering(move |_, _| Reply::ok(text.clone()))
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let mut source = stream_source(server.url("/a.m3u"), StreamSourceType::M3u);
    source.skipped_count = 3;
    repo.set(source.id, previous_channels(source.id, 100));
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Suspicious);
    assert_eq!(
        (report.outcome.record_count, report.outcome.skipped_count),
        (100, 3),
        "both describe the data still current"
    );
    assert_eq!(report.skipped.count(SkipReason::NotAUrl), 2);
    let error = report.outcome.error.unwrap();
    assert!(error.contains("not_a_url: 2"), "{error}");

    // An empty result keeps it too.
    let server = ProviderServer::answering(|_, _| Reply::ok("#EXTM3U\n=====junk=====\n"))
        .await
        .unwrap();
    source.url = server.url("/empty.m3u");
    let report = ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(report.outcome.state, IngestState::Failed);
    assert_eq!(report.outcome.skipped_count, 3);
}

async fn ingest_playlist_answer(reply: Reply) -> tvarr_ingest::IngestReport {
    let server = ProviderServer::answering(move |_, _| reply.clone())
        .await
        .unwrap();
    let repo = MemoryChannels::default();
    let source = stream_source(server.url("/get.php"), StreamSourceType::M3u);
    ingest_stream_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await
}

async fn ingest_guide_answer(reply: Reply) -> tvarr_ingest::IngestReport {
    let server = ProviderServer::answering(move |_, _| reply.clone())
        .await
        .unwrap();
    let repo = MemoryGuide::default();
    let source = epg_source(server.url("/xmltv.php"));
    ingest_epg_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await
}

fn failure(report: &tvarr_ingest::IngestReport) -> String {
    assert_eq!(report.outcome.state, IngestState::Failed);
    report.outcome.error.clone().unwrap()
}

#[tokio::test]
async fn html_error_pages_are_named_as_such_not_as_an_empty_playlist() {
    for body in [
        "<head><title>Login</title></head><body>Please log in</body>",
        "\u{feff}\r\n  <BODY>Account suspended</BODY>",
        "<!-- generated by nginx -->\n<!DOCTYPE html><html><body>403</body></html>",
        "<!---->\n<!-- two comments -->\n<html lang=\"en\"></html>",
    ] {
        let error = failure(&ingest_playlist_answer(Reply::ok(body)).await);
        assert!(
            error.contains("provider answered with an HTML page"),
            "{body}: {error}"
        );
    }
    let by_type = Reply::ok("Access denied for your IP address\n")
        .header("Content-Type", "text/html; charset=UTF-8");
    let error = failure(&ingest_playlist_answer(by_type).await);
    assert!(error.contains("HTML page"), "{error}");
}

#[tokio::test]
async fn json_where_a_playlist_or_guide_was_expected_is_named_as_such() {
    for body in [
        r#"{"user_info":{"auth":0}}"#,
        "\n [ {\"error\": \"expired\"} ]",
        "[]",
    ] {
        let error = failure(&ingest_playlist_answer(Reply::ok(body)).await);
        assert!(
            error.contains("provider answered with JSON, not a playlist"),
            "{body}: {error}"
        );
    }
    let error = failure(&ingest_guide_answer(Reply::ok(r#"{"error":"not found"}"#)).await);
    assert!(error.contains("JSON, not a guide"), "{error}");
}

#[tokio::test]
async fn a_php_panel_labelling_real_data_text_html_is_still_read() {
    let playlist_reply = Reply::ok(playlist(5)).header("Content-Type", "text/html; charset=UTF-8");
    let report = ingest_playlist_answer(playlist_reply).await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    let guide = "<?xml version=\"1.0\"?>\n<tv><programme channel=\"a\" start=\"20240101000000 +0000\"><title>t</title></programme></tv>";
    let report = ingest_guide_answer(Reply::ok(guide).header("Content-Type", "text/html")).await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    let error = failure(
        &ingest_guide_answer(
            Reply::ok("<h1>Service unavailable</h1>").header("Content-Type", "text/html"),
        )
        .await,
    );
    assert!(error.contains("HTML page instead of a guide"), "{error}");
}

#[tokio::test]
async fn the_guide_doctype_is_never_fetched() {
    let guide = std::fs::read(fixture("xmltv/xmltv-project/attrs.xml")).unwrap();
    let server = ProviderServer::answering(move |request, _| {
        if request.path.ends_with(".dtd") {
            Reply::ok("<!ENTITY boom \"fetched\">")
        } else {
            Reply::ok(guide.clone())
        }
    })
    .await
    .unwrap();
    let repo = MemoryGuide::default();
    let source = epg_source(server.url("/guides/attrs.xml"));
    let report = ingest_epg_source(
        &source,
        &fetcher(),
        &repo,
        &NoProgress,
        &IngestSettings::default(),
    )
    .await;
    assert_eq!(
        report.outcome.state,
        IngestState::Ok,
        "{:?}",
        report.outcome.error
    );
    assert_eq!(server.hits("/"), 1, "{:?}", server.requests());
    assert_eq!(server.hits("/guides/xmltv.dtd"), 0);
}
