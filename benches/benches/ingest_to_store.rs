//! The ingest path end to end but for HTTP: a playlist or guide file, fetched by the real
//! fetcher, parsed by the streaming parsers, written through the bulk path of the real store on
//! a SQLite file (WAL), the previous generation replaced atomically. What a user waits for after
//! pressing "ingest", on their own disk.
//!
//! `cargo bench -p tvarr-benches`. The full-size figures (100,000 channels, 1,000,000
//! programmes, with peak RSS) come from `cargo xtask bench-e2e`, which runs the real server.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tvarr_core::{
    EpgSourceRepository, IngestState, StreamSourceInput, StreamSourceRepository, StreamSourceType,
};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_ingest::{IngestSettings, NoProgress, ingest_epg_source, ingest_stream_source};
use tvarr_storage::Store;

const CHANNELS: usize = 20_000;
const PROGRAMMES: usize = 100_000;
const GUIDE_CHANNELS: usize = 500;

fn write_input(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the input");
    path.display().to_string()
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let playlist = write_input(dir.path(), "bench.m3u", &tvarr_benches::playlist(CHANNELS));
    let guide = write_input(
        dir.path(),
        "bench.xml",
        &tvarr_benches::guide(GUIDE_CHANNELS, PROGRAMMES),
    );
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let fetcher = HttpFetcher::new(FetchOptions {
        import_dir: Some(dir.path().to_path_buf()),
        ..FetchOptions::default()
    })
    .expect("a fetcher");
    // Replacing the same source again and again: the guard's shrink check passes, and each
    // round also deletes the previous generation, as a scheduled re-ingest does.
    let settings = IngestSettings::default();

    let (store, stream_source, epg_source) = runtime.block_on(async {
        let store = Store::connect(&database).await.expect("the store");
        let stream_source = store
            .stream_sources()
            .create(StreamSourceInput {
                name: "bench playlist".into(),
                source_type: StreamSourceType::M3u,
                url: playlist.clone(),
                username: None,
                password: None,
                update_cron: None,
                enabled: true,
                user_agent: None,
                headers: vec![],
                max_connections: None,
            })
            .await
            .expect("a stream source");
        let epg_source = store
            .epg_sources()
            .create(tvarr_benches::xmltv_source(guide.clone()))
            .await
            .expect("an EPG source");
        (store, stream_source, epg_source)
    });

    let channels = store.channels();
    let programmes = store.programmes();
    let mut group = c.benchmark_group("ingest_to_sqlite");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(CHANNELS as u64));
    group.bench_function("m3u_20k_channels", |b| {
        b.iter(|| {
            let report = runtime.block_on(ingest_stream_source(
                &stream_source,
                &fetcher,
                &channels,
                &NoProgress,
                &settings,
            ));
            assert_eq!(
                report.outcome.state,
                IngestState::Ok,
                "{:?}",
                report.outcome
            );
            assert_eq!(report.outcome.record_count, CHANNELS as u64);
        });
    });
    group.throughput(Throughput::Elements(PROGRAMMES as u64));
    group.bench_function("xmltv_100k_programmes", |b| {
        b.iter(|| {
            let report = runtime.block_on(ingest_epg_source(
                &epg_source,
                &fetcher,
                &programmes,
                &NoProgress,
                &settings,
            ));
            assert_eq!(
                report.outcome.state,
                IngestState::Ok,
                "{:?}",
                report.outcome
            );
            assert_eq!(report.outcome.record_count, PROGRAMMES as u64);
        });
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
