//! Every file under `fixtures/external/xtream/` is parsed, and the quirks listed in
//! `fixtures/external/SOURCES.md` are asserted.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use tvarr_core::Secret;
use tvarr_ingest::ParseError;
use tvarr_ingest::xtream::{
    Category, LiveStream, Series, SeriesInfo, ShortEpg, VodInfo, VodStream, XtreamAccount,
    XtreamEndpoint, category_names, for_each_in_array, read_json,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/external/xtream")
        .join(name)
}

fn open(name: &str) -> BufReader<File> {
    BufReader::new(File::open(fixture(name)).unwrap())
}

fn list<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let mut items = Vec::new();
    let odd = for_each_in_array(open(name), |item| {
        items.push(item);
        Ok(())
    })
    .unwrap();
    assert_eq!(odd, 0, "{name}: every element read");
    items
}

const PROVIDERS: [&str; 4] = ["eternal", "hellraiser", "iris", "tnt"];

#[test]
fn auth_answers_of_all_four_panels() {
    for provider in PROVIDERS {
        let account: XtreamAccount =
            read_json(open(&format!("go.xtream-codes/{provider}/auth.json"))).unwrap();
        assert_eq!(account.user_info.auth, Some(1), "{provider}");
        assert_eq!(account.user_info.status.as_deref(), Some("Active"));
        assert!(!account.user_info.is_trial);
        assert!(
            account.user_info.max_connections.is_some(),
            "string max_connections"
        );
        assert!(
            account
                .user_info
                .allowed_output_formats
                .contains(&"ts".to_owned())
        );
        assert_eq!(account.live_extension(), "ts");
        assert!(account.server_info.port.is_some(), "string port");
        assert!(account.server_info.timestamp_now.is_some());
        // Captured in August 2018: valid then.
        let then = account.server_info.timestamp_now.unwrap();
        account.check(then).unwrap();
    }
    let eternal: XtreamAccount = read_json(open("go.xtream-codes/eternal/auth.json")).unwrap();
    assert_eq!(eternal.user_info.exp_date, None, "exp_date null");
    assert_eq!(
        eternal.server_info.timezone.as_deref(),
        Some("America/New_York"),
        "escaped slash"
    );
    let iris: XtreamAccount = read_json(open("go.xtream-codes/iris/auth.json")).unwrap();
    assert_eq!(iris.user_info.message.as_deref(), Some("Welcome Friends"));
    assert_eq!(
        iris.user_info.exp_date,
        Some(1_537_821_177),
        "string timestamp"
    );
    // Today the iris account has expired: a clear error.
    let err = iris.check(1_700_000_000).unwrap_err();
    assert!(
        matches!(&err, ParseError::XtreamAuth(m) if m.contains("expired")),
        "{err}"
    );
}

#[test]
fn refused_and_disabled_accounts_are_clear_errors() {
    let refused: XtreamAccount = serde_json::from_str(r#"{"user_info":{"auth":0}}"#).unwrap();
    assert!(matches!(refused.check(0), Err(ParseError::XtreamAuth(m)) if m.contains("auth: 0")));
    let disabled: XtreamAccount =
        serde_json::from_str(r#"{"user_info":{"auth":1,"status":"Disabled"},"server_info":[]}"#)
            .unwrap();
    assert!(matches!(disabled.check(0), Err(ParseError::XtreamAuth(m)) if m.contains("Disabled")));
    let m3u8_only: XtreamAccount = serde_json::from_str(
        r#"{"user_info":{"auth":"1","status":"Active","allowed_output_formats":["m3u8"]}}"#,
    )
    .unwrap();
    m3u8_only.check(0).unwrap();
    assert_eq!(m3u8_only.live_extension(), "m3u8");
}

#[test]
fn live_categories_with_escaped_slashes() {
    for provider in PROVIDERS {
        let categories: Vec<Category> = list(&format!(
            "go.xtream-codes/{provider}/get_live_categories.json"
        ));
        assert!(!categories.is_empty());
        assert!(
            categories
                .iter()
                .all(|c| c.category_id.is_some() && c.parent_id == Some(0))
        );
    }
    let iris: Vec<Category> = list("go.xtream-codes/iris/get_live_categories.json");
    assert_eq!(iris.len(), 86);
    assert!(
        iris.iter()
            .any(|c| c.category_name.as_deref().unwrap().contains("EPL / SPFL"))
    );
}

#[test]
fn hellraiser_live_streams_to_channels() {
    let categories: Vec<Category> = list("go.xtream-codes/hellraiser/get_live_categories.json");
    let names = category_names(&categories);
    let endpoint =
        XtreamEndpoint::new("http://panel.test:8080/", "user", Secret::new("p@ss")).unwrap();
    let streams: Vec<LiveStream> = list("go.xtream-codes/hellraiser/get_live_streams.json");
    assert_eq!(streams.len(), 4950);
    assert_eq!(
        streams.iter().filter(|s| s.category_id.is_none()).count(),
        288,
        "null category"
    );
    assert_eq!(
        streams
            .iter()
            .filter(|s| s.epg_channel_id.is_none())
            .count(),
        4365
    );
    let archived: Vec<_> = streams.iter().filter(|s| s.tv_archive == Some(1)).collect();
    assert_eq!(archived.len(), 39);
    assert!(
        archived
            .iter()
            .all(|s| s.tv_archive_duration.unwrap_or(0) > 0),
        "string durations read"
    );
    let channels: Vec<_> = streams
        .into_iter()
        .filter_map(|s| endpoint.channel(s, &names, "ts"))
        .collect();
    assert_eq!(channels.len(), 4950);
    let bbc2 = channels
        .iter()
        .find(|c| c.provider_id.as_deref() == Some("24806"))
        .unwrap();
    assert_eq!(bbc2.name, "UK: BBC TWO (SD) (SG)");
    assert_eq!(bbc2.tvg_id.as_deref(), Some("BBC2Wales.uk"));
    assert_eq!(bbc2.tvg_chno.as_deref(), Some("12"));
    assert_eq!(
        bbc2.stream_url,
        "http://panel.test:8080/live/user/p%40ss/24806.ts"
    );
    assert_eq!(bbc2.catchup.as_deref(), Some("xc"));
    assert_eq!(bbc2.catchup_days.as_deref(), Some("3"));
    assert!(bbc2.group_title.is_some());
    assert_eq!(bbc2.identity_key(), "id:24806");
    assert_eq!(
        channels.iter().filter(|c| c.group_title.is_none()).count(),
        288
    );
}

#[test]
fn iris_live_streams_quirks() {
    let streams: Vec<LiveStream> = list("go.xtream-codes/iris/get_live_streams.json");
    assert_eq!(streams.len(), 8623);
    assert_eq!(
        streams
            .iter()
            .filter(|s| s.epg_channel_id.is_none())
            .count(),
        6797
    );
    assert_eq!(
        streams.iter().filter(|s| s.category_id.is_none()).count(),
        20
    );
    assert_eq!(
        streams.iter().filter(|s| s.tv_archive == Some(1)).count(),
        119
    );
    assert!(streams.iter().any(|s| {
        s.direct_source
            .as_deref()
            .is_some_and(|d| d.contains("youtube"))
    }));
    assert!(streams.iter().any(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.contains('♫') || n.contains("ᵖᵐ"))
    }));
    let first = &streams[0];
    assert_eq!(
        first.stream_icon.as_deref(),
        Some("http://picon.helixhosting.ninja/30950.png")
    );
    assert_eq!(first.added, Some(1_532_728_123));
}

#[test]
fn vod_streams_with_int_or_float_ratings() {
    for provider in PROVIDERS {
        let _: Vec<VodStream> = list(&format!("go.xtream-codes/{provider}/get_vod_streams.json"));
        let _: Vec<Category> = list(&format!(
            "go.xtream-codes/{provider}/get_vod_categories.json"
        ));
        let _: Vec<Category> = list(&format!(
            "go.xtream-codes/{provider}/get_series_categories.json"
        ));
    }
    let tnt: Vec<VodStream> = list("go.xtream-codes/tnt/get_vod_streams.json");
    assert_eq!(tnt.len(), 1669);
    assert!(tnt.iter().all(|v| v.rating_5based.is_some()));
    assert!(tnt.iter().any(|v| v.rating_5based.unwrap().fract() != 0.0));
    assert!(tnt.iter().any(|v| v.custom_sid.is_none()));
    assert!(
        tnt.iter()
            .all(|v| matches!(v.container_extension.as_deref(), Some("mp4" | "mkv")))
    );
    assert_eq!(tnt[0].rating.as_deref(), Some("6.8"));
    let endpoint = XtreamEndpoint::new("http://panel.test", "u", Secret::new("p")).unwrap();
    assert_eq!(
        endpoint.movie_url(18253, "mp4"),
        "http://panel.test/movie/u/p/18253.mp4"
    );
    let eternal: Vec<VodStream> = list("go.xtream-codes/eternal/get_vod_streams.json");
    assert!(eternal.is_empty(), "[] is an empty listing");
}

#[test]
fn series_with_every_backdrop_shape() {
    let mut total = 0;
    for provider in PROVIDERS {
        let series: Vec<Series> = list(&format!("go.xtream-codes/{provider}/get_series.json"));
        total += series.len();
        assert!(series.iter().all(|s| s.series_id.is_some()));
    }
    assert_eq!(total, 52 + 12 + 106);
    let hellraiser: Vec<Series> = list("go.xtream-codes/hellraiser/get_series.json");
    assert_eq!(hellraiser[0].backdrop_path.len(), 5, "array");
    assert_eq!(
        hellraiser[0].genre.as_deref(),
        Some("Crime / Drama / Mystery")
    );
    assert_eq!(hellraiser[0].release_date.as_deref(), Some("2005-09-22"));
    assert!(
        hellraiser[0].cast.as_deref().unwrap().contains("Rodríguez"),
        "\\u escapes"
    );
    let iris: Vec<Series> = list("go.xtream-codes/iris/get_series.json");
    assert!(
        iris.iter().any(|s| s.backdrop_path.is_empty()),
        "\"\" string"
    );
    assert!(
        iris.iter().all(|s| s.category_id.is_none()),
        "null category"
    );
    let tnt: Vec<Series> = list("go.xtream-codes/tnt/get_series.json");
    assert!(tnt.iter().any(|s| s.backdrop_path.is_empty()), "null");
    assert!(
        tnt.iter()
            .any(|s| s.rating_5based.unwrap_or(0.0).fract() != 0.0)
    );
}

#[test]
fn docs_examples_series_vod_and_short_epg() {
    let info: SeriesInfo = read_json(open("docs-examples/get_series_info.json")).unwrap();
    assert_eq!(info.seasons.len(), 2);
    assert_eq!(info.info.name.as_deref(), Some("Breaking Bad"));
    let season1 = &info.episodes["1"];
    assert_eq!(season1.len(), 2);
    assert_eq!(season1[0].id.as_deref(), Some("1001"));
    assert_eq!(season1[1].title.as_deref(), Some("Cat's in the Bag..."));
    assert_eq!(season1[0].info.duration_secs, Some(3480));

    let vod: VodInfo = read_json(open("docs-examples/get_vod_info.json")).unwrap();
    assert_eq!(vod.info.backdrop_path.len(), 2);
    assert_eq!(vod.info.tmdb_id.as_deref(), Some("603"));
    assert_eq!(vod.movie_data.stream_id, Some(456));
    assert_eq!(vod.movie_data.container_extension.as_deref(), Some("mkv"));

    let epg: ShortEpg = read_json(open("docs-examples/get_short_epg.json")).unwrap();
    assert_eq!(epg.epg_listings.len(), 2);
    assert_eq!(
        epg.epg_listings[0].title_text().as_deref(),
        Some("Morning News")
    );
    assert_eq!(epg.epg_listings[0].start_timestamp, Some(1_735_020_000));
}

#[test]
fn real_panel_shapes_info_as_list_episodes_as_list_and_base64() {
    let info: SeriesInfo = serde_json::from_str(
        r#"{"seasons":[],"info":[],"episodes":[{"id":7,"episode_num":"1","season":"2","info":[]}]}"#,
    )
    .unwrap();
    assert!(info.info.name.is_none());
    assert_eq!(info.episodes["2"][0].id.as_deref(), Some("7"));
    let epg: ShortEpg = serde_json::from_str(
        r#"{"epg_listings":[{"title":"TW9ybmluZyBOZXdz","description":"w4lkaXRpb24=","start_timestamp":"1735020000"}]}"#,
    )
    .unwrap();
    let listing = &epg.epg_listings[0];
    assert_eq!(listing.title_text().as_deref(), Some("Morning News"));
    assert_eq!(listing.description_text().as_deref(), Some("Édition"));
    assert_eq!(
        listing.start_timestamp,
        Some(1_735_020_000),
        "string timestamp"
    );
}

#[test]
fn endpoint_urls() {
    let endpoint = XtreamEndpoint::new(
        "http://panel.test:8080/player_api.php?username=x&password=y",
        "me",
        Secret::new("secret"),
    )
    .unwrap();
    assert_eq!(
        endpoint.player_api(Some("get_live_streams")).as_str(),
        "http://panel.test:8080/player_api.php?username=me&password=secret&action=get_live_streams"
    );
    assert_eq!(
        endpoint.xmltv().as_str(),
        "http://panel.test:8080/xmltv.php?username=me&password=secret"
    );
    assert_eq!(
        endpoint.live_stream_url(5, "m3u8"),
        "http://panel.test:8080/live/me/secret/5.m3u8"
    );
    assert!(!format!("{endpoint:?}").contains("secret"));
    assert_eq!(
        tvarr_ingest::redact_url(&endpoint.live_stream_url(5, "ts")),
        "http://panel.test:8080/live/***/***/5.ts"
    );
    assert!(XtreamEndpoint::new("ftp://x", "a", Secret::new("b")).is_err());
}

#[test]
fn an_object_where_a_listing_was_expected_is_an_error() {
    let err =
        for_each_in_array::<LiveStream, _, _>(&br#"{"user_info":{"auth":0}}"#[..], |_| Ok(()));
    assert!(err.is_err());
    let empty = for_each_in_array::<LiveStream, _, _>(&b"{}"[..], |_| Ok(())).unwrap();
    assert_eq!(empty, 0);
}
