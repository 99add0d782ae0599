//! The Xtream Codes API round trip: a second tvarr's Xtream ingester reads the first's Xtream
//! output (of a proxy made from an M3U and an XMLTV guide) into a proxy of its own, and the
//! channels, categories, numbers, logos and guide come back identical. (A second server,
//! because a tvarr never fetches from its own listen address.) The short EPG of a channel is
//! checked against the guide it came from.

mod support;

use std::collections::BTreeSet;

use base64::Engine as _;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use support::Server;
use tvarr_testkit::{ProviderServer, Route};

const VIEWER: &str = "roundtrip";
const OUTPUT_PASSWORD: &str = "round-trip-pass";

/// Six channels in three groups, with logos and guide ids.
fn playlist() -> String {
    let mut out = String::from("#EXTM3U\n");
    for (id, name, group, logo) in [
        (
            "news.one",
            "News One",
            "News",
            Some("http://logos.example/news1.png"),
        ),
        (
            "sport.one",
            "Sport One",
            "Sport",
            Some("http://logos.example/sport1.png"),
        ),
        ("news.two", "News Two", "News", None),
        (
            "kids.one",
            "Kinder Één",
            "Kids & Family",
            Some("http://logos.example/kids.png"),
        ),
        ("sport.two", "Sport Two HD", "Sport", None),
        ("kids.two", "Kids Two", "Kids & Family", None),
    ] {
        let logo = logo
            .map(|l| format!(" tvg-logo=\"{l}\""))
            .unwrap_or_default();
        out.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"{id}\"{logo} group-title=\"{group}\",{name}\nhttp://upstream.example/{id}.ts\n"
        ));
    }
    out
}

/// Three programmes per channel around now, in UTC.
fn guide() -> String {
    let hour = Utc::now() - Duration::minutes(30);
    let at = |h: i64| {
        (hour + Duration::hours(h))
            .format("%Y%m%d%H%M%S +0000")
            .to_string()
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n");
    let ids = [
        "news.one",
        "sport.one",
        "news.two",
        "kids.one",
        "sport.two",
        "kids.two",
    ];
    for id in ids {
        out.push_str(&format!(
            "<channel id=\"{id}\"><display-name>{id}</display-name></channel>\n"
        ));
    }
    for id in ids {
        for h in 0..3 {
            out.push_str(&format!(
                "<programme start=\"{}\" stop=\"{}\" channel=\"{id}\"><title lang=\"en\">{id} show {h} · ümlaut &amp; co</title><desc>About {id} {h}</desc><category>Cat {h}</category></programme>\n",
                at(h),
                at(h + 1)
            ));
        }
    }
    out.push_str("</tv>\n");
    out
}

/// The lineup of a proxy as `(number, name, group, logo, guide id)`.
async fn lineup(server: &Server, proxy: &str) -> Vec<(u64, String, Value, Value, String)> {
    let (status, page) = server
        .get(&format!("/api/v1/proxies/{proxy}/channels?limit=100"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["number"].as_u64().unwrap(),
                c["name"].as_str().unwrap().to_string(),
                c["group"].clone(),
                c["logo"].clone(),
                c["guide_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The programmes of a guide as `(channel, start, stop, title, description, category)`.
fn programmes(xmltv: &str) -> BTreeSet<(String, String, String, String, String, String)> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xmltv, options).unwrap();
    let text = |node: roxmltree::Node, tag: &str| {
        node.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .unwrap_or_default()
            .to_string()
    };
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("programme"))
        .map(|p| {
            (
                p.attribute("channel").unwrap().to_string(),
                p.attribute("start").unwrap().to_string(),
                p.attribute("stop").unwrap().to_string(),
                text(p, "title"),
                text(p, "desc"),
                text(p, "category"),
            )
        })
        .collect()
}

/// Logs in as the admin: the client sends the session cookie from now on.
async fn log_in(server: &mut Server) {
    let (status, body) = server
        .post(
            "/api/v1/auth/setup",
            json!({"username": "admin", "password": "the admin password"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let res = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "the admin password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cookie = res
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    server.client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
}

#[tokio::test]
async fn tvarrs_xtream_output_read_back_by_its_xtream_ingester_gives_the_same_proxy() {
    let provider = ProviderServer::start().await.unwrap();
    provider.route("/list.m3u", Route::ok("audio/x-mpegurl", playlist()));
    provider.route("/guide.xml", Route::ok("application/xml", guide()));
    let mut server = Server::start(&[("TVARR_GENERATION_DEBOUNCE_SECONDS", "3600")]).await;
    log_in(&mut server).await;

    let stream = server
        .create(
            "/api/v1/sources/stream",
            json!({"name": "m3u", "source_type": "m3u", "url": provider.url("/list.m3u")}),
        )
        .await;
    let epg = server
        .create(
            "/api/v1/sources/epg",
            json!({"name": "xmltv", "source_type": "xmltv", "url": provider.url("/guide.xml")}),
        )
        .await;
    server
        .run(&format!("/api/v1/sources/stream/{stream}/ingest"))
        .await;
    server
        .run(&format!("/api/v1/sources/epg/{epg}/ingest"))
        .await;
    let original = server
        .create(
            "/api/v1/proxies",
            json!({"name": "original", "stream_source_ids": [stream], "epg_source_ids": [epg],
                   "starting_channel_number": 100, "numbering": "sequential"}),
        )
        .await;
    server
        .run(&format!("/api/v1/proxies/{original}/generate"))
        .await;

    // A viewer whose output password a player app would be given.
    let (status, body) = server
        .post(
            "/api/v1/users",
            json!({"username": VIEWER, "password": "the viewer's login", "role": "viewer",
                   "proxy_ids": [original], "output_password": OUTPUT_PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Another tvarr's Xtream ingester reads this one's Xtream API (at the root: the viewer's
    // first proxy).
    let panel = server.process.base_url.clone();
    let other = Server::start(&[("TVARR_GENERATION_DEBOUNCE_SECONDS", "3600")]).await;
    let xtream_stream = other
        .create(
            "/api/v1/sources/stream",
            json!({"name": "xtream", "source_type": "xtream", "url": panel,
                   "username": VIEWER, "password": OUTPUT_PASSWORD}),
        )
        .await;
    let xtream_epg = other
        .create(
            "/api/v1/sources/epg",
            json!({"name": "xtream guide", "source_type": "xtream", "url": panel,
                   "username": VIEWER, "password": OUTPUT_PASSWORD}),
        )
        .await;
    other
        .run(&format!("/api/v1/sources/stream/{xtream_stream}/ingest"))
        .await;
    other
        .run(&format!("/api/v1/sources/epg/{xtream_epg}/ingest"))
        .await;
    // `preserve` keeps the provider's numbers: the Xtream `num`, which is the original's.
    let copy = other
        .create(
            "/api/v1/proxies",
            json!({"name": "copy", "stream_source_ids": [xtream_stream],
                   "epg_source_ids": [xtream_epg], "numbering": "preserve"}),
        )
        .await;
    other.run(&format!("/api/v1/proxies/{copy}/generate")).await;

    let before = lineup(&server, &original).await;
    let after = lineup(&other, &copy).await;
    assert_eq!(before.len(), 6);
    assert_eq!(
        after, before,
        "channels, numbers, groups, logos and guide ids"
    );
    // A viewer exists on the first server: its outputs need the credentials.
    let (status, _) = server.text(&format!("/proxy/{original}.xmltv")).await;
    assert_eq!(status, 401);
    let (_, original_guide) = server
        .text(&format!(
            "/proxy/{original}.xmltv?username={VIEWER}&password={OUTPUT_PASSWORD}"
        ))
        .await;
    let (_, copied_guide) = other.text(&format!("/proxy/{copy}.xmltv")).await;
    let programmes_before = programmes(&original_guide);
    assert_eq!(programmes_before.len(), 18, "{original_guide}");
    assert_eq!(programmes(&copied_guide), programmes_before);

    // The short EPG of the first channel: its programmes from the one on now, titles in
    // base64.
    let (status, epg) = server
        .get(&format!(
            "/player_api.php?username={VIEWER}&password={OUTPUT_PASSWORD}&action=get_short_epg&stream_id=100&limit=2"
        ))
        .await;
    assert_eq!(status, 200, "{epg}");
    let titles: Vec<String> = epg["epg_listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(l["title"].as_str().unwrap())
                .unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    assert_eq!(
        titles,
        [
            "news.one show 0 · ümlaut & co",
            "news.one show 1 · ümlaut & co"
        ],
        "{epg}"
    );
    assert_eq!(epg["epg_listings"][0]["now_playing"], 1);
    assert_eq!(epg["epg_listings"][1]["now_playing"], 0);
}
