//! A `tvarr-worker` serves its own `/metrics` and `/livez` when `TVARR_METRICS_LISTEN` is set,
//! so Prometheus can scrape every process of a distributed install.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tvarr_testkit::{TvarrProcess, free_port};

const BINARY: &str = env!("CARGO_BIN_EXE_tvarr-worker");

/// `GET path` over HTTP/1.0: the status code and the body.
async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}

fn spawn(data_dir: &std::path::Path, metrics: Option<u16>) -> TvarrProcess {
    let database = format!("sqlite://{}?mode=rwc", data_dir.join("tvarr.db").display());
    let listen = metrics.map(|port| format!("127.0.0.1:{port}"));
    let mut envs = vec![
        ("TVARR_DATABASE_URL", database.as_str()),
        ("TVARR_DATA_DIR", data_dir.to_str().unwrap()),
        ("TVARR_WORKERS", "1"),
    ];
    if let Some(listen) = &listen {
        envs.push(("TVARR_METRICS_LISTEN", listen.as_str()));
    }
    TvarrProcess::spawn(BINARY, &[], &envs, metrics.unwrap_or(0)).unwrap()
}

#[tokio::test]
async fn a_worker_serves_its_metrics_and_liveness_where_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut worker = spawn(dir.path(), Some(port));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match get(port, "/livez").await {
            Ok((200, body)) => {
                assert_eq!(body, "ok");
                break;
            }
            _ if Instant::now() < deadline && worker.is_running() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("the worker's /livez never answered: {other:?}"),
        }
    }
    let (status, body) = get(port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    // The job counts are read from the jobs table at scrape time, one per kind and status.
    assert!(
        body.contains("tvarr_jobs{kind=\"ingest_stream\",status=\"queued\"} 0"),
        "{body}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let (status, _) = get(port, "/api/v1/sources").await.unwrap();
    assert_eq!(
        status, 404,
        "a worker serves nothing but its metrics and liveness"
    );
    worker.signal("TERM");
    assert!(
        worker.wait_timeout(Duration::from_secs(15)).is_some(),
        "the worker stops on SIGTERM with its listener"
    );
}
