//! End-to-end: from fixture sources through filters, mapping rules, numbering and guide
//! matching to the published playlist and guide, on the real `tvarr-server` binary (SQLite by
//! default; PostgreSQL or MariaDB when `TVARR_TEST_DATABASE_URL` says so).

use std::time::{Duration, Instant};

use serde_json::json;
use tvarr_testkit::{ProviderServer, Route};

mod support;

use support::Server;

const PLAYLIST: &str = "../../fixtures/external/m3u/free-tv-history/playlist_japan@dec69b9.m3u8";
const GUIDE: &str = "../../fixtures/external/xmltv/japanterebi/guide@mxtv.xml";

/// The channels of the fixture's `地上波（東京）` group, in the playlist's order (read with
/// grep, not with our parser).
const TERRESTRIAL: [&str; 7] = [
    "NHK総合 東京",
    "NHK Eテレ",
    "日本テレビ",
    "テレビ朝日",
    "TBSテレビ",
    "テレビ東京",
    "フジテレビ",
];

/// The `tvg-id`s of [`TERRESTRIAL`], which the fixture guide has no programmes for.
const TERRESTRIAL_GUIDE_IDS: [&str; 7] = [
    "JOAKDTV.jp",
    "JOABDTV.jp",
    "JOAXDTV.jp",
    "JOEXDTV.jp",
    "JORXDTV.jp",
    "JOTXDTV.jp",
    "JOCXDTV.jp",
];

/// Debian's DTD of XMLTV (xmltv-util).
const XMLTV_DTD: &str = "/usr/share/xmltv/xmltv.dtd";

/// The errors `tv_validate_file --dtd-file xmltv.dtd` prints for `xmltv` (none when it says
/// "Validated ok."), or `None` when the tool is not installed, which fails under CI.
fn tv_validate_file(xmltv: &str) -> Option<Vec<String>> {
    let installed = std::process::Command::new("tv_validate_file")
        .arg("--help")
        .output()
        .is_ok()
        && std::path::Path::new(XMLTV_DTD).exists();
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "tv_validate_file or {XMLTV_DTD} is missing: .ci/run must install xmltv-util"
        );
        eprintln!("SKIPPED: tv_validate_file is not installed (apt-get install xmltv-util)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.xmltv");
    std::fs::write(&path, xmltv).unwrap();
    let output = std::process::Command::new("tv_validate_file")
        .arg("--dtd-file")
        .arg(XMLTV_DTD)
        .arg(&path)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<String> = printed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Validated ok.")
        .map(str::to_owned)
        .collect();
    assert_eq!(
        output.status.success(),
        lines.is_empty(),
        "exit status and output disagree: {printed}"
    );
    Some(lines)
}

/// `(tvg-chno, name, url)` of every entry of an M3U, read line by line.
fn entries(m3u: &str) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    let mut lines = m3u.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("#EXTINF:") else {
            continue;
        };
        let number = info
            .split("tvg-chno=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no tvg-chno in {line}"));
        let name = info.rsplit_once(',').unwrap().1.to_string();
        let url = lines.next().unwrap().to_string();
        out.push((number, name, url));
    }
    out
}

/// The fixture guide (27 and 28 March 2026) moved to tomorrow and the day after, so that
/// every programme falls inside a proxy's default guide window whenever the test runs.
fn moved_to_tomorrow() -> String {
    let guide = std::fs::read_to_string(GUIDE).unwrap();
    let day = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).format("%Y%m%d");
    guide
        .replace("\"20260327", &format!("\"{}", day(1)))
        .replace("\"20260328", &format!("\"{}", day(2)))
}

/// Moves the fixture playlist's first entry to the end and adds a channel: what a provider's
/// reshuffle looks like.
fn reshuffled(playlist: &str) -> String {
    let (header, body) = playlist.split_once('\n').unwrap();
    let first_start = body.find("#EXTINF").unwrap();
    let second_start = first_start + 1 + body[first_start + 1..].find("#EXTINF").unwrap();
    let first = &body[first_start..second_start];
    format!(
        "{header}\n{}{}\n{first}#EXTINF:-1 group-title=\"地上波（東京）\",テレビ新局\nhttp://new.example/1.m3u8\n",
        &body[..first_start],
        body[second_start..].trim_end(),
    )
}

#[tokio::test]
async fn a_proxy_of_the_fixtures_publishes_its_lineup_and_keeps_numbers_across_a_reshuffle() {
    let provider = ProviderServer::start().await.unwrap();
    let playlist = std::fs::read_to_string(PLAYLIST).unwrap();
    provider.route(
        "/japan.m3u8",
        Route::ok("audio/x-mpegurl", playlist.clone()),
    );
    provider.route(
        "/guide.xml",
        Route::ok("application/xml", moved_to_tomorrow()),
    );
    let server = Server::start(&[
        ("TVARR_WORKERS", "2"),
        ("TVARR_GENERATION_DEBOUNCE_SECONDS", "3600"),
    ])
    .await;

    // Before anything is generated, the outputs are a 404.
    let (status, _) = server
        .get("/proxy/00000000-0000-7000-8000-000000000000.m3u")
        .await;
    assert_eq!(status, 404);

    let stream = server
        .create(
            "/api/v1/sources/stream",
            json!({"name": "japan", "source_type": "m3u", "url": provider.url("/japan.m3u8")}),
        )
        .await;
    let guide = server
        .create(
            "/api/v1/sources/epg",
            json!({"name": "mx", "source_type": "xmltv", "url": provider.url("/guide.xml")}),
        )
        .await;
    server
        .run(&format!("/api/v1/sources/stream/{stream}/ingest"))
        .await;
    server
        .run(&format!("/api/v1/sources/epg/{guide}/ingest"))
        .await;

    let filter = server
        .create(
            "/api/v1/filters",
            json!({"name": "tokyo", "domain": "stream", "action": "include",
                   "expression": "group_title == \"地上波（東京）\" OR channel_name starts_with \"TOKYO MX\""}),
        )
        .await;
    // The playlist gives TOKYO MX no tvg-id: a rule points it at the guide's channel.
    server
        .create(
            "/api/v1/data-mapping",
            json!({"name": "mx guide", "domain": "stream", "priority": 1, "enabled": true,
                   "expression": "channel_name starts_with \"TOKYO MX\" SET tvg_id = \"TokyoMX1.jp\""}),
        )
        .await;
    let proxy = server
        .create(
            "/api/v1/proxies",
            json!({
                "name": "tokyo",
                "stream_source_ids": [stream],
                "epg_source_ids": [guide],
                "filter_ids": [filter],
                "starting_channel_number": 100,
                "numbering": "sequential",
                "proxy_mode": "redirect",
                "cache_logos": false,
            }),
        )
        .await;
    let job = server
        .run(&format!("/api/v1/proxies/{proxy}/generate"))
        .await;
    assert_eq!(job["result"]["channels"], 8, "{job}");
    assert!(
        job["result"]["stages"].as_array().unwrap().len() >= 10,
        "each stage reports: {job}"
    );

    let (status, m3u) = server.text(&format!("/proxy/{proxy}.m3u")).await;
    assert_eq!(status, 200, "{m3u}");
    assert!(
        m3u.starts_with(&format!(
            "#EXTM3U url-tvg=\"{}/proxy/{proxy}.xmltv\"",
            server.process.base_url
        )),
        "{m3u}"
    );
    let published = entries(&m3u);
    let names: Vec<&str> = published.iter().map(|(_, n, _)| n.as_str()).collect();
    let mut expected: Vec<&str> = TERRESTRIAL.to_vec();
    expected.push("TOKYO MX チャンネル");
    assert_eq!(names, expected);
    let numbers: Vec<u32> = published.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(numbers, (100..108).collect::<Vec<_>>());
    for (_, _, url) in &published {
        assert!(
            url.starts_with(&format!("{}/proxy/{proxy}/", server.process.base_url)),
            "{url}"
        );
    }

    // The stream URL of the first channel redirects to the provider's.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(&published[0].2).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://stream01.willfonk.com/live_playlist.m3u8?cid=BS291"),
        "{:?}",
        r.headers()
    );

    // The guide: every channel, and TOKYO MX's 43 programmes (grep -c on the fixture).
    let (status, xmltv) = server.text(&format!("/proxy/{proxy}.xmltv")).await;
    assert_eq!(status, 200);
    assert_eq!(xmltv.matches("<channel ").count(), 8, "{xmltv}");
    assert_eq!(
        xmltv.matches("channel=\"TokyoMX1.jp\"").count(),
        43,
        "{xmltv}"
    );
    assert_eq!(xmltv.matches("<programme ").count(), 43);
    // xmltv-util's validator: the DTD and its own checks pass but one, which names exactly
    // the seven channels the fixture guide has nothing for (the job lists them unmatched).
    assert_eq!(job["result"]["unmatched"]["count"], 7, "{job}");
    if let Some(errors) = tv_validate_file(&xmltv) {
        let mut expected: Vec<String> = TERRESTRIAL_GUIDE_IDS
            .iter()
            .map(|id| format!("No programme entries found for {id}"))
            .collect();
        // It counts one failed check, however many channels it names.
        expected.push("1 error found.".into());
        let mut errors = errors;
        errors.sort();
        expected.sort();
        assert_eq!(errors, expected, "{xmltv}");
    }

    // The provider reorders its list and adds a channel: nobody's number moves, and the new
    // channel takes the next free one.
    provider.route(
        "/japan.m3u8",
        Route::ok("audio/x-mpegurl", reshuffled(&playlist)),
    );
    server
        .run(&format!("/api/v1/sources/stream/{stream}/ingest"))
        .await;
    let job = server
        .run(&format!("/api/v1/proxies/{proxy}/generate"))
        .await;
    assert_eq!(job["result"]["changes"]["added"]["count"], 1, "{job}");
    assert_eq!(job["result"]["changes"]["renumbered"]["count"], 0, "{job}");
    let (_, m3u) = server.text(&format!("/proxy/{proxy}.m3u")).await;
    let mut after: Vec<(u32, String)> = entries(&m3u)
        .into_iter()
        .map(|(n, name, _)| (n, name))
        .collect();
    after.sort();
    let mut before: Vec<(u32, String)> = published
        .into_iter()
        .map(|(n, name, _)| (n, name))
        .collect();
    before.push((108, "テレビ新局".to_string()));
    before.sort();
    assert_eq!(after, before);

    // The API shows the published lineup and the last generation.
    let (_, lineup) = server
        .get(&format!("/api/v1/proxies/{proxy}/channels?limit=100"))
        .await;
    assert_eq!(lineup["total"], 9, "{lineup}");
    let (_, details) = server.get(&format!("/api/v1/proxies/{proxy}")).await;
    assert_eq!(details["last_generation"]["channels"], 9, "{details}");

    // A proxy of the one channel the guide covers validates without a single error.
    let mx = server
        .create(
            "/api/v1/filters",
            json!({"name": "mx only", "domain": "stream", "action": "include",
                   "expression": "channel_name starts_with \"TOKYO MX\""}),
        )
        .await;
    let proxy = server
        .create(
            "/api/v1/proxies",
            json!({"name": "mx", "stream_source_ids": [stream], "epg_source_ids": [guide],
                   "filter_ids": [mx], "proxy_mode": "redirect", "cache_logos": false}),
        )
        .await;
    let job = server
        .run(&format!("/api/v1/proxies/{proxy}/generate"))
        .await;
    assert_eq!(job["result"]["channels"], 1, "{job}");
    let (_, xmltv) = server.text(&format!("/proxy/{proxy}.xmltv")).await;
    assert_eq!(xmltv.matches("<programme ").count(), 43);
    if let Some(errors) = tv_validate_file(&xmltv) {
        assert_eq!(errors, Vec::<String>::new(), "{xmltv}");
    }
}

#[tokio::test]
async fn an_ingest_regenerates_the_proxies_of_its_source_once_for_a_burst() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route(
        "/a.m3u",
        Route::ok(
            "audio/x-mpegurl",
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"a\",A\nhttp://a.example/1.ts\n",
        ),
    );
    provider.route(
        "/b.m3u",
        Route::ok(
            "audio/x-mpegurl",
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"b\",B\nhttp://b.example/1.ts\n",
        ),
    );
    let server = Server::start(&[
        ("TVARR_WORKERS", "2"),
        ("TVARR_GENERATION_DEBOUNCE_SECONDS", "2"),
    ])
    .await;
    let a = server
        .create(
            "/api/v1/sources/stream",
            json!({"name": "a", "source_type": "m3u", "url": provider.url("/a.m3u")}),
        )
        .await;
    let b = server
        .create(
            "/api/v1/sources/stream",
            json!({"name": "b", "source_type": "m3u", "url": provider.url("/b.m3u")}),
        )
        .await;
    let proxy = server
        .create(
            "/api/v1/proxies",
            json!({"name": "both", "stream_source_ids": [a, b], "epg_source_ids": [],
                   "filter_ids": [], "starting_channel_number": 1, "numbering": "sequential",
                   "proxy_mode": "redirect", "cache_logos": false}),
        )
        .await;
    // Two ingests finishing together.
    let (_, ja) = server
        .post(&format!("/api/v1/sources/stream/{a}/ingest"), json!({}))
        .await;
    let (_, jb) = server
        .post(&format!("/api/v1/sources/stream/{b}/ingest"), json!({}))
        .await;
    server.wait(ja["job_id"].as_str().unwrap()).await;
    server.wait(jb["job_id"].as_str().unwrap()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let generations = loop {
        let (_, jobs) = server
            .get("/api/v1/jobs?kind=generate_proxy&limit=100")
            .await;
        let items = jobs["items"].as_array().cloned().unwrap_or_default();
        let done = items
            .iter()
            .filter(|j| j["subject_id"] == proxy.as_str() && j["status"] == "succeeded")
            .count();
        if done > 0 {
            // Give a second, wrongly queued generation the time to appear.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let (_, jobs) = server
                .get("/api/v1/jobs?kind=generate_proxy&limit=100")
                .await;
            break jobs["items"].as_array().cloned().unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "no regeneration: {jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(generations.len(), 1, "{generations:?}");
    let (status, m3u) = server.text(&format!("/proxy/{proxy}.m3u")).await;
    assert_eq!(status, 200);
    assert_eq!(entries(&m3u).len(), 2, "{m3u}");
}
