//! The playlist [`M3uWriter`] writes, read by a parser we did not write and by our own: every
//! channel of the fixture playlists under `fixtures/external/m3u/`, and channels built by hand
//! with values that could break a line (commas and quotes in names, `&` in URLs, CR and LF,
//! non-ASCII), are written as a proxy's lineup and must come back with the same channels,
//! attributes and URLs through PyPI's `m3u-ipytv` (installed by the test in a virtual
//! environment under `target/`) and through tvarr-ingest's M3U parser.
//!
//! Without `python3` the independent parser is not run (said so, and a failure under `CI`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use tvarr_core::{ChannelData, ChannelId, LineupChannel, StreamSourceId};
use tvarr_ingest::m3u::{M3uOptions, Playlist, parse_m3u};
use tvarr_pipeline::M3uWriter;

const IPYTV: &str = "m3u-ipytv==1.0.2";
const GUIDE_URL: &str = "http://tvarr.test:8080/proxy/7.xmltv";

fn fixture_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/external/m3u")
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("writers_m3u");
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn stream_url(channel: &LineupChannel) -> String {
    format!("http://tvarr.test:8080/proxy/7/{}", channel.channel_id)
}

/// Every channel of every fixture playlist, numbered from 1 in file order, with its `tvg-id`
/// as its guide id.
fn fixture_lineup() -> Vec<LineupChannel> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&fixture_root(), &mut files);
    files.sort();
    let mut lineup = Vec::new();
    for path in files {
        let playlist = parse_m3u(
            BufReader::new(File::open(&path).unwrap()),
            M3uOptions::default(),
        )
        .unwrap();
        for data in playlist.channels {
            lineup.push(LineupChannel {
                channel_id: ChannelId::new(),
                source_id: StreamSourceId::new(),
                number: lineup.len() as u32 + 1,
                guide_id: data.tvg_id.clone().unwrap_or_default(),
                data,
                guide: None,
            });
        }
    }
    assert!(lineup.len() > 2000, "fixture channels: {}", lineup.len());
    lineup
}

fn hand_built(number: u32, guide_id: &str, data: ChannelData) -> LineupChannel {
    LineupChannel {
        channel_id: ChannelId::new(),
        source_id: StreamSourceId::new(),
        number,
        guide_id: guide_id.into(),
        data,
        guide: None,
    }
}

/// A channel built by hand, with the name and the attributes it must read back as.
type Hostile = (
    LineupChannel,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// Channels whose values need care.
fn hostile() -> Vec<Hostile> {
    vec![
        (
            hand_built(
                9001,
                "sports.tv",
                ChannelData {
                    name: "Sports, \"Live\" 24/7".into(),
                    group_title: Some("News, Weather & Sport".into()),
                    tvg_logo: Some("http://logos.test/s.png?a=1&b=2".into()),
                    catchup: Some("default".into()),
                    catchup_days: Some("3".into()),
                    catchup_source: Some("http://p.test/{utc}?x=1&y={lutc}".into()),
                    ..ChannelData::default()
                },
            ),
            "Sports, 'Live' 24/7",
            vec![
                ("tvg-id", "sports.tv"),
                ("tvg-name", "Sports, 'Live' 24/7"),
                ("tvg-logo", "http://logos.test/s.png?a=1&b=2"),
                ("group-title", "News, Weather & Sport"),
                ("tvg-chno", "9001"),
                ("catchup", "default"),
                ("catchup-days", "3"),
                ("catchup-source", "http://p.test/{utc}?x=1&y={lutc}"),
            ],
        ),
        (
            hand_built(
                9002,
                "bad\"id\r\n.tv",
                ChannelData {
                    name: "Line\r\nBreak,\tand tab".into(),
                    tvg_name: Some("Line\nBreak \"name\"".into()),
                    group_title: Some("G\rH".into()),
                    tvg_logo: Some("http://logos.test/a b\n.png".into()),
                    extra: vec![
                        ("tvg-country".into(), "F\"R\r\n".into()),
                        ("tvg-language".into(), "Français, English".into()),
                    ],
                    ..ChannelData::default()
                },
            ),
            "Line  Break, and tab",
            vec![
                ("tvg-id", "bad'id  .tv"),
                ("tvg-name", "Line Break 'name'"),
                ("tvg-logo", "http://logos.test/a%20b.png"),
                ("group-title", "G H"),
                ("tvg-chno", "9002"),
                ("tvg-country", "F'R  "),
                ("tvg-language", "Français, English"),
            ],
        ),
        (
            hand_built(
                9003,
                "テレビ.jp",
                ChannelData {
                    name: "日本 テレビ ★ Perú قناة\u{2028}HD".into(),
                    tvg_name: Some("日本テレビ".into()),
                    group_title: Some("日本 / Japan".into()),
                    extra: vec![
                        ("duration".into(), "3600".into()),
                        ("http-user-agent".into(), "Provider/1.0".into()),
                        ("tvg-rec".into(), "7".into()),
                    ],
                    ..ChannelData::default()
                },
            ),
            "日本 テレビ ★ Perú قناة HD",
            vec![
                ("tvg-id", "テレビ.jp"),
                ("tvg-name", "日本テレビ"),
                ("group-title", "日本 / Japan"),
                ("tvg-chno", "9003"),
                ("tvg-rec", "7"),
            ],
        ),
    ]
}

/// The documented rules, written out again: what a text or URL value becomes.
fn safe_text(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() && (c as u32) < 0x80 => ' ',
            '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .collect()
}

fn safe_url(value: &str) -> String {
    let mut out = String::new();
    for c in value.trim().chars() {
        match c {
            '\t' | '\r' | '\n' => {}
            c if (c as u32) <= 0x20 || matches!(c, '"' | '|' | '\u{7f}') => {
                out.push_str(&format!("%{:02X}", c as u32));
            }
            '\u{85}' | '\u{2028}' | '\u{2029}' => {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The extras the module docs say are written back, in order, as they read back.
fn kept_extras(extra: &[(String, String)]) -> Vec<(String, String)> {
    const NOT_WRITTEN: &[&str] = &[
        "tvg-id",
        "tvg-name",
        "tvg-logo",
        "group-title",
        "tvg-chno",
        "catchup",
        "catchup-days",
        "catchup-source",
        "tvg-shift",
        "extgrp",
        "duration",
        "user-agent",
        "referer",
        "referrer",
        "origin",
        "cookie",
        "authorization",
        "direct-source",
        "inputstream",
        "inputstreamaddon",
        "inputstreamclass",
        "mimetype",
        "network-caching",
        "program",
    ];
    let mut kept = Vec::new();
    for (i, (name, value)) in extra.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        let repeated = extra[..i]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name));
        let attribute_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if repeated
            || !attribute_name
            || lower.starts_with("http-")
            || NOT_WRITTEN.contains(&lower.as_str())
            || value.is_empty()
        {
            continue;
        }
        kept.push((name.clone(), safe_text(value)));
    }
    kept
}

/// What our parser must read back for a written channel.
fn expected(channel: &LineupChannel) -> ChannelData {
    let data = &channel.data;
    let nonempty = |v: String| (!v.is_empty()).then_some(v);
    let mut extra = Vec::new();
    if let Some(duration) = data.extra("duration")
        && duration.parse::<f64>().is_ok_and(|d| d > 0.0)
        && duration.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        extra.push(("duration".to_owned(), duration.to_owned()));
    }
    extra.extend(kept_extras(&data.extra));
    ChannelData {
        provider_id: None,
        name: safe_text(&data.name).trim().to_owned(),
        tvg_id: nonempty(safe_text(&channel.guide_id)),
        tvg_name: nonempty(safe_text(data.tvg_name.as_deref().unwrap_or(&data.name))),
        tvg_logo: data.tvg_logo.as_deref().map(safe_url).and_then(nonempty),
        group_title: data
            .group_title
            .as_deref()
            .map(safe_text)
            .and_then(nonempty),
        tvg_chno: Some(channel.number.to_string()),
        tvg_shift: None,
        stream_url: stream_url(channel),
        catchup: data.catchup.as_deref().map(safe_text).and_then(nonempty),
        catchup_days: data
            .catchup_days
            .as_deref()
            .map(safe_text)
            .and_then(nonempty),
        catchup_source: data
            .catchup_source
            .as_deref()
            .map(safe_url)
            .and_then(nonempty),
        extra,
    }
}

fn write_playlist(lineup: &[LineupChannel]) -> Vec<u8> {
    let mut out = Vec::new();
    M3uWriter::header(&mut out, GUIDE_URL);
    for channel in lineup {
        M3uWriter::channel(&mut out, channel, &stream_url(channel));
    }
    out
}

fn lineup_with_hostile() -> Vec<LineupChannel> {
    let mut lineup = fixture_lineup();
    lineup.extend(hostile().into_iter().map(|(channel, _, _)| channel));
    lineup
}

#[test]
fn every_entry_is_two_lines_and_names_no_provider_access() {
    let lineup = lineup_with_hostile();
    let text = String::from_utf8(write_playlist(&lineup)).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(
        lines.len(),
        1 + 2 * lineup.len() + 1,
        "header, two lines each, final newline"
    );
    assert_eq!(lines.last(), Some(&""));
    for (pair, channel) in lines[1..].chunks(2).zip(&lineup) {
        assert!(pair[0].starts_with("#EXTINF:"), "{}", pair[0]);
        assert_eq!(pair[1], stream_url(channel));
        // The attributes end with a quote right before the comma of the name.
        let name = safe_text(&channel.data.name);
        let name = name.trim();
        assert!(pair[0].ends_with(&format!("\",{name}")), "{}", pair[0]);
    }
    for line in &lines {
        let lower = line.to_ascii_lowercase();
        for leaked in [
            "#extvlcopt",
            "#kodiprop",
            "user-agent",
            "referer",
            "referrer",
            "inputstream",
            "#extgrp",
        ] {
            assert!(!lower.contains(leaked), "{leaked} in {line}");
        }
    }
    // The fixtures do carry such options: the test would see them.
    assert!(
        lineup
            .iter()
            .any(|c| c.data.extra("http-user-agent").is_some())
    );
    assert!(lineup.iter().any(|c| c.data.extra("User-Agent").is_some()));
    assert!(lineup.iter().any(|c| c.data.extra("inputstream").is_some()));
}

#[test]
fn our_parser_reads_back_the_same_channels() {
    let lineup = lineup_with_hostile();
    let written = write_playlist(&lineup);
    let read: Playlist = parse_m3u(&written[..], M3uOptions::default()).unwrap();
    assert_eq!(read.skipped.total(), 0, "{:?}", read.skipped);
    assert_eq!(read.header.tvg_urls, [GUIDE_URL]);
    assert_eq!(read.channels.len(), lineup.len());
    for (channel, back) in lineup.iter().zip(&read.channels) {
        assert_eq!(back, &expected(channel), "channel {}", channel.number);
    }
    // What a fixture entry keeps and what it does not (m3u_fixtures' first entry).
    let ch1 = read
        .channels
        .iter()
        .find(|c| c.tvg_id.as_deref() == Some("CH1"))
        .unwrap();
    assert_eq!(
        ch1.extra("tvg-url"),
        Some("http://195.154.221.171/epg/guide.xml.gz")
    );
    assert_eq!(ch1.extra("tvg-rec"), Some("3"));
    assert_eq!(ch1.extra("http-referrer"), None);
    assert_eq!(ch1.extra("http-user-agent"), None);
    // The hand-built channels, spelled out.
    let hostile = hostile();
    for ((_, name, attributes), back) in hostile
        .iter()
        .zip(&read.channels[read.channels.len() - 3..])
    {
        assert_eq!(back.name, *name);
        assert_eq!(back.tvg_id.as_deref(), Some(attributes[0].1));
    }
    let durations: Vec<_> = read.channels[read.channels.len() - 3..]
        .iter()
        .map(|c| c.extra("duration"))
        .collect();
    assert_eq!(durations, [None, None, Some("3600")]);
}

/// A virtual environment under `target/` with `m3u-ipytv` installed; `None` without python3.
fn ipytv_python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("m3u-ipytv-venv");
            let python = venv.join("bin/python");
            let installed = || {
                Command::new(&python)
                    .args([
                        "-c",
                        "import importlib.metadata as m; print(m.version('m3u-ipytv'))",
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"1.0.2")
            };
            if installed() {
                return Some(python);
            }
            if Command::new("python3").arg("--version").output().is_err() {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "python3 is missing: the independent M3U parser cannot run"
                );
                eprintln!("SKIPPED: python3 is not installed; m3u-ipytv not run");
                return None;
            }
            let _ = fs::remove_dir_all(&venv);
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap();
            assert!(
                status.success(),
                "python3 -m venv {} failed",
                venv.display()
            );
            let output = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    IPYTV,
                ])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "pip install {IPYTV} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(installed(), "{IPYTV} not installed in {}", venv.display());
            Some(python)
        })
        .clone()
}

/// Reads `path` with `m3u-ipytv`: the header attributes, each channel, and the `#EXTINF` rows
/// it could not read as well-formed M3U Plus (it then falls back to guessing).
const READ_WITH_IPYTV: &str = r#"
import json, sys
from ipytv import m3u, playlist
path = sys.argv[1]
pl = playlist.loadf(path)
with open(path, encoding="utf-8") as f:
    rows = [r.strip() for r in f.readlines()]
malformed = [r for r in rows if m3u.is_extinf_row(r) and m3u.match_m3u_plus_extinf_row(r) is None]
json.dump({
    "header": pl.get_attributes(),
    "malformed": malformed,
    "channels": [
        {"name": c.name, "url": c.url, "duration": c.duration, "attributes": c.attributes, "extras": c.extras}
        for c in pl.get_channels()
    ],
}, sys.stdout, ensure_ascii=False)
"#;

#[test]
fn m3u_ipytv_reads_the_same_channels_attributes_and_urls() {
    let lineup = lineup_with_hostile();
    let written = write_playlist(&lineup);
    let path = out_dir().join("lineup.m3u");
    fs::write(&path, &written).unwrap();
    let Some(python) = ipytv_python() else {
        return;
    };
    let output = Command::new(python)
        .arg("-c")
        .arg(READ_WITH_IPYTV)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "m3u-ipytv failed on {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        read["malformed"],
        Value::Array(vec![]),
        "rows m3u-ipytv cannot read"
    );
    assert_eq!(read["header"]["url-tvg"], GUIDE_URL);
    assert_eq!(read["header"]["x-tvg-url"], GUIDE_URL);
    let channels = read["channels"].as_array().unwrap();
    assert_eq!(channels.len(), lineup.len());

    for (channel, theirs) in lineup.iter().zip(channels) {
        let ours = expected(channel);
        let mut attributes = BTreeMap::new();
        for (name, value) in [
            ("tvg-id", &ours.tvg_id),
            ("tvg-name", &ours.tvg_name),
            ("tvg-logo", &ours.tvg_logo),
            ("group-title", &ours.group_title),
            ("tvg-chno", &ours.tvg_chno),
            ("catchup", &ours.catchup),
            ("catchup-days", &ours.catchup_days),
            ("catchup-source", &ours.catchup_source),
        ] {
            if let Some(value) = value {
                attributes.insert(name.to_owned(), Value::from(value.as_str()));
            }
        }
        for (name, value) in ours.extra.iter().filter(|(n, _)| n != "duration") {
            attributes.insert(name.clone(), Value::from(value.as_str()));
        }
        let context = format!("channel {}: {theirs}", channel.number);
        assert_eq!(theirs["name"], ours.name.as_str(), "{context}");
        assert_eq!(theirs["url"], ours.stream_url.as_str(), "{context}");
        assert_eq!(
            theirs["duration"],
            ours.extra("duration").unwrap_or("-1"),
            "{context}"
        );
        assert_eq!(
            theirs["attributes"],
            Value::Object(attributes.into_iter().collect()),
            "{context}"
        );
        assert_eq!(theirs["extras"], Value::Array(vec![]), "{context}");
    }
    // The hand-built channels, spelled out as m3u-ipytv read them.
    for ((_, name, attributes), theirs) in hostile().iter().zip(&channels[channels.len() - 3..]) {
        assert_eq!(theirs["name"], *name);
        for (key, value) in attributes {
            assert_eq!(theirs["attributes"][key], *value, "{key}");
        }
    }
    eprintln!(
        "m3u-ipytv read {} channels from {} ({} bytes): the same names, URLs and attributes as written",
        channels.len(),
        path.display(),
        written.len()
    );
}
