//! A loopback HTTP/1.1 server standing in for an IPTV provider: fixed answers per path
//! ([`ProviderServer::start`] and [`ProviderServer::route`]) or an answer computed per request
//! ([`ProviderServer::answering`]), with every request kept ([`ProviderServer::requests`],
//! [`ProviderServer::hits`]) and the misbehaviours the fetcher must survive: a delay before the
//! answer, a body dripped a few bytes at a time, a wrong `Content-Length`, a body ended by
//! closing the connection, and a stall mid-body until [`ProviderServer::release`].
//!
//! One request per connection (`Connection: close`).

use std::collections::HashMap;
use std::net::SocketAddr;
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
    /// Send the headers and half the body, then hang until [`ProviderServer::release`], and
    /// drop the connection.
    pub stall: bool,
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
        }
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
        });
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, accept_shared.clone()));
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
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut head = format!("HTTP/1.1 {} Test\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !reply.close_delimited {
        let length = reply.announced_length.unwrap_or(reply.body.len());
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    if reply.stall {
        // Registered before the body is sent: a release from then on is not missed.
        let mut notified = std::pin::pin!(shared.release.notified());
        notified.as_mut().enable();
        let half = reply.body.len() / 2;
        let _ = stream.write_all(&reply.body[..half]).await;
        let _ = stream.flush().await;
        notified.await;
        return;
    }
    match reply.drip {
        Some((bytes, every)) => {
            for piece in reply.body.chunks(bytes) {
                tokio::time::sleep(every).await;
                if stream.write_all(piece).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
        }
        None => {
            let _ = stream.write_all(&reply.body).await;
        }
    }
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}
