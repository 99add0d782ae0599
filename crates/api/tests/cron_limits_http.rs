//! Cron schedules that would run too often are refused at the API (issue 13, defect 8:
//! `* * * * * *` was accepted and queued 120 ingests in two minutes).

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

fn stream(cron: &str) -> Value {
    json!({"name": unique("Cron"), "source_type": "m3u", "url": "http://example.com/list.m3u",
        "update_cron": cron})
}

fn epg(cron: &str) -> Value {
    json!({"name": unique("Cron guide"), "source_type": "xmltv", "url": "http://example.com/guide.xml",
        "update_cron": cron})
}

/// The one `update_cron` error of a 422 problem.
fn cron_error(status: StatusCode, problem: &Value) -> String {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let errors = problem["errors"].as_array().expect("field errors");
    let error = errors
        .iter()
        .find(|e| e["field"] == "update_cron")
        .unwrap_or_else(|| panic!("no update_cron error: {problem}"));
    error["message"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn every_second_cron_is_refused_with_a_422_naming_update_cron_and_the_minimum() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(stream("* * * * * *"))
    );
    let message = cron_error(status, &problem);
    assert!(message.contains("300 s"), "{message}");
    let (status, problem) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/epg")
            .set_json(epg("* * * * *"))
    );
    cron_error(status, &problem);
}

#[actix_web::test]
async fn irregular_crons_are_measured_at_their_closest_pair() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    // Twice a minute apart once a day; 23:58 and 00:01 across midnight.
    for cron in ["0,1 3 * * *", "1,58 0,23 * * *", "0,30 0 4 * * *"] {
        let (status, problem) = send!(
            app,
            TestRequest::post()
                .uri("/api/v1/sources/stream")
                .set_json(stream(cron))
        );
        cron_error(status, &problem);
    }
    for cron in ["*/5 * * * *", "0 3 * * *", "@hourly"] {
        let (status, created) = send!(
            app,
            TestRequest::post()
                .uri("/api/v1/sources/stream")
                .set_json(stream(cron))
        );
        assert_eq!(status, StatusCode::CREATED, "{cron}: {created}");
    }
}

#[actix_web::test]
async fn an_update_to_a_too_frequent_cron_is_refused() {
    let server = test_server().await;
    let app = init_service(tvarr_api::build_app(server.state)).await;
    let body = stream("0 3 * * *");
    let (status, created) = send!(
        app,
        TestRequest::post()
            .uri("/api/v1/sources/stream")
            .set_json(body.clone())
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let mut changed = body;
    changed["update_cron"] = json!("*/2 * * * *");
    let (status, problem) = send!(
        app,
        TestRequest::put()
            .uri(&format!("/api/v1/sources/stream/{id}"))
            .set_json(changed)
    );
    cron_error(status, &problem);
}
