//! The Xtream Codes API over HTTP, read as player apps read it: the answers' fields and JSON
//! types compared with recorded provider answers (`fixtures/xtream/`), categories in number
//! order, streams with stable ids, the playlist's stream URLs, and the refusals (bad
//! credentials, a proxy not granted).

#[macro_use]
mod support;

use actix_web::http::{StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde_json::{Value, json};
use support::{TestServer, own_test_server, published_channels};
use tvarr_core::{ChannelData, ProxyId, ProxyInput, Role, UserInput};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/external/xtream"
);

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{path}"))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The JSON type of a value, by name.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts that every key `ours` shares with `theirs` has the same JSON type, where theirs
/// is not null, and that `ours` has every key of `theirs` but those in `absent`.
fn same_types(what: &str, ours: &Value, theirs: &Value, absent: &[&str]) {
    let (ours, theirs) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
    for (key, value) in theirs {
        match ours.get(key) {
            None => assert!(absent.contains(&key.as_str()), "{what}: no `{key}`"),
            Some(mine) if !value.is_null() && !mine.is_null() => {
                assert_eq!(kind(mine), kind(value), "{what}.{key}: {mine} vs {value}");
            }
            Some(_) => {}
        }
    }
}

fn channel(name: &str, group: Option<&str>, logo: Option<&str>, number: u32) -> (u32, ChannelData) {
    (
        number,
        ChannelData {
            name: name.into(),
            tvg_id: Some(format!("id{number}")),
            group_title: group.map(Into::into),
            tvg_logo: logo.map(Into::into),
            stream_url: format!("http://provider.example/live/{number}.ts"),
            ..Default::default()
        },
    )
}

/// A secured server with two published proxies and a viewer `player` (output password
/// `player-pass`) granted the first.
async fn panel() -> (TestServer, ProxyId, ProxyId) {
    let server = own_test_server().await;
    server
        .state
        .auth
        .ensure_admin("the admin password")
        .await
        .unwrap();
    let first = published_channels(
        &server,
        ProxyInput::named("Xtream".to_string()),
        vec![
            channel(
                "News One",
                Some("News"),
                Some("http://logos.example/n1.png"),
                5,
            ),
            channel("Sport One", Some("Sport"), None, 2),
            channel("News Two", Some("News"), None, 9),
            channel("Loose", None, None, 7),
        ],
    )
    .await;
    let second = published_channels(
        &server,
        ProxyInput::named("Other".to_string()),
        vec![channel("Elsewhere", Some("Misc"), None, 1)],
    )
    .await;
    let hash = tvarr_api::hash_secret("player-pass").unwrap();
    server
        .repos
        .users
        .create(
            &UserInput {
                username: "player".into(),
                role: Role::Viewer,
                proxy_ids: vec![first],
                max_streams: Some(2),
            },
            &tvarr_api::hash_secret("player's login").unwrap(),
            Some(&hash),
        )
        .await
        .unwrap();
    (server, first, second)
}

const CREDS: &str = "username=player&password=player-pass";

#[actix_web::test]
async fn player_api_authenticates_with_the_types_of_a_real_panel() {
    let (server, _, _) = panel().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, headers, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/player_api.php?{CREDS}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    let ours: Value = serde_json::from_slice(&body).unwrap();
    let theirs = fixture("go.xtream-codes/hellraiser/auth.json");
    same_types("user_info", &ours["user_info"], &theirs["user_info"], &[]);
    same_types(
        "server_info",
        &ours["server_info"],
        &theirs["server_info"],
        &[],
    );
    assert_eq!(ours["user_info"]["auth"], 1);
    assert_eq!(ours["user_info"]["status"], "Active");
    assert_eq!(ours["user_info"]["username"], "player");
    assert_eq!(ours["user_info"]["max_connections"], "2");
    assert_eq!(ours["server_info"]["timezone"], "UTC");
    assert_eq!(ours["server_info"]["url"], "localhost");
    assert_eq!(ours["server_info"]["port"], "8080");
    let now = chrono::Utc::now().timestamp();
    let told = ours["server_info"]["timestamp_now"].as_i64().unwrap();
    assert!((told - now).abs() < 60, "{told} vs {now}");

    // Refused credentials: 401 with auth 0, which every app reads as a failed login.
    for query in [
        "",
        "username=player&password=wrong",
        "username=nobody&password=player-pass",
        "username=player&password=player%27s%20login",
    ] {
        let (status, _, body) = fetch!(
            app,
            TestRequest::get().uri(&format!("/player_api.php?{query}"))
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{query}");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"user_info": {"auth": 0}})
        );
    }
}

#[actix_web::test]
async fn categories_and_streams_come_in_number_order_with_stable_ids() {
    let (server, first, second) = panel().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    for base in ["".to_string(), format!("/xtream/{first}")] {
        let (status, _, body) = fetch!(
            app,
            TestRequest::get().uri(&format!(
                "{base}/player_api.php?{CREDS}&action=get_live_categories"
            ))
        );
        assert_eq!(status, StatusCode::OK, "{base}");
        let categories: Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<&str> = categories
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["category_name"].as_str().unwrap())
            .collect();
        // By the lowest number each holds: Sport (2), News (5); the channel without a group has none.
        assert_eq!(names, ["Sport", "News"], "{base}");
        let theirs = fixture("go.xtream-codes/hellraiser/get_live_categories.json");
        same_types("category", &categories[0], &theirs[0], &[]);

        let (status, _, body) = fetch!(
            app,
            TestRequest::get().uri(&format!(
                "{base}/player_api.php?{CREDS}&action=get_live_streams"
            ))
        );
        assert_eq!(status, StatusCode::OK);
        let streams: Value = serde_json::from_slice(&body).unwrap();
        let streams = streams.as_array().unwrap();
        let numbers: Vec<i64> = streams.iter().map(|s| s["num"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [2, 5, 7, 9]);
        let theirs = fixture("go.xtream-codes/hellraiser/get_live_streams.json");
        same_types("stream", &streams[1], &theirs[0], &[]);
        let news = &streams[1];
        assert_eq!(news["stream_id"], 5);
        assert_eq!(news["name"], "News One");
        assert_eq!(news["epg_channel_id"], "id5");
        assert_eq!(news["stream_icon"], "http://logos.example/n1.png");
        assert_eq!(news["direct_source"], "");
        assert_eq!(news["category_id"], categories[1]["category_id"]);
        assert!(streams[2]["category_id"].is_null(), "no group, no category");

        // One category.
        let news_id = categories[1]["category_id"].as_str().unwrap();
        let (_, _, body) = fetch!(
            app,
            TestRequest::get().uri(&format!(
                "{base}/player_api.php?{CREDS}&action=get_live_streams&category_id={news_id}"
            ))
        );
        let only: Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<&str> = only
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["News One", "News Two"]);

        // VOD and series: empty; an unknown action: a 400.
        let (status, _, body) = fetch!(
            app,
            TestRequest::get().uri(&format!(
                "{base}/player_api.php?{CREDS}&action=get_vod_streams"
            ))
        );
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::OK, b"[]".as_slice())
        );
        let (status, _, _) = fetch!(
            app,
            TestRequest::get().uri(&format!("{base}/player_api.php?{CREDS}&action=rm_rf"))
        );
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // The proxy not granted: 403 with auth 0.
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!(
            "/xtream/{second}/player_api.php?{CREDS}&action=get_live_streams"
        ))
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"user_info": {"auth": 0}})
    );
}

#[actix_web::test]
async fn the_playlist_and_streams_use_xtream_urls_that_redirect_to_the_channel() {
    let (server, first, second) = panel().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!("/get.php?{CREDS}&type=m3u_plus&output=ts"))
    );
    assert_eq!(status, StatusCode::OK);
    let m3u = String::from_utf8(body).unwrap();
    assert!(
        m3u.starts_with(&format!(
            "#EXTM3U url-tvg=\"http://localhost:8080/xmltv.php?{CREDS}\""
        )),
        "{m3u}"
    );
    assert!(
        m3u.contains("\nhttp://localhost:8080/live/player/player-pass/5.ts\n"),
        "{m3u}"
    );
    assert!(m3u.contains("group-title=\"News\""), "{m3u}");
    assert_eq!(m3u.matches("#EXTINF").count(), 4);
    let (_, _, body) = fetch!(
        app,
        TestRequest::get().uri(&format!(
            "/xtream/{first}/get.php?{CREDS}&type=m3u_plus&output=m3u8"
        ))
    );
    let m3u = String::from_utf8(body).unwrap();
    assert!(
        m3u.contains(&format!(
            "\nhttp://localhost:8080/xtream/{first}/live/player/player-pass/5.m3u8\n"
        )),
        "{m3u}"
    );

    for uri in [
        "/live/player/player-pass/5.ts".to_string(),
        "/live/player/player-pass/5.m3u8".to_string(),
        "/live/player/player-pass/5".to_string(),
        "/player/player-pass/5.ts".to_string(),
        format!("/xtream/{first}/live/player/player-pass/5.ts"),
        format!("/xtream/{first}/player/player-pass/5"),
    ] {
        let (status, headers, _) = fetch!(app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::FOUND, "{uri}");
        assert_eq!(
            headers.get(header::LOCATION).unwrap(),
            "http://provider.example/live/5.ts",
            "{uri}"
        );
    }
    for (uri, expected) in [
        (
            "/live/player/wrong/5.ts".to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/live/player/player-pass/6.ts".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/xtream/{second}/live/player/player-pass/1.ts"),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (status, _, _) = fetch!(app, TestRequest::get().uri(&uri));
        assert_eq!(status, expected, "{uri}");
    }
}

#[actix_web::test]
async fn names_no_account_can_have_are_refused_before_the_database() {
    let (server, _, _) = panel().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let long = "a".repeat(101);
    for query in [
        "username=pl%00ayer&password=player-pass".to_string(),
        "username=%1b&password=x".to_string(),
        format!("username={long}&password=player-pass"),
    ] {
        let (status, _, _) = fetch!(
            app,
            TestRequest::get().uri(&format!("/player_api.php?{query}"))
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{query}");
    }
    let (status, _, _) = fetch!(app, TestRequest::get().uri("/pl%00ayer/player-pass/5.ts"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = fetch!(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"username": "ad\u{0}min", "password": "the admin password"}))
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
