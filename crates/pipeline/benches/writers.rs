//! Writing a proxy's outputs: the XMLTV guide of 50,000 channels and 500,000 programmes, and
//! the M3U playlist of the 50,000 channels, into one reused buffer (as the orchestrator does,
//! which hands the buffer on every ~256 KiB; here it is kept whole, which costs the same).

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tvarr_core::{
    ChannelData, ChannelId, Credit, EpisodeNumber, LangText, LineupChannel, ProgrammeData, Rating,
    StreamSourceId,
};
use tvarr_pipeline::{M3uWriter, XmltvWriter};

const CHANNELS: usize = 50_000;
const PROGRAMMES: usize = 500_000;

fn text(value: String, lang: Option<&str>) -> LangText {
    LangText {
        value,
        lang: lang.map(Into::into),
    }
}

fn channels() -> Vec<LineupChannel> {
    (0..CHANNELS)
        .map(|i| LineupChannel {
            channel_id: ChannelId::new(),
            source_id: StreamSourceId::new(),
            number: 100 + i as u32,
            guide_id: format!("channel-{i}.example.tv"),
            data: ChannelData {
                name: format!("Channel {i} HD"),
                tvg_id: Some(format!("channel-{i}.example.tv")),
                tvg_name: Some(format!("Channel {i}")),
                tvg_logo: Some(format!("http://logos.example/{i}.png")),
                group_title: Some(format!("Group {}", i % 40)),
                stream_url: format!("http://provider.example/live/u/p/{i}.ts"),
                catchup: (i % 5 == 0).then(|| "default".into()),
                catchup_days: (i % 5 == 0).then(|| "7".into()),
                extra: vec![
                    ("tvg-country".into(), "GB".into()),
                    ("http-user-agent".into(), "Provider/1.0".into()),
                ],
                ..ChannelData::default()
            },
            guide: None,
        })
        .collect()
}

/// Ten programmes per channel, half with raw extra elements, with realistic text lengths.
fn programmes() -> Vec<ProgrammeData> {
    let base = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
    (0..PROGRAMMES)
        .map(|i| {
            let start = base + Duration::minutes(30 * (i % 10) as i64);
            ProgrammeData {
                channel: format!("channel-{}.example.tv", i / 10),
                start,
                stop: start + Duration::minutes(30),
                titles: vec![text(format!("Programme {i} & friends"), Some("en"))],
                sub_titles: vec![text(format!("Episode {}", i % 24), Some("en"))],
                descriptions: vec![text(
                    format!(
                        "An episode in which the characters of programme {i} go somewhere new, \
                         meet someone unexpected and come back home <changed>, as they do every week."
                    ),
                    Some("en"),
                )],
                categories: vec![text("Series".into(), Some("en")), text("Drama".into(), Some("en"))],
                episode_numbers: vec![
                    EpisodeNumber {
                        system: Some("xmltv_ns".into()),
                        value: format!("{}.{}.0/1", i % 5, i % 24),
                    },
                    EpisodeNumber {
                        system: Some("onscreen".into()),
                        value: format!("S{}E{}", i % 5 + 1, i % 24 + 1),
                    },
                ],
                season: Some((i % 5 + 1) as u32),
                episode: Some((i % 24 + 1) as u32),
                icon: Some(format!("http://images.example/p/{i}.jpg")),
                ratings: vec![Rating {
                    system: Some("VCHIP".into()),
                    value: "TV-PG".into(),
                }],
                credits: vec![
                    Credit {
                        role: "actor".into(),
                        name: "Jane Doe".into(),
                        character: Some("Herself".into()),
                    },
                    Credit {
                        role: "director".into(),
                        name: "John Roe".into(),
                        character: None,
                    },
                ],
                language: None,
                date: Some("2026".into()),
                extra_xml: (i % 2 == 0).then(|| {
                    "<length units=\"minutes\">30</length><video><aspect>16:9</aspect>\
                     <quality>HDTV</quality></video><previously-shown/><x-tvarr>1</x-tvarr>"
                        .into()
                }),
            }
        })
        .collect()
}

fn write_guide(out: &mut Vec<u8>, channels: &[LineupChannel], programmes: &[ProgrammeData]) {
    out.clear();
    XmltvWriter::header(out);
    for channel in channels {
        XmltvWriter::channel(
            out,
            &channel.guide_id,
            &[&channel.data.name],
            channel.data.tvg_logo.as_deref(),
        );
    }
    for programme in programmes {
        XmltvWriter::programme(out, &programme.channel, programme);
    }
    XmltvWriter::footer(out);
}

fn write_playlist(out: &mut Vec<u8>, channels: &[LineupChannel]) {
    out.clear();
    M3uWriter::header(out, "http://tvarr.example/proxy/1.xmltv");
    let mut url = String::with_capacity(64);
    for channel in channels {
        url.clear();
        url.push_str("http://tvarr.example/proxy/1/");
        url.push_str(&channel.channel_id.to_string());
        M3uWriter::channel(out, channel, &url);
    }
}

fn writers(c: &mut Criterion) {
    let channels = channels();
    let programmes = programmes();
    let mut out = Vec::new();

    write_guide(&mut out, &channels, &programmes);
    let mut group = c.benchmark_group("xmltv");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function("50k_channels_500k_programmes", |b| {
        b.iter(|| {
            write_guide(&mut out, &channels, &programmes);
            black_box(out.len())
        })
    });
    group.finish();

    write_playlist(&mut out, &channels);
    let mut group = c.benchmark_group("m3u");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function("50k_channels", |b| {
        b.iter(|| {
            write_playlist(&mut out, &channels);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, writers);
criterion_main!(benches);
