//! What a hostile client sends, over HTTP on the real store (see `support` for running these
//! on PostgreSQL and MariaDB): extreme query strings, provider credentials that must not come
//! back, invented methods and paths that must not grow the metrics, over-long and
//! control-character input, and duplicate names.

mod support;

use actix_web::http::{Method, StatusCode};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use support::{ingest_channels, ingest_programmes, test_server, unique};
use tvarr_core::{Channel, ChannelData, LangText, ProgrammeData, StreamSourceId};

/// Sends a request; answers the status, the `Content-Type` and the raw body.
macro_rules! raw {
    ($app:expr, $req:expr) => {{
        let res = call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = read_body(res).await;
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }};
}

/// Sends a request; answers the status and the body as JSON (`Null` when empty).
macro_rules! send {
    ($app:expr, $req:expr) => {{
        let (status, _, body) = raw!($app, $req);
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, json)
    }};
}

/// Every list endpoint, with the query it needs to be valid otherwise.
fn list_endpoints(source: StreamSourceId) -> Vec<String> {
    [
        "/api/v1/jobs?",
        "/api/v1/channels?",
        "/api/v1/epg/programs?",
        "/api/v1/epg/now?",
        "/api/v1/epg/search?q=news&",
        "/api/v1/sources/stream?",
        "/api/v1/sources/epg?",
        "/api/v1/filters?",
        "/api/v1/data-mapping?",
        "/api/v1/proxies?",
        "/api/v1/relay-profiles?",
    ]
    .into_iter()
    .map(str::to_string)
    .chain([format!("/api/v1/sources/stream/{source}/channels?")])
    .collect()
}

#[actix_web::test]
async fn extreme_page_parameters_are_a_400_naming_the_parameter_on_every_list() {
    let server = test_server().await;
    let source = ingest_channels(
        &server.repos,
        &unique("Pages"),
        vec![ChannelData {
            name: "One".into(),
            stream_url: "http://example.com/1.ts".into(),
            ..Default::default()
        }],
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let bad_offsets = [
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999",
        "-1",
        "-9223372036854775808",
        "NaN",
        "nan",
        "inf",
        "1e3",
        "1.5",
        "0x10",
        "abc",
        "",
        "%00",
        "1%0A",
    ];
    let bad_limits = ["0", "10001", "-1", "NaN", "18446744073709551616", "x", ""];
    for endpoint in list_endpoints(source) {
        for (name, values) in [("offset", &bad_offsets[..]), ("limit", &bad_limits[..])] {
            for value in values {
                let uri = format!("{endpoint}{name}={value}");
                let (status, content_type, body) = raw!(app, TestRequest::get().uri(&uri));
                assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
                assert_eq!(content_type, "application/problem+json", "{uri}");
                let problem: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(problem["errors"][0]["field"], name, "{uri}: {body}");
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(&format!("`{name}`")), "{uri}: {detail}");
            }
        }
        // The largest offset and limit are served, on every database.
        let uri = format!("{endpoint}offset=9223372036854775807&limit=10000");
        let (status, body) = send!(app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(body["items"], json!([]), "{uri}");
    }
}

#[actix_web::test]
async fn extreme_times_and_windows_are_a_400_naming_the_parameter() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    for (uri, field) in [
        (
            "/api/v1/epg/programs?from=%2B262142-12-31T12:00:00Z",
            "from",
        ),
        ("/api/v1/epg/programs?from=-262143-01-01T00:00:00Z", "from"),
        ("/api/v1/epg/programs?to=%2B262142-12-31T12:00:00Z", "to"),
        ("/api/v1/epg/programs?from=1969-12-31T23:59:59Z", "from"),
        ("/api/v1/epg/programs?from=10000-01-01T00:00:00Z", "from"),
        ("/api/v1/epg/programs?from=yesterday", "from"),
        ("/api/v1/epg/programs?from=NaN", "from"),
        (
            "/api/v1/epg/programs?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z",
            "to",
        ),
        (
            "/api/v1/epg/programs?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "to",
        ),
        (
            "/api/v1/epg/programs?from=1970-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
            "to",
        ),
        ("/api/v1/epg/now?at=%2B262142-12-31T12:00:00Z", "at"),
        (
            "/api/v1/epg/search?q=x&from=%2B262142-12-31T12:00:00Z",
            "from",
        ),
        (
            "/api/v1/epg/search?q=x&from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
            "to",
        ),
        ("/api/v1/epg/search?q=%20", "q"),
        ("/api/v1/epg/search", "q"),
        ("/api/v1/jobs?status=sideways", "status"),
        ("/api/v1/jobs?kind=%00", "kind"),
        ("/api/v1/channels?source_id=not-a-uuid", "source_id"),
        ("/api/v1/channels?q=a%00b", "q"),
        ("/api/v1/filters?domain=radio", "domain"),
    ] {
        let (status, content_type, body) = raw!(app, TestRequest::get().uri(uri));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(content_type, "application/problem+json", "{uri}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{uri}: {body}");
    }
    // The edges of the range are served.
    for uri in [
        "/api/v1/epg/programs?from=1970-01-01T00:00:00Z",
        "/api/v1/epg/programs?from=9999-12-30T00:00:00Z&to=9999-12-31T23:59:59Z",
        "/api/v1/epg/now?at=9999-12-31T23:59:59Z",
        "/api/v1/epg/search?q=x&from=1970-01-01T00:00:00Z",
    ] {
        let (status, body) = send!(app, TestRequest::get().uri(uri));
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
}

#[actix_web::test]
async fn search_takes_a_from_and_by_default_leaves_out_what_has_ended() {
    let server = test_server().await;
    let title = unique("Ended show");
    let start = Utc::now() - Duration::hours(30);
    ingest_programmes(
        &server.repos,
        &unique("Guide"),
        vec![ProgrammeData {
            channel: unique("ch"),
            start,
            stop: start + Duration::hours(1),
            titles: vec![LangText {
                value: title.clone(),
                lang: None,
            }],
            ..Default::default()
        }],
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let q = title.replace(' ', "%20");
    let (status, body) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/epg/search?q={q}"))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 0, "{body}");
    let from = (start - Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (status, body) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/epg/search?q={q}&from={from}"))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["items"][0]["title"], title.as_str());
    let at = (start + Duration::minutes(30))
        .to_rfc3339()
        .replace('+', "%2B");
    let (status, body) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/epg/now?at={at}&limit=10000"))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let titles: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert!(titles.contains(&title.as_str()), "{body}");
}

#[actix_web::test]
async fn channel_groups_are_a_list_with_a_total() {
    let server = test_server().await;
    let group = unique("Group");
    let source = ingest_channels(
        &server.repos,
        &unique("Groups"),
        vec![ChannelData {
            name: "One".into(),
            group_title: Some(group.clone()),
            stream_url: "http://example.com/1.ts".into(),
            ..Default::default()
        }],
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, body) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/channels/groups?source_id={source}"))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"items": [{"name": group, "count": 1}], "total": 1})
    );
}

/// The provider password every credential test plants.
const SECRET: &str = "S3cret";

#[actix_web::test]
async fn no_response_carries_a_provider_credential() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state.clone())).await;
    let name = unique("Xtream");
    let (status, created) = send!(
        app,
        TestRequest::post().uri("/api/v1/sources/stream").set_json(json!({
            "name": name, "source_type": "xtream", "url": "http://panel.example:8080",
            "username": "user", "password": SECRET,
            "headers": {"Authorization": format!("Bearer {SECRET}"), "Referer": "http://panel.example"}
        }))
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id: StreamSourceId = created["id"].as_str().unwrap().parse().unwrap();
    let data = ChannelData {
        name: "News 24".into(),
        group_title: Some("News".into()),
        tvg_logo: Some(format!(
            "http://panel.example:8080/images/logo.png?token={SECRET}"
        )),
        stream_url: format!("http://panel.example:8080/live/user/{SECRET}/112233.ts"),
        catchup_source: Some(format!(
            "http://panel.example:8080/timeshift/user/{SECRET}/{{duration}}/{{start}}/112233.ts"
        )),
        extra: vec![(
            "tvg-url".into(),
            format!("http://panel.example:8080/xmltv.php?username=user&password={SECRET}"),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let mut replacement = server.repos.channels.begin_replace(id).await.unwrap();
    replacement
        .write(&[Channel::new(id, "112233".into(), 0, data)])
        .await
        .unwrap();
    replacement.commit().await.unwrap();
    // An M3U source whose own URL carries the credentials, and a failed ingest that quotes it.
    let m3u_url = format!(
        "http://user:{SECRET}@panel.example/get.php?username=user&password={SECRET}&type=m3u"
    );
    let (status, m3u) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(json!({
                "name": unique("M3U with credentials"), "source_type": "m3u", "url": m3u_url,
            }))
    );
    assert_eq!(status, StatusCode::CREATED, "{m3u}");
    assert!(!m3u.to_string().contains(SECRET), "{m3u}");
    let m3u_id: StreamSourceId = m3u["id"].as_str().unwrap().parse().unwrap();
    server
        .repos
        .stream_sources
        .record_ingest(
            m3u_id,
            tvarr_core::IngestOutcome {
                at: Utc::now(),
                state: tvarr_core::IngestState::Failed,
                record_count: 0,
                skipped_count: 0,
                error: Some(format!("GET {m3u_url} failed: 404")),
            },
        )
        .await
        .unwrap();

    let channel_id = tvarr_core::ChannelId::stable(id, "112233");
    let reads = [
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{id}/channels")),
        TestRequest::get().uri(&format!("/api/v1/channels?source_id={id}")),
        TestRequest::get().uri(&format!("/api/v1/channels/{channel_id}")),
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{id}")),
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{m3u_id}")),
        TestRequest::get().uri("/api/v1/sources/stream?limit=10000"),
        TestRequest::post()
            .uri("/api/v1/filters/test")
            .set_json(json!({
                "domain": "stream", "expression": "true", "source_ids": [id]
            })),
        TestRequest::post()
            .uri("/api/v1/data-mapping/test")
            .set_json(json!({
                "domain": "stream", "source_ids": [id],
                "expression": "SET tvg_name = source_url, group_title = stream_url"
            })),
    ];
    for request in reads {
        let (status, _, body) = raw!(app, request);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!body.contains(SECRET), "a credential came back: {body}");
        assert!(
            body.contains("***"),
            "the answer shows the masked URL: {body}"
        );
    }
    let (_, _, body) = raw!(
        app,
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{id}/channels"))
    );
    assert!(
        body.contains("http://panel.example:8080/live/***/***/112233.ts"),
        "{body}"
    );
    let (_, _, body) = raw!(
        app,
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{id}"))
    );
    assert!(
        body.contains("\"Referer\":\"http://panel.example\""),
        "{body}"
    );
    assert!(body.contains("\"has_password\":true"), "{body}");

    // Sending a view back as it came keeps what it masked.
    let (_, view) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{m3u_id}"))
    );
    let (status, body) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/sources/stream/{m3u_id}"))
            .set_json(json!({
                "name": view["name"], "source_type": "m3u", "url": view["url"],
            }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = server.repos.stream_sources.get(m3u_id).await.unwrap();
    assert_eq!(stored.url, m3u_url);
    let (_, view) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{id}"))
    );
    let (status, body) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/sources/stream/{id}"))
            .set_json(json!({
                "name": view["name"], "source_type": "xtream", "url": view["url"],
                "username": view["username"], "headers": view["headers"],
            }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = server.repos.stream_sources.get(id).await.unwrap();
    assert_eq!(stored.password.unwrap().expose(), SECRET);
    assert!(
        stored
            .headers
            .contains(&("Authorization".to_string(), format!("Bearer {SECRET}")))
    );
}

#[actix_web::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (_, _, before) = raw!(app, TestRequest::get().uri("/metrics"));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..1_000 {
        let method = format!("M{:X}", next());
        let path = match i % 4 {
            0 => format!("/{:x}", next()),
            1 => format!("/api/v1/{:x}/{:x}", next(), next()),
            2 => format!("/api/v1/jobs/{:x}", next()),
            _ => "/api/v1/channels".to_string(),
        };
        let request = TestRequest::default()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&path);
        let res = call_service(&app, request.to_request()).await;
        assert!(
            res.status().as_u16() < 500,
            "{method} {path}: {}",
            res.status()
        );
    }
    let (status, _, after) = raw!(app, TestRequest::get().uri("/metrics"));
    assert_eq!(status, StatusCode::OK);
    let methods: std::collections::BTreeSet<&str> = after
        .split("method=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(
        methods.iter().all(|m| [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"
        ]
        .contains(m)),
        "{methods:?}"
    );
    let routes: std::collections::BTreeSet<&str> = after
        .split("route=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(routes.len() <= 6, "{routes:?}");
    // Four label sets at most (other × other, other × jobs/{id}, other × channels, GET × /metrics)
    // with their 16 buckets each: a bounded size, whatever the traffic.
    assert!(
        after.len() < before.len() + 32 * 1024,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[actix_web::test]
async fn over_long_and_control_character_input_is_a_422_naming_the_field() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let long_name = "n".repeat(100_000);
    let long_url = format!("http://example.com/{}", "a".repeat(900 * 1024));
    let source = |patch: Value| {
        let mut body = json!({"name": unique("Limits"), "source_type": "m3u", "url": "http://example.com/a.m3u"});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let epg = |patch: Value| {
        let mut body = json!({"name": unique("Limits"), "source_type": "xmltv", "url": "http://example.com/a.xml"});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let filter = |name: &str, expression: &str| json!({"name": name, "domain": "stream", "action": "include", "expression": expression});
    let rule = |name: &str, expression: &str| json!({"name": name, "domain": "stream", "expression": expression});
    let long_expression = format!("channel_name == \"{}\"", "x".repeat(70 * 1024));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/v1/sources/stream",
            source(json!({"user_agent": "VLC\r\nX-Evil: 1"})),
            "user_agent",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"user_agent": "VLC\0"})),
            "user_agent",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"user_agent": "u".repeat(1025)})),
            "user_agent",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"name": long_name})),
            "name",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"name": "a\0b"})),
            "name",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"name": "a\r\nb"})),
            "name",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"url": long_url})),
            "url",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"url": "http://example.com/a\r\n.m3u"})),
            "url",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"headers": {"X-A": "1\r\nX-B: 2"}})),
            "headers",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"headers": {"X-A": "v".repeat(2000)}})),
            "headers",
        ),
        (
            "/api/v1/sources/stream",
            source(json!({"update_cron": "every day"})),
            "update_cron",
        ),
        (
            "/api/v1/sources/stream",
            source(
                json!({"source_type": "xtream", "url": "http://panel", "username": "u\nx", "password": "p"}),
            ),
            "username",
        ),
        (
            "/api/v1/sources/epg",
            epg(json!({"user_agent": "VLC\r\nX-Evil: 1"})),
            "user_agent",
        ),
        ("/api/v1/sources/epg", epg(json!({"name": "a\0b"})), "name"),
        ("/api/v1/sources/epg", epg(json!({"url": long_url})), "url"),
        (
            "/api/v1/sources/epg",
            epg(json!({"timezone": "Europe/\nLondon"})),
            "timezone",
        ),
        ("/api/v1/filters", filter(&long_name, "true"), "name"),
        ("/api/v1/filters", filter("a\0b", "true"), "name"),
        (
            "/api/v1/filters",
            filter("ok", &long_expression),
            "expression",
        ),
        ("/api/v1/filters", filter("ok", "true\0"), "expression"),
        (
            "/api/v1/data-mapping",
            rule(&long_name, "DELETE tvg_logo"),
            "name",
        ),
        (
            "/api/v1/data-mapping",
            rule("tab\there", "DELETE tvg_logo"),
            "name",
        ),
        (
            "/api/v1/data-mapping",
            rule("ok", &long_expression),
            "expression",
        ),
        ("/api/v1/auth/api-keys", json!({"name": long_name}), "name"),
        (
            "/api/v1/auth/api-keys",
            json!({"name": "key\r\nX: y"}),
            "name",
        ),
        (
            "/api/v1/filters/test",
            json!({"domain": "stream", "expression": long_expression}),
            "expression",
        ),
        (
            "/api/v1/data-mapping/test",
            json!({"domain": "stream", "expression": long_expression}),
            "expression",
        ),
    ];
    for (uri, body, field) in cases {
        let (status, content_type, answer) =
            raw!(app, TestRequest::post().uri(uri).set_json(&body));
        let shown: String = answer.chars().take(300).collect();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri} {field}: {shown}"
        );
        assert_eq!(content_type, "application/problem+json", "{uri}");
        let problem: Value = serde_json::from_str(&answer).unwrap();
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{uri} {field}: {shown}");
        assert!(
            answer.len() < 4096,
            "the answer does not echo the input: {shown}"
        );
    }

    // A bad cron says so in words, without the parser's internals.
    let (_, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(source(json!({"update_cron": "61 * * * *"})))
    );
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("for example `0 */6 * * *`"), "{message}");
    assert!(!message.to_lowercase().contains("invalid"), "{message}");

    // Imports: an item over the limits is reported invalid and not written.
    let (status, report) = send!(
        app,
        TestRequest::post().uri("/api/v1/import/filters").set_json(json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [
                {"name": long_name, "domain": "stream", "action": "include", "expression": "true"},
                {"name": "nul\0name", "domain": "stream", "action": "include", "expression": "true"},
                {"name": unique("Long expression"), "domain": "stream", "action": "include", "expression": long_expression},
            ],
            "mapping_rules": []
        }))
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["invalid"], 3, "{report}");
    assert_eq!(report["created"], 0, "{report}");

    // The JSON body is capped.
    let huge = json!({"name": "x", "source_type": "m3u", "url": format!("http://e/{}", "a".repeat(2 * 1024 * 1024))});
    let (status, content_type, _) = raw!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(&huge)
    );
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type, "application/problem+json");
}

#[actix_web::test]
async fn a_duplicate_name_is_a_409_that_says_so() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let name = unique("Twice");
    let cases = [
        (
            "/api/v1/sources/stream",
            json!({"name": name, "source_type": "m3u", "url": "http://example.com/a.m3u"}),
            format!("a stream source named \"{name}\" already exists"),
        ),
        (
            "/api/v1/sources/epg",
            json!({"name": name, "source_type": "xmltv", "url": "http://example.com/a.xml"}),
            format!("an EPG source named \"{name}\" already exists"),
        ),
        (
            "/api/v1/filters",
            json!({"name": name, "domain": "stream", "action": "include", "expression": "true"}),
            format!("a filter named \"{name}\" already exists"),
        ),
        (
            "/api/v1/data-mapping",
            json!({"name": name, "domain": "stream", "expression": "DELETE tvg_logo"}),
            format!("a mapping rule named \"{name}\" already exists"),
        ),
    ];
    for (uri, body, expected) in cases {
        let (status, first) = send!(app, TestRequest::post().uri(uri).set_json(&body));
        assert_eq!(status, StatusCode::CREATED, "{uri}: {first}");
        let (status, problem) = send!(app, TestRequest::post().uri(uri).set_json(&body));
        assert_eq!(status, StatusCode::CONFLICT, "{uri}: {problem}");
        assert_eq!(problem["detail"], expected.as_str(), "{uri}");
        // Renaming another record to the taken name says the same.
        let mut other = body.clone();
        other["name"] = json!(unique("Other"));
        let (status, second) = send!(app, TestRequest::post().uri(uri).set_json(&other));
        assert_eq!(status, StatusCode::CREATED, "{uri}: {second}");
        let id = second["id"].as_str().unwrap();
        let (status, problem) = send!(
            app,
            TestRequest::put()
                .uri(&format!("{uri}/{id}"))
                .set_json(&body)
        );
        assert_eq!(status, StatusCode::CONFLICT, "{uri}: {problem}");
        assert_eq!(problem["detail"], expected.as_str(), "{uri}");
    }
}
