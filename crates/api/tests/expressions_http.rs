//! The filter, data-mapping and expression endpoints over HTTP, on the real store (see
//! `support` for running them on PostgreSQL and MariaDB).

mod support;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body_json};
use serde_json::{Value, json};
use tvarr_core::ChannelData;

use chrono::{TimeZone, Utc};
use support::{ingest_channels, ingest_programmes, test_server, unique};
use tvarr_core::{LangText, ProgrammeData};

/// Channels of `fixtures/external/m3u/iptv-playlist-parser/base.m3u`, as ingestion parses them.
fn base_m3u() -> Vec<ChannelData> {
    let ch = |name: &str, group: Option<&str>, tvg_id: Option<&str>, url: &str| ChannelData {
        name: name.into(),
        group_title: group.map(Into::into),
        tvg_id: tvg_id.map(Into::into),
        stream_url: url.into(),
        ..Default::default()
    };
    vec![
        ch(
            "Channel 1 (Tested)",
            Some("Music"),
            Some("CH1"),
            "http://livestream.htp.tv/hls-live/livepkgr/_definst_/H1/H1_HQ.m3u8",
        ),
        ch(
            "Channel 2",
            None,
            Some("CH2"),
            "http://example.com/stream/chunklist.m3u8",
        ),
        ch(
            "=>(★ TURKİYE ★)<=",
            None,
            None,
            "http://wodpro24.tr4545.in:8080/expred/peru8k.mp4",
        ),
        ch(
            "TRT 1 HD",
            None,
            None,
            "https://video-rvd-lmg.rnp.br/live/index.m3u8",
        ),
        ch(
            "name,with comma",
            None,
            None,
            "http://free.fullspeed.tv/iptv-query",
        ),
        ch(
            "The Good, the Bad and the Ugly",
            None,
            None,
            "http://example.com/movie.m3u8",
        ),
    ]
}

macro_rules! send {
    ($app:expr, $req:expr) => {{
        let res = call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let body: Value = if status == StatusCode::NO_CONTENT {
            Value::Null
        } else {
            read_body_json(res).await
        };
        (status, body)
    }};
}

#[actix_web::test]
async fn a_misspelt_field_is_refused_with_diagnostics_and_a_suggestion() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": "News", "domain": "stream", "action": "include",
            "expression": "chanel_name contains \"news\""
        }))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "expression");
    assert_eq!(body["diagnostics"][0]["suggestion"], "channel_name");
    assert_eq!(body["diagnostics"][0]["start"], 0);
    assert_eq!(body["diagnostics"][0]["end"], 11);

    let (status, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": "News", "domain": "stream", "action": "include", "expression": "true", "enabled": true
        }))
    );
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown members are refused: {body}"
    );
}

#[actix_web::test]
async fn filters_round_trip_through_create_read_list_update_delete() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let name = unique("Music");
    let (status, created) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": name, "domain": "stream", "action": "include", "expression": "group == \"music\""
        }))
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (_, epg) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": unique("Long"), "domain": "epg", "action": "exclude", "expression": "programme_title contains \"x\""
        }))
    );

    let (_, one) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/filters/{id}"))
    );
    assert_eq!(
        (one["name"].as_str(), one["expression"].as_str()),
        (Some(name.as_str()), Some("group == \"music\""))
    );
    let ids_in = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, streams) = send!(
        app,
        TestRequest::get().uri("/api/v1/filters?domain=stream&limit=10000")
    );
    assert!(ids_in(&streams).contains(&id));
    assert!(!ids_in(&streams).contains(&epg["id"].as_str().unwrap().to_string()));
    assert!(
        streams["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["domain"] == "stream")
    );

    let (status, updated) = send!(
        app,
        TestRequest::put().uri(&format!("/api/v1/filters/{id}")).set_json(json!({
            "name": name, "domain": "stream", "action": "exclude", "expression": "group == \"music\""
        }))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["action"], "exclude");
    let (status, _) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/filters/{id}"))
            .set_json(json!({
                "name": name, "domain": "stream", "action": "exclude", "expression": "group =="
            }))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, _) = send!(
        app,
        TestRequest::delete().uri(&format!("/api/v1/filters/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/filters/{id}"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[actix_web::test]
async fn mapping_rules_are_appended_and_reordered() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let mut ids = Vec::new();
    let names: Vec<String> = ["a", "b", "c"].iter().map(|n| unique(n)).collect();
    for name in &names {
        let (status, rule) =
            send!(
            app,
            TestRequest::post().uri("/api/v1/data-mapping").set_json(json!({
                "name": name, "domain": "stream", "expression": "APPEND channel_name = \" x\""
            }))
        );
        assert_eq!(status, StatusCode::CREATED, "{rule}");
        ids.push(rule["id"].as_str().unwrap().to_string());
    }
    let mut priorities = Vec::new();
    for id in &ids {
        let (_, rule) = send!(
            app,
            TestRequest::get().uri(&format!("/api/v1/data-mapping/{id}"))
        );
        priorities.push(rule["priority"].as_i64().unwrap());
    }
    assert!(
        priorities.windows(2).all(|w| w[0] < w[1]),
        "each new rule goes last: {priorities:?}"
    );

    let (status, reordered) = send!(
        app,
        TestRequest::put()
            .uri("/api/v1/data-mapping/reorder")
            .set_json(json!({"ids": [ids[2], ids[0], ids[1]]}))
    );
    assert_eq!(status, StatusCode::OK, "{reordered}");
    let priority_of = |id: &str| {
        let rules = reordered.as_array().unwrap();
        rules.iter().find(|r| r["id"] == id).unwrap()["priority"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        [
            priority_of(&ids[2]),
            priority_of(&ids[0]),
            priority_of(&ids[1])
        ],
        [0, 1, 2]
    );

    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, body) = send!(
        app,
        TestRequest::put()
            .uri("/api/v1/data-mapping/reorder")
            .set_json(json!({"ids": [ids[0], unknown]}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "ids");

    let (status, rule) = send!(
        app,
        TestRequest::put().uri(&format!("/api/v1/data-mapping/{}", ids[0])).set_json(json!({
            "name": names[0], "domain": "stream", "expression": "DELETE tvg_logo", "enabled": false
        }))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (rule["priority"].as_i64(), rule["enabled"].as_bool()),
        (Some(1), Some(false))
    );
}

#[actix_web::test]
async fn validate_always_answers_200_and_fields_lists_the_registry() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, body) =
        send!(
        app,
        TestRequest::post().uri("/api/v1/expressions/validate").set_json(json!({
            "domain": "stream", "kind": "filter", "expression": "channel_name contians \"x\""
        }))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], false);
    assert_eq!(body["errors"][0]["suggestion"], "contains");
    let (_, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/expressions/validate").set_json(json!({
            "domain": "epg", "kind": "mapping", "expression": "title matches \"^(.+) HD$\" SET title = \"$1\""
        }))
    );
    assert_eq!(body, json!({"valid": true, "errors": []}));

    let (status, fields) = send!(app, TestRequest::get().uri("/api/v1/filters/fields/epg"));
    assert_eq!(status, StatusCode::OK);
    let start = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "programme_start")
        .unwrap();
    assert_eq!(
        (start["type"].as_str(), start["read_only"].as_bool()),
        (Some("time"), Some(true))
    );
    assert!(
        start["aliases"]
            .as_array()
            .unwrap()
            .contains(&json!("program_start"))
    );
    let (status, _) = send!(app, TestRequest::get().uri("/api/v1/filters/fields/radio"));
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn filter_and_rule_tests_run_over_ingested_channels() {
    let server = test_server().await;
    let base = unique("base");
    let source = ingest_channels(&server.repos, &base, base_m3u()).await;
    let other = ingest_channels(
        &server.repos,
        &unique("other"),
        vec![ChannelData {
            name: "BBC One HD".into(),
            stream_url: "http://example.com/bbc1".into(),
            ..Default::default()
        }],
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    let (status, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters/test").set_json(json!({
            "domain": "stream", "expression": "tvg_id starts_with \"ch\" OR name ends_with \" HD\"",
            "source_ids": [source.to_string(), other.to_string()]
        }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["matched"].as_u64(), body["total"].as_u64()),
        (Some(4), Some(7))
    );
    let names: Vec<_> = body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Channel 1 (Tested)") && names.contains(&"BBC One HD"),
        "{names:?}"
    );

    let (_, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters/test").set_json(json!({
            "domain": "stream", "expression": format!("source_name == \"{base}\" AND name ends_with \" HD\""), "source_ids": [source.to_string()]
        }))
    );
    assert_eq!(
        (body["matched"].as_u64(), body["total"].as_u64()),
        (Some(1), Some(6))
    );

    let (status, body) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/filters/test")
            .set_json(json!({"domain": "stream", "expression": "name contains"}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body["diagnostics"].as_array().unwrap().is_empty());

    let (status, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/data-mapping/test").set_json(json!({
            "domain": "stream", "expression": "name ends_with \" HD\" REMOVE name = \" HD\", SET_IF_EMPTY group = \"HD\"",
            "source_ids": [source.to_string(), other.to_string()]
        }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["affected"].as_u64(), body["total"].as_u64()),
        (Some(2), Some(7))
    );
    let first = body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["before"]["name"] == "TRT 1 HD")
        .unwrap();
    assert_eq!(
        (
            first["before"]["name"].as_str(),
            first["after"]["name"].as_str()
        ),
        (Some("TRT 1 HD"), Some("TRT 1"))
    );
    assert_eq!(
        first["changes"],
        json!([{"field": "channel_name", "action": "REMOVE"}, {"field": "group_title", "action": "SET_IF_EMPTY"}])
    );
}

#[actix_web::test]
async fn filter_and_rule_tests_run_over_ingested_programmes() {
    let server = test_server().await;
    let at = |h| Utc.with_ymd_and_hms(2024, 1, 15, h, 0, 0).unwrap();
    let programme = |channel: &str, title: &str, start: u32, categories: &[&str]| ProgrammeData {
        channel: channel.into(),
        start: at(start),
        stop: at(start + 1),
        titles: vec![LangText {
            value: title.into(),
            lang: Some("en".into()),
        }],
        categories: categories
            .iter()
            .map(|c| LangText {
                value: (*c).into(),
                lang: None,
            })
            .collect(),
        ..Default::default()
    };
    let guide = unique("guide");
    let source = ingest_programmes(
        &server.repos,
        &guide,
        vec![
            programme("bbc1.uk", "BBC News", 9, &["News"]),
            programme("bbc1.uk", "Film: The Matrix", 10, &["Movie", "Sci-fi"]),
            programme("itv.uk", "Morning News", 9, &["News", "Current affairs"]),
        ],
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;

    let (status, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters/test").set_json(json!({
            "domain": "epg", "source_ids": [source.to_string()],
            "expression": format!("category contains \"news\" AND start < \"2024-01-15T09:30:00Z\" AND source_name == \"{guide}\"")
        }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["matched"].as_u64(), body["total"].as_u64()),
        (Some(2), Some(3))
    );
    assert!(
        body["sample"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["title"].as_str().unwrap().contains("News"))
    );

    let (status, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/data-mapping/test").set_json(json!({
            "domain": "epg", "source_ids": [source.to_string()],
            "expression": "title matches \"^Film: (.+)$\" SET title = \"$1\", APPEND category = \", Films\""
        }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["affected"], 1);
    let after = &body["sample"][0]["after"];
    assert_eq!(after["title"], "The Matrix");
    assert_eq!(after["categories"], json!(["Movie", "Sci-fi", "Films"]));
}

#[actix_web::test]
async fn exported_rules_preview_and_import_into_another_server() {
    let source = test_server().await;
    let app = init_service(tvarr_api::build_app(source.state)).await;
    let mut ids = Vec::new();
    for (name, action, expression) in [
        ("Music", "include", "group == \"music\""),
        ("No mp4", "exclude", "url ends_with \".mp4\""),
    ] {
        let (status, filter) = send!(
            app,
            TestRequest::post().uri("/api/v1/filters").set_json(json!({
                "name": unique(name), "domain": "stream", "action": action, "expression": expression
            }))
        );
        assert_eq!(status, StatusCode::CREATED);
        ids.push(filter["id"].clone());
    }
    let (_, rule) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/data-mapping")
            .set_json(json!({
                "name": unique("strip HD"), "domain": "stream", "expression": "name -= \" HD\""
            }))
    );
    ids.push(rule["id"].clone());
    let (status, doc) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/export/filters")
            .set_json(json!({ "ids": ids }))
    );
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["format"], "tvarr-rules");
    assert_eq!(doc["filters"].as_array().unwrap().len(), 2);
    assert_eq!(doc["mapping_rules"].as_array().unwrap().len(), 1);
    assert!(doc["filters"][0].get("id").is_none());

    // Another installation: its names are its own (on a shared test database, renamed apart).
    let suffix = unique("");
    let mut shared = doc.clone();
    for list in ["filters", "mapping_rules"] {
        for item in shared[list].as_array_mut().unwrap() {
            item["name"] = json!(format!("{}{suffix}", item["name"].as_str().unwrap()));
        }
    }
    shared["filters"].as_array_mut().unwrap().push(json!({
        "name": unique("Broken"), "domain": "stream", "action": "include", "expression": "chanel_name == \"x\""
    }));
    let name = |i: usize| shared["filters"][i]["name"].as_str().unwrap().to_string();
    let target = test_server().await;
    let target_app = init_service(tvarr_api::build_app(target.state)).await;
    let (_, existing) = send!(
        target_app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": name(0), "domain": "stream", "action": "exclude", "expression": "true"
        }))
    );

    let (status, preview) = send!(
        target_app,
        TestRequest::post()
            .uri("/api/v1/import/filters?preview=true")
            .set_json(&shared)
    );
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["preview"], true);
    let outcomes: Vec<_> = preview["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["skip", "create", "invalid", "create"]);
    assert_eq!(preview["items"][0]["existing_id"], existing["id"]);
    assert_eq!(
        preview["items"][2]["diagnostics"][0]["suggestion"],
        "channel_name"
    );
    let (_, list) = send!(
        target_app,
        TestRequest::get().uri("/api/v1/filters?limit=10000")
    );
    let stored: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!stored.contains(&name(1)), "a preview writes nothing");

    let (status, report) = send!(
        target_app,
        TestRequest::post()
            .uri("/api/v1/import/filters?preview=false&replace=true")
            .set_json(&shared)
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["preview"], false);
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["invalid"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let (_, music) = send!(
        target_app,
        TestRequest::get().uri(&format!(
            "/api/v1/filters/{}",
            existing["id"].as_str().unwrap()
        ))
    );
    assert_eq!(
        music["action"], "include",
        "replaced by the imported filter"
    );
    let rule_id = report["items"][3]["id"].as_str().unwrap();
    let (status, rule) = send!(
        target_app,
        TestRequest::get().uri(&format!("/api/v1/data-mapping/{rule_id}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rule["expression"], "name -= \" HD\"");
    assert!(
        report["items"][2].get("id").is_none(),
        "invalid items are not written"
    );

    let (status, _) = send!(
        target_app,
        TestRequest::post()
            .uri("/api/v1/import/filters")
            .set_json(json!({"hello": 1}))
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Posts `body` as JSON and returns the status, the content type and the body (JSON, or the raw
/// text as a JSON string when it is not JSON).
macro_rules! post_raw {
    ($app:expr, $uri:expr, $body:expr) => {{
        let req = TestRequest::post()
            .uri($uri)
            .insert_header(("Content-Type", "application/json"))
            .set_payload($body)
            .to_request();
        let res = call_service(&$app, req).await;
        let status = res.status();
        let content_type = res
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = actix_web::test::read_body(res).await;
        let body = serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, content_type, body)
    }};
}

/// The endpoints that take an expression in a JSON body, each with a body template whose
/// `EXPRESSION` is replaced by the raw JSON value of the expression.
const EXPRESSION_ENDPOINTS: &[(&str, &str)] = &[
    (
        "/api/v1/expressions/validate",
        r#"{"domain": "stream", "kind": "filter", "expression": EXPRESSION}"#,
    ),
    (
        "/api/v1/filters",
        r#"{"name": "bad input", "domain": "stream", "action": "include", "expression": EXPRESSION}"#,
    ),
    (
        "/api/v1/filters/test",
        r#"{"domain": "stream", "expression": EXPRESSION}"#,
    ),
    (
        "/api/v1/import/filters?preview=true",
        r#"{"format": "tvarr-rules", "version": 1, "filters": [{"name": "bad input", "domain": "stream", "action": "include", "expression": EXPRESSION}]}"#,
    ),
];

fn body_with(template: &str, expression: &[u8]) -> Vec<u8> {
    let (before, after) = template.split_once("EXPRESSION").unwrap();
    [before.as_bytes(), expression, after.as_bytes()].concat()
}

fn assert_problem(what: &str, status: StatusCode, content_type: &str, body: &Value) {
    assert!(
        status.is_client_error(),
        "{what}: wanted a 4xx, got {status}: {body}"
    );
    assert_eq!(content_type, "application/problem+json", "{what}: {body}");
    assert_eq!(body["status"], status.as_u16(), "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

#[actix_web::test]
async fn malformed_bodies_get_problem_documents_on_every_expression_endpoint() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let oversized = format!("\"{}\"", "x".repeat(1_100_000));
    let bad_inputs: [(&str, Vec<u8>, StatusCode); 3] = [
        (
            "invalid UTF-8",
            b"\"name contains \xff\xfe\xc0\"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "lone surrogate",
            br#""name contains \ud800""#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "body over the JSON limit",
            oversized.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (uri, template) in EXPRESSION_ENDPOINTS {
        for (what, expression, want) in &bad_inputs {
            let (status, content_type, body) =
                post_raw!(app, *uri, body_with(template, expression));
            let what = format!("{what} to {uri}");
            assert_problem(&what, status, &content_type, &body);
            assert_eq!(status, *want, "{what}: {body}");
        }
    }

    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let (status, content_type, body) = post_raw!(
        app,
        "/api/v1/import/filters?preview=true",
        nested.into_bytes()
    );
    assert_problem("deeply nested JSON", status, &content_type, &body);
}

#[actix_web::test]
async fn pathological_expressions_are_refused_with_diagnostics_not_errors() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let deep = format!(
        "\"{}name contains \\\"x\\\"{}\"",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let huge = format!("\"name contains \\\"{}\\\"\"", "x".repeat(1_000_000));
    let many_regexes = format!(
        "\"{}\"",
        (0..2_000)
            .map(|i| format!(r#"name =~ \"\\w{{20}}{i}\""#))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    for (what, expression, message) in [
        ("10,000 nested parentheses", deep, "nest deeper than"),
        ("a 1 MB expression", huge, "bytes"),
        ("2,000 large regexes", many_regexes, "too large together"),
    ] {
        for (uri, template) in EXPRESSION_ENDPOINTS {
            let (status, content_type, body) =
                post_raw!(app, *uri, body_with(template, expression.as_bytes()));
            let what = format!("{what} to {uri}");
            let diagnostics = if uri.contains("validate") {
                assert_eq!(status, StatusCode::OK, "{what}: {body}");
                assert_eq!(body["valid"], false, "{what}: {body}");
                &body["errors"]
            } else if uri.contains("import") {
                // An import reports each item; a bad expression makes its item invalid.
                assert_eq!(status, StatusCode::OK, "{what}: {body}");
                assert_eq!(body["items"][0]["outcome"], "invalid", "{what}: {body}");
                if body["items"][0]["diagnostics"].is_null() {
                    &body["items"][0]["errors"]
                } else {
                    &body["items"][0]["diagnostics"]
                }
            } else {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
                assert_problem(&what, status, &content_type, &body);
                // An expression over the input limit is refused as a field before it is parsed.
                if body["diagnostics"].is_null() {
                    &body["errors"]
                } else {
                    &body["diagnostics"]
                }
            };
            let first = &diagnostics[0];
            assert!(
                first["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(message)),
                "{what}: {body}"
            );
            assert!(first["start"].as_u64() <= first["end"].as_u64(), "{what}");
        }
    }
}

#[actix_web::test]
async fn export_refuses_oversized_and_malformed_bodies_with_problem_documents() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let oversized = format!(r#"{{"ids": ["{}"]}}"#, "0".repeat(1_100_000));
    let (status, content_type, body) =
        post_raw!(app, "/api/v1/export/filters", oversized.into_bytes());
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_problem("oversized export body", status, &content_type, &body);

    let (status, content_type, body) = post_raw!(
        app,
        "/api/v1/export/filters",
        b"{\"ids\": [\"\xff\"]}".to_vec()
    );
    assert_problem("invalid UTF-8 export body", status, &content_type, &body);

    let (status, _, body) = post_raw!(app, "/api/v1/export/filters", Vec::new());
    assert_eq!(
        status,
        StatusCode::OK,
        "an empty body exports everything: {body}"
    );
}

#[actix_web::test]
async fn fields_list_the_hyphenated_m3u_attribute_spellings_as_aliases() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, list) = send!(app, TestRequest::get().uri("/api/v1/filters/fields/stream"));
    assert_eq!(status, StatusCode::OK);
    let aliases = |name: &str| -> Vec<String> {
        list["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no field {name}"))["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    for (field, spelling) in [
        ("tvg_id", "tvg-id"),
        ("tvg_name", "tvg-name"),
        ("tvg_logo", "tvg-logo"),
        ("tvg_chno", "tvg-chno"),
        ("tvg_shift", "tvg-shift"),
        ("group_title", "group-title"),
        ("catchup_days", "catchup-days"),
        ("catchup_source", "catchup-source"),
        ("tvg_country", "tvg-country"),
        ("tvg_language", "tvg-language"),
        ("tvg_url", "tvg-url"),
    ] {
        assert!(
            aliases(field).iter().any(|a| a == spelling),
            "{field}: {:?}",
            aliases(field)
        );
    }
}

#[actix_web::test]
async fn logo_helper_resolves_under_the_server_base_url() {
    let server = test_server().await;
    let source = ingest_channels(
        &server.repos,
        &unique("logos"),
        vec![ChannelData {
            name: "BBC One".into(),
            stream_url: "http://example.com/bbc1".into(),
            ..Default::default()
        }],
    )
    .await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, body) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/data-mapping/test")
            .set_json(json!({
                "domain": "stream", "source_ids": [source.to_string()],
                "expression": "SET tvg_logo = \"@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV\""
            }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["sample"][0]["after"]["tvg_logo"],
        "http://localhost:8080/logos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png"
    );
}
