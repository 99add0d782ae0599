//! End-to-end: the real `tvarr-server` binary over HTTP, on the test database
//! (SQLite by default; PostgreSQL or MariaDB when `TVARR_TEST_DATABASE_URL` says so).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tvarr_testkit::{ProviderServer, Reply, Route, free_port, testing_on_sqlite};

mod support;

use support::{BINARY, Server};

#[tokio::test]
async fn answers_readyz_and_creates_its_sqlite_database() {
    let server = Server::start(&[]).await;
    let r = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    if testing_on_sqlite() {
        assert!(server.data_dir.join("tvarr.db").exists());
    }
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], true);
    assert_eq!(health["access_control"], false);
    assert!(
        health["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no admin password")
    );
}

#[tokio::test]
async fn serves_its_openapi_document_and_docs_page() {
    let server = Server::start(&[]).await;
    let (status, api) = server.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/sources/stream",
        "/api/v1/sources/stream/{id}/ingest",
        "/api/v1/jobs/{id}/cancel",
    ] {
        assert!(
            api["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    let page = server
        .client
        .get(server.url("/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn counts_requests_by_route_pattern_in_its_metrics() {
    let server = Server::start(&[]).await;
    let (status, _) = server.get("/api/v1/sources/stream").await;
    assert_eq!(status, 200);
    let (status, _) = server
        .get("/api/v1/sources/stream/0191d1f4-7c5e-7a8b-9c0d-1e2f3a4b5c6d")
        .await;
    assert_eq!(status, 404);
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |route: &str, status: u16| {
        text.lines()
            .find(|l| {
                l.starts_with("tvarr_http_requests_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("status=\"{status}\""))
            })
            .map(str::to_owned)
    };
    let listed = line("/api/v1/sources/stream", 200).expect("the list request is counted");
    assert!(listed.ends_with(" 1"), "{listed}");
    // The id is folded into the route's pattern, so ids never make a series each.
    assert!(line("/api/v1/sources/stream/{id}", 404).is_some(), "{text}");
    assert!(!text.contains("0191d1f4"), "an id leaked into a label");
    assert!(text.contains("tvarr_http_request_duration_seconds"));
}

#[tokio::test]
async fn refuses_bad_input_with_problem_documents() {
    let server = Server::start(&[]).await;
    let (status, problem) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "", "source_type": "xtream", "url": "ftp://x"}),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "url", "username", "password"]);

    let (status, problem) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "a", "source_type": "rss", "url": "http://x/"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let (status, _) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "a", "source_type": "m3u", "url": "http://x/", "colour": 1}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, problem) = server.get("/api/v1/sources/stream/not-an-id").await;
    assert_eq!(status, 400);
    assert_eq!(problem["status"], 400);
    let (status, _) = server
        .get("/api/v1/sources/stream/0190c7b2-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, _) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": big, "source_type": "m3u", "url": "http://x/"}),
        )
        .await;
    assert!(status == 400 || status == 413, "{status}");
    let r = server
        .client
        .get(server.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn keeps_source_passwords_out_of_answers() {
    let server = Server::start(&[]).await;
    let (status, created) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "panel", "source_type": "xtream", "url": "http://127.0.0.1:9/", "username": "u", "password": "hunter2"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["has_password"], true);
    assert!(!created.to_string().contains("hunter2"));
    let id = created["id"].as_str().unwrap();
    let r = server
        .client
        .put(server.url(&format!("/api/v1/sources/stream/{id}")))
        .json(&json!({"name": "panel 2", "source_type": "xtream", "url": "http://127.0.0.1:9/", "username": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "an update without a password keeps the stored one"
    );
    let (_, listed) = server.get("/api/v1/sources/stream?limit=1000").await;
    assert!(!listed.to_string().contains("hunter2"));
}

#[tokio::test]
async fn ingests_a_playlist_from_a_provider_through_a_job() {
    let provider = ProviderServer::start().await.unwrap();
    let playlist =
        std::fs::read("../../fixtures/external/m3u/iptv-org/gh-pages_countries_iq.m3u").unwrap();
    provider.route("/iq.m3u", Route::ok("audio/x-mpegurl", playlist));
    let server = Server::start(&[]).await;
    let (status, source) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "iq", "source_type": "m3u", "url": provider.url("/iq.m3u")}),
        )
        .await;
    assert_eq!(status, 201);
    let id = source["id"].as_str().unwrap().to_string();
    let (status, accepted) = server
        .post(&format!("/api/v1/sources/stream/{id}/ingest"), json!({}))
        .await;
    assert_eq!(status, 202);
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job did not end: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, source) = server.get(&format!("/api/v1/sources/stream/{id}")).await;
    assert_eq!(source["state"], "ok");
    let count = source["channel_count"].as_u64().unwrap();
    assert_eq!(count, 25, "the fixture has 25 entries: {source}");
    // The job's progress counts the bytes read and, beside them, the channels written.
    let size = std::fs::metadata("../../fixtures/external/m3u/iptv-org/gh-pages_countries_iq.m3u")
        .unwrap()
        .len();
    assert_eq!(job["progress"]["records"].as_u64(), Some(count), "{job}");
    assert_eq!(job["progress"]["done"].as_u64(), Some(size), "{job}");
    let (_, channels) = server
        .get(&format!("/api/v1/sources/stream/{id}/channels?limit=5"))
        .await;
    assert_eq!(channels["total"].as_u64().unwrap(), count);
    assert_eq!(channels["items"].as_array().unwrap().len(), 5);
    assert_eq!(provider.hits("/iq.m3u"), 1);

    // The provider now fails: the source is marked failed and its channels stay.
    provider.route(
        "/iq.m3u",
        Route::new(Reply::status(500, "boom").header("Content-Type", "text/plain")),
    );
    let (_, accepted) = server
        .post(&format!("/api/v1/sources/stream/{id}/ingest"), json!({}))
        .await;
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
        if job["status"] == "failed" {
            break;
        }
        assert!(job["status"] != "succeeded", "{job}");
        assert!(Instant::now() < deadline, "job did not end: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, source) = server.get(&format!("/api/v1/sources/stream/{id}")).await;
    assert_eq!(source["state"], "failed");
    assert_eq!(source["channel_count"].as_u64().unwrap(), count);
    assert!(
        source["last_error"].as_str().unwrap().contains("500"),
        "{source}"
    );
}

#[tokio::test]
async fn requires_credentials_once_an_admin_password_is_set() {
    let server = Server::start(&[("TVARR_ADMIN_PASSWORD", "correct horse battery")]).await;
    let (status, problem) = server.get("/api/v1/sources/stream").await;
    assert_eq!(status, 401);
    assert!(problem["detail"].as_str().unwrap().contains("log in"));
    let (status, _) = server.get("/livez").await;
    assert!(status == 200 || status == 0);

    let r = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = server
        .client
        .get(server.url("/api/v1/sources/stream"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = server
        .client
        .post(server.url("/api/v1/auth/api-keys"))
        .header("cookie", &cookie)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {key}");
    let r = server
        .client
        .get(server.url("/api/v1/jobs"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = created["id"].as_str().unwrap();
    let r = server
        .client
        .delete(server.url(&format!("/api/v1/auth/api-keys/{id}")))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = server
        .client
        .get(server.url("/api/v1/jobs"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a revoked key authenticates nothing");
}

#[tokio::test]
async fn stops_within_ten_seconds_on_sigterm_while_an_ingest_hangs() {
    let provider = ProviderServer::start().await.unwrap();
    let playlist =
        std::fs::read("../../fixtures/external/m3u/iptv-org/gh-pages_countries_iq.m3u").unwrap();
    // The download sends half the playlist and then hangs, so the job is mid-run at SIGTERM.
    provider.route(
        "/hang.m3u",
        Route::ok("audio/x-mpegurl", playlist).stalling_first(1),
    );
    let mut server = Server::start(&[]).await;
    let (status, source) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "hangs", "source_type": "m3u", "url": provider.url("/hang.m3u")}),
        )
        .await;
    assert_eq!(status, 201);
    let id = source["id"].as_str().unwrap().to_string();
    let (status, accepted) = server
        .post(&format!("/api/v1/sources/stream/{id}/ingest"), json!({}))
        .await;
    assert_eq!(status, 202);
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.hits("/hang.m3u") == 0 {
        assert!(
            Instant::now() < deadline,
            "the ingest never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
    assert_eq!(job["status"], "running", "{job}");

    let started = Instant::now();
    server.process.signal("TERM");
    let status = server
        .process
        .wait_timeout(Duration::from_secs(10))
        .expect("still running 10 s after SIGTERM with a job running");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    provider.release();
}

#[tokio::test]
async fn stops_within_ten_seconds_on_sigterm() {
    let mut server = Server::start(&[]).await;
    let started = Instant::now();
    server.process.signal("TERM");
    let status = server
        .process
        .wait_timeout(Duration::from_secs(10))
        .expect("still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn exits_with_a_clear_message_when_the_database_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(BINARY)
        .env("TVARR_DATA_DIR", dir.path())
        .env("TVARR_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env(
            "TVARR_DATABASE_URL",
            "postgres://postgres:secret@127.0.0.1:1/test",
        )
        .env("TVARR_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn refuses_an_invalid_setting_naming_it() {
    let output = std::process::Command::new(BINARY)
        .env("TVARR_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen"));
}

/// Runs `sql` on the PostgreSQL server of `database_url`, connected to its `postgres` database.
async fn postgres_admin(database_url: &str, sql: &str) {
    use sqlx::Connection as _;
    let (prefix, _) = database_url.rsplit_once('/').unwrap();
    let mut conn = sqlx::PgConnection::connect(&format!("{prefix}/postgres"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn wait_for_status(server: &Server, path: &str, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = server.get(path).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {status} ({body}), not {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The database goes away under a running server (PostgreSQL refuses every connection to it)
/// and comes back: `/readyz` and the API say so with 503 problem documents, never a 500, and
/// both recover without a restart. Runs on the PostgreSQL pass, where a database can be taken
/// away; an embedded SQLite file cannot be.
#[tokio::test]
async fn reports_a_lost_database_and_recovers_when_it_returns() {
    if !std::env::var("TVARR_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let server = Server::start(&[]).await;
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200);
    let name = server
        .database
        .rsplit_once('/')
        .unwrap()
        .1
        .split('?')
        .next()
        .unwrap()
        .to_string();

    postgres_admin(
        &server.database,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await;
    postgres_admin(
        &server.database,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    wait_for_status(&server, "/readyz", 503, Duration::from_secs(30)).await;
    let r = server
        .client
        .get(server.url("/api/v1/sources/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("unavailable"),
        "{problem}"
    );
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["database"], false);

    postgres_admin(
        &server.database,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    wait_for_status(&server, "/readyz", 200, Duration::from_secs(30)).await;
    let (status, _) = server.get("/api/v1/sources/stream").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cancelling_an_ingest_that_waits_for_the_response_headers_ends_it_cancelled() {
    // Connections complete in the kernel's backlog and never get an answer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/never.m3u", silent.local_addr().unwrap());
    let server = Server::start(&[]).await;
    let (status, source) = server
        .post(
            "/api/v1/sources/stream",
            json!({"name": "silent", "source_type": "m3u", "url": silent_url}),
        )
        .await;
    assert_eq!(status, 201, "{source}");
    let id = source["id"].as_str().unwrap().to_string();
    let (status, accepted) = server
        .post(&format!("/api/v1/sources/stream/{id}/ingest"), json!({}))
        .await;
    assert_eq!(status, 202);
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
        if job["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the job never started: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Waiting for headers that never come (the read timeout is 60 s, with 3 retries).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, _) = server
        .post(&format!("/api/v1/jobs/{job_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200);
    let job = loop {
        let (_, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
        if job["status"] != "running" {
            break job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after the cancel: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        elapsed < Duration::from_secs(3),
        "cancelled after {elapsed:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn sources_cannot_read_local_files_or_the_server_itself() {
    let server = Server::start(&[]).await;
    let own_metrics = server.url("/metrics");
    let imports = server.data_dir.join("imports");
    std::fs::write(
        imports.join("ok.m3u"),
        "#EXTM3U\n#EXTINF:-1,A\nhttp://h.test/a.ts\n",
    )
    .unwrap();
    // Named as written, a path outside the import directory is refused when the source is
    // saved: a 422 on `url`, before anything is read.
    let dot_dot = format!("{}/../../../../../../etc/passwd", imports.display());
    for (name, url, expected) in [
        ("passwd", "/etc/passwd", "outside the import directory"),
        (
            "passwd-url",
            "file:///etc/passwd",
            "outside the import directory",
        ),
        ("dot-dot", dot_dot.as_str(), "outside the import directory"),
        ("environ", "/proc/self/environ", "/proc"),
    ] {
        let (status, body) = server
            .post(
                "/api/v1/sources/stream",
                json!({"name": name, "source_type": "m3u", "url": url}),
            )
            .await;
        assert_eq!(status, 422, "{name}: {body}");
        let errors = body["errors"].to_string();
        assert!(errors.contains("\"url\""), "{name}: {body}");
        assert!(errors.contains(expected), "{name}: {body}");
    }
    // A symlink below the import directory looks right as written; the fetcher refuses it
    // once resolved.
    std::os::unix::fs::symlink("/etc/passwd", imports.join("passwd.m3u")).unwrap();
    let cases = [
        (
            "symlink",
            imports.join("passwd.m3u").display().to_string(),
            "outside the import directory",
        ),
        ("metrics", own_metrics, "own listen address"),
        (
            "metadata",
            "http://169.254.169.254/latest/".to_owned(),
            "link-local",
        ),
        ("inside", imports.join("ok.m3u").display().to_string(), ""),
    ];
    for (name, url, expected) in cases {
        let (status, source) = server
            .post(
                "/api/v1/sources/stream",
                json!({"name": name, "source_type": "m3u", "url": url}),
            )
            .await;
        assert_eq!(status, 201, "{source}");
        let id = source["id"].as_str().unwrap().to_string();
        let (_, accepted) = server
            .post(&format!("/api/v1/sources/stream/{id}/ingest"), json!({}))
            .await;
        let job_id = accepted["job_id"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        let job = loop {
            let (_, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
            if job["status"] == "succeeded" || job["status"] == "failed" {
                break job;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the job did not end: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (_, source) = server.get(&format!("/api/v1/sources/stream/{id}")).await;
        if expected.is_empty() {
            assert_eq!(job["status"], "succeeded", "{name}: {job}");
            assert_eq!(source["channel_count"], 1, "{name}: {source}");
            continue;
        }
        assert_eq!(job["status"], "failed", "{name}: {job}");
        assert_eq!(source["channel_count"], 0, "{name}: {source}");
        let error = source["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{name}: {source}");
        assert!(error.contains("refused"), "{name}: {source}");
    }
}
