//! The HDHomeRun devices, walked as Jellyfin's `HdHomerunHost` walks a tuner: `discover.json`
//! (every field a string but `TunerCount`, an `int`), then its `LineupURL` (or `BaseURL` +
//! `/lineup.json`), then a channel's `URL` with `?transcode=<profile>` appended because the
//! model number says the device transcodes; `device.xml` read with roxmltree. The types below
//! are Jellyfin's (`DiscoverResponse`, `Channels`), with its JSON rules: exact key names,
//! unknown keys ignored, `HD` a boolean or a number.

#[macro_use]
mod support;

use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde::Deserialize;
use serde_json::Value;
use support::{named, published, test_server, unique};
use tvarr_core::ProxyInput;
use uuid::Uuid;

/// Jellyfin's `DiscoverResponse`.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct DiscoverResponse {
    #[serde(rename = "FriendlyName")]
    friendly_name: String,
    #[serde(rename = "ModelNumber")]
    model_number: String,
    #[serde(rename = "FirmwareName")]
    firmware_name: String,
    #[serde(rename = "FirmwareVersion")]
    firmware_version: String,
    #[serde(rename = "DeviceID")]
    device_id: String,
    #[serde(rename = "DeviceAuth")]
    device_auth: String,
    #[serde(rename = "BaseURL")]
    base_url: String,
    #[serde(rename = "LineupURL")]
    lineup_url: Option<String>,
    #[serde(rename = "TunerCount")]
    tuner_count: i32,
}

impl DiscoverResponse {
    /// Jellyfin's `SupportsTranscoding`.
    fn supports_transcoding(&self) -> bool {
        self.model_number.to_ascii_lowercase().contains("hdtc")
    }
}

/// Jellyfin's `Channels`: a lineup entry.
#[derive(Debug, Deserialize)]
struct Channels {
    #[serde(rename = "GuideNumber")]
    guide_number: String,
    #[serde(rename = "GuideName")]
    guide_name: String,
    #[serde(rename = "URL")]
    url: String,
    /// Jellyfin's `JsonBoolNumberConverter`: `true`/`false` or a number (non-zero: true);
    /// anything else, `null` included, fails the parse.
    #[serde(rename = "HD", default, deserialize_with = "bool_or_number")]
    hd: bool,
    #[serde(rename = "DRM", default, deserialize_with = "bool_or_number")]
    drm: bool,
}

fn bool_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
        other => Err(serde::de::Error::custom(format!(
            "not a boolean or a number: {other}"
        ))),
    }
}

/// libhdhomerun's `hdhomerun_discover_validate_device_id`, as SiliconDust wrote it.
fn valid_device_id(id: u32) -> bool {
    const LOOKUP: [u32; 16] = [
        0xA, 0x5, 0xF, 0x6, 0x7, 0xC, 0x1, 0xB, 0x9, 0x2, 0x8, 0xD, 0x4, 0x3, 0xE, 0x0,
    ];
    let mut checksum = 0;
    checksum ^= LOOKUP[((id >> 28) & 0x0F) as usize];
    checksum ^= (id >> 24) & 0x0F;
    checksum ^= LOOKUP[((id >> 20) & 0x0F) as usize];
    checksum ^= (id >> 16) & 0x0F;
    checksum ^= LOOKUP[((id >> 12) & 0x0F) as usize];
    checksum ^= (id >> 8) & 0x0F;
    checksum ^= LOOKUP[((id >> 4) & 0x0F) as usize];
    checksum ^= id & 0x0F;
    checksum == 0
}

/// The path of an absolute URL of the test server (`http://localhost:8080/...`).
fn path_of(url: &str) -> &str {
    url.strip_prefix("http://localhost:8080")
        .unwrap_or_else(|| panic!("{url} is not on the server's base URL"))
}

#[actix_web::test]
async fn jellyfin_walks_a_proxy_from_discover_json_to_a_transcoded_stream() {
    let server = test_server().await;
    let mut input = ProxyInput::named("Living room");
    input.tuner_count = 3;
    let proxy = published(
        &server,
        input,
        &named(&[(1, "BBC One HD"), (2, "News"), (101, "Sport FHD")]),
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    // The user enters the device's URL; Jellyfin asks for discover.json below it.
    let api = format!("http://localhost:8080/hdhr/{proxy}");
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get().uri(path_of(&format!("{api}/discover.json")))
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let discover: DiscoverResponse = serde_json::from_slice(&body).unwrap();
    assert!(discover.friendly_name.starts_with("Living room"));
    assert_eq!(discover.tuner_count, 3);
    assert_eq!(discover.base_url, api);
    assert_eq!(discover.device_id.len(), 8);
    let id = u32::from_str_radix(&discover.device_id, 16).unwrap();
    assert!(
        valid_device_id(id),
        "{} fails libhdhomerun's check",
        discover.device_id
    );
    assert!(discover.supports_transcoding());

    // Jellyfin: `model.LineupURL ?? model.BaseURL + "/lineup.json"`.
    let lineup_url = discover
        .lineup_url
        .clone()
        .unwrap_or_else(|| format!("{}/lineup.json", discover.base_url));
    let (status, _, body) = fetch!(app, TestRequest::get().uri(path_of(&lineup_url)));
    assert_eq!(status, StatusCode::OK);
    let lineup: Vec<Channels> = serde_json::from_slice(&body).unwrap();
    let numbers: Vec<&str> = lineup.iter().map(|c| c.guide_number.as_str()).collect();
    assert_eq!(numbers, ["1", "2", "101"], "by number, as text");
    assert_eq!(lineup[0].guide_name, "BBC One HD");
    assert!(lineup[0].hd && !lineup[1].hd && lineup[2].hd);
    assert!(lineup.iter().all(|c| !c.drm), "Jellyfin drops DRM channels");

    // The stream: the channel's URL with `?transcode=<profile>` appended, always with `?`.
    let stream = format!("{}?transcode=internet480", lineup[1].url);
    for method in [Method::GET, Method::HEAD] {
        let (status, headers, _) = fetch!(
            app,
            TestRequest::default().method(method).uri(path_of(&stream))
        );
        assert_eq!(status, StatusCode::FOUND, "{stream}");
        assert_eq!(
            headers.get(header::LOCATION).unwrap(),
            "http://provider.example/live/2.ts"
        );
    }

    // device.xml: a UPnP root device, read with an XML parser of its own.
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get().uri(path_of(&format!("{api}/device.xml")))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/xml"
    );
    let text = String::from_utf8(body).unwrap();
    let xml = roxmltree::Document::parse(&text).unwrap();
    let root = xml.root_element();
    assert_eq!(root.tag_name().name(), "root");
    assert_eq!(
        root.tag_name().namespace(),
        Some("urn:schemas-upnp-org:device-1-0")
    );
    let text_of = |name: &str| {
        xml.descendants()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(text_of("serialNumber"), discover.device_id);
    assert_eq!(text_of("friendlyName"), discover.friendly_name);
    assert_eq!(text_of("modelNumber"), discover.model_number);
    assert_eq!(text_of("URLBase"), api);
    assert!(text_of("UDN").starts_with("uuid:"));
    let (status, _, capability) = fetch!(
        app,
        TestRequest::get().uri(path_of(&format!("{api}/capability")))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8(capability).unwrap(), text);

    // Plex's scan: the status says none runs and one is possible; a scan is accepted.
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(path_of(&format!("{api}/lineup_status.json")))
    );
    assert_eq!(status, StatusCode::OK);
    let status_json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status_json["ScanInProgress"], 0);
    assert_eq!(status_json["ScanPossible"], 1);
    assert_eq!(status_json["Source"], "Cable");
    let (status, _, _) = fetch!(
        app,
        TestRequest::post().uri(path_of(&format!(
            "{api}/lineup.post?scan=start&source=Cable"
        )))
    );
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn a_split_lineup_is_several_devices_each_with_its_band_of_numbers() {
    let server = test_server().await;
    let mut input = ProxyInput::named("Split");
    input.hdhomerun_channels_per_device = 100;
    let proxy = published(
        &server,
        input,
        &named(&[
            (1, "One"),
            (100, "Hundred"),
            (101, "Hundred and one"),
            (350, "Far"),
        ]),
    )
    .await;
    let unsplit = published(&server, ProxyInput::named("Whole"), &named(&[(5, "Five")])).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    let mut ids = Vec::new();
    for (device, expected) in [
        (1, vec!["1", "100"]),
        (2, vec!["101"]),
        (3, vec![]),
        (4, vec!["350"]),
    ] {
        let base = format!("/hdhr/{proxy}/{device}");
        let (status, _, body) = fetch!(
            app,
            TestRequest::get().uri(&format!("{base}/discover.json"))
        );
        assert_eq!(status, StatusCode::OK, "{base}");
        let discover: DiscoverResponse = serde_json::from_slice(&body).unwrap();
        assert_eq!(path_of(&discover.base_url), base);
        assert!(valid_device_id(
            u32::from_str_radix(&discover.device_id, 16).unwrap()
        ));
        ids.push(discover.device_id);
        let (status, _, body) = fetch!(
            app,
            TestRequest::get().uri(path_of(discover.lineup_url.as_deref().unwrap()))
        );
        assert_eq!(status, StatusCode::OK);
        let lineup: Vec<Channels> = serde_json::from_slice(&body).unwrap();
        let numbers: Vec<&str> = lineup.iter().map(|c| c.guide_number.as_str()).collect();
        assert_eq!(numbers, expected, "device {device}");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each device has its own id");
    // Without a device, the first one.
    let (_, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{proxy}/lineup.json"))
    );
    let lineup: Vec<Channels> = serde_json::from_slice(&body).unwrap();
    assert_eq!(lineup.len(), 2);
    // An unsplit proxy is one device; device 0 does not exist.
    for path in [
        format!("/hdhr/{unsplit}/2/discover.json"),
        format!("/hdhr/{proxy}/0/discover.json"),
        format!("/hdhr/{proxy}/1001/lineup.json"),
    ] {
        let (status, headers, _) = fetch!(app, TestRequest::get().uri(&path));
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
    }
}

#[actix_web::test]
async fn a_long_lineup_streams_whole_and_in_order_across_its_pages() {
    let server = test_server().await;
    // Numbers 1 to 2,500 minus a gap: pages of 1,000 end mid-lineup and exactly at 2,000.
    let channels: Vec<(u32, String)> = (1..=2_501)
        .filter(|n| *n != 1_234)
        .map(|n| (n, format!("Channel {n}")))
        .collect();
    let proxy = published(&server, ProxyInput::named("Long"), &channels).await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{proxy}/lineup.json"))
    );
    assert_eq!(status, StatusCode::OK);
    let lineup: Vec<Channels> = serde_json::from_slice(&body).unwrap();
    let numbers: Vec<u32> = lineup
        .iter()
        .map(|c| c.guide_number.parse().unwrap())
        .collect();
    let expected: Vec<u32> = channels.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, expected);
}

#[actix_web::test]
async fn before_its_first_generation_a_device_is_found_but_its_lineup_is_not() {
    let server = test_server().await;
    let proxy = server
        .repos
        .proxies
        .create(ProxyInput::named(unique("New")))
        .await
        .unwrap()
        .id;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, _, _) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{proxy}/discover.json"))
    );
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/hdhr/{proxy}/lineup.json"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not been generated yet"),
        "{problem}"
    );
    let unknown = Uuid::now_v7();
    for file in [
        "discover.json",
        "lineup.json",
        "lineup_status.json",
        "device.xml",
    ] {
        let (status, _, _) = fetch!(
            app,
            TestRequest::get().uri(&format!("/hdhr/{unknown}/{file}"))
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{file}");
    }
}
