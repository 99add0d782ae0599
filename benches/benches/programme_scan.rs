//! Reading a stored guide back for a generation: `ProgrammeRepository::scan` over every
//! programme of one source, in the batches the pipeline asks for, on a SQLite file (WAL). This
//! is the read half of "generate a proxy"; its write half is `tvarr-pipeline`'s `generation`
//! bench.
//!
//! `cargo bench -p tvarr-benches --bench programme_scan`. The yardstick is the same query
//! through the `sqlite3` shell on the same file (see docs/benchmarks.md).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tvarr_core::{EpgSourceRepository, IngestState, ProgrammeRepository};
use tvarr_ingest::fetch::{FetchOptions, HttpFetcher};
use tvarr_ingest::{IngestSettings, NoProgress, ingest_epg_source};
use tvarr_storage::Store;

const PROGRAMMES: usize = 100_000;
const GUIDE_CHANNELS: usize = 500;
/// The pipeline's default `programme_batch`.
const BATCH: u32 = 2_000;

fn scan(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let guide = dir.path().join("bench.xml");
    std::fs::write(&guide, tvarr_benches::guide(GUIDE_CHANNELS, PROGRAMMES)).expect("the guide");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    if let Ok(keep) = std::env::var("TVARR_BENCH_KEEP_DB") {
        eprintln!("the database is {database} (kept in {keep} after the run)");
    }
    let fetcher = HttpFetcher::new(FetchOptions {
        import_dir: Some(dir.path().to_path_buf()),
        ..FetchOptions::default()
    })
    .expect("a fetcher");
    let (store, source) = runtime.block_on(async {
        let store = Store::connect(&database).await.expect("the store");
        let source = store
            .epg_sources()
            .create(tvarr_benches::xmltv_source(guide.display().to_string()))
            .await
            .expect("an EPG source");
        let report = ingest_epg_source(
            &source,
            &fetcher,
            &store.programmes(),
            &NoProgress,
            &IngestSettings::default(),
        )
        .await;
        assert_eq!(
            report.outcome.state,
            IngestState::Ok,
            "{:?}",
            report.outcome
        );
        (store, source)
    });
    let programmes = store.programmes();
    let from = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();

    let mut group = c.benchmark_group("programme_scan_sqlite");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(PROGRAMMES as u64));
    group.bench_function("all_100k_in_batches_of_2000", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut cursor: Option<String> = None;
                let mut read = 0usize;
                loop {
                    let batch = programmes
                        .scan(source.id, from, to, cursor.as_deref(), BATCH)
                        .await
                        .expect("a batch");
                    read += batch.items.len();
                    match batch.next {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                assert_eq!(read, PROGRAMMES);
            });
        });
    });
    group.finish();
    if let Ok(keep) = std::env::var("TVARR_BENCH_KEEP_DB") {
        runtime.block_on(store.close()).expect("close the store");
        std::fs::copy(dir.path().join("bench.db"), &keep).expect("keep the database");
    }
}

criterion_group!(benches, scan);
criterion_main!(benches);
