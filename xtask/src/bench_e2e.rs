//! `cargo xtask bench-e2e`: the end-to-end harness. Builds the release server, serves the
//! generated inputs from a loopback HTTP server, runs the real `tvarr-server`, ingests through
//! its API, and prints wall time, peak RSS, and the API's latency while the ingest runs.
//!
//! Each ingest runs in a server process of its own, on an empty database of its own, so its
//! peak RSS (`VmHWM`) is its own: first the ingest into an empty source, then a re-ingest of
//! the same data, which also replaces and deletes the previous set. A probe thread requests
//! `GET /api/v1/sources/stream` every 20 ms meanwhile; a probe that fails or times out counts
//! as 5 s, so failures raise the p99 instead of vanishing from it.
//!
//! `--generate` measures a proxy's generation instead: 50,000 channels and 500,000 programmes
//! (written for the run, dated around now) are ingested, the server is restarted so that its
//! peak RSS is the generation's own, and one generation runs, timed beside the guide's ingest
//! of the same run (the target is a third of it, under 150 MB). Then `GET /proxy/{id}.m3u` and
//! the gzip guide are requested by 4 clients for 10 s each, idle and while a forced
//! regeneration runs. Last, each from a fresh process, `/hdhr/{id}/lineup.json` and the
//! playlist are read whole; then an admin (first-run setup) and a viewer account are made, and
//! the proxy's Xtream Codes API is read the same way (`get_live_streams`, `get.php`), and
//! `player_api.php`'s authentication is loaded beside `/livez`.
//!
//! Options: `--databases sqlite,postgres,mariadb` (default `sqlite`; PostgreSQL and MariaDB at
//! their usual local addresses, or `TVARR_TEST_POSTGRES_URL` / `TVARR_TEST_MYSQL_URL`),
//! `--database-url URL` (one database of your own instead), `--only m3u|xmltv`,
//! `--fixtures DIR` (default `fixtures/generated`, created with `cargo xtask gen-fixtures`).
//! Exits non-zero when a figure misses PRODUCT.md's target on SQLite.
//!
//! `--load-channels` measures the channel list under load instead: one server with the 100k
//! channels ingested, then `GET /api/v1/channels?limit=50` alone (offset 0 and 50,000) and
//! from `--load-clients` concurrent clients (default `20,100`) for `--load-seconds` each
//! (default 10 s): the first page, then offsets spread over the whole list; idle and while a
//! 1M-programme guide is ingested, with `GET /readyz` from as many clients as the yardstick of
//! the same run. Each client keeps its connection alive, as browsers and API clients do (the
//! first run of this mode opened one per request, which measured the load tool's `connect`
//! on 2 cores as much as the server). Exits non-zero when a page alone takes 10 ms or more, or a p99 reaches 50 ms.

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
    databases: Vec<String>,
    only: Option<String>,
    fixtures: PathBuf,
    load_channels: bool,
    load_clients: Vec<usize>,
    load_seconds: u64,
    generate: bool,
}

const USAGE: &str = "cargo xtask bench-e2e [--databases sqlite,postgres,mariadb] \
    [--database-url URL] [--only m3u|xmltv] [--fixtures DIR]\n\
    cargo xtask bench-e2e --load-channels [--load-clients 20,100] [--load-seconds 10] \
    [--databases ...] [--fixtures DIR]\n\
    cargo xtask bench-e2e --generate [--databases ...]";

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        database_url: None,
        databases: vec!["sqlite".to_string()],
        only: None,
        fixtures: PathBuf::from("fixtures/generated"),
        load_channels: false,
        load_clients: vec![20, 100],
        load_seconds: 10,
        generate: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--database-url" => options.database_url = it.next().cloned(),
            "--databases" => {
                options.databases = it
                    .next()
                    .context("--databases sqlite,postgres,mariadb")?
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            "--only" => options.only = it.next().cloned(),
            "--fixtures" => {
                options.fixtures = it.next().map(PathBuf::from).context("--fixtures DIR")?
            }
            "--load-channels" => options.load_channels = true,
            "--generate" => options.generate = true,
            "--load-clients" => {
                options.load_clients = it
                    .next()
                    .context("--load-clients 20,100")?
                    .split(',')
                    .map(|n| n.trim().parse().context("--load-clients 20,100"))
                    .collect::<Result<_>>()?
            }
            "--load-seconds" => {
                options.load_seconds = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .context("--load-seconds N")?
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other}\n{USAGE}"),
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
    request_with(port, method, path, body, "").map(|(status, _, body)| (status, body))
}

/// [`request`] with `extra` header lines (each ending in `\r\n`): returns (status, head, body).
fn request_with(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra: &str,
) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or_default();
    Ok((status, head, body))
}

fn json_field(body: &str, field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    match &value[field] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(crate) fn rss_kib(pid: u32, key: &str) -> u64 {
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

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// What a failed or timed-out probe counts as, in milliseconds.
const PROBE_FAILURE_MS: f64 = 5_000.0;

struct Measurement {
    backend: String,
    name: String,
    records: String,
    wall: Duration,
    peak_rss_mib: f64,
    api_p50_ms: f64,
    api_p99_ms: f64,
    api_samples: usize,
    probe_failures: usize,
}

/// Runs one ingest and measures it.
fn create_source(port: u16, kind: &str, url: &str) -> Result<String> {
    let (collection, source_type) = match kind {
        "stream" => ("stream", "m3u"),
        _ => ("epg", "xmltv"),
    };
    let body = format!(r#"{{"name":"bench {kind}","source_type":"{source_type}","url":"{url}"}}"#);
    let (status, created) = request(
        port,
        "POST",
        &format!("/api/v1/sources/{collection}"),
        Some(&body),
    )?;
    if status != 201 {
        bail!("creating the source answered {status}: {created}");
    }
    json_field(&created, "id").context("source id")
}

/// Runs one ingest of source `id` and measures it.
fn ingest(port: u16, pid: u32, kind: &str, id: &str, name: String) -> Result<Measurement> {
    let (collection, count_field) = match kind {
        "stream" => ("stream", "channel_count"),
        _ => ("epg", "programme_count"),
    };

    // Probe the API while the ingest runs.
    let running = Arc::new(AtomicBool::new(true));
    let probe_flag = running.clone();
    let prober = std::thread::spawn(move || {
        let mut latencies = Vec::new();
        let mut failures = 0usize;
        while probe_flag.load(Ordering::Relaxed) {
            let started = Instant::now();
            match request(port, "GET", "/api/v1/sources/stream", None) {
                Ok((200, _)) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                _ => {
                    failures += 1;
                    latencies.push(PROBE_FAILURE_MS);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (latencies, failures)
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
    let (mut latencies, probe_failures) = prober.join().unwrap_or_default();
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
        backend: String::new(),
        name,
        records: json_field(&source, count_field).unwrap_or_default(),
        wall,
        peak_rss_mib: rss_kib(pid, "VmHWM:") as f64 / 1024.0,
        api_p50_ms: percentile(&latencies, 0.50),
        api_p99_ms: percentile(&latencies, 0.99),
        api_samples: latencies.len(),
        probe_failures,
    })
}

struct Target {
    wall: Duration,
    peak_rss_mib: f64,
}

/// PRODUCT.md's numbers, on SQLite.
fn target(kind: &str) -> Target {
    match kind {
        "stream" => Target {
            wall: Duration::from_millis(1500),
            peak_rss_mib: 80.0,
        },
        _ => Target {
            wall: Duration::from_secs(12),
            peak_rss_mib: 150.0,
        },
    }
}

/// A database to run one server on, and how to get rid of it.
struct BenchDatabase {
    backend: String,
    url: String,
    server: Option<(crate::dbserver::ServerAddress, String)>,
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.server {
            let _ = server.drop_database(name);
        }
    }
}

fn bench_database(options: &Options, backend: &str, data: &Path) -> Result<BenchDatabase> {
    if let Some(url) = &options.database_url {
        return Ok(BenchDatabase {
            backend: url.split(':').next().unwrap_or("?").to_owned(),
            url: url.clone(),
            server: None,
        });
    }
    let server_url = match backend {
        "sqlite" => {
            return Ok(BenchDatabase {
                backend: backend.to_owned(),
                url: format!("sqlite://{}?mode=rwc", data.join("tvarr.db").display()),
                server: None,
            });
        }
        "postgres" => std::env::var("TVARR_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        "mariadb" | "mysql" => std::env::var("TVARR_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into()),
        other => bail!("unknown database {other} (sqlite, postgres or mariadb)"),
    };
    let server = crate::dbserver::ServerAddress::parse(&server_url)
        .context("a postgres:// or mysql:// URL")?;
    let name = format!("tvarr_bench_{}", std::process::id());
    server
        .recreate_database(&name)
        .map_err(|e| anyhow::anyhow!("cannot create {name} on {backend}: {e}"))?;
    Ok(BenchDatabase {
        backend: backend.to_owned(),
        url: server.url_of(&name),
        server: Some((server, name)),
    })
}

fn start_server(data: &Path, database: &str) -> Result<(ServerProcess, u16)> {
    start_server_wrapped(data, database, None)
}

/// [`start_server`] under `wrapper` (a profiler's command line, such as `heaptrack -o FILE`),
/// when given. The figures read from `/proc` are then the wrapper's, not the server's.
fn start_server_wrapped(
    data: &Path,
    database: &str,
    wrapper: Option<&str>,
) -> Result<(ServerProcess, u16)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let mut command = match wrapper.map(str::split_whitespace) {
        Some(mut words) => {
            let mut command = Command::new(words.next().context("an empty wrapper")?);
            command.args(words).arg("target/release/tvarr-server");
            command
        }
        None => Command::new("target/release/tvarr-server"),
    };
    let server = ServerProcess(
        command
            .env("TVARR_LISTEN", format!("127.0.0.1:{port}"))
            .env("TVARR_DATA_DIR", data)
            .env("TVARR_DATABASE_URL", database)
            .env("TVARR_WORKERS", "1")
            .env("TVARR_LOG", "warn")
            // The harness queues every generation itself.
            .env("TVARR_GENERATION_DEBOUNCE_SECONDS", "86400")
            .stdout(Stdio::null())
            .spawn()
            .context("starting target/release/tvarr-server")?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
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
    Ok((server, port))
}

/// Ingests `file` twice (into an empty source, then again over the first set) in a fresh
/// server on a fresh database.
fn measure(
    options: &Options,
    backend: &str,
    files_port: u16,
    kind: &str,
    file: &str,
    label: &str,
) -> Result<(Vec<Measurement>, f64)> {
    let data = std::env::temp_dir().join(format!("tvarr-bench-{}-{kind}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let database = bench_database(options, backend, &data)?;
    let (server, port) = start_server(&data, &database.url)?;
    let pid = server.0.id();
    let idle_rss = rss_kib(pid, "VmRSS:") as f64 / 1024.0;
    let id = create_source(port, kind, &format!("http://127.0.0.1:{files_port}/{file}"))?;
    let mut rows = Vec::new();
    for what in ["", " (re-ingest)"] {
        let mut m = ingest(port, pid, kind, &id, format!("{label}{what}"))?;
        m.backend = database.backend.clone();
        println!(
            "    {}: {} records in {:.2} s, peak RSS so far {:.1} MiB",
            m.name,
            m.records,
            m.wall.as_secs_f64(),
            m.peak_rss_mib
        );
        rows.push(m);
    }
    drop(server);
    drop(database);
    let _ = std::fs::remove_dir_all(&data);
    Ok((rows, idle_rss))
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
    let backends = if options.database_url.is_some() {
        vec!["custom".to_string()]
    } else {
        options.databases.clone()
    };
    if options.load_channels {
        return load_channels(&options, &backends, files_port);
    }
    if options.generate {
        return generate(&backends, &options);
    }
    let mut results = Vec::new();
    let mut idle = Vec::new();
    for backend in &backends {
        for (kind, file, label) in [
            ("stream", "channels-100k.m3u", "M3U 100k channels"),
            ("epg", "guide-1m.xml", "XMLTV 1M programmes"),
        ] {
            let wanted = match options.only.as_deref() {
                Some("m3u") => kind == "stream",
                Some("xmltv") => kind == "epg",
                _ => true,
            };
            if !wanted {
                continue;
            }
            println!("==> {label} on {backend}");
            let (rows, idle_rss) = measure(&options, backend, files_port, kind, file, label)?;
            idle.push(idle_rss);
            results.extend(rows.into_iter().map(|m| (kind, m)));
        }
    }
    let idle_rss = idle.iter().copied().fold(0.0, f64::max);
    println!(
        "\nbench-e2e (server idle RSS up to {idle_rss:.1} MiB; peak RSS is the process's, first ingest and re-ingest together)\n"
    );
    println!(
        "| database | ingest | records | wall time | peak RSS | API p50 | API p99 | API samples (failed) | target |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut missed = Vec::new();
    for (kind, m) in &results {
        let goal = target(kind);
        let verdict = if m.backend != "sqlite" {
            "(SQLite only)".to_string()
        } else if m.name.ends_with("(re-ingest)") {
            // PRODUCT.md's numbers are for an ingest; a re-ingest also deletes the old set.
            "(not a target)".to_string()
        } else if m.wall <= goal.wall
            && m.peak_rss_mib <= goal.peak_rss_mib
            && m.api_p99_ms <= 100.0
        {
            "met".to_string()
        } else {
            missed.push(m.name.clone());
            format!(
                "MISSED (< {:.1} s, < {:.0} MiB, p99 < 100 ms)",
                goal.wall.as_secs_f64(),
                goal.peak_rss_mib
            )
        };
        println!(
            "| {} | {} | {} | {:.2} s | {:.1} MiB | {:.1} ms | {:.1} ms | {} ({}) | {} |",
            m.backend,
            m.name,
            m.records,
            m.wall.as_secs_f64(),
            m.peak_rss_mib,
            m.api_p50_ms,
            m.api_p99_ms,
            m.api_samples,
            m.probe_failures,
            verdict
        );
    }
    if !missed.is_empty() {
        bail!("targets missed: {}", missed.join(", "));
    }
    Ok(())
}

/// What one load phase measured.
struct LoadFigures {
    requests: usize,
    failures: usize,
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
}

/// `clients` threads request `path(i)` back to back for `duration`; a failed request counts
/// as [`PROBE_FAILURE_MS`].
fn load(
    port: u16,
    clients: usize,
    duration: Duration,
    path: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> LoadFigures {
    let started = Instant::now();
    let deadline = started + duration;
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                let mut i = client;
                let mut connection = Connection::new(port);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match connection.get(&path(i)) {
                        Ok(200) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
                        _ => {
                            failures += 1;
                            latencies.push(PROBE_FAILURE_MS);
                        }
                    }
                    i += clients;
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for thread in threads {
        let (l, f) = thread.join().unwrap_or_default();
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    LoadFigures {
        requests: latencies.len(),
        failures,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        per_second: latencies.len() as f64 / elapsed,
    }
}

/// One client's persistent HTTP/1.1 connection, as browsers and API clients keep one: opened
/// on first use, opened again when the server closed it.
struct Connection {
    port: u16,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    fn new(port: u16) -> Self {
        Self { port, stream: None }
    }

    /// `GET path`: its status, the body read and dropped. A connection the server closed
    /// while idle is opened again once.
    fn get(&mut self, path: &str) -> Result<u16> {
        let reused = self.stream.is_some();
        match self.try_get(path) {
            Ok(status) => Ok(status),
            Err(_) if reused => {
                self.stream = None;
                self.try_get(path)
            }
            Err(e) => Err(e),
        }
    }

    fn try_get(&mut self, path: &str) -> Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().context("connected")?;
        let sent = write!(
            reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        );
        let answer = sent.map_err(anyhow::Error::from).and_then(|()| {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let status: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .context("no status line")?;
            let (mut length, mut close) = (0usize, false);
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().context("Content-Length")?;
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("a chunked answer: this client reads Content-Length only");
                }
            }
            std::io::copy(
                &mut reader.by_ref().take(length as u64),
                &mut std::io::sink(),
            )?;
            Ok((status, close))
        });
        match answer {
            Ok((status, close)) => {
                if close {
                    self.stream = None;
                }
                Ok(status)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// The median of `n` requests of `path(i)` one after another, in milliseconds.
fn alone(port: u16, path: impl Fn(usize) -> String, n: usize) -> Result<f64> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let path = path(i);
        let t = Instant::now();
        let (status, body) = request(port, "GET", &path, None)?;
        if status != 200 {
            bail!("{path} answered {status}: {body}");
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(percentile(&latencies, 0.5))
}

/// Waits for job `job` to end; its final record.
fn wait_job(port: u16, job: &str) -> Result<String> {
    loop {
        let (_, body) = request(port, "GET", &format!("/api/v1/jobs/{job}"), None)?;
        match json_field(&body, "status").as_deref() {
            Some("succeeded") | Some("failed") | Some("cancelled") => return Ok(body),
            _ => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

fn queue_ingest(port: u16, collection: &str, id: &str) -> Result<String> {
    let (status, accepted) = request(
        port,
        "POST",
        &format!("/api/v1/sources/{collection}/{id}/ingest"),
        Some("{}"),
    )?;
    if status != 202 {
        bail!("queueing the ingest answered {status}: {accepted}");
    }
    json_field(&accepted, "job_id").context("job id")
}

/// `--load-channels`: the channel list's latency alone and under load, idle and during a
/// guide ingest, beside `/readyz` from as many clients.
fn load_channels(options: &Options, backends: &[String], files_port: u16) -> Result<()> {
    let seconds = Duration::from_secs(options.load_seconds);
    let mut rows: Vec<String> = Vec::new();
    let mut missed = Vec::new();
    for backend in backends {
        let data = std::env::temp_dir().join(format!("tvarr-bench-{}-load", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let database = bench_database(options, backend, &data)?;
        let (server, port) = start_server(&data, &database.url)?;
        let stream = create_source(
            port,
            "stream",
            &format!("http://127.0.0.1:{files_port}/channels-100k.m3u"),
        )?;
        let job = queue_ingest(port, "stream", &stream)?;
        let done = wait_job(port, &job)?;
        if json_field(&done, "status").as_deref() != Some("succeeded") {
            bail!("the channel ingest did not succeed: {done}");
        }
        let (_, first) = request(port, "GET", "/api/v1/channels?limit=50", None)?;
        let total: usize = json_field(&first, "total")
            .and_then(|t| t.parse().ok())
            .context("the channel list's total")?;
        println!("==> {total} channels on {}", database.backend);
        // Pages read once are kept: each request alone asks a page not asked before.
        let page_0 = alone(port, |i| format!("/api/v1/channels?limit={}", 50 + i), 50)?;
        let page_mid = alone(
            port,
            |i| format!("/api/v1/channels?limit=50&offset={}", 50_000 + 50 * i),
            50,
        )?;
        println!(
            "    alone, each page asked once: {page_0:.2} ms at offset 0, {page_mid:.2} ms at offset 50000"
        );
        rows.push(format!(
            "| {} | alone, offset 0 / 50000, each page asked once | 1 | {page_0:.2} ms / {page_mid:.2} ms | | | |",
            database.backend
        ));
        if page_0 >= 10.0 || page_mid >= 10.0 {
            missed.push(format!("{} page alone", database.backend));
        }
        let pages = total.saturating_sub(50).max(1);
        let channels_path: Arc<dyn Fn(usize) -> String + Send + Sync> = Arc::new(move |i| {
            // Spread the offsets over the whole list, the same ones every run.
            let offset = (i.wrapping_mul(7919)) % pages;
            format!("/api/v1/channels?limit=50&offset={offset}")
        });
        let first_page: Arc<dyn Fn(usize) -> String + Send + Sync> =
            Arc::new(|_| "/api/v1/channels?limit=50".into());
        let readyz: Arc<dyn Fn(usize) -> String + Send + Sync> = Arc::new(|_| "/readyz".into());
        let guide = create_source(
            port,
            "epg",
            &format!("http://127.0.0.1:{files_port}/guide-1m.xml"),
        )?;
        for during in ["idle", "1M-programme ingest"] {
            for &clients in &options.load_clients {
                // A fresh guide ingest for each level, measured channels first, while it runs.
                let ingest_job = if during == "idle" {
                    None
                } else {
                    Some(queue_ingest(port, "epg", &guide)?)
                };
                for (what, path) in [
                    ("/api/v1/channels?limit=50", first_page.clone()),
                    (
                        "/api/v1/channels?limit=50&offset=(spread)",
                        channels_path.clone(),
                    ),
                    ("/readyz", readyz.clone()),
                ] {
                    let f = load(port, clients, seconds, path);
                    println!(
                        "    {during}, {clients} clients, {what}: p50 {:.1} ms, p99 {:.1} ms, \
                         {:.0} req/s ({} requests, {} failed)",
                        f.p50_ms, f.p99_ms, f.per_second, f.requests, f.failures
                    );
                    rows.push(format!(
                        "| {} | {during} | {clients} | {what} | {:.1} ms | {:.1} ms | {:.0} ({} failed) |",
                        database.backend, f.p50_ms, f.p99_ms, f.per_second, f.failures
                    ));
                    if what != "/readyz" && (f.p99_ms >= 50.0 || f.failures > 0) {
                        missed.push(format!("{} {during} {clients} clients", database.backend));
                    }
                }
                if let Some(job) = ingest_job {
                    let done = wait_job(port, &job)?;
                    let status = json_field(&done, "status").unwrap_or_default();
                    println!("    the guide ingest ended {status}");
                    if status != "succeeded" {
                        bail!("the guide ingest did not succeed: {done}");
                    }
                }
            }
        }
        drop(server);
        drop(database);
        let _ = std::fs::remove_dir_all(&data);
    }
    println!(
        "\nbench-e2e --load-channels ({} s per phase; each client on one kept-alive connection)\n",
        options.load_seconds
    );
    println!("| database | while | clients | path | p50 | p99 | requests/s |");
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if !missed.is_empty() {
        bail!(
            "channel list targets (< 10 ms alone, p99 < 50 ms) missed: {}",
            missed.join(", ")
        );
    }
    Ok(())
}

fn post(port: u16, path: &str, body: &str, expect: u16) -> Result<String> {
    let (status, answer) = request(port, "POST", path, Some(body))?;
    if status != expect {
        bail!("POST {path} answered {status}: {answer}");
    }
    Ok(answer)
}

/// One GET of `path`, read to its last byte: the seconds it took and the bytes received.
fn read_whole(port: u16, path: &str) -> Result<(f64, u64)> {
    read_answer(port, path).map(|(seconds, answer)| (seconds, answer.len() as u64))
}

/// One GET of `path`, read to its last byte: the seconds it took and the answer, head and body.
fn read_answer(port: u16, path: &str) -> Result<(f64, Vec<u8>)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let seconds = started.elapsed().as_secs_f64();
    if !answer.starts_with(b"HTTP/1.1 200") {
        bail!(
            "GET {path}: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    }
    Ok((seconds, answer))
}

/// The body of a whole HTTP/1.1 answer, its chunks joined when it was sent chunked.
pub(crate) fn answer_body(answer: &[u8]) -> Result<Vec<u8>> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the head")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let mut rest = &answer[split + 4..];
    if !head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
    {
        return Ok(rest.to_vec());
    }
    let mut body = Vec::with_capacity(rest.len());
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk's size")?;
        let size = std::str::from_utf8(&rest[..end])?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .context("a chunk's size")?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            bail!("a truncated chunk");
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// The peak RSS of `pid` in MiB, first reset to its current RSS where Linux allows it
/// (`clear_refs` 5): a later peak is then what came after, not the startup's or argon2's.
fn reset_peak_mib(pid: u32) -> f64 {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    rss_kib(pid, "VmHWM:") as f64 / 1024.0
}

/// The account the bench's Xtream requests are made with, and its output password.
const XTREAM_USER: &str = "bench";
const XTREAM_PASSWORD: &str = "bench-output-pass";
/// The first-run admin's login, as setup and login take it.
const ADMIN_LOGIN: &str = r#"{"username":"admin","password":"bench-admin-pass"}"#;

/// The bench's accounts: the admin of first-run setup, then, in its session, the viewer
/// [`XTREAM_USER`] granted `proxy`, with [`XTREAM_PASSWORD`] as its output password. The first
/// account closes the API, so this comes after everything else the bench asks the API; and
/// once a viewer exists the outputs need an account's credentials too.
fn create_accounts(port: u16, proxy: &str) -> Result<()> {
    post(port, "/api/v1/auth/setup", ADMIN_LOGIN, 201)?;
    let (status, head, answer) =
        request_with(port, "POST", "/api/v1/auth/login", Some(ADMIN_LOGIN), "")?;
    if status != 204 {
        bail!("POST /api/v1/auth/login answered {status}: {answer}");
    }
    let cookie = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim().split(';').next().unwrap_or("").to_owned())
        .find(|c| c.starts_with("tvarr_session="))
        .context("the login set no tvarr_session cookie")?;
    let body = format!(
        r#"{{"username":"{XTREAM_USER}","password":"bench-login-pass","role":"viewer","proxy_ids":["{proxy}"],"output_password":"{XTREAM_PASSWORD}"}}"#
    );
    let (status, _, answer) = request_with(
        port,
        "POST",
        "/api/v1/users",
        Some(&body),
        &format!("Cookie: {cookie}\r\n"),
    )?;
    if status != 201 {
        bail!("POST /api/v1/users answered {status}: {answer}");
    }
    Ok(())
}

/// `GET path` from `clients` threads for `duration`, a new connection per request (with
/// `Accept-Encoding: gzip` when `gzip`): requests per second, and MB/s of answer.
fn load_output(
    port: u16,
    path: &str,
    gzip: bool,
    clients: usize,
    duration: Duration,
) -> (f64, f64) {
    let started = Instant::now();
    let deadline = started + duration;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || {
                let (mut n, mut bytes) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    let encoding = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
                    if write!(
                        stream,
                        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{encoding}Connection: close\r\n\r\n"
                    )
                    .is_err()
                    {
                        continue;
                    }
                    let mut sink = Vec::new();
                    if let Ok(read) = stream.read_to_end(&mut sink)
                        && sink.starts_with(b"HTTP/1.1 200")
                    {
                        n += 1;
                        bytes += read as u64;
                    }
                }
                (n, bytes)
            })
        })
        .collect();
    let (mut n, mut bytes) = (0u64, 0u64);
    for t in threads {
        let (a, b) = t.join().unwrap_or_default();
        n += a;
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    (n as f64 / secs, bytes as f64 / secs / 1e6)
}

/// `--generate`: a proxy of 50,000 channels and 500,000 programmes.
fn generate(backends: &[String], options: &Options) -> Result<()> {
    let inputs = std::env::temp_dir().join(format!("tvarr-bench-{}-proxy", std::process::id()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    // Ten programmes of up to 90 minutes from 6 hours ago: all inside the default window.
    crate::gen_fixtures::write_proxy_pair(&inputs, now - 6 * 3600)?;
    let files_port = serve_files(inputs.clone())?;
    let mut rows = Vec::new();
    let mut missed = Vec::new();
    for backend in backends {
        let data = std::env::temp_dir().join(format!("tvarr-bench-{}-gen", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let database = bench_database(options, backend, &data)?;
        let (server, port) = start_server(&data, &database.url)?;
        println!(
            "==> ingesting 50,000 channels and 500,000 programmes on {}",
            database.backend
        );
        let stream = create_source(
            port,
            "stream",
            &format!("http://127.0.0.1:{files_port}/proxy-50k.m3u"),
        )?;
        let guide = create_source(
            port,
            "epg",
            &format!("http://127.0.0.1:{files_port}/proxy-guide-500k.xml"),
        )?;
        let job = queue_ingest(port, "stream", &stream)?;
        let done = wait_job(port, &job)?;
        if json_field(&done, "status").as_deref() != Some("succeeded") {
            bail!("the channel ingest did not succeed: {done}");
        }
        let started = Instant::now();
        let job = queue_ingest(port, "epg", &guide)?;
        let done = wait_job(port, &job)?;
        let guide_ingest = started.elapsed();
        if json_field(&done, "status").as_deref() != Some("succeeded") {
            bail!("the guide ingest did not succeed: {done}");
        }
        println!("    guide ingest: {:.2} s", guide_ingest.as_secs_f64());
        drop(server);
        // A fresh process: its peak RSS is the generation's. `TVARR_BENCH_GENERATE_WRAPPER`
        // runs it under a profiler (`heaptrack -o /tmp/generate`).
        let wrapper = std::env::var("TVARR_BENCH_GENERATE_WRAPPER").ok();
        let (server, port) = start_server_wrapped(&data, &database.url, wrapper.as_deref())?;
        let pid = server.0.id();
        let body = format!(
            r#"{{"name":"bench","stream_source_ids":["{stream}"],"epg_source_ids":["{guide}"],"filter_ids":[],"starting_channel_number":1,"numbering":"sequential","proxy_mode":"redirect","cache_logos":false}}"#
        );
        let proxy =
            json_field(&post(port, "/api/v1/proxies", &body, 201)?, "id").context("proxy id")?;
        let started = Instant::now();
        let job = json_field(
            &post(
                port,
                &format!("/api/v1/proxies/{proxy}/generate"),
                "{}",
                202,
            )?,
            "job_id",
        )
        .context("job id")?;
        let done = wait_job(port, &job)?;
        let wall = started.elapsed();
        if json_field(&done, "status").as_deref() != Some("succeeded") {
            bail!("the generation did not succeed: {done}");
        }
        let peak = rss_kib(pid, "VmHWM:") as f64 / 1024.0;
        let result: serde_json::Value = serde_json::from_str(&done).unwrap_or_default();
        let stages: Vec<String> = result["result"]["stages"]
            .as_array()
            .map(|stages| {
                stages
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} ms",
                            s["stage"].as_str().unwrap_or("?"),
                            s["duration_ms"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!("    stages: {}", stages.join(", "));
        let (_, details) = request(port, "GET", &format!("/api/v1/proxies/{proxy}"), None)?;
        let summary: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
        let channels = summary["last_generation"]["channels"].to_string();
        let programmes = summary["last_generation"]["programmes"].to_string();
        let ratio = wall.as_secs_f64() / guide_ingest.as_secs_f64().max(1e-9);
        println!(
            "    generation: {channels} channels, {programmes} programmes in {:.2} s ({ratio:.2}x the guide ingest), peak RSS {peak:.1} MiB",
            wall.as_secs_f64()
        );
        let verdict = if ratio <= 1.0 / 3.0 && peak < 150.0 && wall <= Duration::from_secs(8) {
            "met"
        } else if database.backend == "sqlite" {
            missed.push(format!("{} generation", database.backend));
            "MISSED (< 1/3 of the ingest, < 8 s, < 150 MiB)"
        } else {
            "(SQLite only)"
        };
        rows.push(format!(
            "| {} | generate 50k channels / 500k programmes | {channels} / {programmes} | {:.2} s | {:.2} s | {ratio:.2} | {peak:.1} MiB | {verdict} |",
            database.backend,
            wall.as_secs_f64(),
            guide_ingest.as_secs_f64()
        ));
        let seconds = Duration::from_secs(10);
        for during in ["idle", "a forced regeneration"] {
            let job = if during == "idle" {
                None
            } else {
                Some(
                    json_field(
                        &post(
                            port,
                            &format!("/api/v1/proxies/{proxy}/generate?force=true"),
                            "{}",
                            202,
                        )?,
                        "job_id",
                    )
                    .context("job id")?,
                )
            };
            for (path, gzip) in [
                (format!("/proxy/{proxy}.m3u"), false),
                (format!("/proxy/{proxy}.xmltv"), true),
            ] {
                let (per_second, mb) = load_output(port, &path, gzip, 4, seconds);
                let what = if gzip { format!("{path} (gzip)") } else { path };
                println!("    {during}: {what}: {per_second:.1} req/s, {mb:.0} MB/s");
                rows.push(format!(
                    "| {} | serve {what}, 4 clients, {during} | | | | | {per_second:.1} req/s, {mb:.0} MB/s | |",
                    database.backend
                ));
            }
            if let Some(job) = job {
                let done = wait_job(port, &job)?;
                println!(
                    "    the regeneration ended {}",
                    json_field(&done, "status").unwrap_or_default()
                );
            }
        }
        drop(server);
        // The outputs a client reads whole, each from a fresh process: time to the last byte
        // and the peak RSS the answer added to the idle server. The playlist, a file served as
        // published, is the same run's reference for the HDHomeRun lineup, read from the
        // database as it streams.
        for path in [
            format!("/hdhr/{proxy}/lineup.json"),
            format!("/proxy/{proxy}.m3u"),
        ] {
            let (server, port) = start_server(&data, &database.url)?;
            let pid = server.0.id();
            let idle = reset_peak_mib(pid);
            let (seconds, bytes) = read_whole(port, &path)?;
            let added = rss_kib(pid, "VmHWM:") as f64 / 1024.0 - idle;
            println!(
                "    {path}: {:.1} MB to the last byte in {seconds:.3} s, peak RSS +{added:.1} MiB",
                bytes as f64 / 1e6
            );
            rows.push(format!(
                "| {} | read {path} whole, 50k channels | | {seconds:.3} s | | | +{added:.1} MiB over idle ({:.1} MB) | |",
                database.backend,
                bytes as f64 / 1e6
            ));
            drop(server);
        }
        xtream(
            &database.backend,
            &data,
            &database.url,
            &proxy,
            &channels,
            &mut rows,
        )?;
        drop(database);
        let _ = std::fs::remove_dir_all(&data);
    }
    let _ = std::fs::remove_dir_all(&inputs);
    println!("\nbench-e2e --generate\n");
    println!(
        "| database | run | channels / programmes | wall | guide ingest (same run) | ratio | peak RSS / serving | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if !missed.is_empty() {
        bail!("generation targets missed: {}", missed.join(", "));
    }
    Ok(())
}

/// The Xtream Codes API of `proxy` (of `channels` channels), after the playlist and lineup
/// reads: the accounts are made first (the API then closes, and the outputs need credentials),
/// then `get_live_streams` and `get.php` are read whole, each from a fresh process, and
/// `player_api.php`'s authentication is loaded beside `/livez`, in one more.
fn xtream(
    backend: &str,
    data: &Path,
    database: &str,
    proxy: &str,
    channels: &str,
    rows: &mut Vec<String>,
) -> Result<()> {
    let expected: usize = channels.parse().context("the generation's channel count")?;
    let (server, port) = start_server(data, database)?;
    create_accounts(port, proxy)?;
    drop(server);
    let account = format!("username={XTREAM_USER}&password={XTREAM_PASSWORD}");
    let authenticate = format!("/player_api.php?{account}");
    // The first request of a process verifies the output password with argon2 (about 19 MiB
    // for a moment): made, and timed, before the peak is reset, so that a read's row is the
    // answer's own.
    let first_request = |port: u16| -> Result<f64> {
        let started = Instant::now();
        let (status, answer) = request(port, "GET", &authenticate, None)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let auth: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        if status != 200 || auth["user_info"]["auth"] != 1 {
            bail!("GET {authenticate} answered {status}: {answer}");
        }
        Ok(ms)
    };
    for (what, path) in [
        (
            "player_api.php?action=get_live_streams",
            format!("/xtream/{proxy}/player_api.php?{account}&action=get_live_streams"),
        ),
        (
            "get.php?type=m3u_plus&output=ts",
            format!("/xtream/{proxy}/get.php?{account}&type=m3u_plus&output=ts"),
        ),
    ] {
        let (server, port) = start_server(data, database)?;
        let pid = server.0.id();
        let argon2_ms = first_request(port)?;
        let idle = reset_peak_mib(pid);
        let (seconds, answer) = read_answer(port, &path)?;
        let added = rss_kib(pid, "VmHWM:") as f64 / 1024.0 - idle;
        drop(server);
        let body = answer_body(&answer)?;
        let count = if what.starts_with("get.php") {
            if !body.starts_with(b"#EXTM3U") {
                bail!("{path}: not an M3U");
            }
            body.split(|b| *b == b'\n')
                .filter(|line| line.starts_with(b"#EXTINF"))
                .count()
        } else {
            serde_json::from_slice::<serde_json::Value>(&body)
                .with_context(|| format!("{path}: not JSON"))?
                .as_array()
                .with_context(|| format!("{path}: not an array"))?
                .len()
        };
        if count != expected {
            bail!("{path}: {count} channels, not {expected}");
        }
        let label = format!("/xtream/{proxy}/{what}");
        println!(
            "    {label}: {count} channels, {:.1} MB to the last byte in {seconds:.3} s, peak RSS \
             +{added:.1} MiB (the account's first request before it, argon2: {argon2_ms:.0} ms)",
            answer.len() as f64 / 1e6
        );
        rows.push(format!(
            "| {backend} | read {label} whole, 50k channels | | {seconds:.3} s | | | +{added:.1} MiB over idle ({:.1} MB) | |",
            answer.len() as f64 / 1e6
        ));
    }
    // Authentication under load: the first request verifies the output password with argon2,
    // every later one within a minute hits the cache of verified credentials.
    let (server, port) = start_server(data, database)?;
    let argon2_ms = first_request(port)?;
    let (clients, seconds) = (16, Duration::from_secs(5));
    for (what, path) in [
        (
            "/livez (the machine's reference)".to_owned(),
            "/livez".to_owned(),
        ),
        (
            format!(
                "/player_api.php authentication, cached credentials (the first request, argon2: {argon2_ms:.0} ms)"
            ),
            authenticate.clone(),
        ),
    ] {
        let path = Arc::new(move |_| path.clone());
        let f = load(port, clients, seconds, path);
        println!(
            "    {what}, {clients} clients: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} requests, {} failed)",
            f.per_second, f.p50_ms, f.p99_ms, f.requests, f.failures
        );
        rows.push(format!(
            "| {backend} | {what}, {clients} clients kept alive, {} s | | | | | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} failed) | |",
            seconds.as_secs(),
            f.per_second,
            f.p50_ms,
            f.p99_ms,
            f.failures
        ));
        if f.failures > 0 {
            bail!("{what}: {} of {} requests failed", f.failures, f.requests);
        }
    }
    drop(server);
    Ok(())
}
