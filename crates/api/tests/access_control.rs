//! Access control over HTTP, on the real store: what answers without credentials once an
//! account exists (under every spelling of every documented path), sessions that end at logout
//! and at a password change, throttled logins, and the bearer scheme in any case.
//!
//! Each test gets a database of its own (`sqlite::memory:`, or a fresh database on the server
//! `TVARR_TEST_DATABASE_URL` names): creating an account closes the API for everyone using that
//! database, which the other HTTP tests, sharing one, must not see.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode, Uri, header};
use actix_web::test::{TestRequest, call_service, init_service, read_body, read_body_json};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tvarr_api::{AppState, Authenticator, Metrics};
use tvarr_core::Repositories;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

/// The routes that answer without credentials, by method and path as the OpenAPI document
/// writes them.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/livez"),
    ("get", "/readyz"),
    ("get", "/health"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/auth/status"),
    ("post", "/api/v1/auth/setup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/proxy/{id}.m3u"),
    ("get", "/proxy/{id}.xmltv"),
    ("get", "/proxy/{proxy_id}/{channel_id}"),
    ("get", "/hdhr/{proxy_id}/discover.json"),
    ("get", "/hdhr/{proxy_id}/lineup.json"),
    ("get", "/hdhr/{proxy_id}/lineup_status.json"),
    ("post", "/hdhr/{proxy_id}/lineup.post"),
    ("get", "/hdhr/{proxy_id}/device.xml"),
    ("get", "/hdhr/{proxy_id}/capability"),
    ("get", "/hdhr/{proxy_id}/{device}/discover.json"),
    ("get", "/hdhr/{proxy_id}/{device}/lineup.json"),
    ("get", "/hdhr/{proxy_id}/{device}/lineup_status.json"),
    ("post", "/hdhr/{proxy_id}/{device}/lineup.post"),
    ("get", "/hdhr/{proxy_id}/{device}/device.xml"),
    ("get", "/hdhr/{proxy_id}/{device}/capability"),
    ("get", "/player_api.php"),
    ("get", "/xtream/{proxy_id}/player_api.php"),
    ("get", "/get.php"),
    ("get", "/xtream/{proxy_id}/get.php"),
    ("get", "/xmltv.php"),
    ("get", "/xtream/{proxy_id}/xmltv.php"),
    ("get", "/live/{username}/{password}/{stream}"),
    (
        "get",
        "/xtream/{proxy_id}/live/{username}/{password}/{stream}",
    ),
    ("get", "/{username}/{password}/{stream}"),
    ("get", "/xtream/{proxy_id}/{username}/{password}/{stream}"),
];

/// A database of this test's own, empty and migrated.
async fn own_repositories() -> Repositories {
    let url = if tvarr_testkit::testing_on_sqlite() {
        "sqlite::memory:".to_string()
    } else {
        tvarr_testkit::test_database_url(std::path::Path::new("unused")).await
    };
    tvarr_storage::Store::connect(&url)
        .await
        .unwrap()
        .repositories()
}

/// The state of one server process on `repos`.
async fn process_state(repos: &Repositories) -> AppState {
    let unused = Arc::new(support::Unused);
    let auth = Authenticator::new(repos.users.clone(), repos.api_keys.clone(), [9; 32])
        .await
        .unwrap();
    AppState {
        repos: repos.clone(),
        queue: unused.clone(),
        readiness: unused,
        job_events: broadcast::channel(16).0,
        // Whatever the other HTTP tests run with.
        settings: support::test_server().await.state.settings,
        auth: Arc::new(auth),
        metrics: Arc::new(Metrics::new()),
        outputs: Arc::new(support::Outputs(support::DirOutputs::new())),
        relay: support::test_relay(),
        transcoding: tvarr_relay::Transcoding::unavailable("not in these tests"),
    }
}

/// A server whose `admin` account has [`PASSWORD`].
async fn secured() -> (Repositories, AppState) {
    let repos = own_repositories().await;
    let state = process_state(&repos).await;
    state.auth.ensure_admin(PASSWORD).await.unwrap();
    (repos, state)
}

fn client(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 40000))
}

fn login_request(username: &str, password: &str, from: SocketAddr) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/login")
        .peer_addr(from)
        .set_json(json!({"username": username, "password": password}))
}

/// Logs in as `admin` with `$password` and gives the session cookie's `name=value`.
macro_rules! log_in {
    ($app:expr, $password:expr) => {{
        let res = call_service(
            &$app,
            login_request("admin", $password, client(1)).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "login failed");
        let cookie = res
            .response()
            .cookies()
            .find(|c| c.name() == "tvarr_session")
            .expect("a session cookie");
        format!("{}={}", cookie.name(), cookie.value())
    }};
}

/// The status of `GET $uri` with the `Cookie` header `$cookie`.
macro_rules! get_status {
    ($app:expr, $uri:expr, $cookie:expr) => {{
        let req = TestRequest::get()
            .uri($uri)
            .insert_header((header::COOKIE, String::from($cookie)))
            .to_request();
        call_service(&$app, req).await.status()
    }};
}

/// `path` with its template parameters filled in.
fn fill(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').unwrap();
        out.push_str(
            match &rest[open + 1..close] {
                "domain" => "stream".to_string(),
                _ => Uuid::now_v7().to_string(),
            }
            .as_str(),
        );
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn encode_all(segment: &str) -> String {
    segment.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn encode_first(segment: &str) -> String {
    let mut chars = segment.chars();
    match chars.next() {
        Some(c) => format!("%{:02x}{}", c as u32, chars.as_str()),
        None => String::new(),
    }
}

fn capitalise(segment: &str) -> String {
    let mut chars = segment.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Other spellings of `path`: percent-encoded, doubled slashes, dot segments, other case.
fn spellings(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let join = |segs: &[String]| format!("/{}", segs.join("/"));
    let owned: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
    let mut out = vec![path.to_string(), format!("{path}/"), format!("{path}//")];
    out.push(join(
        &owned.iter().map(|s| encode_all(s)).collect::<Vec<_>>(),
    ));
    out.push(path.to_uppercase());
    out.push(join(
        &owned.iter().map(|s| capitalise(s)).collect::<Vec<_>>(),
    ));
    out.push(path.replace('/', "%2F"));
    out.push(path.replace('/', "%2f").replacen("%2f", "/", 1));
    out.push(format!("/docs/..{path}"));
    out.push(format!("/docs/%2e%2e{path}"));
    for i in 0..owned.len() {
        let with = |replacement: String| {
            let mut segs = owned.clone();
            segs[i] = replacement;
            join(&segs)
        };
        out.push(with(encode_first(&owned[i])));
        out.push(with(encode_all(&owned[i])));
        out.push(with(owned[i].to_uppercase()));
        out.push(with(format!("/{}", owned[i])));
        out.push(with(format!("./{}", owned[i])));
        out.push(with(format!("%2e/{}", owned[i])));
        out.push(with(format!("x/../{}", owned[i])));
        out.push(with(format!("x/%2E%2E/{}", owned[i])));
        out.push(with(format!("{};x", owned[i])));
        out.push(with(format!("{}%00", owned[i])));
        out.push(with(format!("{}%20", owned[i])));
    }
    out.dedup();
    out
}

/// Whether an anonymous request was refused without running a protected handler: 401 from
/// the credentials check; the Xtream refusal of the short stream URL
/// `/{username}/{password}/{stream}`, a public route every path of three segments outside
/// `/api/v1` matches, which refuses it for want of an account (and, as for logins, with 429
/// once one name failed too often); or a 404 of the docs page's file server (a dot-segment
/// spelling that starts with `/docs/`).
fn refused(uri: &str, status: StatusCode, body: &[u8]) -> bool {
    let three_segments = uri.split('?').next().unwrap_or(uri).split('/').count() == 4;
    match status {
        StatusCode::TOO_MANY_REQUESTS => three_segments,
        StatusCode::UNAUTHORIZED => {
            let problem: Value = serde_json::from_slice(body).unwrap_or_default();
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("log in at POST /api/v1/auth/login"))
                || (three_segments && problem == serde_json::json!({"user_info": {"auth": 0}}))
        }
        StatusCode::NOT_FOUND => uri.starts_with("/docs/") && body.is_empty(),
        _ => false,
    }
}

#[actix_web::test]
async fn no_route_answers_an_anonymous_request_under_any_spelling_once_an_account_exists() {
    let (repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    let doc = serde_json::to_value(tvarr_api::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in PUBLIC {
        let operation = paths.get(*path).and_then(|p| p.get(*method));
        assert!(
            operation.is_some_and(|o| o.get("security").is_none()),
            "{method} {path} is public but not documented so"
        );
    }
    let marker = format!("bypass {}", Uuid::now_v7().simple());
    let mut protected = 0;
    let mut requests = 0;
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() || PUBLIC.contains(&(method, path.as_str())) {
                continue;
            }
            protected += 1;
            let operation = &item[method];
            assert!(
                operation["responses"].get("401").is_some() && operation["security"].is_array(),
                "{method} {path} needs credentials but does not document it"
            );
            let filled = fill(path);
            for uri in spellings(&filled) {
                if Uri::try_from(uri.as_str()).is_err() {
                    // No HTTP parser hands the application such a request target.
                    continue;
                }
                requests += 1;
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut req = TestRequest::default().method(method.clone()).uri(&uri);
                if method != Method::GET && method != Method::DELETE {
                    req = req.set_json(json!({
                        "name": marker,
                        "url": "http://example.com/x.m3u",
                        "source_type": "m3u",
                        "expression": "channel_name contains \"x\"",
                    }));
                }
                let res = call_service(&app, req.to_request()).await;
                let status = res.status();
                let body = read_body(res).await;
                assert!(
                    refused(&uri, status, &body),
                    "{method} {uri} (for {path}) answered {status} without credentials: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
    assert!(
        protected > 40,
        "only {protected} protected operations found"
    );
    assert!(requests > protected * 20, "only {requests} spellings tried");
    // Nothing a handler would have written exists.
    assert!(repos.api_keys.list().await.unwrap().is_empty());
    let page = tvarr_core::PageRequest::new(100, 0);
    assert_eq!(repos.stream_sources.list(page).await.unwrap().total, 0);
    assert_eq!(repos.epg_sources.list(page).await.unwrap().total, 0);
}

#[actix_web::test]
async fn the_public_routes_stay_reachable_and_metrics_need_credentials() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    for path in [
        "/livez",
        "/readyz",
        "/health",
        "/api/v1/openapi.json",
        "/api/v1/auth/status",
        "/docs/",
    ] {
        let res = call_service(&app, TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    // The outputs players load answer without credentials: here 404, nothing is published.
    let (proxy, channel) = (Uuid::now_v7(), Uuid::now_v7());
    for path in [
        format!("/proxy/{proxy}.m3u"),
        format!("/proxy/{proxy}.xmltv"),
        format!("/proxy/{proxy}/{channel}"),
        format!("/proxy/{proxy}/{channel}.ts"),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let req = TestRequest::default().method(method.clone()).uri(&path);
            let res = call_service(&app, req.to_request()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(
                res.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/problem+json",
                "{method} {path}"
            );
        }
    }
    let res = call_service(
        &app,
        TestRequest::get().uri("/api/v1/auth/status").to_request(),
    )
    .await;
    let status: Value = read_body_json(res).await;
    assert_eq!(status["required"], true);
    let res = call_service(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/setup")
            .set_json(json!({"username": "other", "password": "long enough"}))
            .to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "setup is refused, not hidden"
    );
    let cookie = log_in!(app, PASSWORD);
    let res = call_service(
        &app,
        TestRequest::post().uri("/api/v1/auth/logout").to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "logout without a cookie"
    );
    // Unknown paths are refused before they are looked up, and found once logged in.
    assert_eq!(
        get_status!(app, "/nothing-here", ""),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_status!(app, "/nothing-here", &cookie),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get_status!(app, "/metrics", ""), StatusCode::UNAUTHORIZED);
    assert_eq!(get_status!(app, "/metrics", &cookie), StatusCode::OK);
}

#[actix_web::test]
async fn docs_and_the_root_redirect_to_the_docs_page() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    for path in ["/", "/docs"] {
        let res = call_service(&app, TestRequest::get().uri(path).to_request()).await;
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        assert_eq!(
            res.headers().get(header::LOCATION).unwrap(),
            "/docs/",
            "{path}"
        );
    }
}

#[actix_web::test]
async fn logging_out_revokes_the_session() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    let cookie = log_in!(app, PASSWORD);
    let other = log_in!(app, PASSWORD);
    assert_eq!(
        get_status!(app, "/api/v1/auth/api-keys", &cookie),
        StatusCode::OK
    );
    let res = call_service(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/logout")
            .insert_header((header::COOKIE, cookie.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = res
        .response()
        .cookies()
        .find(|c| c.name() == "tvarr_session")
        .expect("the cookie is cleared");
    assert_eq!(cleared.value(), "");
    // A client that kept the old cookie is refused; the other session lives on.
    assert_eq!(
        get_status!(app, "/api/v1/auth/api-keys", &cookie),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_status!(app, "/api/v1/auth/api-keys", &other),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_logout_in_one_process_ends_the_session_in_another() {
    let repos = own_repositories().await;
    let first = process_state(&repos).await;
    first.auth.ensure_admin(PASSWORD).await.unwrap();
    let second = process_state(&repos).await;
    let first = init_service(tvarr_api::build_app(first)).await;
    let second = init_service(tvarr_api::build_app(second)).await;
    let cookie = log_in!(first, PASSWORD);
    assert_eq!(get_status!(second, "/api/v1/jobs", &cookie), StatusCode::OK);
    let req = TestRequest::post()
        .uri("/api/v1/auth/logout")
        .insert_header((header::COOKIE, cookie.as_str()))
        .to_request();
    assert_eq!(
        call_service(&first, req).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get_status!(second, "/api/v1/jobs", &cookie),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn another_process_closes_the_api_once_setup_ran_in_one() {
    let repos = own_repositories().await;
    let first = init_service(tvarr_api::build_app(process_state(&repos).await)).await;
    let second = init_service(tvarr_api::build_app(process_state(&repos).await)).await;
    assert_eq!(get_status!(second, "/api/v1/jobs", ""), StatusCode::OK);
    let req = TestRequest::post()
        .uri("/api/v1/auth/setup")
        .set_json(json!({"username": "admin", "password": PASSWORD}))
        .to_request();
    assert_eq!(
        call_service(&first, req).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        get_status!(second, "/api/v1/jobs", ""),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn changing_the_password_revokes_every_session_of_the_account() {
    let (_repos, state) = secured().await;
    let auth = state.auth.clone();
    let app = init_service(tvarr_api::build_app(state)).await;
    let sessions = [log_in!(app, PASSWORD), log_in!(app, PASSWORD)];
    for cookie in &sessions {
        assert_eq!(get_status!(app, "/api/v1/jobs", cookie), StatusCode::OK);
    }
    auth.ensure_admin("a new password").await.unwrap();
    for cookie in &sessions {
        assert_eq!(
            get_status!(app, "/api/v1/jobs", cookie),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = call_service(
        &app,
        login_request("admin", PASSWORD, client(2)).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the old password");
    let cookie = log_in!(app, "a new password");
    assert_eq!(get_status!(app, "/api/v1/jobs", &cookie), StatusCode::OK);
    // Setting the same password again changes nothing and keeps the session.
    auth.ensure_admin("a new password").await.unwrap();
    assert_eq!(get_status!(app, "/api/v1/jobs", &cookie), StatusCode::OK);
}

/// Sends `$attempts` wrong passwords for `$username` from `$from`; each must be a plain 401.
macro_rules! fail_logins {
    ($app:expr, $username:expr, $from:expr, $attempts:expr) => {{
        for n in 1..=$attempts {
            let res =
                call_service(&$app, login_request($username, "wrong", $from).to_request()).await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "attempt {n} for {} from {}",
                $username,
                $from
            );
        }
    }};
}

/// Asserts `res` is a 429 problem with a `Retry-After` of at least a second.
fn assert_throttled(res: ServiceResponse<impl MessageBody>) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let retry: u64 = res
        .headers()
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After: {retry}");
}

#[actix_web::test]
async fn the_sixth_wrong_password_in_a_row_is_answered_429() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    fail_logins!(app, "admin", client(10), 5);
    let res = call_service(
        &app,
        login_request("admin", "wrong", client(10)).to_request(),
    )
    .await;
    assert_throttled(res);
    // Locked: not even the right password, nor from another address, is checked now.
    let res = call_service(
        &app,
        login_request("admin", PASSWORD, client(11)).to_request(),
    )
    .await;
    assert_throttled(res);
    // An account that does not exist is throttled the same way, so 429 tells nothing.
    fail_logins!(app, "nobody", client(12), 5);
    let res = call_service(
        &app,
        login_request("nobody", "wrong", client(12)).to_request(),
    )
    .await;
    assert_throttled(res);
}

#[actix_web::test]
async fn a_successful_login_clears_its_accounts_failures() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    fail_logins!(app, "admin", client(20), 4);
    let _cookie = log_in!(app, PASSWORD);
    fail_logins!(app, "admin", client(20), 5);
}

#[actix_web::test]
async fn failed_logins_from_one_address_are_throttled_across_account_names() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    for n in 0..20 {
        fail_logins!(app, &format!("user{n}"), client(30), 1);
    }
    let res = call_service(
        &app,
        login_request("user20", "wrong", client(30)).to_request(),
    )
    .await;
    assert_throttled(res);
    // Another address is not affected.
    fail_logins!(app, "user20", client(31), 1);
}

#[actix_web::test]
async fn failed_logins_in_one_process_throttle_the_account_in_another() {
    // Two server processes on one database: five failures spread over them lock the account
    // in both, and a restart (a new process) does not forget them.
    let repos = own_repositories().await;
    let first = process_state(&repos).await;
    first.auth.ensure_admin(PASSWORD).await.unwrap();
    let first = init_service(tvarr_api::build_app(first)).await;
    let second = init_service(tvarr_api::build_app(process_state(&repos).await)).await;
    fail_logins!(first, "admin", client(40), 3);
    fail_logins!(second, "admin", client(41), 2);
    for app in [&first, &second] {
        let res = call_service(
            app,
            login_request("admin", PASSWORD, client(42)).to_request(),
        )
        .await;
        assert_throttled(res);
    }
    let restarted = init_service(tvarr_api::build_app(process_state(&repos).await)).await;
    let res = call_service(
        &restarted,
        login_request("admin", PASSWORD, client(43)).to_request(),
    )
    .await;
    assert_throttled(res);
}

#[actix_web::test]
async fn the_bearer_scheme_is_accepted_in_any_case_and_keys_are_listed_with_a_total() {
    let (_repos, state) = secured().await;
    let app = init_service(tvarr_api::build_app(state)).await;
    let cookie = log_in!(app, PASSWORD);
    let res = call_service(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/api-keys")
            .insert_header((header::COOKIE, cookie.as_str()))
            .set_json(json!({"name": "prometheus"}))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = read_body_json(res).await;
    let key = created["key"].as_str().unwrap().to_string();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let res = call_service(
            &app,
            TestRequest::get()
                .uri("/api/v1/auth/api-keys")
                .insert_header((header::AUTHORIZATION, format!("{scheme} {key}")))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{scheme}");
        let list: Value = read_body_json(res).await;
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["items"][0]["name"], "prometheus");
        assert!(
            list["items"][0].get("key").is_none(),
            "the key is shown once"
        );
    }
    let res = call_service(
        &app,
        TestRequest::get()
            .uri("/metrics")
            .insert_header((header::AUTHORIZATION, format!("bearer {key}")))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "metrics with an API key");
    let res = call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/auth/api-keys")
            .insert_header((header::AUTHORIZATION, "bearer tvarr_00000000_wrong"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
