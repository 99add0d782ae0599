//! The harness of the end-to-end tests: the real `tvarr-server` binary on a fresh data
//! directory and the test database, driven over HTTP.
#![allow(dead_code)] // each test binary uses part of it

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tvarr_testkit::{TvarrProcess, free_port, test_database_url};

pub const BINARY: &str = env!("CARGO_BIN_EXE_tvarr-server");

/// A running `tvarr-server` on a fresh data directory and the test database.
pub struct Server {
    pub process: TvarrProcess,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    pub data_dir: std::path::PathBuf,
    pub database: String,
}

impl Server {
    pub async fn start(extra_env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let database = test_database_url(&data_dir).await;
        let data_dir_text = data_dir.to_str().unwrap().to_string();
        let mut env = vec![
            ("TVARR_LISTEN", listen.as_str()),
            ("TVARR_DATA_DIR", data_dir_text.as_str()),
            ("TVARR_DATABASE_URL", database.as_str()),
            ("TVARR_WORKERS", "1"),
        ];
        env.extend_from_slice(extra_env);
        let process = TvarrProcess::spawn(BINARY, &[], &env, port).unwrap();
        let server = Server {
            process,
            client: reqwest::Client::new(),
            _dir: dir,
            data_dir,
            database,
        };
        server.wait_until_live().await;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.process.base_url)
    }

    pub async fn wait_until_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(self.url("/livez")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("tvarr-server did not come up");
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn text(&self, path: &str) -> (u16, String) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn create(&self, path: &str, body: Value) -> String {
        let (status, created) = self.post(path, body).await;
        assert_eq!(status, 201, "{path}: {created}");
        created["id"].as_str().unwrap().to_string()
    }

    /// Waits for `job_id` to end; returns the job.
    pub async fn wait(&self, job_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, job) = self.get(&format!("/api/v1/jobs/{job_id}")).await;
            if matches!(
                job["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return job;
            }
            assert!(Instant::now() < deadline, "job did not end: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Queues the job at `path` (a `202 {job_id}` endpoint) and waits for it to succeed.
    pub async fn run(&self, path: &str) -> Value {
        let (status, accepted) = self.post(path, json!({})).await;
        assert_eq!(status, 202, "{path}: {accepted}");
        let job = self.wait(accepted["job_id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "succeeded", "{path}: {job}");
        job
    }
}
