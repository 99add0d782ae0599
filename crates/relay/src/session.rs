//! The relay: one session per playing channel, shared by all its viewers.
//!
//! [`Relay::watch`] admits a viewer, joins the channel's running session or starts one, and
//! waits for its first packets, so that an upstream that cannot be opened is an error the API
//! answers with a status ([`RelayError::Unavailable`], naming what each upstream did), not a
//! 200 with an empty body. A session reads its upstream once into a [`Ring`]; every viewer
//! reads the ring, starting at its newest keyframe with the PAT and PMT first.
//!
//! **Limits**, checked and counted under one lock, so two viewers racing for the last tuner
//! cannot both win:
//! - a proxy's tuner count ([`Watch::proxy_streams`]) limits the *channels* its viewers watch
//!   at once, as an HDHomeRun's tuners do: a viewer of a channel that a viewer of the same
//!   proxy already watches shares that tuner and is admitted even when every tuner is in use
//!   (a media server recording a channel while someone watches it uses one tuner, and the
//!   provider connection is shared anyway); a channel playing only for other proxies' viewers
//!   takes one of this proxy's tuners;
//! - an account's limit ([`Watch::account_streams`]) counts its viewers, each player
//!   connection one stream, as an Xtream panel's `max_connections` does;
//! - a source's connection limit ([`Upstream::max_connections`]) counts the sessions reading
//!   from it. A viewer joining a playing channel never needs a connection. A new session
//!   starts at the first of its upstreams whose source has a connection free, taking it if
//!   need be from a session of that source that nobody watches any more (one in its idle
//!   grace: a viewer zapping on a one-connection account is not refused for the length of the
//!   grace), whose connection is closed before the new one is opened. When every source is
//!   full the viewer is refused ([`RelayError::SourceFull`]); a failover skips an upstream
//!   whose source is full.
//!
//! **Failover.** A session's upstreams are the channel's streams in priority order. Each has
//! [`RelayConfig::start_timeout`] to answer and send its first packets. When one fails to open,
//! answers something that is not a stream (an error status, a web page, bytes that are not
//! MPEG-TS), stops sending ([`RelayConfig::stall_timeout`]; an HLS upstream, silent between
//! segments by nature, is ended by its own stall rules, see [`hls`]), breaks off or ends, the
//! next one takes over inside the same session. The packets of each upstream are held back
//! until its first keyframe (or, when none can be found, for half a ring), which enters the
//! ring after that upstream's PAT and PMT: viewers keep their connection and see one
//! discontinuity (of continuity counters and timestamps) followed by a clean start. A lone
//! upstream is reconnected; after each whole round of failed attempts the next waits a little
//! longer. Before a session delivered, one round of failures ends it; once it delivered,
//! [`RelayConfig::rounds`] rounds in a row do. Why it ended goes to the log, and to a viewer
//! waiting for it to start ([`RelayError::Unavailable`]).
//!
//! **Circuit breakers**, one per upstream `host:port`. What says the host is unwell counts as
//! its failure: no connection, a timeout, a 5xx or 429 answer, a stall or a broken connection
//! before the upstream delivered (a delivery closes the breaker). An answer about one channel
//! (another 4xx, a web page, bytes that are not MPEG-TS, an empty body) does not, so one dead
//! channel does not lock the viewers out of the provider's others. A host whose breaker is
//! open is not contacted: its upstream fails at once.
//!
//! **Ending.** A session stops [`RelayConfig::idle_grace`] after its last viewer left (a viewer
//! coming back within it finds it still running; when that one leaves, the grace starts
//! over), when [`Relay::end_session`] or [`Relay::end_all`] ends it (its viewers' streams end
//! at once), or when no upstream works (its viewers read what the ring still holds, then their
//! streams end). Its upstream connection is closed when it stops.
//!
//! **Media.** With FFmpeg's ffprobe ([`Relay::with_ffmpeg`]), the first
//! [`PROBE_SAMPLE_BYTES`] (or [`PROBE_SAMPLE_TIME`]) of each upstream that delivers (the first
//! and each one a failover brings) are described by [`Ffmpeg::probe`] in a task of their own,
//! [`PROBES_AT_ONCE`] at most at a time across the relay: viewers never wait for it. The
//! sample is what enters the ring from the upstream's first join point on (in `relay` mode,
//! what the upstream sends FFmpeg: the channel's own codec, not the profile's). What it finds
//! is the session's [`SessionReport::media`], and is kept per channel
//! ([`Relay::last_media`], the newest [`MEDIA_CACHE_CHANNELS`] channels), so a new session of
//! the channel shows the last known media at once. A probe that fails is logged and leaves
//! nothing.
//!
//! **Error slate.** When a session that delivered loses every upstream, its viewers would see
//! their stream stop. With FFmpeg (and [`RelayConfig::error_slate`]) a few seconds of a slate
//! saying the channel is not available ([`Ffmpeg::slate`], rendered once per relay, in the
//! background as soon as a session that delivered first loses an upstream, while the others
//! are tried, so a relay whose streams never break never runs it) enter the ring after its PAT
//! and PMT, as a join point: viewers read it as they read a failover (one discontinuity), and
//! then their stream ends.
//!
//! **Slow viewers.** A viewer holds a cursor in the ring and nothing else, so one that stops
//! reading costs no memory. One the ring has overtaken skips ahead to the newest keyframe
//! (with the tables), which is counted; after [`RelayConfig::max_skips`] skips it is dropped.
//!
//! [`Ring`]: crate::ring

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::{OnceCell, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tvarr_core::{ChannelId, ProxyId, RelayProfileId, StreamSourceId, redact_url};
use tvarr_ingest::IngestError;
use tvarr_ingest::fetch::{FetchRequest, HttpFetcher, LiveResponse};
use url::Url;
use uuid::Uuid;

use crate::breaker::{BreakerPolicy, BreakerState, Breakers};
use crate::coalesce::Coalesce;
use crate::ffmpeg::{Ffmpeg, MediaInfo};
use crate::hls;
use crate::ring::{Read, Ring};
use crate::transcode::{self, Body};
use crate::ts::{Aligner, Inspector, PACKET_LEN, Packet, PacketRole};

/// The most bytes gathered into one chunk (see [`RelayConfig::coalesce`]).
const COALESCE_MAX_BYTES: usize = 256 * 1024;
/// How long an upstream's bytes pass through as they come before they are gathered: the
/// first viewer starts as soon as the upstream allows.
const COALESCE_WARMUP: Duration = Duration::from_secs(2);

/// The bytes of an upstream's first packets described by ffprobe.
const PROBE_SAMPLE_BYTES: usize = 1 << 20;
/// The longest an upstream's sample is collected, when it sends less than
/// [`PROBE_SAMPLE_BYTES`] in that time.
const PROBE_SAMPLE_TIME: Duration = Duration::from_secs(2);
/// The most ffprobe runs at once across the relay.
const PROBES_AT_ONCE: usize = 2;
/// How long a sample waits for its turn before it is dropped unprobed.
const PROBE_QUEUE_WAIT: Duration = Duration::from_secs(30);
/// The channels whose last known media the relay keeps (the oldest are forgotten).
const MEDIA_CACHE_CHANNELS: usize = 10_000;
/// What the error slate says.
const SLATE_MESSAGE: &str = "This channel is not available right now";
/// How long a session that lost its upstreams waits for the slate still being rendered.
const SLATE_WAIT: Duration = Duration::from_secs(5);

/// How the relay behaves.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Bytes a session's ring keeps (a few seconds of video at least, so a new viewer starts
    /// at a keyframe and a briefly slow one catches up).
    pub ring_bytes: usize,
    /// How long a session outlives its last viewer.
    pub idle_grace: Duration,
    /// How long an upstream has to answer and send its first packets.
    pub start_timeout: Duration,
    /// How long an MPEG-TS upstream may send nothing before the next one takes over (an HLS
    /// upstream is judged by its target durations instead, see [`hls::HlsOptions`]).
    pub stall_timeout: Duration,
    /// How many times a viewer may fall behind the ring (and skip ahead) before it is dropped.
    pub max_skips: u32,
    /// Bytes an upstream may send without a single MPEG-TS packet before it is refused as not
    /// a stream.
    pub max_garbage_bytes: u64,
    /// Times the whole list of upstreams is tried, after a session delivered, before it ends.
    pub rounds: u32,
    /// The circuit breakers of upstream hosts.
    pub breaker: BreakerPolicy,
    /// How HLS upstreams are read.
    pub hls: hls::HlsOptions,
    /// Whether the viewers of a session that lost every upstream mid-stream are shown a short
    /// slate saying the channel is not available before their stream ends (with FFmpeg only;
    /// without it their stream just ends).
    pub error_slate: bool,
    /// What an upstream sends within this window is pushed to the viewers as one chunk, once
    /// the upstream has played for a moment (see `coalesce`): fewer, larger writes to every
    /// viewer whatever pieces the provider's TCP makes. Zero: every piece as it comes.
    pub coalesce: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            ring_bytes: 8 << 20,
            idle_grace: Duration::from_secs(10),
            start_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            max_skips: 8,
            max_garbage_bytes: 1 << 20,
            rounds: 3,
            breaker: BreakerPolicy::default(),
            hls: hls::HlsOptions::default(),
            error_slate: true,
            coalesce: Duration::from_millis(100),
        }
    }
}

/// One way to get a channel's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// Its URL.
    pub url: String,
    /// The user agent its source sends.
    pub user_agent: Option<String>,
    /// The headers its source sends.
    pub headers: Vec<(String, String)>,
    /// The source it belongs to, for the source's connection limit.
    pub source_id: Option<StreamSourceId>,
    /// The most connections the source's provider account allows at once; `None`: no limit.
    pub max_connections: Option<u32>,
}

impl Upstream {
    /// An upstream at `url` with no headers and no limit.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            user_agent: None,
            headers: Vec::new(),
            source_id: None,
            max_connections: None,
        }
    }
}

/// Who is asking to watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViewerInfo {
    /// The client's address.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub address: Option<IpAddr>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The account it watches as, when outputs need credentials.
    pub account: Option<String>,
}

/// A request to watch a channel.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The channel.
    pub channel: ChannelId,
    /// Its name, for the session list.
    pub channel_name: String,
    /// The proxy it is watched through.
    pub proxy: ProxyId,
    /// How it is delivered.
    pub delivery: Delivery,
    /// Its streams, best first.
    pub upstreams: Vec<Upstream>,
    /// The viewer.
    pub viewer: ViewerInfo,
    /// The most viewers the proxy serves at once (its tuner count); `None`: no limit.
    pub proxy_streams: Option<u32>,
    /// The most streams the viewer's account may watch at once; `None`: no limit.
    pub account_streams: Option<u32>,
}

/// How a session delivers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// The upstream's packets as they are.
    Proxy,
    /// Through FFmpeg, with a relay profile's arguments.
    Transcode {
        /// The profile.
        profile: RelayProfileId,
        /// FFmpeg's arguments for it (input from stdin, MPEG-TS to stdout).
        args: Vec<String>,
    },
}

impl Delivery {
    fn profile(&self) -> Option<RelayProfileId> {
        match self {
            Delivery::Proxy => None,
            Delivery::Transcode { profile, .. } => Some(*profile),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Delivery::Proxy => "proxy",
            Delivery::Transcode { .. } => "relay",
        }
    }
}

/// Why a viewer was not admitted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelayError {
    /// The proxy serves as many streams as its tuner count.
    #[error("proxy {proxy} already delivers its {limit} streams (its tuner count)")]
    ProxyFull {
        /// The proxy.
        proxy: ProxyId,
        /// Its limit.
        limit: u32,
    },
    /// The account watches as many streams as it may.
    #[error("account `{account}` already watches its {limit} streams")]
    AccountFull {
        /// The account.
        account: String,
        /// Its limit.
        limit: u32,
    },
    /// The channel's source has as many connections open as its provider allows.
    #[error(
        "source {source_id} already has its {limit} provider connections open for other channels"
    )]
    SourceFull {
        /// The source.
        source_id: StreamSourceId,
        /// Its limit.
        limit: u32,
    },
    /// The channel has no stream to relay.
    #[error("the channel has no stream URL")]
    NoUpstream,
    /// No upstream could be opened.
    #[error("the channel's stream could not be opened: {0}")]
    Unavailable(String),
}

/// The identity of a session: viewers of the same channel and profile share it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SessionKey {
    channel: ChannelId,
    profile: Option<RelayProfileId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Live,
    Ended(String),
}

#[derive(Debug)]
struct ViewerSlot {
    id: u64,
    proxy: ProxyId,
    info: ViewerInfo,
    started_at: DateTime<Utc>,
    bytes: Arc<AtomicU64>,
    skips: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct UpstreamStatus {
    index: usize,
    url: String,
    host: String,
    source_id: Option<StreamSourceId>,
    connected_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// Bytes and start of the current bitrate window, and the last window's rate.
    window: Option<(Instant, u64)>,
    bitrate_kbps: Option<f64>,
}

struct Session {
    id: Uuid,
    key: SessionKey,
    channel_name: String,
    delivery: Delivery,
    upstream_count: usize,
    started_at: DateTime<Utc>,
    ring: Ring,
    viewers: Mutex<Vec<ViewerSlot>>,
    upstream: Mutex<UpstreamStatus>,
    bytes_in: AtomicU64,
    failovers: AtomicU64,
    skipped_bytes: AtomicU64,
    cancel: CancellationToken,
    stop_reason: Mutex<Option<String>>,
    phase: watch::Sender<Phase>,
    /// Set once no upstream works any more: the session is over for anyone who would join,
    /// while its viewers read the rest of the ring.
    lost: AtomicBool,
    /// Upstream attempts so far: a probe's result is kept only when no later attempt's was.
    attempts: AtomicU64,
    /// What the probe of its upstream found: (attempt, media, when).
    media: Mutex<Option<(u64, MediaInfo, DateTime<Utc>)>>,
    /// Moves on whenever a viewer joins or the last one leaves: an idle grace that started
    /// before stops the session only when it is still the same.
    epoch: AtomicU64,
}

impl Session {
    fn viewers(&self) -> std::sync::MutexGuard<'_, Vec<ViewerSlot>> {
        self.viewers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn upstream(&self) -> std::sync::MutexGuard<'_, UpstreamStatus> {
        self.upstream.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_over(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Ended(_))
            || self.cancel.is_cancelled()
            || self.lost.load(Ordering::Relaxed)
    }

    fn media(&self) -> std::sync::MutexGuard<'_, Option<(u64, MediaInfo, DateTime<Utc>)>> {
        self.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether nobody watches it (it is in its idle grace, or starting for a viewer who left).
    fn is_idle(&self) -> bool {
        self.viewers().is_empty()
    }

    /// The source its upstream in use (or about to be opened) belongs to.
    fn source(&self) -> Option<StreamSourceId> {
        self.upstream().source_id
    }

    fn stop(&self, reason: &str) {
        self.stop_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| reason.to_owned());
        self.cancel.cancel();
    }

    fn record_error(&self, error: &str) {
        tracing::warn!(session = %self.id, channel = %self.channel_name, %error, "upstream failed");
        self.upstream().last_error = Some(error.to_owned());
    }

    fn count_in(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        let mut upstream = self.upstream();
        let now = Instant::now();
        match &mut upstream.window {
            Some((start, count)) => {
                *count += bytes as u64;
                let elapsed = now.duration_since(*start).as_secs_f64();
                if elapsed >= 2.0 {
                    let rate = *count as f64 * 8.0 / 1000.0 / elapsed;
                    upstream.bitrate_kbps = Some((rate * 10.0).round() / 10.0);
                    upstream.window = Some((now, 0));
                }
            }
            None => upstream.window = Some((now, bytes as u64)),
        }
    }
}

/// A viewer, as the session list shows it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViewerReport {
    /// Who.
    #[serde(flatten)]
    pub info: ViewerInfo,
    /// The proxy it watches through.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub proxy_id: ProxyId,
    /// Since when.
    pub started_at: DateTime<Utc>,
    /// Bytes sent to it.
    pub bytes: u64,
    /// Times it fell behind and skipped ahead.
    pub skips: u64,
}

/// A session, as the session list shows it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionReport {
    /// The session's id (to end it).
    pub id: Uuid,
    /// The channel.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub channel_id: ChannelId,
    /// Its name.
    pub channel_name: String,
    /// `proxy` or `relay`.
    pub mode: String,
    /// The relay profile, in `relay` mode.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub relay_profile_id: Option<RelayProfileId>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its viewers.
    pub viewers: Vec<ViewerReport>,
    /// The upstream in use (redacted: no credentials).
    pub upstream: String,
    /// Its position among the channel's upstreams (0: the first).
    pub upstream_index: usize,
    /// How many upstreams the channel has.
    pub upstream_count: usize,
    /// When the upstream in use connected.
    pub upstream_connected_at: Option<DateTime<Utc>>,
    /// The state of its host's circuit breaker.
    pub breaker: BreakerState,
    /// Bytes received from upstreams.
    pub bytes_in: u64,
    /// The upstream's bitrate over the last seconds, in kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Times another upstream took over (or the upstream was reconnected).
    pub failovers: u64,
    /// Upstream bytes dropped because they were not MPEG-TS packets.
    pub skipped_bytes: u64,
    /// Bytes buffered in its ring.
    pub buffered_bytes: usize,
    /// The last upstream error.
    pub last_error: Option<String>,
    /// What ffprobe found in the stream: the probe of this session's upstream when there is
    /// one, else the last known media of the channel (from an earlier session); none without
    /// ffprobe, or before the channel was ever probed.
    pub media: Option<MediaInfo>,
    /// When [`SessionReport::media`] was probed.
    pub media_probed_at: Option<DateTime<Utc>>,
}

/// Totals of the relay, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayTotals {
    /// Sessions running.
    pub sessions: u64,
    /// Viewers watching.
    pub viewers: u64,
    /// Bytes received from upstreams since start.
    pub upstream_bytes: u64,
    /// Failovers since start.
    pub failovers: u64,
    /// Upstream hosts whose circuit breaker is open.
    pub open_breakers: u64,
}

struct Inner {
    config: RelayConfig,
    fetcher: HttpFetcher,
    ffmpeg: Option<Ffmpeg>,
    sessions: Mutex<HashMap<SessionKey, Arc<Session>>>,
    breakers: Breakers,
    next_viewer: AtomicU64,
    /// Bytes and failovers of ended sessions.
    ended_bytes: AtomicU64,
    ended_failovers: AtomicU64,
    /// Turns of ffprobe.
    probes: Semaphore,
    /// The last known media of each channel.
    media: Mutex<MediaCache>,
    /// The error slate as whole packets, once rendered (none when rendering failed, which is
    /// not tried again).
    slate: OnceCell<Option<Bytes>>,
    /// Whether its rendering was started.
    slate_started: AtomicBool,
}

impl Inner {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn media(&self) -> std::sync::MutexGuard<'_, MediaCache> {
        self.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The FFmpeg whose ffprobe describes upstreams, when there is one.
    fn prober(&self) -> Option<&Ffmpeg> {
        self.ffmpeg.as_ref().filter(|f| f.ffprobe_path().is_some())
    }

    /// The FFmpeg that renders the error slate, when the slate is wanted and can be had.
    fn slate_renderer(&self) -> Option<&Ffmpeg> {
        self.ffmpeg.as_ref().filter(|_| self.config.error_slate)
    }

    /// Starts rendering the error slate in the background, once per relay.
    fn prepare_slate(self: &Arc<Self>) {
        if self.slate_renderer().is_none()
            || self.slate.initialized()
            || self.slate_started.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            inner.slate().await;
        });
    }

    /// The error slate as whole packets, rendered now unless it already was (or is being).
    async fn slate(&self) -> Option<Bytes> {
        let ffmpeg = self.slate_renderer()?;
        self.slate
            .get_or_init(|| async {
                match ffmpeg.slate(SLATE_MESSAGE).await {
                    Ok(slate) => {
                        let mut aligner = Aligner::new();
                        let mut packets = BytesMut::from(&aligner.push(&slate)[..]);
                        packets.extend_from_slice(&aligner.finish());
                        tracing::debug!(bytes = packets.len(), "the error slate was rendered");
                        Some(packets.freeze()).filter(|p| !p.is_empty())
                    }
                    Err(error) => {
                        tracing::warn!(
                            %error,
                            "the error slate could not be rendered: viewers of a lost stream \
                             see it end"
                        );
                        None
                    }
                }
            })
            .await
            .clone()
    }
}

/// The last known media of each channel, at most `capacity` of them: the one probed longest
/// ago is forgotten first.
#[derive(Debug)]
struct MediaCache {
    capacity: usize,
    /// Each channel's media, when it was probed, and the sequence number of that entry.
    entries: HashMap<ChannelId, (MediaInfo, DateTime<Utc>, u64)>,
    /// Entries in the order they were made; one whose number is no longer its channel's was
    /// replaced by a newer one and is skipped.
    order: VecDeque<(ChannelId, u64)>,
    next: u64,
}

impl MediaCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
        }
    }

    fn get(&self, channel: ChannelId) -> Option<(MediaInfo, DateTime<Utc>)> {
        self.entries
            .get(&channel)
            .map(|(info, at, _)| (info.clone(), *at))
    }

    fn insert(&mut self, channel: ChannelId, info: MediaInfo, at: DateTime<Utc>) {
        let seq = self.next;
        self.next += 1;
        self.entries.insert(channel, (info, at, seq));
        self.order.push_back((channel, seq));
        while self.entries.len() > self.capacity {
            let Some((oldest, seq)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&oldest).is_some_and(|e| e.2 == seq) {
                self.entries.remove(&oldest);
            }
        }
        // Replaced entries are dropped from the order once they are as many as the live ones.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order
                .retain(|(channel, seq)| entries.get(channel).is_some_and(|e| e.2 == *seq));
        }
    }
}

/// The relay of one server process.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("sessions", &self.inner.sessions().len())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay that opens upstreams with `fetcher`.
    pub fn new(fetcher: HttpFetcher, config: RelayConfig) -> Self {
        Self::with_ffmpeg(fetcher, config, None)
    }

    /// A relay that opens upstreams with `fetcher` and runs [`Delivery::Transcode`] sessions
    /// with `ffmpeg` (without it they fail, saying so).
    pub fn with_ffmpeg(fetcher: HttpFetcher, config: RelayConfig, ffmpeg: Option<Ffmpeg>) -> Self {
        Self {
            inner: Arc::new(Inner {
                breakers: Breakers::new(config.breaker),
                config,
                fetcher,
                ffmpeg,
                sessions: Mutex::new(HashMap::new()),
                next_viewer: AtomicU64::new(1),
                ended_bytes: AtomicU64::new(0),
                ended_failovers: AtomicU64::new(0),
                probes: Semaphore::new(PROBES_AT_ONCE),
                media: Mutex::new(MediaCache::new(MEDIA_CACHE_CHANNELS)),
                slate: OnceCell::new(),
                slate_started: AtomicBool::new(false),
            }),
        }
    }

    /// Admits a viewer of a channel and returns its stream, which starts at a keyframe of the
    /// channel's shared session (started for it when the channel was not playing).
    pub async fn watch(&self, request: Watch) -> Result<ViewerStream, RelayError> {
        if request.upstreams.is_empty() {
            return Err(RelayError::NoUpstream);
        }
        let key = SessionKey {
            channel: request.channel,
            profile: request.delivery.profile(),
        };
        let viewer_id = self.inner.next_viewer.fetch_add(1, Ordering::Relaxed);
        let bytes = Arc::new(AtomicU64::new(0));
        let skips = Arc::new(AtomicU64::new(0));
        let (session, start) = {
            let mut sessions = self.inner.sessions();
            let running = sessions.get(&key).filter(|s| !s.is_over()).cloned();
            admit(&sessions, &request, running.as_deref())?;
            let (session, start) = match running {
                Some(session) => (session, None),
                None => {
                    let (index, evicted) = choose_upstream(&sessions, &request.upstreams)?;
                    for idle in &evicted {
                        idle.stop("its provider connection was needed for another channel");
                    }
                    let first = &request.upstreams[index];
                    let session = Arc::new(Session {
                        id: Uuid::now_v7(),
                        key: key.clone(),
                        channel_name: request.channel_name.clone(),
                        delivery: request.delivery.clone(),
                        upstream_count: request.upstreams.len(),
                        started_at: Utc::now(),
                        ring: Ring::new(self.inner.config.ring_bytes),
                        viewers: Mutex::new(Vec::new()),
                        // Set now, under the lock: the source's connection is counted from
                        // here on, before the session's task runs.
                        upstream: Mutex::new(UpstreamStatus {
                            index,
                            url: redact_url(&first.url),
                            host: origin_of(&first.url).unwrap_or_default(),
                            source_id: first.source_id,
                            ..UpstreamStatus::default()
                        }),
                        bytes_in: AtomicU64::new(0),
                        failovers: AtomicU64::new(0),
                        skipped_bytes: AtomicU64::new(0),
                        cancel: CancellationToken::new(),
                        stop_reason: Mutex::new(None),
                        phase: watch::Sender::new(Phase::Starting),
                        epoch: AtomicU64::new(0),
                        lost: AtomicBool::new(false),
                        attempts: AtomicU64::new(0),
                        media: Mutex::new(None),
                    });
                    sessions.insert(key, session.clone());
                    (session, Some((index, evicted)))
                }
            };
            session.epoch.fetch_add(1, Ordering::Relaxed);
            session.viewers().push(ViewerSlot {
                id: viewer_id,
                proxy: request.proxy,
                info: request.viewer.clone(),
                started_at: Utc::now(),
                bytes: bytes.clone(),
                skips: skips.clone(),
            });
            (session, start)
        };
        let guard = ViewerGuard {
            inner: self.inner.clone(),
            session: session.clone(),
            id: viewer_id,
        };
        if let Some((index, evicted)) = start {
            tokio::spawn(run_session(
                self.inner.clone(),
                session.clone(),
                request.upstreams.clone(),
                index,
                evicted,
            ));
        }
        // Each upstream has the start timeout, and a session that is starting tries each once
        // (after the connection it took from an idle session was closed): the session decides
        // before this bound, which only guards against a session that never does.
        let bound = self.inner.config.start_timeout * (request.upstreams.len() as u32 + 2);
        let mut phase = session.phase.subscribe();
        let started = tokio::time::timeout(bound, phase.wait_for(|p| *p != Phase::Starting)).await;
        let ended = match started {
            Ok(Ok(p)) => match &*p {
                Phase::Live => None,
                Phase::Ended(reason) => Some(reason.clone()),
                Phase::Starting => Some("the session did not start".to_owned()),
            },
            Ok(Err(_)) => Some("the session ended".to_owned()),
            Err(_) => Some(format!(
                "no upstream sent a stream within {}",
                shown_duration(bound)
            )),
        };
        if let Some(reason) = ended {
            return Err(RelayError::Unavailable(reason));
        }
        let (cursor, tables) = session.ring.join();
        Ok(ViewerStream::new(
            guard,
            cursor,
            tables,
            bytes,
            skips,
            self.inner.config.max_skips,
        ))
    }

    /// The sessions running, oldest first.
    pub fn sessions(&self) -> Vec<SessionReport> {
        let sessions: Vec<Arc<Session>> = self.inner.sessions().values().cloned().collect();
        let mut reports: Vec<SessionReport> = sessions
            .iter()
            .map(|session| {
                let (media, media_probed_at) = match session.media().clone() {
                    Some((_, media, at)) => (Some(media), Some(at)),
                    None => self
                        .inner
                        .media()
                        .get(session.key.channel)
                        .map_or((None, None), |(media, at)| (Some(media), Some(at))),
                };
                let upstream = session.upstream();
                let viewers = session
                    .viewers()
                    .iter()
                    .map(|v| ViewerReport {
                        info: v.info.clone(),
                        proxy_id: v.proxy,
                        started_at: v.started_at,
                        bytes: v.bytes.load(Ordering::Relaxed),
                        skips: v.skips.load(Ordering::Relaxed),
                    })
                    .collect();
                SessionReport {
                    id: session.id,
                    channel_id: session.key.channel,
                    channel_name: session.channel_name.clone(),
                    mode: session.delivery.name().to_owned(),
                    relay_profile_id: session.key.profile,
                    started_at: session.started_at,
                    viewers,
                    upstream: upstream.url.clone(),
                    upstream_index: upstream.index,
                    upstream_count: session.upstream_count,
                    upstream_connected_at: upstream.connected_at,
                    breaker: self.inner.breakers.state(&upstream.host),
                    bytes_in: session.bytes_in.load(Ordering::Relaxed),
                    bitrate_kbps: upstream.bitrate_kbps,
                    failovers: session.failovers.load(Ordering::Relaxed),
                    skipped_bytes: session.skipped_bytes.load(Ordering::Relaxed),
                    buffered_bytes: session.ring.bytes(),
                    last_error: upstream.last_error.clone(),
                    media,
                    media_probed_at,
                }
            })
            .collect();
        reports.sort_by_key(|r| r.id);
        reports
    }

    /// What ffprobe last found in `channel`'s stream (in any session of it), and when; none
    /// when it was never probed, or was forgotten: the relay keeps the 10 000 channels probed
    /// most recently.
    pub fn last_media(&self, channel: ChannelId) -> Option<(MediaInfo, DateTime<Utc>)> {
        self.inner.media().get(channel)
    }

    /// Ends a session and disconnects its viewers; false when no session has that id, or it is
    /// already ending.
    pub fn end_session(&self, id: Uuid) -> bool {
        // A session already ending (its task not yet gone from the list) is not found again:
        // a second DELETE is a 404, however fast it follows the first.
        let session = self
            .inner
            .sessions()
            .values()
            .find(|s| s.id == id && !s.cancel.is_cancelled())
            .cloned();
        match session {
            Some(session) => {
                session.stop("ended by an administrator");
                true
            }
            None => false,
        }
    }

    /// The streams `account` watches now, as its `account_streams` limit counts them.
    pub fn streams_of(&self, account: &str) -> usize {
        streams_of(&self.inner.sessions(), account)
    }

    /// Ends every session (at shutdown).
    pub fn end_all(&self) {
        for session in self.inner.sessions().values() {
            session.stop("the server is stopping");
        }
    }

    /// The relay's totals.
    pub fn totals(&self) -> RelayTotals {
        let sessions = self.inner.sessions();
        let mut totals = RelayTotals {
            sessions: sessions.len() as u64,
            upstream_bytes: self.inner.ended_bytes.load(Ordering::Relaxed),
            failovers: self.inner.ended_failovers.load(Ordering::Relaxed),
            open_breakers: self.inner.breakers.open_count() as u64,
            ..RelayTotals::default()
        };
        for session in sessions.values() {
            totals.viewers += session.viewers().len() as u64;
            totals.upstream_bytes += session.bytes_in.load(Ordering::Relaxed);
            totals.failovers += session.failovers.load(Ordering::Relaxed);
        }
        totals
    }
}

/// Checks the proxy's tuner count and the account's stream limit (see the module docs):
/// `joining` is the channel's running session, when it plays.
fn admit(
    sessions: &HashMap<SessionKey, Arc<Session>>,
    request: &Watch,
    joining: Option<&Session>,
) -> Result<(), RelayError> {
    let live = || sessions.values().filter(|s| !s.is_over());
    if let Some(limit) = request.proxy_streams {
        let of_proxy = |s: &Session| s.viewers().iter().any(|v| v.proxy == request.proxy);
        let shares_a_tuner = joining.is_some_and(of_proxy);
        if !shares_a_tuner && live().filter(|s| of_proxy(s)).count() as u64 >= u64::from(limit) {
            return Err(RelayError::ProxyFull {
                proxy: request.proxy,
                limit,
            });
        }
    }
    if let (Some(limit), Some(account)) = (request.account_streams, &request.viewer.account)
        && streams_of(sessions, account) as u64 >= u64::from(limit)
    {
        return Err(RelayError::AccountFull {
            account: account.clone(),
            limit,
        });
    }
    Ok(())
}

/// The streams `account` watches in the sessions that are not over: each viewer connection
/// is one, as an Xtream panel counts `active_cons`.
fn streams_of(sessions: &HashMap<SessionKey, Arc<Session>>, account: &str) -> usize {
    sessions
        .values()
        .filter(|s| !s.is_over())
        .map(|s| {
            s.viewers()
                .iter()
                .filter(|v| v.info.account.as_deref() == Some(account))
                .count()
        })
        .sum()
}

/// The upstream a new session starts with: the first whose source has a connection free, once
/// the idle sessions returned (to be stopped) give theirs up.
fn choose_upstream(
    sessions: &HashMap<SessionKey, Arc<Session>>,
    upstreams: &[Upstream],
) -> Result<(usize, Vec<Arc<Session>>), RelayError> {
    let mut full = None;
    for (index, upstream) in upstreams.iter().enumerate() {
        let (Some(source_id), Some(limit)) = (upstream.source_id, upstream.max_connections) else {
            return Ok((index, Vec::new()));
        };
        let mut of_source: Vec<&Arc<Session>> = sessions
            .values()
            .filter(|s| !s.is_over() && s.source() == Some(source_id))
            .collect();
        let limit_now = usize::try_from(limit).unwrap_or(usize::MAX);
        if of_source.len() < limit_now {
            return Ok((index, Vec::new()));
        }
        // Idle sessions give way, the oldest first.
        let needed = of_source.len() + 1 - limit_now;
        of_source.retain(|s| s.is_idle());
        of_source.sort_by_key(|s| s.id);
        if limit_now > 0 && of_source.len() >= needed {
            let evicted = of_source.into_iter().take(needed).cloned().collect();
            return Ok((index, evicted));
        }
        full.get_or_insert(RelayError::SourceFull { source_id, limit });
    }
    Err(full.unwrap_or(RelayError::NoUpstream))
}

/// Whether another session than `session` leaves `upstream`'s source a connection for a
/// failover; when it does, `session` counts against that source from now on.
fn claim_source(inner: &Inner, session: &Session, upstream: &Upstream) -> bool {
    let sessions = inner.sessions();
    if let (Some(source_id), Some(limit)) = (upstream.source_id, upstream.max_connections) {
        let others = sessions
            .values()
            .filter(|s| s.id != session.id && !s.is_over() && s.source() == Some(source_id))
            .count();
        if others as u64 >= u64::from(limit) {
            return false;
        }
    }
    session.upstream().source_id = upstream.source_id;
    true
}

/// Removes a viewer from its session when its stream is dropped, and stops the session after
/// the grace period when it was the last.
struct ViewerGuard {
    inner: Arc<Inner>,
    session: Arc<Session>,
    id: u64,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let epoch = {
            let mut viewers = self.session.viewers();
            viewers.retain(|v| v.id != self.id);
            if !viewers.is_empty() {
                return;
            }
            self.session.epoch.fetch_add(1, Ordering::Relaxed) + 1
        };
        let session = self.session.clone();
        let inner = self.inner.clone();
        let grace = inner.config.idle_grace;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let mut phase = session.phase.subscribe();
                    tokio::select! {
                        () = tokio::time::sleep(grace) => {}
                        () = session.cancel.cancelled() => return,
                        _ = phase.wait_for(|p| matches!(p, Phase::Ended(_))) => return,
                    }
                    // Under the sessions' lock, where viewers join: none joins in between.
                    let _sessions = inner.sessions();
                    if session.epoch.load(Ordering::Relaxed) == epoch && session.is_idle() {
                        session.stop("no viewer left");
                    }
                });
            }
            Err(_) => session.stop("no viewer left"),
        }
    }
}

/// What a viewer receives: the channel's MPEG-TS from a keyframe on, until the session ends
/// or the viewer is dropped for being too slow. Dropping it leaves the session.
pub struct ViewerStream {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
}

impl std::fmt::Debug for ViewerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerStream").finish_non_exhaustive()
    }
}

struct ViewerState {
    guard: ViewerGuard,
    cursor: u64,
    first: Option<Bytes>,
    tick: watch::Receiver<u64>,
    bytes: Arc<AtomicU64>,
    skips: Arc<AtomicU64>,
    max_skips: u32,
}

impl ViewerStream {
    fn new(
        guard: ViewerGuard,
        cursor: u64,
        tables: Bytes,
        bytes: Arc<AtomicU64>,
        skips: Arc<AtomicU64>,
        max_skips: u32,
    ) -> Self {
        let tick = guard.session.ring.subscribe();
        let state = ViewerState {
            guard,
            cursor,
            first: (!tables.is_empty()).then_some(tables),
            tick,
            bytes,
            skips,
            max_skips,
        };
        // The state (and the viewer's guard with it) is dropped when the stream ends, so a
        // viewer dropped for being slow leaves the session at once.
        let stream = futures::stream::unfold(state, |mut state| async move {
            let data = next_chunk(&mut state).await?;
            state.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            Some((Ok(data), state))
        });
        Self {
            inner: Box::pin(stream),
        }
    }
}

async fn next_chunk(state: &mut ViewerState) -> Option<Bytes> {
    let session = &state.guard.session;
    if session.cancel.is_cancelled() {
        return None;
    }
    if let Some(first) = state.first.take() {
        return Some(first);
    }
    let ring = &session.ring;
    loop {
        state.tick.borrow_and_update();
        if session.cancel.is_cancelled() {
            return None;
        }
        match ring.read(state.cursor) {
            Read::Chunk(data) => {
                state.cursor += 1;
                return Some(data);
            }
            Read::Behind => {
                let skips = state.skips.fetch_add(1, Ordering::Relaxed) + 1;
                if skips > u64::from(state.max_skips) {
                    tracing::info!(
                        session = %session.id,
                        "a viewer too slow for the stream was dropped"
                    );
                    return None;
                }
                let (cursor, tables) = ring.join();
                state.cursor = cursor;
                if !tables.is_empty() {
                    return Some(tables);
                }
            }
            Read::Wait => {
                if state.tick.changed().await.is_err() {
                    return None;
                }
            }
            Read::Ended => return None,
        }
    }
}

impl Stream for ViewerStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Runs a session until it ends, then removes it. It starts at upstream `start`, once the
/// idle sessions whose connection it took have closed theirs.
async fn run_session(
    inner: Arc<Inner>,
    session: Arc<Session>,
    upstreams: Vec<Upstream>,
    start: usize,
    evicted: Vec<Arc<Session>>,
) {
    for idle in evicted {
        let mut phase = idle.phase.subscribe();
        tokio::select! {
            _ = phase.wait_for(|p| matches!(p, Phase::Ended(_))) => {}
            () = tokio::time::sleep(inner.config.start_timeout) => {}
            () = session.cancel.cancelled() => {}
        }
    }
    let reason = if session.cancel.is_cancelled() {
        stop_reason(&session)
    } else {
        pump(&inner, &session, &upstreams, start).await
    };
    tracing::info!(
        session = %session.id,
        channel = %session.channel_name,
        %reason,
        "relay session ended"
    );
    if !session.cancel.is_cancelled() {
        // No upstream works any more: nobody joins it now, and its viewers, when it had
        // delivered to them, are told before their stream ends.
        session.lost.store(true, Ordering::Relaxed);
        if *session.phase.borrow() == Phase::Live && !session.is_idle() {
            show_slate(&inner, &session).await;
        }
    }
    {
        // Out of the list before its viewers or anyone waiting hear of the end.
        let mut sessions = inner.sessions();
        if sessions
            .get(&session.key)
            .is_some_and(|s| s.id == session.id)
        {
            sessions.remove(&session.key);
        }
    }
    session.ring.end();
    session.phase.send_replace(Phase::Ended(reason));
    inner
        .ended_bytes
        .fetch_add(session.bytes_in.load(Ordering::Relaxed), Ordering::Relaxed);
    inner
        .ended_failovers
        .fetch_add(session.failovers.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Puts the error slate into the ring, after its PAT and PMT, when there is one (waiting a
/// little for it while it is still being rendered).
async fn show_slate(inner: &Inner, session: &Session) {
    if inner.slate_renderer().is_none() {
        return;
    }
    let slate = tokio::select! {
        () = session.cancel.cancelled() => return,
        slate = tokio::time::timeout(SLATE_WAIT, inner.slate()) => slate,
    };
    match slate {
        Ok(Some(slate)) => {
            let mut waiting = true;
            publish(
                &session.ring,
                &mut Inspector::new(),
                slate,
                &mut waiting,
                &mut None,
            );
        }
        Ok(None) => {}
        Err(_) => tracing::debug!(
            session = %session.id,
            "the error slate was not ready in time: the viewers' stream just ends"
        ),
    }
}

fn stop_reason(session: &Session) -> String {
    session
        .stop_reason
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| "stopped".into())
}

/// How one upstream attempt ended.
enum Attempt {
    /// The session was stopped.
    Stopped,
    /// The upstream failed; `delivered` when it had sent packets first.
    Failed { delivered: bool, error: String },
}

/// Reads upstreams from `start` on, failing over, until the session is stopped or nothing
/// works; returns why it ended.
async fn pump(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    upstreams: &[Upstream],
    start: usize,
) -> String {
    let count = upstreams.len();
    let rounds = inner.config.rounds.max(1) as usize;
    let mut index = start;
    // Attempts that failed in a row (counted from the one that last delivered, when one did),
    // and the errors of the last round of them.
    let mut failures = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut delivered_ever = false;
    let mut first = true;
    loop {
        let allowed = if delivered_ever {
            count * rounds
        } else {
            count
        };
        if failures >= allowed {
            let errors = errors.join("; ");
            return if delivered_ever {
                format!("the stream was lost and no upstream took over: {errors}")
            } else {
                format!("no upstream could be opened: {errors}")
            };
        }
        let upstream = &upstreams[index % count];
        match attempt(inner, session, upstream, index % count, first).await {
            Attempt::Stopped => return stop_reason(session),
            Attempt::Failed { delivered, error } => {
                session.record_error(&error);
                if delivered {
                    delivered_ever = true;
                    failures = 0;
                    errors.clear();
                    // Its viewers may need the error slate soon: rendered meanwhile (once).
                    inner.prepare_slate();
                }
                if errors.len() >= count {
                    errors.remove(0);
                }
                errors.push(error);
                failures += 1;
                index += 1;
                first = false;
                // Every upstream failed in turn (or the lone one did): the provider is given a
                // moment, growing with each round, before it is asked again.
                if delivered_ever && failures.is_multiple_of(count) && failures < allowed {
                    let pause = Duration::from_millis(250 * (failures / count).min(8) as u64);
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = session.cancel.cancelled() => {}
                    }
                }
            }
        }
    }
}

/// Whether an upstream's failure says its host is unwell (and counts for its breaker), or
/// only that this channel cannot be had there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Host,
    Channel,
}

fn fault_of(error: &IngestError) -> Fault {
    match error {
        IngestError::HttpStatus { status, .. } if *status >= 500 || *status == 429 => Fault::Host,
        IngestError::HttpStatus { .. }
        | IngestError::DestinationRefused { .. }
        | IngestError::InvalidLocation(_)
        | IngestError::Cancelled => Fault::Channel,
        _ => Fault::Host,
    }
}

/// One upstream: opened, checked and read into the ring until it fails or the session stops.
/// `first`: the session's first attempt (any later one that delivers is a failover).
async fn attempt(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    upstream: &Upstream,
    index: usize,
    first: bool,
) -> Attempt {
    let shown = redact_url(&upstream.url);
    let failed = |error: String| Attempt::Failed {
        delivered: false,
        error,
    };
    let url = match Url::parse(upstream.url.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return failed(format!("{shown} is not an http(s) URL")),
    };
    let host = origin(&url);
    {
        let mut status = session.upstream();
        status.index = index;
        status.url = shown.clone();
        status.host = host.clone();
        status.connected_at = None;
        status.window = None;
        status.bitrate_kbps = None;
    }
    if !first && !claim_source(inner, session, upstream) {
        return failed(format!(
            "{shown} was skipped: its source already has its {} provider connections open",
            upstream.max_connections.unwrap_or_default()
        ));
    }
    if let Err(left) = inner.breakers.allow(&host) {
        return failed(format!(
            "{host} failed {} times in a row; its circuit breaker keeps it from being tried for {}",
            inner.config.breaker.failures,
            shown_duration(left.max(Duration::from_millis(1)))
        ));
    }
    // From here on the attempt ends in a success or a failure of the host, or gives its
    // breaker back (a probe that told nothing).
    let give_back = || inner.breakers.release(&host);
    let host_failed = |fault: Fault, error: String| {
        match fault {
            Fault::Host => inner.breakers.failure(&host),
            Fault::Channel => give_back(),
        }
        failed(error)
    };
    let deadline = tokio::time::Instant::now() + inner.config.start_timeout;
    let request = FetchRequest {
        location: url.to_string(),
        user_agent: upstream.user_agent.clone(),
        headers: upstream.headers.clone(),
        cancel: session.cancel.child_token(),
    };
    let opened = tokio::select! {
        () = session.cancel.cancelled() => {
            give_back();
            return Attempt::Stopped;
        }
        opened = tokio::time::timeout_at(deadline, inner.fetcher.open_live(&request)) => opened,
    };
    let response = match opened {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return host_failed(fault_of(&error), error.to_string()),
        Err(_) => {
            return host_failed(
                Fault::Host,
                format!(
                    "{shown} did not answer within {}",
                    shown_duration(inner.config.start_timeout)
                ),
            );
        }
    };
    let (mut body, is_hls) = match classify(inner, session, request, response, deadline).await {
        Ok(body) => body,
        Err(Some((fault, error))) => return host_failed(fault, error),
        Err(None) => {
            give_back();
            return Attempt::Stopped;
        }
    };
    // This attempt's sample of the upstream, for ffprobe: what enters the ring, or in `relay`
    // mode what FFmpeg is sent.
    let mut sampler = inner
        .prober()
        .is_some()
        .then(|| Sampler::new(inner, session));
    if let Delivery::Transcode { args, .. } = &session.delivery {
        // FFmpeg reads what the upstream sends (an HLS upstream already collapsed) and the
        // session reads FFmpeg: stalls, garbage and failover apply to its output.
        let Some(ffmpeg) = inner.ffmpeg.as_ref() else {
            give_back();
            return failed("relay mode needs FFmpeg, which this server did not find".into());
        };
        if let Some(mut sampler) = sampler.take() {
            body = Box::pin(body.inspect(move |item| {
                if let Ok(bytes) = item {
                    sampler.add(bytes);
                }
            }));
        }
        body = match transcode::through_ffmpeg(body, ffmpeg, args) {
            Ok(transcoded) => transcoded,
            Err(error) => {
                give_back();
                return failed(error);
            }
        };
    }
    let mut body = Coalesce::new(
        body,
        inner.config.coalesce,
        COALESCE_MAX_BYTES,
        COALESCE_WARMUP,
    );
    let mut aligner = Aligner::new();
    let mut inspector = Inspector::new();
    // Packets are held back until the upstream's first join point (or, for a stream whose
    // keyframes cannot be found, until half a ring of them went by).
    let mut waiting = true;
    let mut held = 0usize;
    let mut any_packet = false;
    let mut delivered = false;
    // Bytes in a row that held no packet.
    let mut garbage = 0u64;
    loop {
        let next = tokio::select! {
            () = session.cancel.cancelled() => {
                if !delivered {
                    give_back();
                }
                return Attempt::Stopped;
            }
            next = async {
                if any_packet && is_hls {
                    // Silent between segments for up to a target duration or so by nature: the
                    // collapse ends the stream itself when no segment comes (see `hls`).
                    Ok(body.next().await)
                } else if any_packet {
                    tokio::time::timeout(inner.config.stall_timeout, body.next()).await
                } else {
                    tokio::time::timeout_at(deadline, body.next()).await
                }
            } => next,
        };
        let error = match next {
            Ok(Some(Ok(bytes))) => {
                session.count_in(bytes.len());
                let before = aligner.skipped();
                let packets = aligner.push(&bytes);
                session
                    .skipped_bytes
                    .fetch_add(aligner.skipped() - before, Ordering::Relaxed);
                if packets.is_empty() {
                    garbage += bytes.len() as u64;
                    if garbage > inner.config.max_garbage_bytes {
                        let error = format!("{shown} sent {garbage} bytes that are not MPEG-TS");
                        if delivered {
                            return Attempt::Failed { delivered, error };
                        }
                        return host_failed(Fault::Channel, error);
                    }
                    continue;
                }
                garbage = 0;
                any_packet = true;
                let len = packets.len();
                let pushed = publish(
                    &session.ring,
                    &mut inspector,
                    packets,
                    &mut waiting,
                    &mut sampler,
                );
                if waiting {
                    held += len;
                    if held > inner.config.ring_bytes / 2 {
                        tracing::warn!(
                            session = %session.id,
                            upstream = %shown,
                            "no keyframe found; the stream is relayed from here on"
                        );
                        waiting = false;
                        let tables = inspector.tables();
                        if let Some(sampler) = sampler.as_mut() {
                            sampler.add(&tables);
                        }
                        session.ring.push(tables, None);
                    }
                }
                if pushed && !delivered {
                    delivered = true;
                    inner.breakers.success(&host);
                    session.upstream().connected_at = Some(Utc::now());
                    if !first {
                        session.failovers.fetch_add(1, Ordering::Relaxed);
                    }
                    session.phase.send_replace(Phase::Live);
                }
                continue;
            }
            Ok(Some(Err(error))) => format!("reading {shown} failed: {error}"),
            Ok(None) if !delivered => {
                // It answered, and had nothing (more) to send: nothing wrong with the host.
                return host_failed(Fault::Channel, format!("{shown} ended the stream"));
            }
            Ok(None) => format!("{shown} ended the stream"),
            Err(_) if any_packet => format!(
                "{shown} sent nothing for {}",
                shown_duration(inner.config.stall_timeout)
            ),
            Err(_) => format!(
                "{shown} sent no MPEG-TS packet within {}",
                shown_duration(inner.config.start_timeout)
            ),
        };
        // The aligner holds the newest packet until the next one starts: it is whole.
        let last = aligner.finish();
        if !last.is_empty() {
            publish(
                &session.ring,
                &mut inspector,
                last,
                &mut waiting,
                &mut sampler,
            );
        }
        if !delivered {
            inner.breakers.failure(&host);
        }
        return Attempt::Failed { delivered, error };
    }
}

/// Tells what an upstream answered: an HTML page is refused, an HLS playlist is collapsed
/// into its segments (`true`), anything else is read as MPEG-TS. `Err(None)`: the session
/// stopped.
async fn classify(
    inner: &Inner,
    session: &Session,
    request: FetchRequest,
    mut response: LiveResponse,
    deadline: tokio::time::Instant,
) -> Result<(Body, bool), Option<(Fault, String)>> {
    let shown = redact_url(response.url.as_str());
    let content_type = response
        .content_type
        .as_deref()
        .map(|t| t.to_ascii_lowercase());
    let web_page = || {
        Some((
            Fault::Channel,
            format!("{shown} answered a web page (text/html), not a stream"),
        ))
    };
    if content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/html"))
    {
        return Err(web_page());
    }
    // The first bytes decide between HLS and MPEG-TS when the content type does not.
    let first = tokio::select! {
        () = session.cancel.cancelled() => return Err(None),
        first = tokio::time::timeout_at(deadline, response.body.next()) => first,
    };
    let first = match first {
        Ok(Some(Ok(bytes))) => bytes,
        Ok(Some(Err(error))) => {
            return Err(Some((
                Fault::Host,
                format!("reading {shown} failed: {error}"),
            )));
        }
        Ok(None) => {
            return Err(Some((
                Fault::Channel,
                format!("{shown} answered an empty body"),
            )));
        }
        Err(_) => {
            return Err(Some((
                Fault::Host,
                format!(
                    "{shown} sent no data within {}",
                    shown_duration(inner.config.start_timeout)
                ),
            )));
        }
    };
    if looks_like_html(&first) {
        return Err(web_page());
    }
    let is_hls = hls::looks_like_hls(content_type.as_deref(), &response.url, &first);
    let rest = std::mem::replace(&mut response.body, Box::pin(futures::stream::empty()));
    response.body = Box::pin(futures::stream::once(async move { Ok(first) }).chain(rest));
    if is_hls {
        let stream = hls::collapse(
            inner.fetcher.clone(),
            request,
            response,
            inner.config.hls.clone(),
        );
        return Ok((Box::pin(stream.map(|r| r.map_err(|e| e.to_string()))), true));
    }
    Ok((
        Box::pin(response.body.map(|r| r.map_err(|e| e.to_string()))),
        false,
    ))
}

/// Whether the first bytes of an answer are an HTML page, whatever its content type says.
fn looks_like_html(first: &[u8]) -> bool {
    let text = first
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(first)
        .trim_ascii_start();
    let head = &text[..text.len().min(14)];
    [&b"<!doctype html"[..], b"<html"]
        .iter()
        .any(|tag| head.len() >= tag.len() && head[..tag.len()].eq_ignore_ascii_case(tag))
}

/// Pushes whole packets into the ring, cut so that each join point starts a chunk (marked
/// with the tables current there). While `waiting`, packets before the first join point are
/// dropped, and that join point enters the ring after the tables; returns whether anything
/// was pushed. What is pushed is also added to `sampler`'s sample.
fn publish(
    ring: &Ring,
    inspector: &mut Inspector,
    packets: Bytes,
    waiting: &mut bool,
    sampler: &mut Option<Sampler>,
) -> bool {
    let mut pushed = false;
    let mut push = |data: Bytes, join: Option<Bytes>| {
        pushed |= !data.is_empty();
        if let Some(sampler) = sampler.as_mut() {
            sampler.add(&data);
        }
        ring.push(data, join);
    };
    // The start of the chunk being cut, and its tables when it starts at a join point.
    let mut start = (!*waiting).then_some(0);
    let mut start_join: Option<Bytes> = None;
    for offset in (0..packets.len()).step_by(PACKET_LEN) {
        let Some(packet) = Packet::new(&packets[offset..]) else {
            continue;
        };
        if inspector.inspect(packet) == PacketRole::JoinPoint {
            if let Some(start) = start
                && offset > start
            {
                push(packets.slice(start..offset), start_join.take());
            }
            let tables = inspector.tables();
            if std::mem::take(waiting) {
                push(tables.clone(), None);
            }
            start = Some(offset);
            start_join = Some(tables);
        }
    }
    if let Some(start) = start
        && start < packets.len()
    {
        push(packets.slice(start..), start_join);
    }
    pushed
}

/// Collects the first packets of one upstream attempt and, once it holds
/// [`PROBE_SAMPLE_BYTES`] (or [`PROBE_SAMPLE_TIME`] went by), has ffprobe describe them in a
/// task of its own. Adding to it costs a reference to the bytes, never a wait.
struct Sampler {
    inner: Arc<Inner>,
    session: Arc<Session>,
    /// The attempt it samples.
    attempt: u64,
    chunks: Vec<Bytes>,
    bytes: usize,
    started: Option<Instant>,
    /// Whether the sample was handed to ffprobe.
    done: bool,
}

impl Sampler {
    fn new(inner: &Arc<Inner>, session: &Arc<Session>) -> Self {
        Self {
            inner: inner.clone(),
            session: session.clone(),
            attempt: session.attempts.fetch_add(1, Ordering::Relaxed) + 1,
            chunks: Vec::new(),
            bytes: 0,
            started: None,
            done: false,
        }
    }

    fn add(&mut self, data: &Bytes) {
        if self.done || data.is_empty() {
            return;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        self.chunks.push(data.clone());
        self.bytes += data.len();
        if self.bytes >= PROBE_SAMPLE_BYTES || started.elapsed() >= PROBE_SAMPLE_TIME {
            self.done = true;
            let chunks = std::mem::take(&mut self.chunks);
            spawn_probe(
                self.inner.clone(),
                self.session.clone(),
                self.attempt,
                chunks,
            );
        }
    }
}

/// Describes a session's sample with ffprobe, in a task, and keeps what it found for the
/// session and its channel.
fn spawn_probe(inner: Arc<Inner>, session: Arc<Session>, attempt: u64, chunks: Vec<Bytes>) {
    if inner.prober().is_none() {
        return;
    }
    tokio::spawn(async move {
        let Some(ffmpeg) = inner.prober() else {
            return;
        };
        let turn = tokio::select! {
            () = session.cancel.cancelled() => return,
            turn = tokio::time::timeout(PROBE_QUEUE_WAIT, inner.probes.acquire()) => turn,
        };
        let Ok(Ok(_turn)) = turn else {
            tracing::debug!(session = %session.id, "no turn for ffprobe: the sample is dropped");
            return;
        };
        let mut sample = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        for chunk in &chunks {
            sample.extend_from_slice(chunk);
        }
        drop(chunks);
        // Bounded in time by the probe itself.
        match ffmpeg.probe(sample.freeze()).await {
            Ok(media) if !media.video.is_empty() || !media.audio.is_empty() => {
                let at = Utc::now();
                tracing::debug!(
                    session = %session.id,
                    channel = %session.channel_name,
                    video = media.video.first().map(|v| v.codec.as_str()),
                    audio = media.audio.first().map(|a| a.codec.as_str()),
                    "upstream probed"
                );
                inner.media().insert(session.key.channel, media.clone(), at);
                let mut known = session.media();
                if known.as_ref().is_none_or(|(seen, _, _)| *seen <= attempt) {
                    *known = Some((attempt, media, at));
                }
            }
            Ok(_) => tracing::debug!(
                session = %session.id,
                channel = %session.channel_name,
                "ffprobe found no stream in the upstream's sample"
            ),
            Err(error) => tracing::debug!(
                session = %session.id,
                channel = %session.channel_name,
                %error,
                "the upstream could not be probed"
            ),
        }
    });
}

/// The breaker key of an upstream URL: `host:port`.
fn origin(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

fn origin_of(url: &str) -> Option<String> {
    Url::parse(url.trim()).ok().map(|url| origin(&url))
}

/// A duration for a message: `300 ms`, `10 s`, `2.5 s`.
fn shown_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(codec: &str) -> MediaInfo {
        MediaInfo {
            video: vec![crate::ffmpeg::VideoStreamInfo {
                codec: codec.to_owned(),
                ..Default::default()
            }],
            ..MediaInfo::default()
        }
    }

    #[test]
    fn the_media_cache_forgets_the_channel_probed_longest_ago() {
        let mut cache = MediaCache::new(3);
        let channels: Vec<ChannelId> = (0..5).map(|_| ChannelId::new()).collect();
        let at = Utc::now();
        for channel in &channels[..3] {
            cache.insert(*channel, media("h264"), at);
        }
        // Probed again: the first is now the newest, and the second the oldest.
        cache.insert(channels[0], media("hevc"), at);
        cache.insert(channels[3], media("h264"), at);
        assert!(cache.get(channels[1]).is_none(), "the oldest was forgotten");
        assert_eq!(cache.get(channels[0]).unwrap().0.video[0].codec, "hevc");
        assert!(cache.get(channels[2]).is_some());
        assert!(cache.get(channels[3]).is_some());
        assert_eq!(cache.entries.len(), 3);
        // Channels 0 and 1, probed over and over, push 2 out, and the bookkeeping stays
        // bounded.
        for n in 0..100 {
            cache.insert(channels[n % 2], media("h264"), at);
        }
        assert!(cache.order.len() <= 2 * 3 + 1, "{}", cache.order.len());
        assert_eq!(cache.entries.len(), 3);
        assert!(cache.get(channels[2]).is_none());
        cache.insert(channels[4], media("h264"), at);
        assert_eq!(cache.entries.len(), 3);
        assert!(
            cache.get(channels[3]).is_none(),
            "the least recently probed went"
        );
        assert!(cache.get(channels[0]).is_some() && cache.get(channels[1]).is_some());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(shown_duration(Duration::from_millis(300)), "300 ms");
        assert_eq!(shown_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(shown_duration(Duration::from_millis(2500)), "2.5 s");
    }

    #[test]
    fn web_pages_are_told_from_their_first_bytes() {
        assert!(looks_like_html(b"\n  <!DOCTYPE html><html>"));
        assert!(looks_like_html(b"\xEF\xBB\xBF<HTML><body>"));
        assert!(!looks_like_html(b"\x47\x40\x00\x10"));
        assert!(!looks_like_html(b"#EXTM3U\n"));
        assert!(!looks_like_html(b"<ht"));
    }

    #[test]
    fn a_4xx_answer_is_the_channels_fault_and_a_5xx_the_hosts() {
        let status = |status| IngestError::HttpStatus {
            url: String::new(),
            status,
        };
        assert!(fault_of(&status(404)) == Fault::Channel);
        assert!(fault_of(&status(403)) == Fault::Channel);
        assert!(fault_of(&status(429)) == Fault::Host);
        assert!(fault_of(&status(503)) == Fault::Host);
        let refused = IngestError::Fetch {
            url: String::new(),
            reason: "connection refused".into(),
        };
        assert!(fault_of(&refused) == Fault::Host);
    }
}
