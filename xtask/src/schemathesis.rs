//! `cargo xtask schemathesis`: the API tested by a tool nobody here wrote.
//!
//! Starts the server (the debug binary the test build made) on a fresh SQLite database with an
//! admin account, makes an API key, and runs [schemathesis](https://schemathesis.readthedocs.io)
//! against the server's own OpenAPI document twice:
//!
//! - **with credentials**: every check (no 5xx, status codes, content types and bodies as
//!   documented, invalid input refused, valid input accepted), in the examples, coverage,
//!   fuzzing and stateful phases, positive and negative data (all but `positive_data_acceptance`:
//!   see below);
//! - **without credentials**: the same operations must all be refused as documented, and never
//!   answer 5xx.
//!
//! The server runs with no workers, so the sources schemathesis invents are never fetched (its
//! random host names must not turn into traffic), and every request stays on loopback.
//! Afterwards the server must still answer `/readyz`: a dropped connection or a crash fails the
//! run. The examples are bounded (`--max-examples`, default 4 per operation) and the seed is
//! fixed, so a run is repeatable and takes a few minutes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The version `.ci/run` installs; the flags below are this version's.
pub const VERSION: &str = "4.32.5";

struct Options {
    binary: PathBuf,
    max_examples: u32,
    seed: u64,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        binary: PathBuf::from("target/debug/tvarr-server"),
        max_examples: 4,
        seed: 1,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--binary" => options.binary = PathBuf::from(value()?),
            "--max-examples" => options.max_examples = value()?.parse()?,
            "--seed" => options.seed = value()?.parse()?,
            other => bail!("unknown option `{other}` (--binary PATH, --max-examples N, --seed N)"),
        }
    }
    Ok(options)
}

/// schemathesis, run as a Python module (no console-script shim on PATH needed).
fn command() -> Command {
    let mut command = Command::new("python3");
    command.args(["-m", "schemathesis.cli"]);
    command
}

/// Whether schemathesis is installed (`python3 -m schemathesis.cli --version` answers).
pub fn installed() -> bool {
    command()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Server {
    child: Child,
    port: u16,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(self.data.with_extension("log"));
    }
}

/// A minimal HTTP/1.1 exchange on loopback: (status, headers, body).
fn exchange(port: u16, request: &str) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    Ok((status, head.to_string(), body.to_string()))
}

fn post_json(
    port: u16,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> Result<(u16, String, String)> {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    exchange(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{cookie}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn ready(port: u16) -> bool {
    exchange(
        port,
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .is_ok_and(|(status, _, _)| status == 200)
}

fn start(options: &Options, password: &str) -> Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let data = std::env::temp_dir().join(format!("tvarr-schemathesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let log = std::fs::File::create(data.with_extension("log"))?;
    let child = Command::new(&options.binary)
        .env("TVARR_LISTEN", format!("127.0.0.1:{port}"))
        .env("TVARR_DATA_DIR", &data)
        .env("TVARR_WORKERS", "0")
        .env("TVARR_ADMIN_PASSWORD", password)
        .env("TVARR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", options.binary.display()))?;
    let server = Server { child, port, data };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(port) {
        if Instant::now() > deadline {
            bail!("the server did not become ready");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// Logs in as admin and makes an API key for schemathesis.
fn api_key(port: u16, password: &str) -> Result<String> {
    let (status, head, _) = post_json(
        port,
        "/api/v1/auth/login",
        &format!(r#"{{"username":"admin","password":"{password}"}}"#),
        None,
    )?;
    if status != 204 {
        bail!("login answered {status}");
    }
    let cookie = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap_or("").to_string())
        })
        .context("login set no cookie")?;
    let (status, _, body) = post_json(
        port,
        "/api/v1/auth/api-keys",
        r#"{"name":"schemathesis"}"#,
        Some(&cookie),
    )?;
    if status != 201 {
        bail!("creating an API key answered {status}: {body}");
    }
    let value: serde_json::Value = serde_json::from_str(&body)?;
    value["key"]
        .as_str()
        .map(str::to_string)
        .context("no key in the answer")
}

fn schemathesis(options: &Options, port: u16, label: &str, extra: &[&str]) -> Result<()> {
    let started = Instant::now();
    let schema = format!("http://127.0.0.1:{port}/api/v1/openapi.json");
    let base = format!("http://127.0.0.1:{port}");
    let max_examples = options.max_examples.to_string();
    let seed = options.seed.to_string();
    let mut args = vec![
        "run",
        schema.as_str(),
        "--url",
        base.as_str(),
        "--max-examples",
        max_examples.as_str(),
        "--seed",
        seed.as_str(),
        // One worker: with two, hypothesis (under CPython 3.11) once failed inside `ast.parse`
        // with "AST constructor recursion depth mismatch", a race of its own, not a finding.
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        "--warnings",
        "off",
    ];
    args.extend_from_slice(extra);
    println!("==> schemathesis {label}");
    let status = command()
        .args(&args)
        .env("NO_COLOR", "1")
        .status()
        .context("running schemathesis")?;
    println!("    ({:.1}s)", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("schemathesis {label} found failures (see above)");
    }
    Ok(())
}

/// Runs both passes.
pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    if !installed() {
        bail!("schemathesis is not installed (pip install schemathesis=={VERSION})");
    }
    if !options.binary.exists() {
        bail!(
            "{} does not exist: build it first (cargo build -p tvarr-server)",
            options.binary.display()
        );
    }
    let password = format!("schemathesis-{}", std::process::id());
    let server = start(&options, &password)?;
    let key = api_key(server.port, &password)?;
    let header = format!("Authorization: Bearer {key}");
    let with = schemathesis(
        &options,
        server.port,
        "with credentials",
        &[
            "-H",
            header.as_str(),
            "--checks",
            "all",
            // Valid JSON Schema is not always a valid request here: a guide window whose `to`
            // precedes its `from`, a year before 1970, an expression that does not parse, an
            // id that does not exist. Those are refused with a 400/404/422 naming the field,
            // which this check would count as failures; every other check runs.
            "--exclude-checks",
            "positive_data_acceptance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--mode",
            "all",
        ],
    );
    let alive_after_first = ready(server.port);
    let without = schemathesis(
        &options,
        server.port,
        "without credentials",
        &[
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--mode",
            "all",
        ],
    );
    let alive = ready(server.port);
    if !alive_after_first || !alive {
        let log = std::fs::read_to_string(server.data.with_extension("log")).unwrap_or_default();
        bail!(
            "the server stopped answering during schemathesis; its log ends:\n{}",
            log.lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    with?;
    without?;
    println!("==> schemathesis: both passes clean, the server still answers");
    Ok(())
}
