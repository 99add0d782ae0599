//! `cargo xtask bench-relay`: the load harness of stream delivery. It runs the release server
//! (`target/release/tvarr-server`, which it does not build unless given `--build`) on a fresh
//! SQLite database, beside a loopback upstream that serves the fixture
//! `fixtures/external/hls/tvarr-test-stream.ts` looped endlessly at real time (each packet
//! sent a tick before its PCR time, interpolated between the PCRs around it, is due; written
//! every tick, `--tick-ms`, default 20 ms), its continuity counters, PCRs, PTSs and DTSs rewritten at each loop so that the
//! endless stream is continuous (a verifier can demand zero CC errors, and FFmpeg sees
//! timestamps that only go forward). The upstream counts the connections each
//! channel's URL opened and has open.
//!
//! Through the API (a fresh server has no admin, so no credentials), an M3U source listing
//! one channel per upstream URL is ingested, and a proxy in `proxy` mode (4 tuners) is
//! generated. Then, on `GET /proxy/{proxy_id}/{channel_id}`:
//!
//! 1. first byte, cold start: no session playing (each ended with
//!    `DELETE /api/v1/relay/sessions/{id}` and its upstream connection seen closed), then one
//!    viewer; `--repeats` times (default 20): the time from `connect` to the first byte of the
//!    body and to its first 7 packets (1316 bytes), median and p95;
//! 2. first byte, warm join: the same while a viewer keeps the channel playing;
//! 3. `--viewers` concurrent viewers (default 200) of the one channel, all started at once on
//!    a cold channel, for `--seconds` (default 20): each reads the HTTP/1.1 answer (chunked or
//!    not) and verifies its MPEG-TS (every packet starts 0x47, the first is the PAT, per-PID
//!    continuity counters step by 1 mod 16 where there is payload, one duplicate allowed, a
//!    signalled discontinuity allowed and counted), and its throughput against the
//!    upstream's real-time rate, in bytes and in PCR time. The server's CPU (utime + stime
//!    from `/proc`, in % of one core), its RSS and peak RSS, the upstream connections opened
//!    (one is the target) and the memory per viewer (RSS growth over the idle server and over
//!    one viewer, divided by the viewers) are reported.
//! 4. `--ffmpeg-relays N` (default 10; 0 skips it): when `relay` mode works (a relay profile
//!    and a `relay` proxy can be made, and the stream is not refused for want of FFmpeg),
//!    1..=N channels at once, each its own upstream URL and so its own session, with a `copy`
//!    profile and then a software h264 transcode (480p at most): how many play at real time
//!    (each viewer's PCR time at least 95% of the wall time, no TS error), and the CPU of the
//!    server and its FFmpeg children.
//!
//! The summary is a Markdown table for `docs/benchmarks.md`. Exits non-zero on a TS
//! verification error, on more than one upstream connection for one channel, on a viewer
//! that fell behind real time, or when a target of PRODUCT.md (first byte under 1 s, 200
//! viewers under 5% of one core) is missed. The server's log is kept in the temporary
//! directory, and its warnings and errors are summarized at the end.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench_e2e::{answer_body, percentile, rss_kib};

const USAGE: &str = "cargo xtask bench-relay [--viewers N] [--seconds S] [--ffmpeg-relays N] \
    [--repeats N] [--tick-ms MS] [--binary PATH] [--build]\n\
    cargo xtask bench-relay --self-check [--viewers N] [--seconds S]: the upstream alone, read by the viewers";

/// The fixture the upstream loops.
const FIXTURE: &str = "fixtures/external/hls/tvarr-test-stream.ts";
/// An MPEG-TS packet.
const TS: usize = 188;
/// What "the first packets" of a first-byte measure are: 7 packets, one UDP datagram's worth.
const FIRST_PACKETS: u64 = 7 * TS as u64;
/// The share of real time a viewer must receive.
const REAL_TIME: f64 = 0.95;
/// PCRs wrap at 2^33 * 300 ticks of 27 MHz.
const PCR_WRAP: u64 = (1 << 33) * 300;

struct Options {
    viewers: usize,
    seconds: u64,
    ffmpeg_relays: usize,
    repeats: usize,
    binary: PathBuf,
    build: bool,
    self_check: bool,
    tick_ms: u64,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        viewers: 200,
        seconds: 20,
        ffmpeg_relays: 10,
        repeats: 20,
        binary: PathBuf::from("target/release/tvarr-server"),
        build: false,
        self_check: false,
        tick_ms: 20,
    };
    let mut it = args.iter();
    let number = |value: Option<&String>, what: &str| -> Result<u64> {
        value
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{what} N\n{USAGE}"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--viewers" => options.viewers = number(it.next(), "--viewers")?.max(1) as usize,
            "--seconds" => options.seconds = number(it.next(), "--seconds")?.max(1),
            "--ffmpeg-relays" => {
                options.ffmpeg_relays = number(it.next(), "--ffmpeg-relays")?.min(63) as usize
            }
            "--repeats" => options.repeats = number(it.next(), "--repeats")?.max(1) as usize,
            "--binary" => options.binary = it.next().map(PathBuf::from).context("--binary PATH")?,
            "--build" => options.build = true,
            "--self-check" => options.self_check = true,
            "--tick-ms" => options.tick_ms = number(it.next(), "--tick-ms")?.clamp(1, 1000),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// MPEG-TS

fn pid_of(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2])
}

fn has_payload(p: &[u8]) -> bool {
    p[3] & 0x10 != 0
}

/// Whether the packet has an adaptation field of at least its flags byte.
fn has_adaptation_flags(p: &[u8]) -> bool {
    p[3] & 0x20 != 0 && p[4] > 0
}

/// The PCR of a packet, in 27 MHz ticks.
fn pcr_of(p: &[u8]) -> Option<u64> {
    if !has_adaptation_flags(p) || p[5] & 0x10 == 0 || p[4] < 7 {
        return None;
    }
    let b = &p[6..12];
    let base = (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | (u64::from(b[4]) >> 7);
    let extension = (u64::from(b[4] & 1) << 8) | u64::from(b[5]);
    Some(base * 300 + extension)
}

fn set_pcr(p: &mut [u8], pcr: u64) {
    let pcr = pcr % PCR_WRAP;
    let (base, extension) = (pcr / 300, pcr % 300);
    p[6] = (base >> 25) as u8;
    p[7] = (base >> 17) as u8;
    p[8] = (base >> 9) as u8;
    p[9] = (base >> 1) as u8;
    p[10] = (((base & 1) as u8) << 7) | 0x7e | ((extension >> 8) as u8 & 1);
    p[11] = extension as u8;
}

/// Where the payload of a packet starts.
fn payload_offset(p: &[u8]) -> usize {
    if p[3] & 0x20 != 0 {
        5 + usize::from(p[4])
    } else {
        4
    }
}

/// Shifts the PTS and DTS of a PES header starting in packet `p` by `by` ticks of 90 kHz.
fn shift_pes_timestamps(p: &mut [u8], by: u64) {
    if p[1] & 0x40 == 0 || !has_payload(p) {
        return;
    }
    let start = payload_offset(p);
    if start + 19 > TS {
        return;
    }
    let q = &mut p[start..];
    if q[..3] != [0, 0, 1] || q[6] & 0xc0 != 0x80 {
        return;
    }
    let flags = q[7] >> 6;
    let fields = match flags {
        2 => 1,
        3 => 2,
        _ => 0,
    };
    for i in 0..fields {
        let at = 9 + 5 * i;
        let b = &q[at..at + 5];
        let value = (u64::from((b[0] >> 1) & 7) << 30)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] >> 1) << 15)
            | (u64::from(b[3]) << 7)
            | (u64::from(b[4]) >> 1);
        let value = (value + by) % (1 << 33);
        let prefix = q[at] & 0xf0;
        q[at] = prefix | (((value >> 30) as u8 & 7) << 1) | 1;
        q[at + 1] = (value >> 22) as u8;
        q[at + 2] = (((value >> 15) as u8) << 1) | 1;
        q[at + 3] = (value >> 7) as u8;
        q[at + 4] = ((value as u8) << 1) | 1;
    }
}

/// The fixture, and how to loop it into one endless, continuous stream.
struct Fixture {
    data: Vec<u8>,
    /// Per PID, what its continuity counter advances by in one loop.
    cc_step: Vec<u8>,
    /// One loop's duration, in 90 kHz ticks: what timestamps advance by in one loop.
    loop_90k: u64,
    /// Bytes per second at real time, on average.
    byte_rate: f64,
    /// When each packet of a loop is due, in seconds from the loop's start: its PCR time,
    /// interpolated between the PCRs around it.
    due: Vec<f64>,
}

impl Fixture {
    fn load(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if data.is_empty() || data.len() % TS != 0 {
            bail!("{}: not whole MPEG-TS packets", path.display());
        }
        let mut first_cc = vec![None::<u8>; 8192];
        let mut last_cc = vec![0u8; 8192];
        let mut pcrs: Vec<(usize, u64)> = Vec::new();
        let mut pcr_pid = None;
        for (index, p) in data.chunks_exact(TS).enumerate() {
            if p[0] != 0x47 {
                bail!("{}: packet {index} has no sync byte", path.display());
            }
            let pid = usize::from(pid_of(p));
            if has_payload(p) {
                first_cc[pid].get_or_insert(p[3] & 15);
                last_cc[pid] = p[3] & 15;
            }
            if let Some(pcr) = pcr_of(p) {
                let pcr_pid = *pcr_pid.get_or_insert(pid);
                if pid == pcr_pid {
                    pcrs.push((index, pcr));
                }
            }
        }
        let cc_step = first_cc
            .iter()
            .zip(&last_cc)
            .map(|(first, last)| {
                first.map_or(0, |first| last.wrapping_add(1).wrapping_sub(first) & 15)
            })
            .collect();
        let (Some(&(first_index, first_pcr)), Some(&(last_index, last_pcr))) =
            (pcrs.first(), pcrs.last())
        else {
            bail!("{}: no PCR", path.display());
        };
        if last_index <= first_index || last_pcr <= first_pcr {
            bail!("{}: too few PCRs to know its rate", path.display());
        }
        let rate = ((last_index - first_index) * TS) as f64
            / ((last_pcr - first_pcr) as f64 / 27_000_000.0);
        let loop_90k = (data.len() as f64 / rate * 90_000.0).round() as u64;
        let byte_rate = data.len() as f64 / (loop_90k as f64 / 90_000.0);
        // The PCRs of two loops around the file's packets (the previous loop's last, this
        // loop's, the next loop's first), each packet's time interpolated between the two
        // around it.
        let loop_27m = (loop_90k * 300) as f64;
        let packets = data.len() / TS;
        let mut marks: Vec<(f64, f64)> = vec![(
            last_index as f64 - packets as f64,
            last_pcr as f64 - loop_27m,
        )];
        marks.extend(pcrs.iter().map(|&(i, pcr)| (i as f64, pcr as f64)));
        marks.push(((first_index + packets) as f64, first_pcr as f64 + loop_27m));
        let mut at = 0;
        let times: Vec<f64> = (0..packets)
            .map(|index| {
                let index = index as f64;
                while at + 2 < marks.len() && marks[at + 1].0 <= index {
                    at += 1;
                }
                let ((i0, t0), (i1, t1)) = (marks[at], marks[at + 1]);
                t0 + (t1 - t0) * (index - i0) / (i1 - i0)
            })
            .collect();
        let due = times
            .iter()
            .map(|t| (t - times[0]) / 27_000_000.0)
            .collect();
        Ok(Self {
            data,
            cc_step,
            loop_90k,
            byte_rate,
            due,
        })
    }

    fn packets(&self) -> u64 {
        (self.data.len() / TS) as u64
    }

    fn loop_seconds(&self) -> f64 {
        self.loop_90k as f64 / 90_000.0
    }

    /// When packet `n` of the endless stream is due, in seconds from its start.
    fn due(&self, n: u64) -> f64 {
        let (round, index) = (n / self.packets(), (n % self.packets()) as usize);
        round as f64 * self.loop_seconds() + self.due[index]
    }

    /// Appends packet `n` of the endless stream to `out`.
    fn packet(&self, n: u64, out: &mut Vec<u8>) {
        let (round, index) = (n / self.packets(), (n % self.packets()) as usize);
        let start = out.len();
        out.extend_from_slice(&self.data[index * TS..(index + 1) * TS]);
        if round == 0 {
            return;
        }
        let p = &mut out[start..];
        let step = u64::from(self.cc_step[usize::from(pid_of(p))]);
        let cc = (u64::from(p[3] & 15) + round * step) % 16;
        p[3] = (p[3] & 0xf0) | cc as u8;
        if let Some(pcr) = pcr_of(p) {
            set_pcr(p, pcr + round * self.loop_90k * 300);
        }
        shift_pes_timestamps(p, round * self.loop_90k);
    }
}

// ---------------------------------------------------------------------------------------------
// The loopback upstream

/// The connections of one channel's upstream URL.
#[derive(Default)]
struct ChannelCounters {
    opened: AtomicU64,
    open: AtomicU64,
}

impl ChannelCounters {
    fn opened(&self) -> u64 {
        self.opened.load(Ordering::SeqCst)
    }

    fn open(&self) -> u64 {
        self.open.load(Ordering::SeqCst)
    }
}

struct Upstream {
    port: u16,
    channels: Arc<Vec<ChannelCounters>>,
}

/// Serves `/playlist.m3u` (one entry per channel) and `/live/{n}.ts`, the fixture looped at
/// real time, from a loopback port.
fn start_upstream(fixture: Arc<Fixture>, channels: usize, tick: Duration) -> Result<Upstream> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let counters: Arc<Vec<ChannelCounters>> =
        Arc::new((0..channels).map(|_| ChannelCounters::default()).collect());
    let shared = counters.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let fixture = fixture.clone();
            let counters = shared.clone();
            let _ = std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let _ = serve_upstream(stream, port, &fixture, &counters, tick);
                });
        }
    });
    Ok(Upstream {
        port,
        channels: counters,
    })
}

/// Counts a connection open while it lives.
struct OpenGuard<'a>(&'a ChannelCounters);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_upstream(
    mut stream: TcpStream,
    port: u16,
    fixture: &Fixture,
    counters: &[ChannelCounters],
    tick: Duration,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    if path == "/playlist.m3u" {
        let mut body = String::from("#EXTM3U\n");
        for n in 0..counters.len() {
            body.push_str(&format!(
                "#EXTINF:-1 tvg-id=\"bench-{n}.tv\" tvg-name=\"Bench {n}\" group-title=\"Bench\",Bench {n}\n\
                 http://127.0.0.1:{port}/live/{n}.ts\n"
            ));
        }
        return write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: audio/x-mpegurl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let channel = path
        .strip_prefix("/live/")
        .and_then(|p| p.strip_suffix(".ts"))
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| counters.get(n));
    let Some(counters) = channel else {
        return write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    counters.opened.fetch_add(1, Ordering::SeqCst);
    counters.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(counters);
    stream.set_nodelay(true)?;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut buffer = Vec::with_capacity(64 << 10);
    loop {
        // What falls due before the next tick goes now: a live source sends what it has.
        let horizon = (started.elapsed() + tick).as_secs_f64();
        buffer.clear();
        while fixture.due(sent) <= horizon {
            fixture.packet(sent, &mut buffer);
            sent += 1;
        }
        if !buffer.is_empty() {
            stream.write_all(&buffer)?;
        }
        std::thread::sleep(tick);
    }
}

// ---------------------------------------------------------------------------------------------
// The server and its API

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(binary: &Path, data: &Path, log: &Path) -> Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let log_file = std::fs::File::create(log)?;
    let database = format!("sqlite://{}?mode=rwc", data.join("tvarr.db").display());
    let child = Command::new(binary)
        .env("TVARR_LISTEN", format!("127.0.0.1:{port}"))
        .env("TVARR_DATA_DIR", data)
        .env("TVARR_DATABASE_URL", database)
        .env("TVARR_WORKERS", "1")
        .env("TVARR_LOG", "warn")
        // The harness queues every generation itself.
        .env("TVARR_GENERATION_DEBOUNCE_SECONDS", "86400")
        .env("TVARR_RELAY_IDLE_GRACE_SECONDS", "1")
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut server = Server {
        child,
        port,
        log: log.to_owned(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while request(port, "GET", "/readyz", None).map_or(0, |(s, _)| s) != 200 {
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!(
                "the server exited ({status}) before it was ready; its log: {}",
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!("the server did not become ready in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// A minimal HTTP/1.1 client: returns (status, body), a chunked body joined.
fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let status = std::str::from_utf8(&answer[..answer.len().min(16)])
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    Ok((
        status,
        String::from_utf8_lossy(&answer_body(&answer)?).into_owned(),
    ))
}

fn post(port: u16, path: &str, body: &str, expect: u16) -> Result<Value> {
    let (status, answer) = request(port, "POST", path, Some(body))?;
    if status != expect {
        bail!("POST {path} answered {status}: {answer}");
    }
    serde_json::from_str(&answer).with_context(|| format!("POST {path}: not JSON: {answer}"))
}

fn get_json(port: u16, path: &str) -> Result<Value> {
    let (status, answer) = request(port, "GET", path, None)?;
    if status != 200 {
        bail!("GET {path} answered {status}: {answer}");
    }
    serde_json::from_str(&answer).with_context(|| format!("GET {path}: not JSON"))
}

fn text(value: &Value, field: &str) -> Result<String> {
    match &value[field] {
        Value::String(s) => Ok(s.clone()),
        Value::Null => bail!("no `{field}` in {value}"),
        other => Ok(other.to_string()),
    }
}

/// Waits (at most `limit`) for job `job` to end; fails unless it succeeded.
fn wait_job(port: u16, job: &str, limit: Duration) -> Result<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let body = get_json(port, &format!("/api/v1/jobs/{job}"))?;
        match body["status"].as_str() {
            Some("succeeded") => return Ok(body),
            Some("failed") | Some("cancelled") => bail!("job {job} did not succeed: {body}"),
            _ if Instant::now() > deadline => bail!("job {job} still not done after {limit:?}"),
            _ => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// A generated proxy: its id and its channels' ids by name.
struct BenchProxy {
    id: String,
    channels: HashMap<String, String>,
}

impl BenchProxy {
    fn path(&self, channel: usize) -> Result<String> {
        let id = self
            .channels
            .get(&format!("Bench {channel}"))
            .with_context(|| format!("channel `Bench {channel}` is not in proxy {}", self.id))?;
        Ok(format!("/proxy/{}/{id}", self.id))
    }
}

/// Creates a proxy of `source` from `body` (a JSON object without the source), generates it
/// and reads its channels. `Ok(Err(answer))` when the API refuses the proxy.
fn make_proxy(
    port: u16,
    source: &str,
    fields: &str,
) -> Result<std::result::Result<BenchProxy, String>> {
    let body = format!(
        r#"{{"stream_source_ids":["{source}"],"numbering":"sequential","starting_channel_number":1,{fields}}}"#
    );
    let (status, created) = request(port, "POST", "/api/v1/proxies", Some(&body))?;
    if status != 201 {
        return Ok(Err(format!(
            "POST /api/v1/proxies answered {status}: {created}"
        )));
    }
    let created: Value = serde_json::from_str(&created)?;
    let id = text(&created, "id")?;
    let job = text(
        &post(port, &format!("/api/v1/proxies/{id}/generate"), "{}", 202)?,
        "job_id",
    )?;
    wait_job(port, &job, Duration::from_secs(120))?;
    let listed = get_json(port, &format!("/api/v1/proxies/{id}/channels?limit=200"))?;
    let channels = listed["items"]
        .as_array()
        .context("the proxy's channels")?
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_owned(),
                c["channel_id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    Ok(Ok(BenchProxy { id, channels }))
}

/// `GET /api/v1/relay/ffmpeg`, when the server has it.
fn ffmpeg_status(port: u16) -> Option<Value> {
    get_json(port, "/api/v1/relay/ffmpeg").ok()
}

/// Waits (at most 90 s) for the server's probe of hardware encoders, which runs test encodes
/// when it starts, so that it does not weigh on the measures.
fn wait_hardware_probe(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while let Some(status) = ffmpeg_status(port) {
        if status["available"] != Value::Bool(true) || !status["hardware"].is_null() {
            return;
        }
        if Instant::now() > deadline {
            println!("    note: the hardware-encoder probe had not ended after 90 s");
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn sessions(port: u16) -> Result<Vec<Value>> {
    Ok(get_json(port, "/api/v1/relay/sessions")?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Ends every session and waits (at most 15 s) until none is listed and the upstream
/// connections of `channels` are closed.
fn wait_idle(port: u16, upstream: &Upstream, channels: &[usize]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed = sessions(port)?;
        for session in &listed {
            if let Some(id) = session["id"].as_str() {
                let _ = request(
                    port,
                    "DELETE",
                    &format!("/api/v1/relay/sessions/{id}"),
                    None,
                );
            }
        }
        let open: u64 = channels.iter().map(|&c| upstream.channels[c].open()).sum();
        if listed.is_empty() && open == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "still {} sessions and {open} upstream connections 15 s after ending them all",
                listed.len()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Viewers

/// An open stream answer: its status and a reader of its body, chunks decoded.
struct StreamAnswer {
    status: u16,
    reader: BufReader<TcpStream>,
    chunked: bool,
    chunk_left: usize,
    done: bool,
}

/// `GET path`, up to the end of the answer's head. Reads fail after `stall` without data.
fn open_stream(port: u16, path: &str, stall: Duration) -> Result<(StreamAnswer, TcpStream)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(stall))?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tvarr-bench-relay\r\nConnection: close\r\n\r\n"
    )?;
    let control = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(32 << 10, stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line: {line:?}"))?;
    let mut chunked = false;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    Ok((
        StreamAnswer {
            status,
            reader,
            chunked,
            chunk_left: 0,
            done: false,
        },
        control,
    ))
}

impl StreamAnswer {
    /// The rest of a (short) body as text, for an error message.
    fn text(&mut self) -> String {
        let mut body = Vec::new();
        let _ = self.by_ref().take(8 << 10).read_to_end(&mut body);
        String::from_utf8_lossy(&body).into_owned()
    }
}

impl Read for StreamAnswer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if !self.chunked {
            return self.reader.read(buf);
        }
        if self.chunk_left == 0 {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let size = line.trim().split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a bad chunk size {line:?}"),
                )
            })?;
            if size == 0 {
                loop {
                    line.clear();
                    if self.reader.read_line(&mut line)? == 0 || line == "\r\n" {
                        break;
                    }
                }
                self.done = true;
                return Ok(0);
            }
            self.chunk_left = size;
        }
        let want = buf.len().min(self.chunk_left);
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.chunk_left -= n;
        if self.chunk_left == 0 {
            let mut crlf = [0u8; 2];
            self.reader.read_exact(&mut crlf)?;
            if crlf != *b"\r\n" {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a chunk not ended by CRLF",
                ));
            }
        }
        Ok(n)
    }
}

/// What one viewer received and found, updated as it reads.
#[derive(Default)]
struct ViewerStats {
    status: AtomicU64,
    bytes: AtomicU64,
    packets: AtomicU64,
    sync_errors: AtomicU64,
    cc_errors: AtomicU64,
    duplicates: AtomicU64,
    discontinuities: AtomicU64,
    pcr_jumps: AtomicU64,
    /// PCR time received, in 27 MHz ticks.
    media: AtomicU64,
    /// The first packet's PID plus one (0: none yet).
    first_pid: AtomicU64,
    /// Microseconds from `connect` to the first byte of the body, and to the first packets
    /// (0: not yet).
    first_byte_us: AtomicU64,
    first_packets_us: AtomicU64,
    /// The longest wait between two reads of the body, in microseconds.
    longest_gap_us: AtomicU64,
    /// The server ended the answer.
    ended: AtomicBool,
    stopping: AtomicBool,
    error: Mutex<Option<String>>,
    socket: Mutex<Option<TcpStream>>,
}

impl ViewerStats {
    fn fail(&self, error: String) {
        if !self.stopping.load(Ordering::SeqCst) {
            let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(error);
        }
    }

    fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(socket) = self
            .socket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn ts_errors(&self) -> u64 {
        self.sync_errors.load(Ordering::SeqCst)
            + self.cc_errors.load(Ordering::SeqCst)
            + u64::from(self.first_pid.load(Ordering::SeqCst) > 1)
    }

    fn progress(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::SeqCst),
            self.media.load(Ordering::SeqCst),
        )
    }

    fn first_byte_ms(&self) -> Option<f64> {
        Some(self.first_byte_us.load(Ordering::SeqCst))
            .filter(|us| *us > 0)
            .map(|us| us as f64 / 1000.0)
    }
}

/// The MPEG-TS checks of one viewer's body.
struct TsVerifier {
    partial: Vec<u8>,
    cc: Vec<Option<u8>>,
    duplicated: Vec<bool>,
    pcr_pid: Option<u16>,
    last_pcr: Option<u64>,
    packets: u64,
    sync_errors: u64,
    cc_errors: u64,
    duplicates: u64,
    discontinuities: u64,
    pcr_jumps: u64,
    media: u64,
}

impl TsVerifier {
    fn new() -> Self {
        Self {
            partial: Vec::with_capacity(TS),
            cc: vec![None; 8192],
            duplicated: vec![false; 8192],
            pcr_pid: None,
            last_pcr: None,
            packets: 0,
            sync_errors: 0,
            cc_errors: 0,
            duplicates: 0,
            discontinuities: 0,
            pcr_jumps: 0,
            media: 0,
        }
    }

    fn feed(&mut self, mut data: &[u8], stats: &ViewerStats) {
        if !self.partial.is_empty() {
            let take = (TS - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == TS {
                let packet = std::mem::take(&mut self.partial);
                self.check(&packet, stats);
                self.partial = packet;
                self.partial.clear();
            }
        }
        let mut packets = data.chunks_exact(TS);
        for packet in packets.by_ref() {
            self.check(packet, stats);
        }
        self.partial.extend_from_slice(packets.remainder());
        stats.packets.store(self.packets, Ordering::SeqCst);
        stats.sync_errors.store(self.sync_errors, Ordering::SeqCst);
        stats.cc_errors.store(self.cc_errors, Ordering::SeqCst);
        stats.duplicates.store(self.duplicates, Ordering::SeqCst);
        stats
            .discontinuities
            .store(self.discontinuities, Ordering::SeqCst);
        stats.pcr_jumps.store(self.pcr_jumps, Ordering::SeqCst);
        stats.media.store(self.media, Ordering::SeqCst);
    }

    fn check(&mut self, p: &[u8], stats: &ViewerStats) {
        self.packets += 1;
        if p[0] != 0x47 {
            self.sync_errors += 1;
            return;
        }
        let pid = pid_of(p);
        if self.packets == 1 {
            stats.first_pid.store(u64::from(pid) + 1, Ordering::SeqCst);
        }
        let discontinuity = has_adaptation_flags(p) && p[5] & 0x80 != 0;
        if discontinuity {
            self.discontinuities += 1;
        }
        if pid != 0x1fff && has_payload(p) {
            let cc = p[3] & 15;
            let slot = usize::from(pid);
            if let Some(previous) = self.cc[slot]
                && !discontinuity
            {
                if cc == (previous + 1) & 15 {
                    self.duplicated[slot] = false;
                } else if cc == previous && !self.duplicated[slot] {
                    self.duplicates += 1;
                    self.duplicated[slot] = true;
                } else {
                    self.cc_errors += 1;
                }
            } else {
                self.duplicated[slot] = false;
            }
            self.cc[slot] = Some(cc);
        }
        if let Some(pcr) = pcr_of(p) {
            let pcr_pid = *self.pcr_pid.get_or_insert(pid);
            if pid == pcr_pid {
                if let Some(last) = self.last_pcr {
                    let delta = (pcr + PCR_WRAP - last) % PCR_WRAP;
                    if delta > 0 && delta < 27_000_000 {
                        self.media += delta;
                    } else if delta != 0 {
                        self.pcr_jumps += 1;
                    }
                }
                self.last_pcr = Some(pcr);
            }
        }
    }
}

/// Reads `path` until stopped, verifying what arrives.
fn view(port: u16, path: &str, stats: &ViewerStats) {
    let started = Instant::now();
    let (mut answer, control) = match open_stream(port, path, Duration::from_secs(15)) {
        Ok(opened) => opened,
        Err(e) => return stats.fail(format!("opening the stream: {e:#}")),
    };
    stats
        .status
        .store(u64::from(answer.status), Ordering::SeqCst);
    if answer.status != 200 {
        let body = answer.text();
        return stats.fail(format!("answered {}: {body}", answer.status));
    }
    *stats.socket.lock().unwrap_or_else(|e| e.into_inner()) = Some(control);
    if stats.stopping.load(Ordering::SeqCst) {
        stats.stop();
    }
    let mut verifier = TsVerifier::new();
    let mut buffer = vec![0u8; 32 << 10];
    let mut last_read: Option<Instant> = None;
    let mut bytes = 0u64;
    loop {
        match answer.read(&mut buffer) {
            Ok(0) => {
                if !stats.stopping.load(Ordering::SeqCst) {
                    stats.ended.store(true, Ordering::SeqCst);
                    stats.fail("the server ended the stream".into());
                }
                return;
            }
            Ok(n) => {
                let now = Instant::now();
                let since = now.duration_since(started).as_micros().max(1) as u64;
                if let Some(last) = last_read {
                    let gap = now.duration_since(last).as_micros() as u64;
                    stats.longest_gap_us.fetch_max(gap, Ordering::SeqCst);
                } else {
                    stats.first_byte_us.store(since, Ordering::SeqCst);
                }
                last_read = Some(now);
                bytes += n as u64;
                if bytes >= FIRST_PACKETS && stats.first_packets_us.load(Ordering::SeqCst) == 0 {
                    stats.first_packets_us.store(since, Ordering::SeqCst);
                }
                verifier.feed(&buffer[..n], stats);
                stats.bytes.store(bytes, Ordering::SeqCst);
            }
            Err(e) => return stats.fail(format!("reading the stream: {e}")),
        }
    }
}

/// A group of viewers, each a thread; stopped when dropped.
struct Viewers {
    stats: Vec<Arc<ViewerStats>>,
    threads: Vec<JoinHandle<()>>,
}

impl Viewers {
    fn start(port: u16, paths: &[String]) -> Result<Self> {
        let mut viewers = Viewers {
            stats: Vec::new(),
            threads: Vec::new(),
        };
        for path in paths {
            let stats = Arc::new(ViewerStats::default());
            let mine = stats.clone();
            let path = path.clone();
            let thread = std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || view(port, &path, &mine))?;
            viewers.stats.push(stats);
            viewers.threads.push(thread);
        }
        Ok(viewers)
    }

    /// Waits (at most `limit`) until every viewer received its first packets or failed;
    /// how many did receive them.
    fn wait_started(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let started = self
                .stats
                .iter()
                .filter(|s| s.first_packets_us.load(Ordering::SeqCst) > 0)
                .count();
            let failed = self
                .stats
                .iter()
                .filter(|s| s.first_packets_us.load(Ordering::SeqCst) == 0 && s.error().is_some())
                .count();
            if started + failed == self.stats.len() || Instant::now() > deadline {
                return started;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn progress(&self) -> Vec<(u64, u64)> {
        self.stats.iter().map(|s| s.progress()).collect()
    }

    fn stop(&mut self) {
        for stats in &self.stats {
            stats.stop();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Viewers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One viewer's throughput between two snapshots: bytes against the upstream's rate, and
/// PCR time against wall time.
fn ratios(before: (u64, u64), after: (u64, u64), seconds: f64, byte_rate: f64) -> (f64, f64) {
    let bytes = after.0.saturating_sub(before.0) as f64 / seconds / byte_rate;
    let media = after.1.saturating_sub(before.1) as f64 / 27_000_000.0 / seconds;
    (bytes, media)
}

/// One first-byte measure: ms to the first byte of the body and to its first packets.
fn first_byte(port: u16, path: &str) -> Result<(f64, f64)> {
    let stats = ViewerStats::default();
    let started = Instant::now();
    let (mut answer, _control) = open_stream(port, path, Duration::from_secs(10))?;
    if answer.status != 200 {
        let status = answer.status;
        bail!("GET {path} answered {status}: {}", answer.text());
    }
    let mut buffer = vec![0u8; 16 << 10];
    let mut verifier = TsVerifier::new();
    let (mut first, mut bytes) = (None, 0u64);
    while bytes < FIRST_PACKETS {
        let n = answer.read(&mut buffer)?;
        if n == 0 {
            bail!("GET {path}: the stream ended after {bytes} bytes");
        }
        first.get_or_insert_with(|| started.elapsed());
        bytes += n as u64;
        verifier.feed(&buffer[..n], &stats);
    }
    let all = started.elapsed();
    if stats.ts_errors() > 0 {
        bail!(
            "GET {path}: the first packets are not a clean MPEG-TS start (first PID {}, {} sync errors, {} CC errors)",
            stats.first_pid.load(Ordering::SeqCst).saturating_sub(1),
            stats.sync_errors.load(Ordering::SeqCst),
            stats.cc_errors.load(Ordering::SeqCst)
        );
    }
    let first = first.unwrap_or(all);
    Ok((first.as_secs_f64() * 1000.0, all.as_secs_f64() * 1000.0))
}

// ---------------------------------------------------------------------------------------------
// /proc

/// Resets the peak RSS of `pid` to its current RSS where Linux allows it (`clear_refs` 5).
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The fields of `/proc/<pid>/stat` after the command's name: state, ppid, ...
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: &str) -> u64 {
    stat_fields(pid)
        .map(|f| {
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .unwrap_or(0)
}

/// The descendants of `root` (FFmpeg, in relay mode) and their CPU ticks.
fn descendants(root: u32) -> HashMap<u32, (String, u64)> {
    let mut parents: HashMap<u32, u32> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (Ok(pid), Some(fields)) = (name.parse::<u32>(), stat_fields(&name)) else {
                continue;
            };
            if let Some(ppid) = fields.get(1).and_then(|p| p.parse().ok()) {
                parents.insert(pid, ppid);
            }
        }
    }
    let mut found = HashMap::new();
    for &pid in parents.keys() {
        let mut at = pid;
        let mut depth = 0;
        while let Some(&parent) = parents.get(&at) {
            if parent == root {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                found.insert(pid, (comm, process_ticks(&pid.to_string())));
                break;
            }
            at = parent;
            depth += 1;
            if parent <= 1 || depth > 16 {
                break;
            }
        }
    }
    found
}

/// Busy and all ticks of the machine, all cores together.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle.min(total), total)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

struct CpuSample {
    at: Instant,
    server: u64,
    children: HashMap<u32, (String, u64)>,
    harness: u64,
    machine: (u64, u64),
}

fn cpu_sample(server: u32) -> CpuSample {
    CpuSample {
        at: Instant::now(),
        server: process_ticks(&server.to_string()),
        children: descendants(server),
        harness: process_ticks("self"),
        machine: machine_ticks(),
    }
}

/// CPU between two samples, each in % of one core.
struct Cpu {
    server: f64,
    children: f64,
    children_alive: usize,
    /// How many of those are FFmpeg.
    ffmpegs: usize,
    harness: f64,
    machine: f64,
}

fn cpu_between(a: &CpuSample, b: &CpuSample, tck: f64) -> Cpu {
    let seconds = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let pct = |ticks: u64| ticks as f64 / tck / seconds * 100.0;
    let children: u64 = b
        .children
        .iter()
        .map(|(pid, (_, ticks))| ticks - a.children.get(pid).map_or(0, |(_, t)| *t).min(*ticks))
        .sum();
    Cpu {
        server: pct(b.server - a.server.min(b.server)),
        children: pct(children),
        children_alive: b.children.len(),
        ffmpegs: b
            .children
            .values()
            .filter(|(comm, _)| comm.contains("ffmpeg"))
            .count(),
        harness: pct(b.harness - a.harness.min(b.harness)),
        machine: pct(b.machine.0 - a.machine.0.min(b.machine.0)),
    }
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    values
}

// ---------------------------------------------------------------------------------------------
// The phases

/// What every phase shares.
struct Bench {
    server: Server,
    upstream: Upstream,
    fixture: Arc<Fixture>,
    tck: f64,
    rows: Vec<String>,
    missed: Vec<String>,
    failures: Vec<String>,
}

impl Bench {
    fn port(&self) -> u16 {
        self.server.port
    }

    fn pid(&self) -> u32 {
        self.server.pid()
    }

    fn row(&mut self, what: &str, figure: &str, target: &str, verdict: &str) {
        self.rows
            .push(format!("| {what} | {figure} | {target} | {verdict} |"));
    }
}

/// `repeats` first-byte measures of `path`: cold (every session ended before each) or warm
/// (a viewer keeps the channel playing). Median and p95 of both figures.
fn first_bytes(
    bench: &mut Bench,
    path: &str,
    channel: usize,
    cold: bool,
    repeats: usize,
) -> Result<()> {
    let label = if cold {
        "cold start (no session)"
    } else {
        "warm join (a viewer playing)"
    };
    println!("==> first byte, {label}, {repeats} times");
    let port = bench.port();
    wait_idle(port, &bench.upstream, &[channel])?;
    let holder = if cold {
        None
    } else {
        let holder = Viewers::start(port, &[path.to_owned()])?;
        if holder.wait_started(Duration::from_secs(15)) != 1 {
            bail!(
                "the warm session's viewer did not start: {}",
                holder.stats[0].error().unwrap_or_default()
            );
        }
        // Past the join's burst: the ring holds a keyframe or more.
        std::thread::sleep(Duration::from_secs(2));
        Some(holder)
    };
    let opened = bench.upstream.channels[channel].opened();
    let (mut firsts, mut packets) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        if cold {
            wait_idle(port, &bench.upstream, &[channel])?;
        }
        let (first, all) = first_byte(port, path)?;
        firsts.push(first);
        packets.push(all);
        if !cold {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let connections = bench.upstream.channels[channel].opened() - opened;
    let (firsts, packets) = (sorted(firsts), sorted(packets));
    let (median, p95) = (percentile(&firsts, 0.5), percentile(&firsts, 0.95));
    println!(
        "    first byte: median {median:.1} ms, p95 {p95:.1} ms, max {:.1} ms; first 7 packets: median {:.1} ms, p95 {:.1} ms; {connections} upstream connections opened",
        firsts.last().copied().unwrap_or(0.0),
        percentile(&packets, 0.5),
        percentile(&packets, 0.95),
    );
    let verdict = if p95 < 100.0 {
        "met (and the 100 ms aim)".to_owned()
    } else if p95 < 1000.0 {
        "met (not the 100 ms aim)".to_owned()
    } else {
        bench.missed.push(format!("first byte, {label}"));
        "MISSED".to_owned()
    };
    bench.row(
        &format!("first byte, {label}, {repeats} runs"),
        &format!(
            "median {median:.1} ms, p95 {p95:.1} ms (first 7 packets: median {:.1} ms, p95 {:.1} ms)",
            percentile(&packets, 0.5),
            percentile(&packets, 0.95)
        ),
        "p95 < 1 s (aim 100 ms)",
        &verdict,
    );
    if let Some(mut holder) = holder {
        holder.stop();
        let stats = &holder.stats[0];
        if stats.ts_errors() > 0 || stats.error().is_some() {
            bench.failures.push(format!(
                "the warm session's viewer: {} TS errors, {}",
                stats.ts_errors(),
                stats.error().unwrap_or_default()
            ));
        }
        if connections > 0 {
            bench.failures.push(format!(
                "warm joins opened {connections} upstream connections (0 expected)"
            ));
        }
        return Ok(());
    }
    if connections != repeats as u64 {
        println!("    note: {connections} upstream connections for {repeats} cold starts");
    }
    Ok(())
}

/// RSS figures the viewers phase needs: the idle server's and one viewer's.
struct Baselines {
    idle_kib: u64,
    one_viewer_kib: u64,
}

/// The server's RSS with one viewer, after as long as the viewers phase plays (its ring then
/// holds as much): what the viewers phase adds to it is the viewers' own.
fn one_viewer_rss(bench: &Bench, path: &str, channel: usize, seconds: u64) -> Result<u64> {
    println!("==> one viewer for {} s (the memory baseline)", seconds + 2);
    wait_idle(bench.port(), &bench.upstream, &[channel])?;
    let viewer = Viewers::start(bench.port(), &[path.to_owned()])?;
    if viewer.wait_started(Duration::from_secs(15)) != 1 {
        bail!(
            "the baseline viewer did not start: {}",
            viewer.stats[0].error().unwrap_or_default()
        );
    }
    std::thread::sleep(Duration::from_secs(seconds + 2));
    let kib = rss_kib(bench.pid(), "VmRSS:");
    println!("    RSS with one viewer {:.1} MiB", mib(kib));
    Ok(kib)
}

/// `viewers` concurrent viewers of one channel, started at once on a cold channel.
fn many_viewers(
    bench: &mut Bench,
    path: &str,
    channel: usize,
    viewers: usize,
    seconds: u64,
    baselines: &Baselines,
) -> Result<()> {
    println!("==> {viewers} viewers of one channel for {seconds} s");
    let port = bench.port();
    let pid = bench.pid();
    wait_idle(port, &bench.upstream, &[channel])?;
    let opened = bench.upstream.channels[channel].opened();
    let before_kib = rss_kib(pid, "VmRSS:");
    reset_peak(pid);
    let paths = vec![path.to_owned(); viewers];
    let started_at = Instant::now();
    let mut group = Viewers::start(port, &paths)?;
    let started = group.wait_started(Duration::from_secs(30));
    let all_started = started_at.elapsed();
    println!(
        "    {started} of {viewers} viewers received their first packets within {:.2} s",
        all_started.as_secs_f64()
    );
    // Past the joins' bursts.
    std::thread::sleep(Duration::from_secs(2));
    let session_list = sessions(port).unwrap_or_default();
    let first = group.progress();
    let cpu_before = cpu_sample(pid);
    let mut rss_max = 0;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250).min(deadline - Instant::now().min(deadline)));
        rss_max = rss_max.max(rss_kib(pid, "VmRSS:"));
    }
    let cpu_after = cpu_sample(pid);
    let last = group.progress();
    let rss_end = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    let listed = sessions(port).unwrap_or_default();
    let connections = bench.upstream.channels[channel].opened() - opened;
    let open_now = bench.upstream.channels[channel].open();
    group.stop();
    let window = cpu_after.at.duration_since(cpu_before.at).as_secs_f64();
    let cpu = cpu_between(&cpu_before, &cpu_after, bench.tck);

    let byte_rate = bench.fixture.byte_rate;
    let mut byte_ratios = Vec::new();
    let mut media_ratios = Vec::new();
    let mut behind = 0;
    let mut errors: Vec<String> = Vec::new();
    let (mut packets, mut sync, mut cc, mut dups, mut discontinuities, mut not_pat, mut jumps) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut firsts = Vec::new();
    let mut longest_gap = 0u64;
    for (i, stats) in group.stats.iter().enumerate() {
        let (b, m) = ratios(first[i], last[i], window, byte_rate);
        byte_ratios.push(b);
        media_ratios.push(m);
        if b < REAL_TIME || m < REAL_TIME {
            behind += 1;
        }
        packets += stats.packets.load(Ordering::SeqCst);
        sync += stats.sync_errors.load(Ordering::SeqCst);
        cc += stats.cc_errors.load(Ordering::SeqCst);
        dups += stats.duplicates.load(Ordering::SeqCst);
        discontinuities += stats.discontinuities.load(Ordering::SeqCst);
        jumps += stats.pcr_jumps.load(Ordering::SeqCst);
        if stats.first_pid.load(Ordering::SeqCst) > 1 {
            not_pat += 1;
        }
        if let Some(ms) = stats.first_byte_ms() {
            firsts.push(ms);
        }
        longest_gap = longest_gap.max(stats.longest_gap_us.load(Ordering::SeqCst));
        if let Some(e) = stats.error() {
            errors.push(e);
        }
    }
    let byte_ratios = sorted(byte_ratios);
    let media_ratios = sorted(media_ratios);
    let firsts = sorted(firsts);
    let viewers_listed: usize = session_list
        .iter()
        .map(|s| s["viewers"].as_array().map_or(0, Vec::len))
        .sum();
    println!(
        "    first byte under the herd: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        percentile(&firsts, 0.5),
        percentile(&firsts, 0.95),
        firsts.last().copied().unwrap_or(0.0)
    );
    println!(
        "    sessions listed: {} with {viewers_listed} viewers; at the end {} sessions; upstream connections opened {connections}, open {open_now}",
        session_list.len(),
        listed.len()
    );
    println!(
        "    server CPU {:.2}% of one core over {window:.1} s (the harness {:.1}%, the machine {:.1}%)",
        cpu.server, cpu.harness, cpu.machine
    );
    println!(
        "    RSS: idle server {:.1} MiB, one viewer {:.1} MiB, before the phase {:.1} MiB, {viewers} viewers {:.1} MiB (max {:.1}, peak {:.1})",
        mib(baselines.idle_kib),
        mib(baselines.one_viewer_kib),
        mib(before_kib),
        mib(rss_end),
        mib(rss_max),
        mib(peak)
    );
    println!(
        "    throughput vs real time: bytes min {:.3} median {:.3}; PCR time min {:.3} median {:.3}; {behind} behind; longest gap between reads {:.0} ms",
        byte_ratios.first().copied().unwrap_or(0.0),
        percentile(&byte_ratios, 0.5),
        media_ratios.first().copied().unwrap_or(0.0),
        percentile(&media_ratios, 0.5),
        longest_gap as f64 / 1000.0
    );
    println!(
        "    MPEG-TS: {packets} packets, {sync} sync errors, {cc} CC errors, {dups} duplicates, {discontinuities} signalled discontinuities, {jumps} PCR jumps, {not_pat} first packets not the PAT"
    );
    if !errors.is_empty() {
        let mut distinct = errors.clone();
        distinct.sort();
        distinct.dedup();
        println!(
            "    {} viewers reported an error, e.g. {}",
            errors.len(),
            distinct
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }

    let label = format!("{viewers} viewers, one channel, {seconds} s");
    let connection_verdict = if connections == 1 {
        "met"
    } else {
        bench.failures.push(format!(
            "{viewers} viewers opened {connections} upstream connections"
        ));
        "FAILED"
    };
    bench.row(
        &format!("{label}: upstream connections"),
        &format!("{connections} opened"),
        "1",
        connection_verdict,
    );
    let cpu_verdict = if cpu.server < 5.0 {
        "met"
    } else if viewers >= 200 {
        bench.missed.push(format!("{label}: server CPU"));
        "MISSED"
    } else {
        "(200 viewers only)"
    };
    bench.row(
        &format!("{label}: server CPU"),
        &format!(
            "{:.2}% of one core (harness {:.1}%, machine {:.1}%)",
            cpu.server, cpu.harness, cpu.machine
        ),
        "< 5% of one core",
        cpu_verdict,
    );
    let growth = rss_end.saturating_sub(baselines.idle_kib) as f64 * 1024.0 / viewers as f64;
    let marginal = if viewers > 1 {
        rss_end.saturating_sub(baselines.one_viewer_kib) as f64 * 1024.0 / (viewers - 1) as f64
    } else {
        0.0
    };
    bench.row(
        &format!("{label}: memory"),
        &format!(
            "RSS {:.1} MiB (idle {:.1}, one viewer {:.1}, peak {:.1}): {:.1} KiB per viewer over idle, {:.1} KiB per added viewer",
            mib(rss_end),
            mib(baselines.idle_kib),
            mib(baselines.one_viewer_kib),
            mib(peak),
            growth / 1024.0,
            marginal / 1024.0
        ),
        "bounded",
        "",
    );
    let real_time = if behind == 0 && errors.is_empty() && started == viewers {
        "met"
    } else {
        bench.failures.push(format!(
            "{viewers} viewers: {behind} behind real time, {} not started, {} errors",
            viewers - started,
            errors.len()
        ));
        "FAILED"
    };
    bench.row(
        &format!("{label}: throughput"),
        &format!(
            "bytes min {:.3} / median {:.3} of real time, PCR time min {:.3} / median {:.3}; {behind} behind",
            byte_ratios.first().copied().unwrap_or(0.0),
            percentile(&byte_ratios, 0.5),
            media_ratios.first().copied().unwrap_or(0.0),
            percentile(&media_ratios, 0.5)
        ),
        "≥ 0.95 each",
        real_time,
    );
    let ts_errors = sync + cc + not_pat;
    let ts_verdict = if ts_errors == 0 {
        "met"
    } else {
        bench.failures.push(format!(
            "{viewers} viewers: {sync} sync errors, {cc} CC errors, {not_pat} not starting at the PAT"
        ));
        "FAILED"
    };
    bench.row(
        &format!("{label}: MPEG-TS"),
        &format!(
            "{packets} packets: {sync} sync errors, {cc} CC errors, {not_pat} not starting at the PAT ({dups} duplicates, {discontinuities} discontinuities signalled)"
        ),
        "0 errors",
        ts_verdict,
    );
    bench.row(
        &format!("{label}: first byte under the herd"),
        &format!(
            "median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            percentile(&firsts, 0.5),
            percentile(&firsts, 0.95),
            firsts.last().copied().unwrap_or(0.0)
        ),
        "",
        "",
    );
    Ok(())
}

/// One level of the FFmpeg phase.
struct RelayLevel {
    relays: usize,
    started: usize,
    real_time: bool,
    min_media: f64,
    min_bytes: f64,
    cpu: Cpu,
    ts_errors: u64,
    connections: u64,
    /// The slowest viewer's first byte, in ms.
    slowest_first_ms: f64,
    note: String,
}

/// `relay` mode: 1..=`max` channels at once with `profile`, until one level misses real time.
fn ffmpeg_relays(
    bench: &mut Bench,
    source: &str,
    max: usize,
    seconds: u64,
    label: &str,
    profile: &str,
    levels: &mut Vec<(String, RelayLevel)>,
) -> Result<bool> {
    let port = bench.port();
    println!("==> relay mode, {label}");
    let (status, created) = request(port, "POST", "/api/v1/relay-profiles", Some(profile))?;
    if status != 201 {
        println!("    the relay profile was refused ({status}): {created}; skipped");
        bench.row(
            &format!("relay mode, {label}"),
            &format!("skipped: the relay profile was refused ({status})"),
            "10 relays",
            "",
        );
        return Ok(true);
    }
    let profile_id = text(&serde_json::from_str(&created)?, "id")?;
    let tuners = (max + 1).clamp(4, 64);
    let proxy = match make_proxy(
        port,
        source,
        &format!(
            r#""name":"bench relay {label}","proxy_mode":"relay","relay_profile_id":"{profile_id}","tuner_count":{tuners}"#
        ),
    )? {
        Ok(proxy) => proxy,
        Err(refused) => {
            println!("    a relay-mode proxy was refused: {refused}; the FFmpeg phase is skipped");
            bench.row(
                "relay mode (FFmpeg)",
                "skipped: the API refuses a `relay` proxy in this build",
                "10 relays",
                "",
            );
            return Ok(false);
        }
    };
    let paths: Vec<String> = (1..=max).map(|c| proxy.path(c)).collect::<Result<_>>()?;
    let channels: Vec<usize> = (1..=max).collect();
    wait_idle(port, &bench.upstream, &channels)?;
    match first_byte(port, &paths[0]) {
        Ok((first, _)) => {
            println!("    a probe's first byte after {first:.0} ms");
            bench.row(
                &format!("relay mode, {label}: first byte, cold (FFmpeg starting)"),
                &format!("{first:.0} ms"),
                "roadmap: startup < 3 s",
                if first < 3000.0 { "met" } else { "" },
            );
        }
        Err(e) => {
            let message = format!("{e:#}");
            println!("    the stream was refused: {message}; the FFmpeg phase is skipped");
            let short: String = message.chars().take(160).collect();
            bench.row(
                "relay mode (FFmpeg)",
                &format!("skipped: {}", short.replace('|', "/")),
                "10 relays",
                "",
            );
            return Ok(false);
        }
    }
    let window = seconds.min(10);
    for m in 1..=max {
        wait_idle(port, &bench.upstream, &channels)?;
        let opened: Vec<u64> = channels
            .iter()
            .map(|&c| bench.upstream.channels[c].opened())
            .collect();
        let mut group = Viewers::start(port, &paths[..m])?;
        let started = group.wait_started(Duration::from_secs(30));
        std::thread::sleep(Duration::from_secs(3));
        let first = group.progress();
        let before = cpu_sample(bench.pid());
        std::thread::sleep(Duration::from_secs(window));
        let after = cpu_sample(bench.pid());
        let last = group.progress();
        group.stop();
        let cpu = cpu_between(&before, &after, bench.tck);
        let wall = after.at.duration_since(before.at).as_secs_f64();
        let (mut min_media, mut min_bytes) = (f64::MAX, f64::MAX);
        let slowest_first_ms = group
            .stats
            .iter()
            .filter_map(|s| s.first_byte_ms())
            .fold(0.0, f64::max);
        let mut ts_errors = 0;
        let mut notes = Vec::new();
        for (i, stats) in group.stats.iter().enumerate() {
            let (b, media) = ratios(first[i], last[i], wall, bench.fixture.byte_rate);
            min_media = min_media.min(media);
            min_bytes = min_bytes.min(b);
            ts_errors += stats.ts_errors();
            if let Some(e) = stats.error() {
                notes.push(e);
            }
        }
        let connections: u64 = channels[..m]
            .iter()
            .zip(&opened)
            .map(|(&c, &before)| bench.upstream.channels[c].opened() - before)
            .sum();
        if cpu.ffmpegs == 0 {
            notes.push("no FFmpeg process ran: the stream passed through untouched".into());
        }
        let real_time = started == m
            && min_media >= REAL_TIME
            && notes.is_empty()
            && ts_errors == 0
            && cpu.ffmpegs > 0;
        notes.sort();
        notes.dedup();
        let note: String = notes.join(" / ").chars().take(160).collect();
        println!(
            "    {m} relays: {started} started (the slowest first byte {slowest_first_ms:.0} ms), PCR time min {min_media:.3} of real time (bytes {min_bytes:.3}), server {:.1}%, FFmpeg {:.1}% ({} FFmpeg of {} child processes), machine {:.1}% of one core, {ts_errors} TS errors, {connections} upstream connections{}",
            cpu.server,
            cpu.children,
            cpu.ffmpegs,
            cpu.children_alive,
            cpu.machine,
            if note.is_empty() {
                String::new()
            } else {
                format!("; {note}")
            }
        );
        if connections > m as u64 {
            bench.failures.push(format!(
                "{label}: {m} relays opened {connections} upstream connections"
            ));
        }
        levels.push((
            label.to_owned(),
            RelayLevel {
                relays: m,
                started,
                real_time,
                min_media,
                min_bytes,
                cpu,
                ts_errors,
                connections,
                slowest_first_ms,
                note,
            },
        ));
        if !real_time {
            break;
        }
    }
    let fit = levels
        .iter()
        .filter(|(l, level)| l == label && level.real_time)
        .map(|(_, level)| level.relays)
        .max()
        .unwrap_or(0);
    let passed_through = levels
        .iter()
        .any(|(l, level)| l == label && level.note.contains("no FFmpeg process ran"));
    let (figure, verdict) = if passed_through {
        (
            "not measured: no FFmpeg process ran, the relay passed the upstream through untouched"
                .to_owned(),
            "",
        )
    } else {
        let best = levels
            .iter()
            .filter(|(l, level)| l == label && level.real_time && level.relays == fit)
            .map(|(_, level)| {
                format!(
                    " (at {fit}: server {:.1}%, FFmpeg {:.1}% of one core)",
                    level.cpu.server, level.cpu.children
                )
            })
            .next()
            .unwrap_or_default();
        (
            format!("{fit} of {max} tried{best}"),
            if fit >= 10 { "met" } else { "" },
        )
    };
    bench.row(
        &format!("relay mode, {label}: concurrent relays at real time"),
        &figure,
        "10",
        verdict,
    );
    Ok(true)
}

/// The newest modification time of the Rust sources under `dir`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let found = if path.is_dir() {
            newest_source(&path)
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "toml" || e == "sql")
        {
            entry.metadata().and_then(|m| m.modified()).ok()
        } else {
            None
        };
        newest = newest.max(found);
    }
    newest
}

/// The warnings and errors of the server's log (JSON lines, or text), each kind once with
/// its count and its first occurrence. The open-API warning of a fresh server is expected.
fn summarize_log(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut kinds: Vec<(String, String, usize)> = Vec::new();
    for line in text.lines() {
        let shown = match serde_json::from_str::<Value>(line) {
            Ok(event) => {
                let level = event["level"].as_str().unwrap_or("");
                if level != "WARN" && level != "ERROR" {
                    continue;
                }
                let mut fields: Vec<String> = event
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !matches!(k.as_str(), "timestamp" | "level" | "target"))
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect();
                fields.sort_by_key(|f| !f.starts_with("message="));
                format!(
                    "{level} {}: {}",
                    event["target"].as_str().unwrap_or(""),
                    fields.join(" ")
                )
            }
            Err(_)
                if line.contains("WARN") || line.contains("ERROR") || line.contains("panick") =>
            {
                line.to_owned()
            }
            Err(_) => continue,
        };
        if shown.contains("NO ADMIN PASSWORD IS SET") {
            continue;
        }
        // Ids, addresses and figures masked, so that repeats count as one kind.
        let key: String = shown
            .chars()
            .map(|c| if c.is_ascii_hexdigit() { '#' } else { c })
            .take(160)
            .collect();
        match kinds.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, n)) => *n += 1,
            None => kinds.push((key, shown, 1)),
        }
    }
    kinds
        .into_iter()
        .map(|(_, shown, n)| format!("{n}x {}", shown.chars().take(400).collect::<String>()))
        .collect()
}

/// Runs the harness.
pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    if options.build {
        println!("==> building the release server");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "tvarr-server"])
            .status()?;
        if !status.success() {
            bail!("release build failed");
        }
    }
    let fixture = Arc::new(Fixture::load(Path::new(FIXTURE))?);
    println!(
        "==> upstream: {FIXTURE} ({} bytes, {:.3} s per loop, {:.0} kbit/s), looped at real time, written every {} ms, continuity counters and timestamps rewritten at each loop",
        fixture.data.len(),
        fixture.loop_seconds(),
        fixture.byte_rate * 8.0 / 1000.0,
        options.tick_ms
    );
    let upstream = start_upstream(
        fixture.clone(),
        1 + options.ffmpeg_relays,
        Duration::from_millis(options.tick_ms),
    )?;
    if options.self_check {
        return self_check(&upstream, &fixture, options.viewers, options.seconds);
    }
    let built = std::fs::metadata(&options.binary)
        .and_then(|m| m.modified())
        .with_context(|| {
            format!(
                "{} is missing: build it with `cargo build --release -p tvarr-server`, or pass --build",
                options.binary.display()
            )
        })?;
    let newest = [
        Path::new("crates"),
        Path::new("bins"),
        Path::new("migrations"),
    ]
    .iter()
    .filter_map(|d| newest_source(d))
    .max();
    if newest.is_some_and(|n| n > built) {
        println!(
            "warning: {} is older than the sources; this measures the build it is (rebuild with --build)",
            options.binary.display()
        );
    }
    let data = std::env::temp_dir().join(format!("tvarr-bench-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let log = std::env::temp_dir().join(format!("tvarr-bench-relay-{}.log", std::process::id()));
    let server = start_server(&options.binary, &data, &log)?;
    let mut bench = Bench {
        server,
        upstream,
        fixture,
        tck: clock_ticks(),
        rows: Vec::new(),
        missed: Vec::new(),
        failures: Vec::new(),
    };
    let outcome = phases(&mut bench, &options);
    let rate_kbps = bench.fixture.byte_rate * 8.0 / 1000.0;
    let log_lines = summarize_log(&bench.server.log);
    let Bench {
        server,
        rows,
        missed,
        failures,
        ..
    } = bench;
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    println!(
        "\nbench-relay ({} viewers, {} s; upstream: the fixture looped at real time, {:.0} kbit/s, written every {} ms, on loopback)\n",
        options.viewers, options.seconds, rate_kbps, options.tick_ms
    );
    println!("| measure | figure | target | verdict |");
    println!("|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if let Ok(levels) = &outcome
        && !levels.is_empty()
    {
        println!(
            "\n| relay profile | relays | started | slowest first byte | real time | min PCR time / wall | min bytes / upstream | server CPU | FFmpeg CPU | machine CPU | TS errors | upstream connections | note |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (label, l) in levels {
            println!(
                "| {label} | {} | {} | {:.0} ms | {} | {:.3} | {:.3} | {:.1}% | {:.1}% | {:.1}% | {} | {} | {} |",
                l.relays,
                l.started,
                l.slowest_first_ms,
                if l.real_time { "yes" } else { "no" },
                l.min_media,
                l.min_bytes,
                l.cpu.server,
                l.cpu.children,
                l.cpu.machine,
                l.ts_errors,
                l.connections,
                l.note.replace('|', "/")
            );
        }
        println!("\n(CPU in % of one core; the machine has 2.)");
    }
    println!("\nthe server's log: {}", log.display());
    if log_lines.is_empty() {
        println!("    no warnings or errors");
    } else {
        println!("    {} kinds of warnings and errors:", log_lines.len());
        for line in log_lines.iter().take(20) {
            println!("    {line}");
        }
    }
    outcome?;
    if !failures.is_empty() {
        bail!("failures: {}", failures.join("; "));
    }
    if !missed.is_empty() {
        bail!("targets missed: {}", missed.join(", "));
    }
    Ok(())
}

/// `--self-check`: `viewers` viewers read the upstream itself for `seconds`, as the server's
/// viewers are read: the looped fixture must be a continuous MPEG-TS at real time.
fn self_check(upstream: &Upstream, fixture: &Fixture, viewers: usize, seconds: u64) -> Result<()> {
    println!(
        "==> {viewers} viewers of http://127.0.0.1:{}/live/0.ts for {seconds} s",
        upstream.port
    );
    let mut group = Viewers::start(upstream.port, &vec!["/live/0.ts".to_owned(); viewers])?;
    group.wait_started(Duration::from_secs(10));
    let (first, at) = (group.progress(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (last, wall) = (group.progress(), at.elapsed().as_secs_f64());
    group.stop();
    let mut bad = 0;
    for (i, stats) in group.stats.iter().enumerate() {
        let (bytes, media) = ratios(first[i], last[i], wall, fixture.byte_rate);
        let (sync, cc) = (
            stats.sync_errors.load(Ordering::SeqCst),
            stats.cc_errors.load(Ordering::SeqCst),
        );
        println!(
            "    viewer {i}: {} packets, bytes {bytes:.4} and PCR time {media:.4} of real time, {sync} sync errors, {cc} CC errors, {} duplicates, {} PCR jumps, first PID {}, first byte {:.1} ms{}",
            stats.packets.load(Ordering::SeqCst),
            stats.duplicates.load(Ordering::SeqCst),
            stats.pcr_jumps.load(Ordering::SeqCst),
            stats.first_pid.load(Ordering::SeqCst).saturating_sub(1),
            stats.first_byte_ms().unwrap_or(0.0),
            stats.error().map(|e| format!(", {e}")).unwrap_or_default()
        );
        if sync + cc > 0 || bytes < REAL_TIME || media < REAL_TIME || stats.error().is_some() {
            bad += 1;
        }
    }
    let counters = &upstream.channels[0];
    println!(
        "    upstream connections: {} opened, {} open",
        counters.opened(),
        counters.open()
    );
    if bad > 0 {
        bail!("{bad} viewers of the upstream itself failed");
    }
    Ok(())
}

/// Every phase, in order; the FFmpeg levels measured.
fn phases(bench: &mut Bench, options: &Options) -> Result<Vec<(String, RelayLevel)>> {
    let port = bench.port();
    let pid = bench.pid();
    println!("==> ingesting the playlist, generating a `proxy` proxy");
    let source = text(
        &post(
            port,
            "/api/v1/sources/stream",
            &format!(
                r#"{{"name":"bench relay","source_type":"m3u","url":"http://127.0.0.1:{}/playlist.m3u"}}"#,
                bench.upstream.port
            ),
            201,
        )?,
        "id",
    )?;
    let job = text(
        &post(
            port,
            &format!("/api/v1/sources/stream/{source}/ingest"),
            "{}",
            202,
        )?,
        "job_id",
    )?;
    wait_job(port, &job, Duration::from_secs(120))?;
    let proxy = match make_proxy(
        port,
        &source,
        r#""name":"bench proxy","proxy_mode":"proxy","tuner_count":4"#,
    )? {
        Ok(proxy) => proxy,
        Err(refused) => {
            bail!("a `proxy`-mode proxy was refused, so this build cannot relay: {refused}")
        }
    };
    let path = proxy.path(0)?;
    println!("    the stream: {path}");
    wait_hardware_probe(port);
    std::thread::sleep(Duration::from_secs(1));
    let idle_kib = rss_kib(pid, "VmRSS:");
    println!("    idle server RSS {:.1} MiB", mib(idle_kib));

    first_bytes(bench, &path, 0, true, options.repeats)?;
    first_bytes(bench, &path, 0, false, options.repeats)?;
    let one_viewer_kib = one_viewer_rss(bench, &path, 0, options.seconds)?;
    let baselines = Baselines {
        idle_kib,
        one_viewer_kib,
    };
    many_viewers(
        bench,
        &path,
        0,
        options.viewers,
        options.seconds,
        &baselines,
    )?;

    let mut levels = Vec::new();
    if options.ffmpeg_relays > 0 {
        match ffmpeg_status(port) {
            Some(status) => println!(
                "==> FFmpeg as the server found it: available {}, {}, hardware {}",
                status["available"], status["ffmpeg"], status["hardware"]
            ),
            None => println!("==> the server has no GET /api/v1/relay/ffmpeg"),
        }
        let profiles = [
            (
                "copy",
                r#"{"name":"bench copy","video_codec":"copy","audio_codec":"copy"}"#,
            ),
            (
                "h264 software, 480p max",
                r#"{"name":"bench h264","video_codec":"h264","audio_codec":"copy","max_height":480,"hardware_acceleration":"none"}"#,
            ),
        ];
        for (label, profile) in profiles {
            if !ffmpeg_relays(
                bench,
                &source,
                options.ffmpeg_relays,
                options.seconds,
                label,
                profile,
                &mut levels,
            )? {
                break;
            }
        }
    }
    wait_idle(port, &bench.upstream, &[0])?;
    Ok(levels)
}
