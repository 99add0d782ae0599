//! `cargo xtask bench-e2e`: the end-to-end harness. Builds the release server, serves the
//! generated inputs from a loopback HTTP server, runs the real `tvarr-server`, ingests through
//! its API, and prints wall time, peak RSS, and the API's latency while the ingest runs.
//!
//! Options: `--database-url URL` (default: SQLite in a temporary directory), `--only m3u|xmltv`,
//! `--fixtures DIR` (default `fixtures/generated`, created with `cargo xtask gen-fixtures`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

struct Options {
    database_url: Option<String>,
    only: Option<String>,
    fixtures: PathBuf,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        database_url: None,
        only: None,
        fixtures: PathBuf::from("fixtures/generated"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--database-url" => options.database_url = it.next().cloned(),
            "--only" => options.only = it.next().cloned(),
            "--fixtures" => {
                options.fixtures = it.next().map(PathBuf::from).context("--fixtures DIR")?
            }
            other => bail!("unknown option {other}"),
        }
    }
    Ok(options)
}

/// Serves the files of `dir` over HTTP on a loopback port, streaming them from disk.
fn serve_files(dir: PathBuf) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let _ = serve_file(stream, &dir);
            });
        }
    });
    Ok(port)
}

fn serve_file(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let file = dir.join(path.split('?').next().unwrap_or(""));
    match std::fs::File::open(&file) {
        Ok(mut f) => {
            let len = f.metadata()?.len();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            )?;
            std::io::copy(&mut f, &mut stream)?;
        }
        Err(_) => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    Ok(())
}

/// A minimal HTTP/1.1 client: returns (status, body).
fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn json_field(body: &str, field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    match &value[field] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn rss_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Measurement {
    name: &'static str,
    records: String,
    wall: Duration,
    peak_rss_mib: f64,
    api_p50_ms: f64,
    api_p99_ms: f64,
    api_samples: usize,
}

/// Runs one ingest and measures it.
fn ingest(port: u16, pid: u32, kind: &str, url: &str, name: &'static str) -> Result<Measurement> {
    let (collection, source_type, count_field) = match kind {
        "stream" => ("stream", "m3u", "channel_count"),
        _ => ("epg", "xmltv", "programme_count"),
    };
    let body = format!(r#"{{"name":"{name}","source_type":"{source_type}","url":"{url}"}}"#);
    let (status, created) = request(
        port,
        "POST",
        &format!("/api/v1/sources/{collection}"),
        Some(&body),
    )?;
    if status != 201 {
        bail!("creating the source answered {status}: {created}");
    }
    let id = json_field(&created, "id").context("source id")?;

    // Probe the API while the ingest runs.
    let running = Arc::new(AtomicBool::new(true));
    let probe_flag = running.clone();
    let prober = std::thread::spawn(move || {
        let mut latencies = Vec::new();
        while probe_flag.load(Ordering::Relaxed) {
            let started = Instant::now();
            if let Ok((200, _)) = request(port, "GET", "/api/v1/sources/stream", None) {
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        latencies
    });

    let started = Instant::now();
    let (status, accepted) = request(
        port,
        "POST",
        &format!("/api/v1/sources/{collection}/{id}/ingest"),
        Some("{}"),
    )?;
    if status != 202 {
        bail!("queueing the ingest answered {status}: {accepted}");
    }
    let job = json_field(&accepted, "job_id").context("job id")?;
    let final_job = loop {
        let (_, body) = request(port, "GET", &format!("/api/v1/jobs/{job}"), None)?;
        match json_field(&body, "status").as_deref() {
            Some("succeeded") | Some("failed") | Some("cancelled") => break body,
            _ => std::thread::sleep(Duration::from_millis(25)),
        }
    };
    let wall = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let mut latencies = prober.join().unwrap_or_default();
    latencies.sort_by(|a, b| a.total_cmp(b));
    if json_field(&final_job, "status").as_deref() != Some("succeeded") {
        bail!("the ingest did not succeed: {final_job}");
    }
    let (_, source) = request(
        port,
        "GET",
        &format!("/api/v1/sources/{collection}/{id}"),
        None,
    )?;
    Ok(Measurement {
        name,
        records: json_field(&source, count_field).unwrap_or_default(),
        wall,
        peak_rss_mib: rss_kib(pid, "VmHWM:") as f64 / 1024.0,
        api_p50_ms: percentile(&latencies, 0.50),
        api_p99_ms: percentile(&latencies, 0.99),
        api_samples: latencies.len(),
    })
}

/// Runs the harness.
pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let playlist = options.fixtures.join("channels-100k.m3u");
    let guide = options.fixtures.join("guide-1m.xml");
    if !playlist.exists() || !guide.exists() {
        println!(
            "==> generating fixtures into {}",
            options.fixtures.display()
        );
        crate::gen_fixtures::run(&["--out".to_string(), options.fixtures.display().to_string()])?;
    }
    println!("==> building the release server");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked", "-p", "tvarr-server"])
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let files_port = serve_files(options.fixtures.clone())?;
    let data = std::env::temp_dir().join(format!("tvarr-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let database = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data.join("tvarr.db").display()));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let server = ServerProcess(
        Command::new("target/release/tvarr-server")
            .env("TVARR_LISTEN", format!("127.0.0.1:{port}"))
            .env("TVARR_DATA_DIR", &data)
            .env("TVARR_DATABASE_URL", &database)
            .env("TVARR_WORKERS", "1")
            .env("TVARR_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting target/release/tvarr-server")?,
    );
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(port, "GET", "/readyz", None)
        .map(|(s, _)| s)
        .unwrap_or(0)
        != 200
    {
        if Instant::now() > deadline {
            bail!("the server did not become ready");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle_rss = rss_kib(pid, "VmRSS:") as f64 / 1024.0;
    let mut results = Vec::new();
    if options.only.as_deref() != Some("xmltv") {
        let url = format!("http://127.0.0.1:{files_port}/channels-100k.m3u");
        results.push(ingest(port, pid, "stream", &url, "M3U 100k channels")?);
    }
    if options.only.as_deref() != Some("m3u") {
        let url = format!("http://127.0.0.1:{files_port}/guide-1m.xml");
        results.push(ingest(port, pid, "epg", &url, "XMLTV 1M programmes")?);
    }
    let backend = database.split(':').next().unwrap_or("?");
    println!("\nbench-e2e on {backend} (server idle RSS {idle_rss:.1} MiB)\n");
    println!("| ingest | records | wall time | peak RSS | API p50 | API p99 | API samples |");
    println!("|---|---|---|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {} | {:.2} s | {:.1} MiB | {:.1} ms | {:.1} ms | {} |",
            m.name,
            m.records,
            m.wall.as_secs_f64(),
            m.peak_rss_mib,
            m.api_p50_ms,
            m.api_p99_ms,
            m.api_samples
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
