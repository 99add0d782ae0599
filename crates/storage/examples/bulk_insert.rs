//! Measures the bulk path: 100,000 channels and 1,000,000 programmes through the
//! replacement API, as the ingest writes them.
//!
//! `cargo run --release -p tvarr-storage --example bulk_insert [DATABASE_URL] [PROGRAMMES]`:
//! a temporary SQLite file (WAL) by default.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use chrono::{TimeZone, Utc};
use tvarr_core::{
    Channel, ChannelData, ChannelRepository, EpgChannel, EpgSourceInput, EpgSourceRepository,
    EpgSourceType, LangText, ProgrammeData, ProgrammeRepository, StreamSourceInput,
    StreamSourceRepository, StreamSourceType,
};
use tvarr_storage::Store;

const CHANNELS: u32 = 100_000;
const CHANNEL_BATCH: usize = 10_000;
const PROGRAMME_BATCH: usize = 10_000;
const GUIDE_CHANNELS: usize = 1_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let programmes: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let store = Store::connect(&url).await?;
    println!("backend: {:?}", store.backend());

    let tag = uuid::Uuid::now_v7();
    let source = store
        .stream_sources()
        .create(StreamSourceInput {
            name: format!("bench {tag}"),
            source_type: StreamSourceType::M3u,
            url: "http://bench.example/big.m3u".into(),
            username: None,
            password: None,
            update_cron: None,
            enabled: true,
            user_agent: None,
            headers: vec![],
            max_connections: None,
        })
        .await?;
    let channels: Vec<Channel> = (0..CHANNELS)
        .map(|i| {
            let data = ChannelData {
                provider_id: Some(i.to_string()),
                name: format!("Channel {i} HD"),
                tvg_id: Some(format!("ch{i}.example")),
                tvg_name: Some(format!("Channel {i}")),
                tvg_logo: Some(format!("http://logos.example/{i}.png")),
                group_title: Some(format!("Group {}", i % 50)),
                tvg_chno: Some(i.to_string()),
                stream_url: format!("http://streams.example/live/user/pass/{i}.ts"),
                extra: vec![("tvg-country".into(), "FR".into())],
                ..Default::default()
            };
            Channel::new(source.id, data.identity_key(), i, data)
        })
        .collect();
    for round in 1..=2 {
        let started = Instant::now();
        let mut r = store.channels().begin_replace(source.id).await?;
        for batch in channels.chunks(CHANNEL_BATCH) {
            r.write(batch).await?;
        }
        let n = r.commit().await?;
        println!(
            "channels, round {round}: {n} in {:.3} s (commit and removal of the previous set included)",
            started.elapsed().as_secs_f64()
        );
    }

    let epg = store
        .epg_sources()
        .create(EpgSourceInput {
            name: format!("bench guide {tag}"),
            source_type: EpgSourceType::Xmltv,
            url: "http://bench.example/guide.xml".into(),
            username: None,
            password: None,
            update_cron: None,
            enabled: true,
            user_agent: None,
            headers: vec![],
            time_offset_minutes: 0,
            timezone: None,
        })
        .await?;
    let base = Utc
        .with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
        .single()
        .ok_or("time")?;
    let guide_channels: Vec<EpgChannel> = (0..GUIDE_CHANNELS)
        .map(|c| EpgChannel {
            id: format!("ch{c}.example"),
            display_names: vec![LangText {
                value: format!("Channel {c}"),
                lang: Some("en".into()),
            }],
            icon: Some(format!("http://logos.example/{c}.png")),
            extra_xml: None,
        })
        .collect();
    let per_channel = programmes.div_ceil(GUIDE_CHANNELS);
    for round in 1..=2 {
        // Only the storage calls are timed, not building the programmes.
        let mut storing = std::time::Duration::ZERO;
        let started = Instant::now();
        let mut r = store.programmes().begin_replace(epg.id).await?;
        r.write_channels(&guide_channels).await?;
        storing += started.elapsed();
        let mut batch = Vec::with_capacity(PROGRAMME_BATCH);
        let mut written = 0usize;
        'outer: for c in 0..GUIDE_CHANNELS {
            for p in 0..per_channel {
                if written == programmes {
                    break 'outer;
                }
                let start = base + chrono::Duration::minutes(30 * p as i64);
                batch.push(ProgrammeData {
                    channel: format!("ch{c}.example"),
                    start,
                    stop: start + chrono::Duration::minutes(30),
                    titles: vec![LangText {
                        value: format!("Programme {p} of channel {c}"),
                        lang: Some("en".into()),
                    }],
                    descriptions: vec![LangText {
                        value: "A description of a typical length, one or two sentences about what happens in this episode.".into(),
                        lang: Some("en".into()),
                    }],
                    categories: vec![LangText {
                        value: "Series".into(),
                        lang: Some("en".into()),
                    }],
                    season: Some(1),
                    episode: Some(p as u32 + 1),
                    ..Default::default()
                });
                written += 1;
                if batch.len() == PROGRAMME_BATCH {
                    let t = Instant::now();
                    r.write_programmes(&batch).await?;
                    storing += t.elapsed();
                    batch.clear();
                }
            }
        }
        let t = Instant::now();
        r.write_programmes(&batch).await?;
        let n = r.commit().await?;
        storing += t.elapsed();
        println!(
            "programmes, round {round}: {n} stored in {:.3} s ({:.3} s with building them; \
             commit and removal of the previous guide included)",
            storing.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    store.stream_sources().delete(source.id).await?;
    store.epg_sources().delete(epg.id).await?;
    Ok(())
}
