//! Parser throughput on generated data: a 100,000-channel playlist and a 100,000-programme
//! guide slice. The inputs are `fixtures/generated/channels-100k.m3u` and the first 100,000
//! programmes of `fixtures/generated/guide-1m.xml` (`cargo xtask gen-fixtures`); when those are
//! missing, similar inputs are synthesised in memory.
//!
//! `cargo bench -p tvarr-ingest --bench parsers`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tvarr_ingest::m3u::{M3uOptions, M3uReader};
use tvarr_ingest::xmltv::{XmltvOptions, XmltvReader};

const CHANNELS: u64 = 100_000;
const PROGRAMMES: u64 = 100_000;

fn generated(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/generated")
        .join(name)
}

fn playlist() -> Vec<u8> {
    if let Ok(bytes) = std::fs::read(generated("channels-100k.m3u")) {
        return bytes;
    }
    let mut text = String::from("#EXTM3U url-tvg=\"http://epg.example/guide.xml.gz\"\n");
    for i in 0..CHANNELS {
        text.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"ch{i}.us\" tvg-name=\"Channel {i} HD\" tvg-logo=\"https://logo.example/us/{i}.png\" group-title=\"Group {}\" tvg-chno=\"{}\",Channel {i} HD\nhttp://cdn.example:8080/live/{i}/{:08x}.ts\n",
            i % 20,
            i + 1,
            i.wrapping_mul(2_654_435_761) as u32
        ));
    }
    text.into_bytes()
}

fn guide_slice() -> Vec<u8> {
    if let Ok(file) = std::fs::File::open(generated("guide-1m.xml")) {
        use std::io::Read;
        // The first 100,000 programmes (about 55 MB), closed with </tv>.
        let mut bytes = Vec::with_capacity(64 << 20);
        let _ = file.take(80 << 20).read_to_end(&mut bytes);
        let needle = b"</programme>\n";
        let mut found = 0;
        let mut at = 0;
        while let Some(offset) = memchr::memmem::find(&bytes[at..], needle) {
            at += offset + needle.len();
            found += 1;
            if found == PROGRAMMES {
                bytes.truncate(at);
                bytes.extend_from_slice(b"</tv>\n");
                return bytes;
            }
        }
    }
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n");
    for i in 0..PROGRAMMES {
        let start = 20240101000000u64 + (i % 200) * 100;
        text.push_str(&format!(
            "  <programme start=\"{start} +0000\" stop=\"{} +0000\" channel=\"ch{}.tvarr\">\n    <title lang=\"en\">Programme {i}</title>\n    <desc lang=\"en\">A look at the day's top stories &amp; more from around the world.</desc>\n    <category lang=\"en\">News</category>\n    <episode-num system=\"xmltv_ns\">1.{}.0/1</episode-num>\n    <icon src=\"https://img.example/p/{i}.jpg\" />\n  </programme>\n",
            start + 30,
            i / 200,
            i % 24
        ));
    }
    text.push_str("</tv>\n");
    text.into_bytes()
}

fn bench_m3u(c: &mut Criterion) {
    let bytes = playlist();
    let mut group = c.benchmark_group("m3u");
    group.throughput(Throughput::Elements(CHANNELS));
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(20);
    group.bench_function("parse_100k_channels", |b| {
        b.iter(|| {
            let reader = M3uReader::new(&bytes[..], M3uOptions::default());
            let mut count = 0u64;
            for channel in reader {
                std::hint::black_box(channel.ok());
                count += 1;
            }
            assert!(count >= CHANNELS * 9 / 10);
        });
    });
    group.finish();
}

fn bench_xmltv(c: &mut Criterion) {
    let bytes = guide_slice();
    let mut group = c.benchmark_group("xmltv");
    group.throughput(Throughput::Elements(PROGRAMMES));
    group.measurement_time(Duration::from_secs(15));
    group.sample_size(10);
    group.bench_function("parse_100k_programmes", |b| {
        b.iter(|| {
            let mut reader = XmltvReader::new(&bytes[..], XmltvOptions::default()).unwrap();
            while let Ok(Some(item)) = reader.next_item() {
                std::hint::black_box(item);
            }
            assert_eq!(reader.stats().programmes, PROGRAMMES);
        });
    });
    // The floor: quick-xml's events alone, nothing built.
    group.bench_function("quick_xml_events_only", |b| {
        b.iter(|| {
            let mut reader = quick_xml::Reader::from_reader(&bytes[..]);
            let mut buf = Vec::with_capacity(4096);
            let mut events = 0u64;
            loop {
                buf.clear();
                match reader.read_event_into(&mut buf) {
                    Ok(quick_xml::events::Event::Eof) | Err(_) => break,
                    Ok(event) => {
                        std::hint::black_box(event);
                        events += 1;
                    }
                }
            }
            assert!(events > PROGRAMMES);
        });
    });
    group.finish();
}

fn bench_xtream(c: &mut Criterion) {
    // Only with the generated answers (`cargo xtask gen-fixtures`).
    let Ok(bytes) = std::fs::read(generated("xtream/get_live_streams.json")) else {
        return;
    };
    let endpoint = tvarr_ingest::xtream::XtreamEndpoint::new(
        "http://panel.example:8080",
        "user",
        tvarr_core::Secret::new("pass"),
    )
    .unwrap();
    let categories = std::collections::HashMap::new();
    let mut group = c.benchmark_group("xtream");
    group.throughput(Throughput::Elements(CHANNELS));
    group.sample_size(10);
    group.bench_function("parse_100k_live_streams", |b| {
        b.iter(|| {
            let mut count = 0u64;
            tvarr_ingest::xtream::for_each_in_array(
                &bytes[..],
                |stream: tvarr_ingest::xtream::LiveStream| {
                    if let Some(channel) = endpoint.channel(stream, &categories, "ts") {
                        std::hint::black_box(channel);
                        count += 1;
                    }
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(count, CHANNELS);
        });
    });
    group.finish();
}

criterion_group!(benches, bench_m3u, bench_xmltv, bench_xtream);
criterion_main!(benches);
