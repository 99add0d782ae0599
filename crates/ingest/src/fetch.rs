//! Fetching playlists and guides: HTTP(S) and local files, as a stream of bytes.
//!
//! [`HttpFetcher`] uses reqwest with rustls. reqwest takes the process-wide rustls crypto
//! provider when the binary installed one, and otherwise builds its client with its own default,
//! aws-lc-rs; it never panics for want of a provider. So this crate installs nothing and keeps
//! reqwest's default: a binary that also links sqlx (which brings ring) may install aws-lc-rs as
//! the process default at start to make the choice explicit for every TLS user.
//!
//! Two policies guard what a source may make the server read:
//! - local files only below [`FetchOptions::import_dir`], regular files only, never under
//!   `/proc`, `/sys` or `/dev` (see `local`);
//! - an outbound policy on every HTTP request, the first and each redirect (followed here, one
//!   hop at a time): never link-local or metadata addresses, never the server's own listen
//!   address, loopback and private ranges only when [`FetchOptions::allow_private_networks`]
//!   says so. Host names are judged after DNS by the client's resolver, so a name that
//!   resolves to a forbidden address is refused as its literal address would be (see
//!   `outbound`).
//!
//! A [`FetchRequest::cancel`] token interrupts a fetch at any point: connecting, waiting for
//! the headers, reading the body, and the sleeps between retries.

mod local;
mod outbound;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_compression::tokio::bufread::GzipDecoder;
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use futures::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, ReadBuf};
use tokio_util::io::StreamReader;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use url::Url;

use crate::error::IngestError;
use crate::redact::redact_url;
use outbound::{OutboundPolicy, PolicyResolver, Refusal, refusal_in};

/// Limits and timeouts of fetching.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchOptions {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of the body (and for the response headers).
    pub read_timeout: Duration,
    /// The most bytes accepted, on the wire and after decompression.
    pub max_bytes: u64,
    /// The most redirects followed.
    pub max_redirects: usize,
    /// Retries after the first attempt, for 5xx answers and timeouts only.
    pub retries: usize,
    /// The longest a whole download may take, from the first request to the last byte,
    /// retries included. The read timeout alone never ends a server that drips a byte now
    /// and then; this does.
    pub deadline: Duration,
    /// The first retry delay (doubling, with jitter).
    pub retry_min_delay: Duration,
    /// The longest retry delay.
    pub retry_max_delay: Duration,
    /// The user agent when the source sets none.
    pub default_user_agent: String,
    /// Local-file sources must be regular files below this directory, symlinks resolved;
    /// `None` refuses every local file. Nothing under `/proc`, `/sys` or `/dev` is ever read,
    /// even when this directory is there.
    pub import_dir: Option<PathBuf>,
    /// Whether loopback and private addresses (127/8, 10/8, 172.16/12, 192.168/16,
    /// 100.64/10, ::1, fc00::/7) may be fetched: on by default, for providers on the LAN.
    /// Link-local and metadata addresses (169.254/16, fe80::/10, fd00:ec2::254), unspecified,
    /// multicast and broadcast addresses are refused whatever this says.
    pub allow_private_networks: bool,
    /// The server's own listen addresses, never fetched on their port (an unspecified
    /// address, `0.0.0.0:8080`, stands for every address of this host on port 8080).
    pub own_addresses: Vec<SocketAddr>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            max_bytes: 1 << 30,
            max_redirects: 5,
            retries: 3,
            deadline: Duration::from_secs(30 * 60),
            retry_min_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(15),
            default_user_agent: concat!("tvarr/", env!("CARGO_PKG_VERSION")).to_owned(),
            import_dir: None,
            allow_private_networks: true,
            own_addresses: Vec::new(),
        }
    }
}

/// What to fetch.
#[derive(Clone, Debug, Default)]
pub struct FetchRequest {
    /// An `http(s)://` URL, a `file://` URL or a local path.
    pub location: String,
    /// The source's user agent.
    pub user_agent: Option<String>,
    /// The source's extra headers.
    pub headers: Vec<(String, String)>,
    /// Cancels the fetch, and the reading of its body, when it fires: the fetch (or the next
    /// read) then fails with [`IngestError::Cancelled`].
    pub cancel: CancellationToken,
}

impl FetchRequest {
    /// A request for `location` with no user agent and no headers.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            ..Self::default()
        }
    }
}

/// Bytes received so far by a download, readable while it runs.
#[derive(Clone, Debug, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// Bytes received.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A download in progress: the (decompressed) body as a stream.
pub struct Download {
    /// The body, decompressed (HTTP content encoding, or a gzip file), limited in size.
    pub body: Pin<Box<dyn AsyncRead + Send>>,
    /// The announced size of the body as sent, when known.
    pub content_length: Option<u64>,
    /// The `Content-Type` the server announced (HTTP only), to tell an error page from data.
    pub content_type: Option<String>,
    /// Bytes received, as sent (compressed when compressed).
    pub received: ByteCounter,
    /// Where it came from, redacted.
    pub location: String,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("content_length", &self.content_length)
            .field("content_type", &self.content_type)
            .field("received", &self.received.get())
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Opens a location as a stream of bytes. Tests point it at a loopback server or a file.
#[async_trait]
pub trait Fetcher: Send + Sync {
    /// Starts a download. Errors here are answers (HTTP status) or connection failures; errors
    /// while the body streams come from reading [`Download::body`].
    async fn fetch(&self, request: &FetchRequest) -> Result<Download, IngestError>;
}

/// The fetcher for HTTP(S) URLs and local files.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: reqwest::Client,
    /// For URLs on one of the server's own ports: their resolver also drops the server's own
    /// addresses (a resolver is not told the port).
    own_port_clients: Vec<(u16, reqwest::Client)>,
    policy: Arc<OutboundPolicy>,
    options: FetchOptions,
}

impl HttpFetcher {
    /// A fetcher with `options`.
    pub fn new(options: FetchOptions) -> Result<Self, IngestError> {
        let policy = Arc::new(OutboundPolicy::new(
            options.allow_private_networks,
            &options.own_addresses,
        ));
        let build = |port: Option<u16>| {
            reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                // Followed one hop at a time in `send`, each hop checked by the policy.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(options.default_user_agent.clone())
                .dns_resolver(PolicyResolver::new(policy.clone(), port))
                .build()
                .map_err(|e| IngestError::Fetch {
                    url: String::new(),
                    reason: format!("cannot build the HTTP client: {e}"),
                })
        };
        let client = build(None)?;
        let own_port_clients = policy
            .own_ports()
            .into_iter()
            .map(|port| build(Some(port)).map(|client| (port, client)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            client,
            own_port_clients,
            policy,
            options,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    async fn fetch_http(
        &self,
        url: Url,
        request: &FetchRequest,
        deadline: Deadline,
    ) -> Result<Download, IngestError> {
        let redacted = redact_url(url.as_str());
        let attempt = || async {
            let response = self.send(&url, request).await?;
            let status = response.status();
            if !status.is_success() {
                return Err(IngestError::HttpStatus {
                    url: redacted.clone(),
                    status: status.as_u16(),
                });
            }
            Ok(response)
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.options.retry_min_delay)
            .with_max_delay(self.options.retry_max_delay)
            .with_max_times(self.options.retries)
            .with_jitter();
        let attempts = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(is_retryable)
            .notify(|error, delay| {
                tracing::warn!(%error, ?delay, "fetch failed, retrying");
            });
        let response = tokio::time::timeout_at(deadline.at, attempts)
            .await
            .map_err(|_| deadline.exceeded(&redacted))??;
        if let Some(length) = response.content_length()
            && length > self.options.max_bytes
        {
            return Err(IngestError::TooLarge {
                limit: self.options.max_bytes,
            });
        }
        let content_length = response.content_length();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let stream = response.bytes_stream().map_err(body_error);
        let reader = StreamReader::new(Box::pin(stream));
        let mut download = finish(
            reader,
            content_length,
            self.options.max_bytes,
            redacted,
            deadline,
            request.cancel.clone(),
        )
        .await?;
        download.content_type = content_type;
        Ok(download)
    }

    /// Sends a GET for `url`, following redirects one hop at a time: every hop is checked by
    /// the outbound policy before it is requested, and the source's credentials (its
    /// `Authorization` and `Cookie` headers) go to the first origin only.
    async fn send(
        &self,
        url: &Url,
        request: &FetchRequest,
    ) -> Result<reqwest::Response, IngestError> {
        let mut current = url.clone();
        let mut redirects = 0;
        loop {
            let shown = redact_url(current.as_str());
            if !matches!(current.scheme(), "http" | "https") {
                return Err(IngestError::Fetch {
                    url: redact_url(url.as_str()),
                    reason: format!("redirected to {shown}, which is not an http(s) URL"),
                });
            }
            self.policy
                .check_url(&current)
                .map_err(|refusal| refused(&shown, refusal, false))?;
            let port = current.port_or_known_default().unwrap_or(80);
            let client = self
                .own_port_clients
                .iter()
                .find(|(own, _)| *own == port)
                .map_or(&self.client, |(_, client)| client);
            let first_origin = current.origin() == url.origin();
            let mut builder = client.get(current.clone());
            if let Some(agent) = request.user_agent.as_deref().filter(|a| !a.is_empty()) {
                builder = builder.header(reqwest::header::USER_AGENT, agent);
            }
            for (name, value) in &request.headers {
                if first_origin || !is_credential_header(name) {
                    builder = builder.header(name.as_str(), value.as_str());
                }
            }
            let response = builder
                .send()
                .await
                .map_err(|e| request_error(&e, &shown))?;
            if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                // A redirect without a target is an answer like any other error status.
                return Ok(response);
            };
            if redirects >= self.options.max_redirects {
                return Err(IngestError::Fetch {
                    url: redact_url(url.as_str()),
                    reason: format!(
                        "too many redirects (more than {})",
                        self.options.max_redirects
                    ),
                });
            }
            current = current.join(location).map_err(|_| IngestError::Fetch {
                url: shown.clone(),
                reason: "redirected to an invalid location".to_owned(),
            })?;
            redirects += 1;
        }
    }

    async fn fetch_file(
        &self,
        path: PathBuf,
        deadline: Deadline,
        cancel: CancellationToken,
    ) -> Result<Download, IngestError> {
        let import_dir = self.options.import_dir.clone();
        let shown = path.display().to_string();
        let (file, length) =
            tokio::task::spawn_blocking(move || local::open_local(&path, import_dir.as_deref()))
                .await
                .map_err(|e| IngestError::Task(e.to_string()))??;
        if length > self.options.max_bytes {
            return Err(IngestError::TooLarge {
                limit: self.options.max_bytes,
            });
        }
        finish(
            tokio::fs::File::from_std(file),
            Some(length),
            self.options.max_bytes,
            shown,
            deadline,
            cancel,
        )
        .await
    }
}

/// A live stream opened by [`HttpFetcher::open_live`]: an answer whose body never ends by
/// itself, read for as long as someone watches.
pub struct LiveResponse {
    /// The `Content-Type` the provider announced.
    pub content_type: Option<String>,
    /// The URL that answered, after redirects (HLS playlists resolve segment URIs against it).
    pub url: Url,
    /// The body, as it arrives; an error ends it.
    pub body: Pin<Box<dyn futures::Stream<Item = io::Result<bytes::Bytes>> + Send>>,
}

impl std::fmt::Debug for LiveResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveResponse")
            .field("content_type", &self.content_type)
            .field("url", &redact_url(self.url.as_str()))
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// Opens an `http(s)` stream for the relay: one attempt (the relay decides what to try
    /// next), redirects followed hop by hop under the same outbound policy and credential
    /// rules as [`Fetcher::fetch`], a non-success status an error; no size limit and no
    /// deadline, since a live stream lasts as long as it is watched. The client's read
    /// timeout ends a body that stops sending.
    pub async fn open_live(&self, request: &FetchRequest) -> Result<LiveResponse, IngestError> {
        let url = match parse_location(&request.location)? {
            Location::Http(url) => url,
            Location::File(_) => {
                return Err(IngestError::Fetch {
                    url: redact_url(&request.location),
                    reason: "a stream must be an http(s) URL".to_owned(),
                });
            }
        };
        let work = async {
            let response = self.send(&url, request).await?;
            let status = response.status();
            if !status.is_success() {
                return Err(IngestError::HttpStatus {
                    url: redact_url(response.url().as_str()),
                    status: status.as_u16(),
                });
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let url = response.url().clone();
            let body = Box::pin(response.bytes_stream().map_err(body_error));
            Ok(LiveResponse {
                content_type,
                url,
                body,
            })
        };
        tokio::select! {
            biased;
            () = request.cancel.cancelled() => Err(IngestError::Cancelled),
            result = work => result,
        }
    }
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, request: &FetchRequest) -> Result<Download, IngestError> {
        let cancel = request.cancel.clone();
        let work = async {
            let deadline = Deadline::from_now(self.options.deadline);
            match parse_location(&request.location)? {
                Location::Http(url) => self.fetch_http(url, request, deadline).await,
                Location::File(path) => self.fetch_file(path, deadline, cancel.clone()).await,
            }
        };
        // Dropping the work drops the request wherever it is: connecting, waiting for the
        // headers, or sleeping before a retry.
        tokio::select! {
            biased;
            () = request.cancel.cancelled() => Err(IngestError::Cancelled),
            result = work => result,
        }
    }
}

/// Headers that carry the source's credentials, sent to the source's own origin only.
fn is_credential_header(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .any(|h| name.trim().eq_ignore_ascii_case(h))
}

/// The error for a destination the policy refuses: one message whatever listens there.
fn refused(url: &str, refusal: Refusal, by_name: bool) -> IngestError {
    let reason = if by_name {
        format!("the host resolves only to {refusal}")
    } else {
        format!("the address is {refusal}")
    };
    IngestError::DestinationRefused {
        url: url.to_owned(),
        reason,
    }
}

/// When a download must be over.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    fn from_now(limit: Duration) -> Self {
        let now = tokio::time::Instant::now();
        // A limit too large for the clock means no limit, not a panic.
        let far = Duration::from_secs(100 * 365 * 24 * 3600);
        let at = now
            .checked_add(limit)
            .or_else(|| now.checked_add(far))
            .unwrap_or(now);
        Self { at, limit }
    }

    fn exceeded(&self, url: &str) -> IngestError {
        IngestError::DeadlineExceeded {
            url: url.to_owned(),
            seconds: self.limit.as_secs(),
        }
    }
}

enum Location {
    Http(Url),
    File(PathBuf),
}

fn parse_location(location: &str) -> Result<Location, IngestError> {
    let location = location.trim();
    match Url::parse(location) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Location::Http(url)),
        // What is a local file is decided in one place, for the API's check and this alike.
        _ => tvarr_core::local_file::file_path(location)
            .map(Location::File)
            .ok_or_else(|| IngestError::InvalidLocation(redact_url(location))),
    }
}

fn is_retryable(error: &IngestError) -> bool {
    match error {
        IngestError::HttpStatus { status, .. } => *status >= 500,
        IngestError::Timeout { .. } => true,
        _ => false,
    }
}

fn request_error(error: &reqwest::Error, url: &str) -> IngestError {
    if let Some(refusal) = refusal_in(error) {
        return refused(url, refusal, true);
    }
    if error.is_timeout() {
        return IngestError::Timeout {
            url: url.to_owned(),
        };
    }
    IngestError::Fetch {
        url: url.to_owned(),
        reason: error_chain(error),
    }
}

/// The error and its sources, without the URL reqwest adds (it may hold credentials).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut current = error.source();
    while let Some(source) = current {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&redact_url(&source.to_string()));
        current = source.source();
    }
    if text.is_empty() {
        text = "request failed".to_owned();
    }
    text
}

fn body_error(error: reqwest::Error) -> io::Error {
    let kind = if error.is_timeout() {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::UnexpectedEof
    };
    io::Error::new(
        kind,
        format!("download interrupted: {}", error_chain(&error)),
    )
}

/// Wraps the raw body: counts and limits it, checks its length, and decompresses gzip when the
/// body starts with the gzip magic bytes (a `.gz` file served without content encoding).
async fn finish<R>(
    raw: R,
    content_length: Option<u64>,
    max_bytes: u64,
    location: String,
    deadline: Deadline,
    cancel: CancellationToken,
) -> Result<Download, IngestError>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let received = ByteCounter::default();
    let metered = Metered {
        inner: raw,
        counter: received.clone(),
        count: 0,
        limit: max_bytes,
        expected: content_length,
        deadline: Some(BodyDeadline {
            sleep: Box::pin(tokio::time::sleep_until(deadline.at)),
            deadline,
            url: location.clone(),
            cancelled: Box::pin(cancel.cancelled_owned()),
        }),
    };
    let mut buffered = BufReader::with_capacity(64 * 1024, metered);
    let head = buffered.fill_buf().await.map_err(from_io)?;
    let body: Pin<Box<dyn AsyncRead + Send>> = if head.starts_with(&[0x1f, 0x8b]) {
        let mut decoder = GzipDecoder::new(buffered);
        decoder.multiple_members(true);
        Box::pin(Metered {
            inner: decoder,
            counter: ByteCounter::default(),
            count: 0,
            limit: max_bytes,
            expected: None,
            // The raw body under the decoder already watches the deadline and the token.
            deadline: None,
        })
    } else {
        Box::pin(buffered)
    };
    Ok(Download {
        body,
        content_length,
        content_type: None,
        received,
        location,
    })
}

/// Counts bytes, enforces the size limit and the deadline, and turns an early end into
/// [`IngestError::Truncated`].
struct Metered<R> {
    inner: R,
    counter: ByteCounter,
    count: u64,
    limit: u64,
    expected: Option<u64>,
    deadline: Option<BodyDeadline>,
}

/// The deadline and the cancellation as the body sees them: a timer, what to say when it
/// fires, and the fetch's cancellation.
struct BodyDeadline {
    sleep: Pin<Box<tokio::time::Sleep>>,
    deadline: Deadline,
    url: String,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Metered<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Checked on every read, not only while waiting: a slow drip is never pending for long.
        if let Some(body) = this.deadline.as_mut() {
            if body.cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::other(IngestError::Cancelled)));
            }
            if body.sleep.as_mut().poll(cx).is_ready() {
                let error = body.deadline.exceeded(&body.url);
                return Poll::Ready(Err(io::Error::other(error)));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let n = (buf.filled().len() - before) as u64;
        if n == 0 {
            if let Some(expected) = this.expected
                && this.count < expected
            {
                return Poll::Ready(Err(io::Error::other(IngestError::Truncated {
                    received: this.count,
                    expected,
                })));
            }
            return Poll::Ready(Ok(()));
        }
        this.count += n;
        this.counter.add(n);
        if this.count > this.limit {
            // An error read returns no bytes.
            buf.set_filled(before);
            return Poll::Ready(Err(io::Error::other(IngestError::TooLarge {
                limit: this.limit,
            })));
        }
        Poll::Ready(Ok(()))
    }
}

/// Recovers the [`IngestError`] carried inside an I/O error from a download, if any.
pub fn from_io(error: io::Error) -> IngestError {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<IngestError>())
    {
        if let Some(inner) = error.into_inner() {
            if let Ok(ingest) = inner.downcast::<IngestError>() {
                return *ingest;
            }
            // Unreachable in practice: `is` said it was an IngestError.
            return IngestError::Task("I/O error lost its cause".to_owned());
        }
        return IngestError::Task("I/O error lost its cause".to_owned());
    }
    if error.kind() == io::ErrorKind::InvalidData || error.kind() == io::ErrorKind::InvalidInput {
        return IngestError::Decompress(error.to_string());
    }
    IngestError::Io(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_huge_deadline_means_no_deadline_not_a_panic() {
        let deadline = Deadline::from_now(Duration::MAX);
        assert!(deadline.at > tokio::time::Instant::now() + Duration::from_secs(3600));
    }

    #[test]
    fn locations() {
        assert!(matches!(
            parse_location("http://h/a.m3u"),
            Ok(Location::Http(_))
        ));
        assert!(
            matches!(parse_location("file:///srv/a.m3u"), Ok(Location::File(p)) if p == std::path::Path::new("/srv/a.m3u"))
        );
        assert!(matches!(
            parse_location("/srv/a.m3u"),
            Ok(Location::File(_))
        ));
        assert!(matches!(
            parse_location("fixtures/a.m3u"),
            Ok(Location::File(_))
        ));
        assert!(parse_location("ftp://h/a").is_err());
        assert!(parse_location("").is_err());
    }
}
