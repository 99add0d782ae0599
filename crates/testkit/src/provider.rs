//! A loopback HTTP/1.1 server standing in for an IPTV provider: fixed answers per path
//! ([`ProviderServer::start`] and [`ProviderServer::route`]) or an answer computed per request
//! ([`ProviderServer::answering`]), with every request kept ([`ProviderServer::requests`],
//! [`ProviderServer::hits`]) and the misbehaviours the fetcher must survive: a delay before the
//! answer, a body dripped a few bytes at a time, a wrong `Content-Length`, a body ended by
//! closing the connection, and a stall mid-body until [`ProviderServer::release`]. A delay, a
//! drip's pauses and a stall end early when the client closes the connection.
//!
//! For stream relays it also stands in for a live channel: a body sent over and over
//! ([`Reply::repeat`], endless with [`Reply::live_ts`]) at a drip rate, its MPEG-TS continuity
//! counters carried on across repetitions ([`Reply::ts_continuity`], [`Reply::ts_copy`]) as a
//! live encoder's would be, and a body cut after some bytes by a close, a connection reset or
//! a stall ([`Reply::close_after`], [`Reply::reset_after`], [`Reply::stall_after`]). Since
//! no answer outlives its client, [`ProviderServer::open_connections`] tells whether a client
//! still holds a connection.
//!
//! One request per connection (`Connection: close`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The longest request head read.
const MAX_HEAD: usize = 64 * 1024;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server answers to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers besides `Content-Length` and `Connection`.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Announce this `Content-Length` instead of the body's (to truncate a body).
    pub announced_length: Option<usize>,
    /// Send no `Content-Length` and close the connection to end the body.
    pub close_delimited: bool,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Send the body this many bytes at a time, waiting this long before each piece.
    pub drip: Option<(usize, Duration)>,
    /// Send the headers and half the body, then hang until [`ProviderServer::release`] (or
    /// until the client closes), and drop the connection.
    pub stall: bool,
    /// Send the body this many times in a row (1: once; `usize::MAX`: for as long as the
    /// client reads, with [`Reply::close_delimited`]). Without `close_delimited` the announced
    /// length is that of every repetition together.
    pub repeat: usize,
    /// The body is MPEG-TS (whole 188-byte packets): every repetition after the first has its
    /// continuity counters moved on so that each PID's count continues from the repetition
    /// before, as in one long stream (see [`Reply::ts_copy`]).
    pub ts_continuity: bool,
    /// Close the connection (cleanly) after this many body bytes.
    pub close_after: Option<usize>,
    /// Reset the connection (TCP RST) after this many body bytes.
    pub reset_after: Option<usize>,
    /// Stop sending after this many body bytes and hang until [`ProviderServer::release`] or
    /// until the client closes, then drop the connection.
    pub stall_after: Option<usize>,
}

impl Reply {
    /// A 200 answer with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::status(200, body)
    }

    /// A `status` answer with `body`.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.into(),
            announced_length: None,
            close_delimited: false,
            delay: Duration::ZERO,
            drip: None,
            stall: false,
            repeat: 1,
            ts_continuity: false,
            close_after: None,
            reset_after: None,
            stall_after: None,
        }
    }

    /// A live MPEG-TS channel: 200 `video/mp2t`, the packets of `ts` sent over and over with
    /// their continuity counters carried on, no `Content-Length`, for as long as the client
    /// reads. Give it a rate with [`Reply::drip`].
    pub fn live_ts(ts: impl Into<Vec<u8>>) -> Self {
        let mut reply = Self::ok(ts).header("Content-Type", "video/mp2t");
        reply.close_delimited = true;
        reply.repeat = usize::MAX;
        reply.ts_continuity = true;
        reply
    }

    /// Sends the body `times` times in a row.
    pub fn repeat(mut self, times: usize) -> Self {
        self.repeat = times;
        self
    }

    /// Closes the connection after `bytes` body bytes.
    pub fn close_after(mut self, bytes: usize) -> Self {
        self.close_after = Some(bytes);
        self
    }

    /// Resets the connection after `bytes` body bytes.
    pub fn reset_after(mut self, bytes: usize) -> Self {
        self.reset_after = Some(bytes);
        self
    }

    /// Stops sending after `bytes` body bytes, until released or the client closes.
    pub fn stall_after(mut self, bytes: usize) -> Self {
        self.stall_after = Some(bytes);
        self
    }

    /// Repetition `copy` (0: the first) of the MPEG-TS `ts` sent in a loop: its packets with
    /// each PID's continuity counter moved on by `copy` times what one repetition counts, so
    /// that repetitions put one after another count on without a gap. `ts` must be whole
    /// packets whose counters run without a gap themselves; anything else is copied as it is.
    pub fn ts_copy(ts: &[u8], copy: usize) -> Vec<u8> {
        ContinuityShift::of(ts).apply(ts, copy).into_owned()
    }

    /// Sends the body `bytes` at a time, one piece every `every`.
    pub fn drip(mut self, bytes: usize, every: Duration) -> Self {
        self.drip = Some((bytes.max(1), every));
        self
    }

    /// Adds the header `name: value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// The request target: the path with its query.
    pub path: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("/")
    }
}

/// The fixed answer on one path of [`ProviderServer::route`].
#[derive(Clone, Debug)]
pub struct Route {
    reply: Reply,
    stall_first: usize,
}

impl Route {
    /// `reply` to every request on the path.
    pub fn new(reply: Reply) -> Self {
        Self {
            reply,
            stall_first: 0,
        }
    }

    /// A 200 answer of `content_type` with `body`.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            reply: Reply::ok(body).header("Content-Type", content_type),
            stall_first: 0,
        }
    }

    /// The same answer, but the first `n` requests stall mid-body (see [`Reply::stall`]).
    pub fn stalling_first(mut self, n: usize) -> Self {
        self.stall_first = n;
        self
    }
}

type Handler = dyn Fn(&SeenRequest, usize) -> Reply + Send + Sync;

struct Shared {
    /// The answer to a request, given how many requests came to the same path before it.
    answer: Box<Handler>,
    seen: Mutex<Vec<SeenRequest>>,
    release: Notify,
    /// Connections accepted and not yet closed by the server.
    open: AtomicUsize,
}

/// Counts a connection open until it is dropped.
struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running provider server on 127.0.0.1; stops when dropped.
pub struct ProviderServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ProviderServer {
    /// Starts a server on a free loopback port that answers the paths given to
    /// [`ProviderServer::route`] (their query ignored), and 404 to the rest.
    pub async fn start() -> std::io::Result<Self> {
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let table = routes.clone();
        let answer = move |request: &SeenRequest, previous: usize| {
            let route = table
                .lock()
                .ok()
                .and_then(|routes| routes.get(request.path_only()).cloned());
            match route {
                Some(route) => Reply {
                    stall: previous < route.stall_first,
                    ..route.reply
                },
                None => Reply::status(404, "not found").header("Content-Type", "text/plain"),
            }
        };
        Self::serve(Box::new(answer), routes).await
    }

    /// Starts a server on a free loopback port where `answer` computes every reply from the
    /// request and how many requests came to the same target (path and query) before it.
    pub async fn answering(
        answer: impl Fn(&SeenRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::serve(Box::new(answer), Arc::default()).await
    }

    async fn serve(
        answer: Box<Handler>,
        routes: Arc<Mutex<HashMap<String, Route>>>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            answer,
            seen: Mutex::default(),
            release: Notify::new(),
            open: AtomicUsize::new(0),
        });
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accept_shared.open.fetch_add(1, Ordering::SeqCst);
                let open = OpenConnection(accept_shared.clone());
                tokio::spawn(async move {
                    serve_one(stream, open.0.clone()).await;
                    drop(open);
                });
            }
        });
        Ok(Self {
            addr,
            shared,
            routes,
            task,
        })
    }

    /// Adds or replaces the answer on `path` (which starts with `/`), for a server from
    /// [`ProviderServer::start`].
    pub fn route(&self, path: &str, route: Route) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.insert(path.to_string(), route);
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared
            .seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// How many requests had a target (path and query) starting with `prefix`: `"/"` counts
    /// them all.
    pub fn hits(&self, prefix: &str) -> usize {
        self.shared
            .seen
            .lock()
            .map(|seen| seen.iter().filter(|r| r.path.starts_with(prefix)).count())
            .unwrap_or(0)
    }

    /// Connections open now: accepted, and neither finished by the server nor found closed
    /// by the client (a body being sent notices a closed connection at its next write).
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Lets every stalled request end (their connections are dropped mid-body).
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }
}

impl Drop for ProviderServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the request head: `None` when the client sends none in time, or too much.
async fn read_head(stream: &mut TcpStream) -> Option<SeenRequest> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(HEAD_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(SeenRequest { path, headers })
}

async fn serve_one(mut stream: TcpStream, shared: Arc<Shared>) {
    let Some(request) = read_head(&mut stream).await else {
        return;
    };
    let previous = match shared.seen.lock() {
        Ok(mut seen) => {
            let previous = seen.iter().filter(|r| r.path == request.path).count();
            seen.push(request.clone());
            previous
        }
        Err(_) => return,
    };
    let reply = (shared.answer)(&request, previous);
    if !reply.delay.is_zero() && !pause(&mut stream, reply.delay).await {
        return;
    }
    let mut head = format!("HTTP/1.1 {} Test\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !reply.close_delimited {
        let length = reply
            .announced_length
            .unwrap_or(reply.body.len().saturating_mul(reply.repeat));
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    // Registered before the body is sent: a release from then on is not missed.
    let mut notified = std::pin::pin!(shared.release.notified());
    notified.as_mut().enable();
    let stall_after = reply
        .stall_after
        .or(reply.stall.then_some(reply.body.len() / 2));
    let cuts = [
        (reply.close_after, Ending::Close),
        (reply.reset_after, Ending::Reset),
        (stall_after, Ending::Stall),
    ];
    let (limit, ending) = cuts
        .into_iter()
        .filter_map(|(at, ending)| at.map(|at| (at, ending)))
        .min_by_key(|(at, _)| *at)
        .unwrap_or((usize::MAX, Ending::Complete));
    let (piece, every) = reply.drip.unwrap_or((64 * 1024, Duration::ZERO));
    let shift = reply
        .ts_continuity
        .then(|| ContinuityShift::of(&reply.body));
    let mut sent = 0usize;
    'body: for copy in 0..reply.repeat {
        if reply.body.is_empty() {
            break;
        }
        let body = match &shift {
            Some(shift) => shift.apply(&reply.body, copy),
            None => Cow::Borrowed(&reply.body[..]),
        };
        for piece in body.chunks(piece) {
            if sent >= limit {
                break 'body;
            }
            let piece = &piece[..piece.len().min(limit - sent)];
            if !every.is_zero() && !pause(&mut stream, every).await {
                return;
            }
            if stream.write_all(piece).await.is_err() || stream.flush().await.is_err() {
                return;
            }
            sent += piece.len();
        }
    }
    match ending {
        Ending::Complete | Ending::Close => {
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
        }
        Ending::Reset => {
            let _ = stream.set_zero_linger();
        }
        Ending::Stall => {
            let _ = stream.flush().await;
            tokio::select! {
                () = notified => {}
                () = client_closed(&mut stream) => {}
            }
        }
    }
}

/// Waits `duration`, or less when the client closes the connection first: false then.
async fn pause(stream: &mut TcpStream, duration: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = client_closed(stream) => false,
    }
}

/// Ends when the client closes the connection (it sends nothing after its request head, so a
/// read returns only then).
async fn client_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// How an answer's body ends.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// Sent whole, then the connection is closed.
    Complete,
    /// Cut, then the connection is closed.
    Close,
    /// Cut, then the connection is reset.
    Reset,
    /// Cut, then nothing is sent until a release or the client's close.
    Stall,
}

/// What one repetition of an MPEG-TS body adds to each PID's continuity counter.
struct ContinuityShift {
    /// Per PID, `last + 1 - first` (mod 16) of its counters in the body.
    by_pid: HashMap<u16, u8>,
}

impl ContinuityShift {
    fn of(ts: &[u8]) -> Self {
        let mut seen: HashMap<u16, (u8, u8)> = HashMap::new();
        for packet in ts.chunks_exact(TS_PACKET).filter(|p| p[0] == TS_SYNC) {
            let counter = packet[3] & 0x0f;
            seen.entry(ts_pid(packet))
                .and_modify(|(_, last)| *last = counter)
                .or_insert((counter, counter));
        }
        let by_pid = seen
            .into_iter()
            .map(|(pid, (first, last))| (pid, (last + 1).wrapping_sub(first) & 0x0f))
            .collect();
        Self { by_pid }
    }

    /// Repetition `copy` of `ts`.
    fn apply<'a>(&self, ts: &'a [u8], copy: usize) -> Cow<'a, [u8]> {
        let times = (copy % 16) as u8;
        if times == 0 {
            return Cow::Borrowed(ts);
        }
        let mut out = ts.to_vec();
        for packet in out.chunks_exact_mut(TS_PACKET).filter(|p| p[0] == TS_SYNC) {
            let shift = self.by_pid.get(&ts_pid(packet)).copied().unwrap_or(0);
            let counter = (packet[3] & 0x0f).wrapping_add(shift.wrapping_mul(times)) & 0x0f;
            packet[3] = (packet[3] & 0xf0) | counter;
        }
        Cow::Owned(out)
    }
}

/// The length of an MPEG-TS packet.
const TS_PACKET: usize = 188;
/// The first byte of every MPEG-TS packet.
const TS_SYNC: u8 = 0x47;

fn ts_pid(packet: &[u8]) -> u16 {
    (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
}
