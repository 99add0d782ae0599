//! The filter, data-mapping and expression endpoints over HTTP.

mod support;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body_json};
use serde_json::{Value, json};
use tvarr_core::ChannelData;

use support::{ingest_channels, test_server};

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
    let (status, created) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": "Music", "domain": "stream", "action": "include", "expression": "group == \"music\""
        }))
    );
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_string();
    send!(
        app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": "Long", "domain": "epg", "action": "exclude", "expression": "programme_title contains \"x\""
        }))
    );

    let (_, one) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/filters/{id}"))
    );
    assert_eq!(one["expression"], "group == \"music\"");
    let (_, list) = send!(app, TestRequest::get().uri("/api/v1/filters?domain=stream"));
    assert_eq!(list["total"], 1);
    let (_, all) = send!(app, TestRequest::get().uri("/api/v1/filters"));
    assert_eq!(all["total"], 2);

    let (status, updated) = send!(
        app,
        TestRequest::put().uri(&format!("/api/v1/filters/{id}")).set_json(json!({
            "name": "No music", "domain": "stream", "action": "exclude", "expression": "group == \"music\""
        }))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["action"], "exclude");

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
    for name in ["a", "b", "c"] {
        let (status, rule) = send!(
            app,
            TestRequest::post().uri("/api/v1/data-mapping").set_json(json!({
                "name": name, "domain": "stream", "expression": format!("APPEND channel_name = \" {name}\"")
            }))
        );
        assert_eq!(status, StatusCode::CREATED, "{rule}");
        ids.push(rule["id"].as_str().unwrap().to_string());
    }
    let (_, list) = send!(app, TestRequest::get().uri("/api/v1/data-mapping"));
    let priorities: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, [0, 1, 2]);

    let (status, reordered) = send!(
        app,
        TestRequest::put()
            .uri("/api/v1/data-mapping/reorder")
            .set_json(json!({"ids": [ids[2], ids[0], ids[1]]}))
    );
    assert_eq!(status, StatusCode::OK, "{reordered}");
    let names: Vec<_> = reordered
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "a", "b"]);

    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, body) = send!(
        app,
        TestRequest::put()
            .uri("/api/v1/data-mapping/reorder")
            .set_json(json!({"ids": [ids[0], unknown]}))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "ids");

    let (status, rule) =
        send!(
        app,
        TestRequest::put().uri(&format!("/api/v1/data-mapping/{}", ids[0])).set_json(json!({
            "name": "a", "domain": "stream", "expression": "DELETE tvg_logo", "enabled": false
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
    let source = ingest_channels(&server.repos, "base", base_m3u()).await;
    ingest_channels(
        &server.repos,
        "other",
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
            "domain": "stream", "expression": "tvg_id starts_with \"ch\" OR name ends_with \" HD\""
        }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["matched"].as_u64(), body["total"].as_u64()),
        (Some(4), Some(7))
    );
    assert_eq!(body["sample"][0]["name"], "Channel 1 (Tested)");

    let (_, body) = send!(
        app,
        TestRequest::post().uri("/api/v1/filters/test").set_json(json!({
            "domain": "stream", "expression": "source_name == \"base\" AND name ends_with \" HD\"", "source_ids": [source.to_string()]
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
            "domain": "stream", "expression": "name ends_with \" HD\" REMOVE name = \" HD\", SET_IF_EMPTY group = \"HD\""
        }))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["affected"].as_u64(), body["total"].as_u64()),
        (Some(2), Some(7))
    );
    let first = &body["sample"][0];
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
async fn exported_rules_preview_and_import_into_another_server() {
    let source = test_server().await;
    let app = init_service(tvarr_api::build_app(source.state)).await;
    for (name, action, expression) in [
        ("Music", "include", "group == \"music\""),
        ("No mp4", "exclude", "url ends_with \".mp4\""),
    ] {
        send!(
            app,
            TestRequest::post().uri("/api/v1/filters").set_json(json!({
                "name": name, "domain": "stream", "action": action, "expression": expression
            }))
        );
    }
    send!(
        app,
        TestRequest::post()
            .uri("/api/v1/data-mapping")
            .set_json(json!({
                "name": "strip HD", "domain": "stream", "expression": "name -= \" HD\""
            }))
    );
    let (status, doc) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/export/filters")
            .set_json(json!({}))
    );
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["format"], "tvarr-rules");
    assert_eq!(
        (
            doc["filters"].as_array().unwrap().len(),
            doc["mapping_rules"].as_array().unwrap().len()
        ),
        (2, 1)
    );
    assert!(doc["filters"][0].get("id").is_none());

    let target = test_server().await;
    let target_app = init_service(tvarr_api::build_app(target.state)).await;
    send!(
        target_app,
        TestRequest::post().uri("/api/v1/filters").set_json(json!({
            "name": "Music", "domain": "stream", "action": "exclude", "expression": "true"
        }))
    );
    let mut shared = doc.clone();
    shared["filters"].as_array_mut().unwrap().push(json!({
        "name": "Broken", "domain": "stream", "action": "include", "expression": "chanel_name == \"x\""
    }));

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
        .map(|i| (i["name"].as_str().unwrap(), i["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("Music", "skip"),
            ("No mp4", "create"),
            ("Broken", "invalid"),
            ("strip HD", "create")
        ]
    );
    assert_eq!(
        preview["items"][2]["diagnostics"][0]["suggestion"],
        "channel_name"
    );
    let (_, list) = send!(target_app, TestRequest::get().uri("/api/v1/filters"));
    assert_eq!(list["total"], 1, "a preview writes nothing");

    let (status, report) = send!(
        target_app,
        TestRequest::post()
            .uri("/api/v1/import/filters?preview=false&replace=true")
            .set_json(&shared)
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["invalid"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let (_, list) = send!(target_app, TestRequest::get().uri("/api/v1/filters"));
    assert_eq!(list["total"], 2);
    let music = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Music")
        .unwrap();
    assert_eq!(
        music["action"], "include",
        "replaced by the imported filter"
    );
    let (_, rules) = send!(target_app, TestRequest::get().uri("/api/v1/data-mapping"));
    assert_eq!(rules["items"][0]["name"], "strip HD");

    let (status, _) = send!(
        target_app,
        TestRequest::post()
            .uri("/api/v1/import/filters")
            .set_json(json!({"hello": 1}))
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
