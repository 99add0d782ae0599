//! One whole generation through in-memory ports: 50,000 channels from two stream sources,
//! each matched by `tvg-id` to a guide channel with 10 programmes (500,000 programmes), one
//! stream rule, one exclude filter, stable numbering against the held numbers of the previous
//! run, the change report, and both outputs written in 256 KiB chunks to a store that counts
//! the bytes and keeps none.
//!
//! The in-memory stores hand out clones as a database would hand out decoded rows, so the
//! figure includes building every record once; it excludes SQL and disk.
//!
//! `cargo bench -p tvarr-pipeline --bench generation`

#[path = "../tests/generation_support/mod.rs"]
mod generation_support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use generation_support::*;
use tvarr_core::{
    Domain, FilterAction, OutputFiles, OutputKind, OutputStore, OutputWriter, ProxyId,
    PublishedOutput, RepoResult,
};
use tvarr_pipeline::{
    GenerationOptions, GenerationPorts, ProviderLogos, ProxyDefinition, generate,
};

const CHANNELS: usize = 50_000;
const PROGRAMMES_PER_CHANNEL: i64 = 10;

/// Counts what is written; keeps nothing.
#[derive(Default)]
struct CountingOutputs {
    bytes: AtomicU64,
    published: Mutex<Vec<(OutputKind, u64)>>,
}

struct CountingWriter<'a> {
    store: &'a CountingOutputs,
    kind: OutputKind,
    len: u64,
}

#[async_trait]
impl OutputWriter for CountingWriter<'static> {
    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()> {
        self.len += chunk.len() as u64;
        self.store
            .bytes
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> RepoResult<PublishedOutput> {
        self.store
            .published
            .lock()
            .unwrap()
            .push((self.kind, self.len));
        Ok(PublishedOutput {
            etag: String::new(),
            modified: now(),
            len: self.len,
            gzip_len: self.len,
        })
    }
    async fn abort(self: Box<Self>) -> RepoResult<()> {
        Ok(())
    }
}

#[async_trait]
impl OutputStore for &'static CountingOutputs {
    async fn begin(&self, _: ProxyId, kind: OutputKind) -> RepoResult<Box<dyn OutputWriter>> {
        Ok(Box::new(CountingWriter {
            store: self,
            kind,
            len: 0,
        }))
    }
    async fn current(&self, _: ProxyId, _: OutputKind) -> RepoResult<Option<PublishedOutput>> {
        Ok(None)
    }
    async fn files(&self, _: ProxyId, _: OutputKind) -> RepoResult<Option<OutputFiles>> {
        Ok(None)
    }
    async fn remove(&self, _: ProxyId) -> RepoResult<()> {
        Ok(())
    }
}

fn world() -> World {
    let mut w = World::new();
    let half = CHANNELS / 2;
    for (name, range) in [("alpha", 0..half), ("beta", half..CHANNELS)] {
        w.stream_source(
            name,
            range
                .map(|i| {
                    ch(
                        &format!("Channel {i} HD"),
                        &format!("http://{name}.example:8080/live/u/p/{i}.ts"),
                    )
                    .tvg_id(&format!("ch{i}.example"))
                    .group(&format!("Group {}", i % 40))
                    .chno(&(i + 1).to_string())
                })
                .collect(),
        );
    }
    let mut guide_channels = Vec::with_capacity(CHANNELS);
    let mut programmes = Vec::with_capacity(CHANNELS * PROGRAMMES_PER_CHANNEL as usize);
    for i in 0..CHANNELS {
        let id = format!("ch{i}.example");
        guide_channels.push(guide_channel(&id, &[&format!("Channel {i}")]));
        let mut shows = hourly(&id, -2, PROGRAMMES_PER_CHANNEL);
        for p in &mut shows {
            p.descriptions.push(tvarr_core::LangText {
                value: "An episode of a programme, with a description of a typical length.".into(),
                lang: Some("en".into()),
            });
        }
        programmes.extend(shows);
    }
    w.epg_source("guide", guide_channels, programmes);
    w.rule(Domain::Stream, r#"name -= " HD""#);
    w.filter(
        Domain::Stream,
        FilterAction::Exclude,
        r#"group_title == "Adult""#,
    );
    w
}

fn bench_generation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let w = world();
    let outputs: &'static CountingOutputs = Box::leak(Box::default());
    let mut options = GenerationOptions::new("http://tv.example:8080", now());
    options.progress_interval = Duration::from_millis(250);
    let run = || async {
        let ports = GenerationPorts {
            channels: &w.channels,
            programmes: &w.programmes,
            lineups: &w.lineups,
            outputs: &outputs,
            jobs: &w.jobs,
            logos: &ProviderLogos,
            timer: &w.timer,
            progress: &w.progress,
        };
        let definition = ProxyDefinition {
            proxy: &w.proxy,
            stream_sources: &w.stream_sources,
            epg_sources: &w.epg_sources,
            filters: &w.filters,
            mapping_rules: &w.rules,
        };
        generate(&ports, &definition, &options).await.unwrap()
    };
    // The first run numbers every channel; the measured ones keep the held numbers.
    let first = runtime.block_on(run());
    assert_eq!(first.channels, CHANNELS as u64);
    assert_eq!(
        first.programmes,
        CHANNELS as u64 * PROGRAMMES_PER_CHANNEL as u64
    );
    let mut stages: Vec<String> = first
        .stages
        .iter()
        .map(|s| format!("{} {} ms", s.stage, s.duration_ms))
        .collect();
    stages.insert(0, format!("total {} ms", first.duration_ms));
    eprintln!("first generation: {}", stages.join(", "));
    outputs.published.lock().unwrap().clear();

    let mut group = c.benchmark_group("generation");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(
        CHANNELS as u64 * PROGRAMMES_PER_CHANNEL as u64,
    ));
    group.bench_function("50k_channels_500k_programmes", |b| {
        b.iter(|| runtime.block_on(run()))
    });
    group.finish();
    let published = outputs.published.lock().unwrap();
    if let Some((_, len)) = published.iter().find(|(k, _)| *k == OutputKind::Xmltv) {
        eprintln!("guide {len} bytes per generation");
    }
}

criterion_group!(benches, bench_generation);
criterion_main!(benches);
