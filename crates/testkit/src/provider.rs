//! A loopback HTTP/1.1 server that serves fixed bodies, counts requests per path, and can
//! stall a path (send the headers and part of the body, then hang) until released.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the server answers on one path.
#[derive(Clone, Debug)]
pub struct Route {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
    /// When set, the first `n` requests get the headers and half the body, then hang until
    /// [`ProviderServer::release`] is called, after which the connection is dropped.
    pub stall_first: usize,
}

impl Route {
    /// A 200 answer with `body`.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            content_type: content_type.to_string(),
            body: body.into(),
            stall_first: 0,
        }
    }

    /// The same answer, but the first `n` requests stall mid-body.
    pub fn stalling_first(mut self, n: usize) -> Self {
        self.stall_first = n;
        self
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<HashMap<String, usize>>,
    release: Notify,
}

/// A running provider server; stops when dropped.
pub struct ProviderServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ProviderServer {
    /// Starts a server on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, accept_shared.clone()));
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// Adds or replaces the answer on `path` (which starts with `/`).
    pub fn route(&self, path: &str, route: Route) {
        if let Ok(mut routes) = self.shared.routes.lock() {
            routes.insert(path.to_string(), route);
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .hits
            .lock()
            .map(|h| h.get(path).copied().unwrap_or(0))
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

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    let lookup = path.split('?').next().unwrap_or("/").to_string();
    let hit = {
        let Ok(mut hits) = shared.hits.lock() else {
            return;
        };
        let n = hits.entry(lookup.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let route = shared
        .routes
        .lock()
        .ok()
        .and_then(|r| r.get(&lookup).cloned());
    let route = route.unwrap_or_else(|| Route {
        status: 404,
        content_type: "text/plain".into(),
        body: b"not found".to_vec(),
        stall_first: 0,
    });
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        route.status,
        route.content_type,
        route.body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    if hit <= route.stall_first {
        let half = route.body.len() / 2;
        let _ = stream.write_all(&route.body[..half]).await;
        let _ = stream.flush().await;
        shared.release.notified().await;
        return;
    }
    let _ = stream.write_all(&route.body).await;
    let _ = stream.shutdown().await;
}
