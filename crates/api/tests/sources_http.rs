//! A stream source's `max_connections` over HTTP on the real store (see `support` for running
//! these on PostgreSQL and MariaDB): it goes in, comes back, is cleared with null, and is
//! refused outside 1 to 1000 with a 422 naming the field.

mod support;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use serde_json::{Value, json};
use support::{test_server, unique};

macro_rules! send {
    ($app:expr, $req:expr) => {{
        let res = call_service(&$app, $req.to_request()).await;
        let status = res.status();
        let body = read_body(res).await;
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, json)
    }};
}

fn body(max_connections: Value) -> Value {
    json!({"name": unique("Limited"), "source_type": "m3u", "url": "http://example.com/list.m3u",
        "max_connections": max_connections})
}

#[actix_web::test]
async fn max_connections_round_trips_and_clears_to_null() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let sent = body(json!(2));
    let (status, created) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(sent.clone())
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["max_connections"], 2, "{created}");
    let id = created["id"].as_str().unwrap();
    let uri = format!("/api/v1/sources/stream/{id}");

    let (status, read) = send!(app, TestRequest::get().uri(&uri));
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["max_connections"], 2, "{read}");

    let mut changed = sent.clone();
    changed["max_connections"] = json!(1000);
    let (status, updated) = send!(app, TestRequest::put().uri(&uri).set_json(changed));
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["max_connections"], 1000, "{updated}");

    let mut cleared = sent;
    cleared["max_connections"] = Value::Null;
    let (status, updated) = send!(app, TestRequest::put().uri(&uri).set_json(cleared));
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated["max_connections"].is_null(), "{updated}");
    let (_, read) = send!(app, TestRequest::get().uri(&uri));
    assert!(read["max_connections"].is_null(), "{read}");
    assert!(
        read.as_object().unwrap().contains_key("max_connections"),
        "{read}"
    );

    // Left out, it is no limit.
    let mut absent = body(Value::Null);
    absent.as_object_mut().unwrap().remove("max_connections");
    let (status, created) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(absent)
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["max_connections"].is_null(), "{created}");
}

#[actix_web::test]
async fn max_connections_outside_1_to_1000_is_a_422_naming_it() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, created) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(body(json!(1)))
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    for bad in [0, 1001] {
        let (status, problem) = send!(
            app,
            TestRequest::post()
                .uri("/api/v1/sources/stream")
                .set_json(body(json!(bad)))
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        let errors = problem["errors"].as_array().expect("field errors");
        assert!(
            errors.iter().any(|e| e["field"] == "max_connections"),
            "{bad}: {problem}"
        );
        let (status, problem) = send!(
            app,
            TestRequest::put()
                .uri(&format!("/api/v1/sources/stream/{id}"))
                .set_json(body(json!(bad)))
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == "max_connections"),
            "{bad}: {problem}"
        );
    }
    let (_, read) = send!(
        app,
        TestRequest::get().uri(&format!("/api/v1/sources/stream/{id}"))
    );
    assert_eq!(
        read["max_connections"], 1,
        "a refused update changes nothing"
    );
}
