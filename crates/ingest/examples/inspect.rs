//! `cargo run -p tvarr-ingest --example inspect -- <file-or-url>`
//!
//! Parses a playlist or a guide (plain or gzip, local or HTTP), detecting which from its first
//! bytes, with no database and no server, and prints counts, the largest groups (playlists) or
//! channels (guides), and the skipped lines by reason.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::BufRead;
use std::time::Instant;

use tokio::io::AsyncBufReadExt;
use tokio_util::io::SyncIoBridge;
use tvarr_ingest::SkipReport;
use tvarr_ingest::fetch::{FetchOptions, FetchRequest, Fetcher, HttpFetcher, from_io};
use tvarr_ingest::m3u::{M3uOptions, M3uReader};
use tvarr_ingest::xmltv::{XmltvItem, XmltvOptions, XmltvReader};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(location) = std::env::args().nth(1) else {
        eprintln!("usage: inspect <file-or-url>");
        std::process::exit(2);
    };
    if let Err(e) = run(&location).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(location: &str) -> Result<(), tvarr_ingest::IngestError> {
    let started = Instant::now();
    let fetcher = HttpFetcher::new(FetchOptions {
        max_bytes: 4 << 30,
        // A developer's tool: any local file the user names (never /proc, /sys or /dev).
        import_dir: Some("/".into()),
        ..FetchOptions::default()
    })?;
    let download = fetcher.fetch(&FetchRequest::new(location)).await?;
    let received = download.received.clone();
    let mut body = tokio::io::BufReader::with_capacity(256 * 1024, download.body);
    let head = body.fill_buf().await.map_err(from_io)?;
    if tvarr_ingest::looks_like_html(head) {
        return Err(tvarr_ingest::IngestError::HtmlPage {
            expected: "playlist or guide",
        });
    }
    let is_xml = {
        let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
        head.trim_ascii_start().starts_with(b"<")
    };
    let base_url = url::Url::parse(location)
        .ok()
        .filter(|u| u.scheme() != "file");
    let bridge = SyncIoBridge::new(body);
    let summary = tokio::task::spawn_blocking(move || {
        let input = std::io::BufReader::with_capacity(256 * 1024, bridge);
        if is_xml {
            inspect_guide(input)
        } else {
            inspect_playlist(input, base_url)
        }
    })
    .await
    .map_err(|e| tvarr_ingest::IngestError::Task(e.to_string()))??;
    println!("{summary}");
    println!(
        "read {:.1} MB in {:.2} s",
        received.get() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn top(counts: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(n);
    counts
}

fn describe_skips(out: &mut String, skipped: &SkipReport) {
    out.push_str(&format!("skipped: {}\n", skipped.total()));
    for (reason, count) in skipped.counts() {
        out.push_str(&format!("  {reason}: {count}\n"));
    }
    for example in skipped.examples() {
        out.push_str(&format!(
            "    line {} ({}): {}\n",
            example.line, example.reason, example.text
        ));
    }
}

fn inspect_playlist(
    input: impl BufRead,
    base_url: Option<url::Url>,
) -> Result<String, tvarr_ingest::IngestError> {
    let mut reader = M3uReader::new(
        input,
        M3uOptions {
            base_url,
            ..M3uOptions::default()
        },
    );
    let mut groups: HashMap<String, u64> = HashMap::new();
    let mut channels = 0u64;
    let mut with_tvg_id = 0u64;
    while let Some(channel) = reader.next_channel()? {
        channels += 1;
        with_tvg_id += u64::from(channel.tvg_id.is_some());
        let group = channel
            .group_title
            .unwrap_or_else(|| "(no group)".to_owned());
        *groups.entry(group).or_insert(0) += 1;
    }
    let mut out = format!(
        "playlist: {channels} channels ({with_tvg_id} with tvg-id) from {} #EXTINF entries in {} lines\n",
        reader.extinf_entries(),
        reader.lines_read()
    );
    let header = reader.header();
    if !header.tvg_urls.is_empty() {
        out.push_str(&format!("guide URLs: {}\n", header.tvg_urls.len()));
    }
    if reader.lossy_lines() > 0 {
        out.push_str(&format!(
            "lines decoded lossily: {}\n",
            reader.lossy_lines()
        ));
    }
    out.push_str(&format!("groups: {}\n", groups.len()));
    for (group, count) in top(groups, 20) {
        out.push_str(&format!("  {count:>7}  {group}\n"));
    }
    describe_skips(&mut out, reader.skipped());
    Ok(out)
}

fn inspect_guide(input: impl BufRead) -> Result<String, tvarr_ingest::IngestError> {
    let mut reader = XmltvReader::new(input, XmltvOptions::default())?;
    let mut per_channel: HashMap<String, u64> = HashMap::new();
    let mut error = None;
    loop {
        match reader.next_item() {
            Ok(Some(XmltvItem::Programme(p))) => {
                *per_channel.entry(p.channel).or_insert(0) += 1;
            }
            Ok(Some(XmltvItem::Channel(_))) => {}
            Ok(None) => break,
            Err(e) => error = Some(e),
        }
    }
    let stats = reader.stats();
    let mut out = format!(
        "guide: {} channels, {} programmes on {} channels (encoding {})\n",
        stats.channels,
        stats.programmes,
        per_channel.len(),
        stats.encoding
    );
    out.push_str(&format!(
        "stops derived from the next programme: {}, defaulted: {}\n",
        stats.stops_derived, stats.stops_defaulted
    ));
    if stats.replaced_sequences + stats.transcoded_bytes > 0 {
        out.push_str(&format!(
            "invalid sequences replaced: {}, bytes transcoded from the declared encoding: {}\n",
            stats.replaced_sequences, stats.transcoded_bytes
        ));
    }
    out.push_str("programmes per channel (top 20):\n");
    for (channel, count) in top(per_channel, 20) {
        out.push_str(&format!("  {count:>7}  {channel}\n"));
    }
    describe_skips(&mut out, &stats.skipped);
    if let Some(e) = error {
        out.push_str(&format!("stopped early: {e}\n"));
    }
    Ok(out)
}
