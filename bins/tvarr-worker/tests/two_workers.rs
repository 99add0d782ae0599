//! Two real `tvarr-worker` processes sharing a PostgreSQL database and queue: every job runs
//! exactly once to success, and when one worker is killed mid-job the other finishes it.
//!
//! Needs PostgreSQL (`TVARR_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Skipped with a notice when it does not answer, except under `CI=true`, where that fails.

use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tvarr_core::{JobKind, JobStatus, NewJob, StreamSourceInput, StreamSourceType};
use tvarr_jobs::{JobScheduler, Queue, QueueConfig};
use tvarr_storage::Store;
use tvarr_testkit::{ProviderServer, Route, TvarrProcess, free_port};

const BINARY: &str = env!("CARGO_BIN_EXE_tvarr-worker");
const JOBS: usize = 12;

fn playlist(source: usize, channels: usize) -> String {
    let mut out = String::from("#EXTM3U\n");
    for c in 0..channels {
        out.push_str(&format!(
            "#EXTINF:-1 tvg-id=\"s{source}c{c}\" group-title=\"G{}\",Channel {source}-{c}\nhttp://127.0.0.1:9/{source}/{c}.ts\n",
            c % 3
        ));
    }
    out
}

/// A fresh database on the PostgreSQL server, so this test shares nothing with the others.
async fn fresh_database() -> Option<String> {
    let base = std::env::var("TVARR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required under CI: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL does not answer at {base}: {e}");
            return None;
        }
    };
    let name = format!("tvarr_workers_{}", std::process::id());
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

fn spawn_worker(database: &str, data_dir: &std::path::Path) -> TvarrProcess {
    TvarrProcess::spawn(
        BINARY,
        &[],
        &[
            ("TVARR_DATABASE_URL", database),
            ("TVARR_QUEUE_URL", database),
            ("TVARR_DATA_DIR", data_dir.to_str().unwrap()),
            ("TVARR_WORKERS", "1"),
            ("TVARR_JOB_STALE_SECONDS", "3"),
        ],
        free_port(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_every_job_once_and_take_over_from_a_killed_one() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let provider = ProviderServer::start().await.unwrap();
    let store = Store::connect(&database).await.unwrap();
    let repos = store.repositories();

    // JOBS sources; the first one's playlist stalls mid-download on its first request.
    let mut sources = Vec::new();
    for n in 0..JOBS {
        let path = format!("/p/{n}.m3u");
        let mut route = Route::ok("audio/x-mpegurl", playlist(n, 50 + n));
        if n == 0 {
            route = route.stalling_first(1);
        }
        provider.route(&path, route);
        let source = repos
            .stream_sources
            .create(StreamSourceInput {
                name: format!("provider {n}"),
                source_type: StreamSourceType::M3u,
                url: provider.url(&path),
                username: None,
                password: None,
                update_cron: None,
                enabled: true,
                user_agent: None,
                headers: vec![],
                max_connections: None,
            })
            .await
            .unwrap();
        sources.push((path, source.id));
    }

    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut workers = [
        spawn_worker(&database, dirs[0].path()),
        spawn_worker(&database, dirs[1].path()),
    ];

    let queue = Queue::connect(&QueueConfig::from_url(&database).unwrap())
        .await
        .unwrap();
    let scheduler = JobScheduler::new(repos.jobs.clone(), queue);
    let mut jobs = Vec::new();
    for (_, source) in &sources {
        let job = scheduler
            .enqueue(NewJob {
                kind: JobKind::IngestStream,
                subject_id: Some(source.as_uuid()),
            })
            .await
            .unwrap();
        jobs.push(job.id);
    }

    // Wait for the stalled job to be running, then kill its worker outright.
    let stalled = jobs[0];
    let deadline = Instant::now() + Duration::from_secs(60);
    let holder = loop {
        let job = repos.jobs.get(stalled).await.unwrap();
        if job.status == JobStatus::Running && provider.hits("/p/0.m3u") == 1 {
            break job.worker.expect("a running job names its worker");
        }
        assert!(
            Instant::now() < deadline,
            "the stalled job never started: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pid: u32 = holder.rsplit('-').next().unwrap().parse().unwrap();
    let victim = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("the holder is one of ours");
    workers[victim].signal("KILL");
    assert!(
        workers[victim]
            .wait_timeout(Duration::from_secs(5))
            .is_some()
    );
    provider.release();
    let survivor = 1 - victim;

    // Everything ends, on the survivor.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut done = 0;
        for id in &jobs {
            let job = repos.jobs.get(*id).await.unwrap();
            assert!(job.status != JobStatus::Failed, "{job:?}");
            if job.status == JobStatus::Succeeded {
                done += 1;
            }
        }
        if done == jobs.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {} jobs ended",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(workers[survivor].is_running());

    // Exactly once: every playlist was fetched once, the stalled one twice (the killed
    // attempt and the survivor's), and each source holds its channels once.
    for (n, (path, source)) in sources.iter().enumerate() {
        let expected_hits = if n == 0 { 2 } else { 1 };
        assert_eq!(provider.hits(path), expected_hits, "{path}");
        let count = repos.channels.count(*source).await.unwrap();
        assert_eq!(count, (50 + n) as u64, "{path}");
    }
    let stalled = repos.jobs.get(stalled).await.unwrap();
    assert_eq!(stalled.attempts, 2, "{stalled:?}");
    for id in &jobs[1..] {
        assert_eq!(repos.jobs.get(*id).await.unwrap().attempts, 1);
    }

    // The survivor stops cleanly on SIGTERM.
    workers[survivor].signal("TERM");
    let status = workers[survivor]
        .wait_timeout(Duration::from_secs(10))
        .expect("worker ignored SIGTERM");
    assert!(status.success(), "{status:?}");
}
