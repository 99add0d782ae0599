//! HLS upstreams collapsed into one continuous MPEG-TS.
//!
//! Many providers serve a channel as HLS: a playlist of short MPEG-TS segments, reloaded while
//! the channel is live. [`collapse`] turns such an upstream (a master or a media playlist) into
//! one byte stream of MPEG-TS that a relay session reads exactly like a plain TS upstream:
//!
//! - **Variant.** A master playlist's variant is chosen once, at the start: the highest
//!   `BANDWIDTH` not above [`HlsOptions::max_bandwidth`] (the lowest when every variant is
//!   above it), never an I-frame-only stream, and preferably one whose audio is in its own
//!   segments: a variant whose audio group lists only renditions with their own playlists
//!   (separate audio) is taken only when no other is listed, since this module plays one
//!   playlist and such a variant would play without sound. Relative URIs are resolved against
//!   the playlist's URL after redirects.
//! - **Live.** A playlist without `EXT-X-ENDLIST` starts [`HlsOptions::live_edge_segments`]
//!   segments before its end and is reloaded when every segment queued so far was fetched, no
//!   sooner than one target duration after the previous load began, or half of one when that
//!   load brought nothing new (RFC 8216 §6.3.4). The media sequence numbers say which segments
//!   are new, so none is fetched twice and none is skipped across reloads; when the window has
//!   moved past the next segment we wanted (we were too slow, or the provider jumped), the
//!   stream continues at the earliest segment listed and the missed ones are counted
//!   ([`HlsProgress::skipped_segments`]). A sequence that goes back by more than a whole
//!   window is a restarted encoder: the stream resynchronises at the live edge
//!   ([`HlsProgress::restarts`]). Reloads go to the media playlist's URL after the first
//!   load's redirects, so a load-balanced provider keeps answering from the same node.
//! - **Stalls.** When no new segment appeared for [`HlsOptions::stall_target_durations`]
//!   target durations the stream ends with [`HlsError::Stalled`], so the session can fail
//!   over. A reload that fails transiently (a 5xx answer, a timeout, a dropped connection, an
//!   unreadable answer) counts as a reload that brought nothing new; a 4xx answer ends the
//!   stream at once.
//! - **VOD and ended events.** A playlist with `EXT-X-ENDLIST` (or of type `VOD`) is played from
//!   its first segment to its last, and then the stream ends.
//! - **One connection at a time.** Segments are fetched strictly one after another, and a
//!   playlist reload only happens between two segments: at no moment does one collapsed
//!   stream hold more than one request to the provider. Provider accounts limit concurrent
//!   connections, often to one, and a prefetch would count as a second viewer for the length
//!   of every overlap. What it costs is one request's latency per segment (tens of
//!   milliseconds against segments of seconds), which the session's buffer absorbs.
//! - **Streaming.** A segment's bytes are yielded as they arrive, never buffered whole;
//!   `EXT-X-BYTERANGE` segments are asked for with a `Range` header and cut at their length.
//! - **Discontinuities** (`EXT-X-DISCONTINUITY`) are passed through as they are: the TS packets
//!   carry their own timestamps and players handle a jump in them. They are counted.
//! - **Refused.** Encrypted segments (`EXT-X-KEY` with a method other than `NONE`) and
//!   fragmented MP4 (`EXT-X-MAP`, or a segment that starts with an MP4 box) would need
//!   decryption or remuxing: they end the stream with [`HlsError::Encrypted`] or
//!   [`HlsError::FragmentedMp4`], which tell the user to use the FFmpeg `relay` mode.
//! - **Failed segments.** A segment answered with an HTTP error status is skipped and counted,
//!   up to [`HlsOptions::skippable_segment_failures`] in a row: for a viewer a jump of one
//!   segment is a shorter interruption than a failover, which reconnects and restarts at the
//!   live edge anyway. More failures in a row, any other failure (connection refused, a
//!   timeout, a body that breaks off) and anything refused end the stream with an error that
//!   names the segment.
//! - **Cancellation.** Nothing is spawned: the stream is one future chain, so dropping it drops
//!   the request in flight and stops every fetch. [`FetchRequest::cancel`] also ends it, with
//!   [`HlsError::Cancelled`].
//!
//! Every URL in an error or a log line goes through [`redact_url`]. The source's credential
//! headers (`Authorization`, `Cookie`) are sent only to the channel URL's own origin, as the
//! fetcher does for redirects.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tvarr_ingest::fetch::{FetchRequest, HttpFetcher, LiveResponse, from_io};
use tvarr_ingest::{IngestError, redact_url};
use url::Url;

/// The first byte of every MPEG-TS packet.
const TS_SYNC: u8 = 0x47;
/// The UTF-8 byte order mark some servers put before `#EXTM3U`.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// The tag every HLS playlist starts with.
const EXTM3U: &str = "#EXTM3U";
/// The longest target duration honoured: a broken playlist announcing hours must not leave a
/// viewer waiting that long for a reload or for the stall bound.
const MAX_TARGET_SECS: u64 = 60;

/// Whether an upstream answer is an HLS playlist rather than a transport stream.
///
/// The body decides when it can: a body that starts with `#EXTM3U` (after an optional UTF-8
/// byte order mark and whitespace) is HLS, one that starts with the TS sync byte is not.
/// Otherwise (no bytes yet, or something else, such as an error page) the labels decide: a
/// `Content-Type` of `application/vnd.apple.mpegurl`, `application/x-mpegurl`,
/// `audio/mpegurl` and their relatives, or a URL path ending in `.m3u8`.
///
/// ```
/// use tvarr_relay::hls::looks_like_hls;
/// use url::Url;
///
/// let url = Url::parse("http://provider/live/1.ts").unwrap();
/// assert!(looks_like_hls(None, &url, b"\xEF\xBB\xBF#EXTM3U\n#EXT-X-VERSION:3\n"));
/// assert!(looks_like_hls(Some("application/vnd.apple.mpegurl"), &url, b""));
/// assert!(!looks_like_hls(Some("video/mp2t"), &url, &[0x47, 0x40, 0x00, 0x10]));
/// ```
pub fn looks_like_hls(content_type: Option<&str>, url: &Url, first_bytes: &[u8]) -> bool {
    if let Some(verdict) = body_says_hls(first_bytes) {
        return verdict;
    }
    content_type.is_some_and(is_hls_content_type) || path_says_hls(url)
}

/// `Some(true)` for a playlist's first bytes, `Some(false)` for a transport stream's, `None`
/// when the bytes do not tell.
fn body_says_hls(bytes: &[u8]) -> Option<bool> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if bytes.first() == Some(&TS_SYNC) {
        return Some(false);
    }
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &bytes[start..];
    let tag = EXTM3U.as_bytes();
    if rest.starts_with(tag) {
        return Some(true);
    }
    None
}

fn is_hls_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    [
        "application/vnd.apple.mpegurl",
        "application/vnd.apple.mpegurl.audio",
        "application/x-mpegurl",
        "application/mpegurl",
        "audio/mpegurl",
        "audio/x-mpegurl",
    ]
    .iter()
    .any(|known| essence.eq_ignore_ascii_case(known))
}

fn path_says_hls(url: &Url) -> bool {
    let path = url.path().as_bytes();
    path.len() >= 5 && path[path.len() - 5..].eq_ignore_ascii_case(b".m3u8")
}

/// Limits and choices of [`collapse`].
#[derive(Clone, Debug, PartialEq)]
pub struct HlsOptions {
    /// The most bytes read of one playlist, master or media (1 MiB).
    pub max_playlist_bytes: u64,
    /// The most bytes read of one segment (64 MiB).
    pub max_segment_bytes: u64,
    /// The longest one playlist load may take, from its request to its last byte (10 s).
    pub playlist_timeout: Duration,
    /// The longest one segment may take, from its request to its last byte (60 s).
    pub segment_timeout: Duration,
    /// The variant to take from a master playlist: the highest `BANDWIDTH` not above this
    /// (bits per second), or the lowest when all are above it; `None` takes the highest.
    pub max_bandwidth: Option<u64>,
    /// How many segments before the end a live playlist starts (3: RFC 8216 §6.3.3 asks for
    /// no less than three target durations).
    pub live_edge_segments: usize,
    /// How many target durations may pass without a new segment before the stream is
    /// declared stalled (6).
    pub stall_target_durations: u32,
    /// How many segments in a row may fail with an HTTP error status and be skipped before the
    /// stream fails (2); 0 fails on the first.
    pub skippable_segment_failures: u32,
}

impl Default for HlsOptions {
    fn default() -> Self {
        Self {
            max_playlist_bytes: 1 << 20,
            max_segment_bytes: 64 << 20,
            playlist_timeout: Duration::from_secs(10),
            segment_timeout: Duration::from_secs(60),
            max_bandwidth: None,
            live_edge_segments: 3,
            stall_target_durations: 6,
            skippable_segment_failures: 2,
        }
    }
}

/// What an [`HlsError`] was fetching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HlsResource {
    /// A master or media playlist.
    Playlist,
    /// A media segment.
    Segment,
}

impl fmt::Display for HlsResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Playlist => "playlist",
            Self::Segment => "segment",
        })
    }
}

/// Why a collapsed HLS stream ended. Every URL in it is redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HlsError {
    /// A playlist or segment request failed, or its body broke off.
    #[error("{}", fetch_message(.resource, .url, .source))]
    Fetch {
        /// What was fetched.
        resource: HlsResource,
        /// Its redacted URL.
        url: String,
        /// What the fetcher said.
        #[source]
        source: IngestError,
    },
    /// A playlist or segment took longer than its timeout ([`HlsOptions::playlist_timeout`],
    /// [`HlsOptions::segment_timeout`]).
    #[error("the HLS {resource} at {url} did not arrive within {seconds} s")]
    Timeout {
        /// What was fetched.
        resource: HlsResource,
        /// Its redacted URL.
        url: String,
        /// The timeout, in seconds.
        seconds: u64,
    },
    /// A playlist is larger than [`HlsOptions::max_playlist_bytes`].
    #[error("the HLS playlist at {url} is larger than the limit of {limit} bytes")]
    PlaylistTooLarge {
        /// Its redacted URL.
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A segment is larger than [`HlsOptions::max_segment_bytes`].
    #[error("the HLS segment at {url} is larger than the limit of {limit} bytes")]
    SegmentTooLarge {
        /// Its redacted URL.
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The answer does not start with `#EXTM3U`: an error page, or not a playlist at all.
    #[error("the answer from {url} is not an HLS playlist (it does not start with #EXTM3U)")]
    NotHls {
        /// The redacted URL.
        url: String,
    },
    /// The playlist cannot be read as RFC 8216 says.
    #[error("the HLS playlist at {url} is malformed: {reason}")]
    Malformed {
        /// Its redacted URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A master playlist lists no variant that can be played (only I-frame streams, or none).
    #[error("the HLS master playlist at {url} lists no playable variant")]
    NoVariant {
        /// Its redacted URL.
        url: String,
    },
    /// A media playlist has no segments: an ended one, or a live one that never got any within
    /// the stall bound.
    #[error("the HLS variant playlist at {url} has no segments")]
    NoSegments {
        /// Its redacted URL.
        url: String,
    },
    /// The segments are encrypted (`EXT-X-KEY` with `AES-128`, `SAMPLE-AES`, …).
    #[error(
        "encrypted HLS ({method}) at {url} is not supported in proxy mode; use relay mode, \
         where FFmpeg decrypts it"
    )]
    Encrypted {
        /// The `METHOD` of the key.
        method: String,
        /// The redacted URL of the playlist.
        url: String,
    },
    /// The segments are fragmented MP4 (`EXT-X-MAP`, or an MP4 box where TS was expected).
    #[error(
        "fragmented-MP4 HLS at {url} is not supported in proxy mode; use relay mode, where \
         FFmpeg remuxes it to MPEG-TS"
    )]
    FragmentedMp4 {
        /// The redacted URL of the playlist or segment.
        url: String,
    },
    /// A live playlist brought no new segment for [`HlsOptions::stall_target_durations`]
    /// target durations.
    #[error(
        "the HLS playlist at {url} brought no new segment for {seconds} s ({reloads} reloads){}: \
         the stream stalled",
        last_error_suffix(.last_error)
    )]
    Stalled {
        /// The redacted URL of the media playlist.
        url: String,
        /// How long no new segment appeared, in seconds.
        seconds: u64,
        /// How many reloads brought nothing new in that time.
        reloads: u64,
        /// Why the last reload failed, if it failed.
        last_error: Option<String>,
    },
    /// [`FetchRequest::cancel`] fired.
    #[error("the HLS stream was cancelled")]
    Cancelled,
}

impl HlsError {
    /// Whether a failed reload may be retried at the next reload instead of ending a live
    /// stream.
    fn is_transient(&self) -> bool {
        match self {
            Self::Fetch { source, .. } => match source {
                IngestError::HttpStatus { status, .. } => *status >= 500,
                IngestError::Timeout { .. }
                | IngestError::Fetch { .. }
                | IngestError::Io(_)
                | IngestError::Truncated { .. } => true,
                _ => false,
            },
            Self::Timeout { .. } | Self::NotHls { .. } | Self::Malformed { .. } => true,
            _ => false,
        }
    }
}

/// The fetcher's messages mostly name the URL already; say it once.
fn fetch_message(resource: &HlsResource, url: &str, source: &IngestError) -> String {
    let reason = source.to_string();
    if reason.contains(url) {
        format!("HLS {resource}: {reason}")
    } else {
        format!("fetching the HLS {resource} {url} failed: {reason}")
    }
}

fn last_error_suffix(last_error: &Option<String>) -> String {
    last_error
        .as_deref()
        .map(|e| format!("; the last reload failed: {e}"))
        .unwrap_or_default()
}

fn fetch_error(resource: HlsResource, url: &str, error: IngestError) -> HlsError {
    match error {
        IngestError::Cancelled => HlsError::Cancelled,
        source => HlsError::Fetch {
            resource,
            url: url.to_owned(),
            source,
        },
    }
}

/// What a collapsed stream has done so far, for a session list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HlsProgress {
    /// The `BANDWIDTH` of the variant chosen from a master playlist (`None` for a media
    /// playlist, or before the choice).
    pub variant_bandwidth: Option<u64>,
    /// Segments opened.
    pub segments: u64,
    /// Bytes yielded.
    pub bytes: u64,
    /// Playlist reloads (the first load not counted).
    pub reloads: u64,
    /// Segments never played: missed because the live window moved past them, or skipped
    /// after an HTTP error.
    pub skipped_segments: u64,
    /// `EXT-X-DISCONTINUITY` boundaries passed.
    pub discontinuities: u64,
    /// Times the media sequence went back by more than a window (an encoder restart) and the
    /// stream resynchronised at the live edge.
    pub restarts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    /// 0 for none.
    variant_bandwidth: AtomicU64,
    segments: AtomicU64,
    bytes: AtomicU64,
    reloads: AtomicU64,
    skipped_segments: AtomicU64,
    discontinuities: AtomicU64,
    restarts: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HlsProgress {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HlsProgress {
            variant_bandwidth: Some(get(&self.variant_bandwidth)).filter(|b| *b > 0),
            segments: get(&self.segments),
            bytes: get(&self.bytes),
            reloads: get(&self.reloads),
            skipped_segments: get(&self.skipped_segments),
            discontinuities: get(&self.discontinuities),
            restarts: get(&self.restarts),
        }
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, HlsError>> + Send>>;

/// An HLS upstream as one MPEG-TS byte stream, made by [`collapse`]. It ends after the last
/// segment of an ended playlist, or with one error; dropping it stops every fetch.
pub struct HlsStream {
    inner: ChunkStream,
    counters: Arc<Counters>,
}

impl HlsStream {
    /// What the stream has done so far.
    pub fn progress(&self) -> HlsProgress {
        self.counters.snapshot()
    }
}

impl fmt::Debug for HlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HlsStream")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

impl Stream for HlsStream {
    type Item = Result<Bytes, HlsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.as_mut().poll_next(cx)
    }
}

/// Collapses the HLS upstream `first` into one MPEG-TS byte stream (see the module
/// documentation for how).
///
/// `first` is the answer to `request` (the channel URL), already opened by the caller with
/// [`HttpFetcher::open_live`] and recognised with [`looks_like_hls`]; its body must still hold
/// the whole playlist, so a caller that read a first chunk to sniff it puts that chunk back in
/// front (`futures::stream::iter([Ok(chunk)]).chain(body)`). Every later request (variant
/// playlist, reloads, segments) carries `request`'s user agent and headers and its
/// cancellation token. Nothing happens until the stream is polled.
pub fn collapse(
    fetcher: HttpFetcher,
    request: FetchRequest,
    first: LiveResponse,
    options: HlsOptions,
) -> HlsStream {
    let counters = Arc::new(Counters::default());
    let follower = Follower::new(fetcher, request, first, options, counters.clone());
    let inner = futures::stream::try_unfold(follower, |mut follower| async move {
        Ok(follower.next_chunk().await?.map(|chunk| (chunk, follower)))
    });
    HlsStream {
        inner: Box::pin(inner),
        counters,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading playlists
// ---------------------------------------------------------------------------------------------

/// A playlist as this module uses it.
#[derive(Debug)]
pub(crate) enum Playlist {
    /// A master playlist's playable variants, in their order.
    Master(Vec<Variant>),
    /// A media playlist.
    Media(MediaList),
}

/// One variant stream of a master playlist.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Variant {
    pub(crate) url: Url,
    pub(crate) bandwidth: u64,
    /// Its audio group has renditions with their own playlists only: its segments may hold no
    /// audio.
    pub(crate) separate_audio: bool,
}

/// A media playlist's segments and what matters of its tags.
#[derive(Debug)]
pub(crate) struct MediaList {
    /// The target duration, clamped to 1..=60 s.
    pub(crate) target: Duration,
    /// The media sequence number of the first segment.
    pub(crate) first_sequence: u64,
    /// `EXT-X-ENDLIST`, or a playlist of type `VOD`.
    pub(crate) end_list: bool,
    pub(crate) segments: Vec<Segment>,
}

/// One media segment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Segment {
    pub(crate) sequence: u64,
    pub(crate) url: Url,
    pub(crate) range: Option<SubRange>,
    pub(crate) discontinuity: bool,
    /// The key method in force for it, when not `NONE` (m3u8-rs attaches a key to the one
    /// segment after the tag; RFC 8216 applies it until the next key).
    pub(crate) encryption: Option<String>,
    /// Whether an `EXT-X-MAP` is in force for it (fragmented MP4).
    pub(crate) init_map: bool,
}

/// An `EXT-X-BYTERANGE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SubRange {
    /// Its first byte; `None` when the playlist leaves it to follow a previous segment that
    /// this playlist does not list (the follower knows where the last one it fetched ended).
    pub(crate) start: Option<u64>,
    pub(crate) length: u64,
}

/// Reads a playlist's bytes: `url` is where they came from (after redirects), against which
/// relative URIs are resolved.
pub(crate) fn read_playlist(bytes: &[u8], url: &Url) -> Result<Playlist, HlsError> {
    let shown = || redact_url(url.as_str());
    let text = playlist_text(bytes);
    if !text.starts_with(EXTM3U) {
        return Err(HlsError::NotHls { url: shown() });
    }
    let malformed = |reason: String| HlsError::Malformed {
        url: shown(),
        reason,
    };
    if m3u8_rs::is_master_playlist(text.as_bytes()) {
        let text = without_stray_uris(&text);
        let (rest, master) = m3u8_rs::parse_master_playlist(text.as_bytes())
            .map_err(|_| malformed("it cannot be read as a master playlist".to_owned()))?;
        check_consumed(&text, rest).map_err(malformed)?;
        Ok(Playlist::Master(variants(master, url)))
    } else {
        let (rest, media) = m3u8_rs::parse_media_playlist(text.as_bytes())
            .map_err(|_| malformed("it cannot be read as a media playlist".to_owned()))?;
        check_consumed(&text, rest).map_err(malformed)?;
        media_list(media, url)
            .map(Playlist::Media)
            .map_err(malformed)
    }
}

/// The playlist as text from `#EXTM3U` on: lossy UTF-8 (a Latin-1 title must not stop the
/// parser, which gives up silently at the first invalid line), `\n` line ends.
fn playlist_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.into_owned()
    }
}

/// The parser stops quietly where it cannot go on: what it left is an error, not a shorter
/// playlist.
fn check_consumed(text: &str, rest: &[u8]) -> Result<(), String> {
    if rest.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let read = text.len().saturating_sub(rest.len());
    let line = text.as_bytes()[..read]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    Err(format!("it cannot be read from line {line} on"))
}

/// A master playlist without the URI lines that follow no `EXT-X-STREAM-INF`: m3u8-rs gives
/// any URI line to the last variant read, so a stray one (after an `EXT-X-MEDIA` or an
/// `EXT-X-I-FRAME-STREAM-INF`, as some servers write) would replace that variant's URI.
fn without_stray_uris(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut awaiting_uri = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("#EXT-X-STREAM-INF") {
            awaiting_uri = true;
        } else if trimmed.starts_with("#EXT-X-I-FRAME-STREAM-INF")
            || trimmed.starts_with("#EXT-X-MEDIA:")
            || trimmed.starts_with("#EXT-X-SESSION-")
        {
            awaiting_uri = false;
        } else if !trimmed.starts_with('#') {
            if !awaiting_uri {
                continue;
            }
            awaiting_uri = false;
        }
        kept.push_str(trimmed);
        kept.push('\n');
    }
    kept
}

fn variants(master: m3u8_rs::MasterPlaylist, base: &Url) -> Vec<Variant> {
    // An audio group whose renditions all have a URI carries the variant's audio elsewhere.
    let separate = |group: &str| {
        let mut renditions = master
            .alternatives
            .iter()
            .filter(|m| m.media_type == m3u8_rs::AlternativeMediaType::Audio && m.group_id == group)
            .peekable();
        renditions.peek().is_some() && renditions.all(|m| m.uri.is_some())
    };
    master
        .variants
        .iter()
        .filter(|v| !v.is_i_frame && !v.uri.trim().is_empty())
        .filter_map(|v| match base.join(v.uri.trim()) {
            Ok(url) => Some(Variant {
                url,
                bandwidth: v.bandwidth,
                separate_audio: v.audio.as_deref().is_some_and(separate),
            }),
            Err(error) => {
                tracing::warn!(uri = %redact_url(&v.uri), %error, "HLS variant URI unusable; ignored");
                None
            }
        })
        .collect()
}

/// The variant to play: the highest bandwidth not above `max_bandwidth` (the lowest when all
/// are above; the first listed of equals), among those with their audio in their segments when
/// there are any.
pub(crate) fn choose_variant(variants: &[Variant], max_bandwidth: Option<u64>) -> Option<&Variant> {
    let muxed = variants.iter().any(|v| !v.separate_audio);
    let pool = || variants.iter().filter(move |v| !muxed || !v.separate_audio);
    let fitting = pool().filter(|v| max_bandwidth.is_none_or(|cap| v.bandwidth <= cap));
    let mut best: Option<&Variant> = None;
    for v in fitting {
        if best.is_none_or(|b| v.bandwidth > b.bandwidth) {
            best = Some(v);
        }
    }
    if best.is_some() {
        return best;
    }
    let mut lowest: Option<&Variant> = None;
    for v in pool() {
        if lowest.is_none_or(|l| v.bandwidth < l.bandwidth) {
            lowest = Some(v);
        }
    }
    lowest
}

fn media_list(media: m3u8_rs::MediaPlaylist, base: &Url) -> Result<MediaList, String> {
    let target_secs = if media.target_duration > 0 {
        media.target_duration
    } else {
        // Mandatory, but missing: the longest segment stands in for it.
        media
            .segments
            .iter()
            .map(|s| s.duration)
            .fold(0.0_f32, f32::max)
            .ceil() as u64
    };
    let target = Duration::from_secs(target_secs.clamp(1, MAX_TARGET_SECS));
    let first_sequence = media.media_sequence;
    let end_list = media.end_list || media.playlist_type == Some(m3u8_rs::MediaPlaylistType::Vod);
    let mut encryption: Option<String> = None;
    let mut init_map = false;
    let mut previous_end: Option<(Url, u64)> = None;
    let mut segments = Vec::with_capacity(media.segments.len());
    for (index, segment) in media.segments.into_iter().enumerate() {
        if let Some(key) = &segment.key {
            encryption = (key.method != m3u8_rs::KeyMethod::None).then(|| key.method.to_string());
        }
        if segment.map.is_some() {
            init_map = true;
        }
        // Tags m3u8-rs could not read land here: `EXT-X-KEY:METHOD=NONE` without an IV is one
        // (it wants an IV exactly when the method is NONE).
        for tag in &segment.unknown_tags {
            match tag.tag.as_str() {
                "X-KEY" => {
                    let method = tag.rest.as_deref().and_then(|r| attribute(r, "METHOD"));
                    encryption = match method {
                        Some(m) if m.eq_ignore_ascii_case("NONE") => None,
                        Some(m) => Some(m.to_owned()),
                        None => Some("unknown method".to_owned()),
                    };
                }
                "X-MAP" => init_map = true,
                _ => {}
            }
        }
        let uri = segment.uri.trim();
        let url = base
            .join(uri)
            .map_err(|_| format!("the segment URI `{}` is not a valid URL", redact_url(uri)))?;
        let range = segment.byte_range.as_ref().map(|r| {
            let start = r.offset.or_else(|| {
                previous_end
                    .as_ref()
                    .filter(|(u, _)| *u == url)
                    .map(|(_, end)| *end)
            });
            SubRange {
                start,
                length: r.length,
            }
        });
        previous_end = range.and_then(|r| {
            r.start
                .map(|start| (url.clone(), start.saturating_add(r.length)))
        });
        segments.push(Segment {
            sequence: first_sequence.saturating_add(index as u64),
            url,
            range,
            discontinuity: segment.discontinuity,
            encryption: encryption.clone(),
            init_map,
        });
    }
    Ok(MediaList {
        target,
        first_sequence,
        end_list,
        segments,
    })
}

/// The value of attribute `name` in an attribute list (`A=1,B="x,y"`), without its quotes.
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.trim_start().strip_prefix('"') {
            Some(quoted) => {
                let (value, tail) = quoted.split_once('"').unwrap_or((quoted, ""));
                (value, tail.split_once(',').map_or("", |(_, next)| next))
            }
            None => after
                .split_once(',')
                .map_or((after.trim(), ""), |(value, next)| (value.trim(), next)),
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// Whether a segment's first bytes are an MP4 box rather than TS packets.
fn looks_like_fmp4(chunk: &[u8]) -> bool {
    chunk.first() != Some(&TS_SYNC)
        && chunk
            .get(4..8)
            .is_some_and(|kind| matches!(kind, b"ftyp" | b"styp" | b"moof" | b"moov" | b"sidx"))
}

// ---------------------------------------------------------------------------------------------
// Following a playlist
// ---------------------------------------------------------------------------------------------

/// Why a bounded wait ended early.
enum Interrupt {
    Cancelled,
    TimedOut,
}

impl Interrupt {
    fn into_error(self, resource: HlsResource, url: &str, timeout: Duration) -> HlsError {
        match self {
            Self::Cancelled => HlsError::Cancelled,
            Self::TimedOut => HlsError::Timeout {
                resource,
                url: url.to_owned(),
                seconds: timeout.as_secs(),
            },
        }
    }
}

/// `work`, unless `cancel` fires or `deadline` passes first.
async fn bounded<F: Future>(
    cancel: &CancellationToken,
    deadline: Instant,
    work: F,
) -> Result<F::Output, Interrupt> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(Interrupt::Cancelled),
        outcome = tokio::time::timeout_at(deadline, work) => outcome.map_err(|_| Interrupt::TimedOut),
    }
}

fn is_credential_header(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .any(|h| name.trim().eq_ignore_ascii_case(h))
}

/// How to reach the provider: what every request needs, shared by reference while a request
/// is in flight (so it holds nothing that is not `Sync`).
struct Upstream {
    fetcher: HttpFetcher,
    request: FetchRequest,
    /// The channel URL's origin, the only one the source's credentials go to.
    origin: Option<url::Origin>,
    options: HlsOptions,
    counters: Arc<Counters>,
}

impl Upstream {
    fn request_for(&self, url: &Url, range: Option<(u64, u64)>) -> FetchRequest {
        let same_origin = self.origin.as_ref() == Some(&url.origin());
        let mut headers: Vec<(String, String)> = self
            .request
            .headers
            .iter()
            .filter(|(name, _)| same_origin || !is_credential_header(name))
            .cloned()
            .collect();
        if let Some((start, length)) = range {
            let last = start.saturating_add(length).saturating_sub(1);
            headers.push(("Range".to_owned(), format!("bytes={start}-{last}")));
        }
        FetchRequest {
            location: url.as_str().to_owned(),
            user_agent: self.request.user_agent.clone(),
            headers,
            cancel: self.request.cancel.clone(),
        }
    }

    /// Loads the playlist at `url`: the URL that answered and the bytes.
    async fn load(&self, url: &Url) -> Result<(Url, Bytes), HlsError> {
        let shown = redact_url(url.as_str());
        let timeout = self.options.playlist_timeout;
        let deadline = Instant::now() + timeout;
        let request = self.request_for(url, None);
        let response = bounded(&request.cancel, deadline, self.fetcher.open_live(&request))
            .await
            .map_err(|i| i.into_error(HlsResource::Playlist, &shown, timeout))?
            .map_err(|e| fetch_error(HlsResource::Playlist, &shown, e))?;
        self.read_body(response, deadline).await
    }

    /// Reads a playlist's body, up to the size limit and by `deadline`.
    async fn read_body(
        &self,
        response: LiveResponse,
        deadline: Instant,
    ) -> Result<(Url, Bytes), HlsError> {
        let LiveResponse { url, mut body, .. } = response;
        let shown = redact_url(url.as_str());
        let limit = self.options.max_playlist_bytes;
        let mut bytes = BytesMut::new();
        loop {
            let next = bounded(&self.request.cancel, deadline, body.next())
                .await
                .map_err(|i| {
                    i.into_error(HlsResource::Playlist, &shown, self.options.playlist_timeout)
                })?;
            match next {
                None => break,
                Some(Err(error)) => {
                    return Err(fetch_error(HlsResource::Playlist, &shown, from_io(error)));
                }
                Some(Ok(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > limit {
                        return Err(HlsError::PlaylistTooLarge { url: shown, limit });
                    }
                    bytes.extend_from_slice(&chunk);
                }
            }
        }
        Ok((url, bytes.freeze()))
    }

    /// Loads the media playlist at `url`.
    async fn load_media(&self, url: &Url) -> Result<(Url, MediaList), HlsError> {
        let (answered, bytes) = self.load(url).await?;
        match read_playlist(&bytes, &answered)? {
            Playlist::Media(list) => Ok((answered, list)),
            Playlist::Master(_) => Err(HlsError::Malformed {
                url: redact_url(answered.as_str()),
                reason: "a variant playlist is itself a master playlist".to_owned(),
            }),
        }
    }
}

/// The segment being read.
struct SegmentBody {
    body: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
    /// Its redacted URL.
    url: String,
    deadline: Instant,
    /// For a sub-range: the bytes still to come.
    remaining: Option<u64>,
    received: u64,
}

/// The state of one collapsed stream.
struct Follower {
    upstream: Upstream,
    /// The channel's answer, until the first poll reads it.
    first: Option<LiveResponse>,
    /// The media playlist reloaded (after the first load's redirects).
    playlist: Url,
    queue: VecDeque<Segment>,
    /// The media sequence number of the next segment to queue, once a position is taken.
    next_sequence: Option<u64>,
    end_list: bool,
    target: Duration,
    /// When the last load began.
    loaded_at: Instant,
    /// Whether the last load brought new segments.
    changed: bool,
    /// When the last load that brought new segments began.
    new_at: Instant,
    /// Loads that brought nothing new since then.
    empty_loads: u64,
    had_segments: bool,
    reload_error: Option<String>,
    failures_in_row: u32,
    /// Where the last sub-range fetched ended, for a sub-range without an offset.
    range_end: Option<(Url, u64)>,
    body: Option<SegmentBody>,
}

impl Follower {
    fn new(
        fetcher: HttpFetcher,
        request: FetchRequest,
        first: LiveResponse,
        options: HlsOptions,
        counters: Arc<Counters>,
    ) -> Self {
        let origin = Url::parse(request.location.trim()).ok().map(|u| u.origin());
        let now = Instant::now();
        Self {
            upstream: Upstream {
                fetcher,
                request,
                origin,
                options,
                counters,
            },
            playlist: first.url.clone(),
            first: Some(first),
            queue: VecDeque::new(),
            next_sequence: None,
            end_list: false,
            target: Duration::from_secs(1),
            loaded_at: now,
            changed: false,
            new_at: now,
            empty_loads: 0,
            had_segments: false,
            reload_error: None,
            failures_in_row: 0,
            range_end: None,
            body: None,
        }
    }

    /// The next bytes of the stream; `None` at its end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, HlsError> {
        if let Some(first) = self.first.take() {
            self.start(first).await?;
        }
        loop {
            if let Some(chunk) = self.read_segment().await? {
                return Ok(Some(chunk));
            }
            if self.open_next_segment().await? {
                continue;
            }
            if self.end_list {
                return Ok(None);
            }
            self.reload().await?;
        }
    }

    /// Reads the channel's playlist, follows a master playlist to its variant, and takes a
    /// position in the media playlist.
    async fn start(&mut self, first: LiveResponse) -> Result<(), HlsError> {
        let began = Instant::now();
        let deadline = began + self.upstream.options.playlist_timeout;
        let (url, bytes) = self.upstream.read_body(first, deadline).await?;
        let (url, list, began) = match read_playlist(&bytes, &url)? {
            Playlist::Media(list) => (url, list, began),
            Playlist::Master(variants) => {
                let variant = choose_variant(&variants, self.upstream.options.max_bandwidth)
                    .ok_or_else(|| HlsError::NoVariant {
                        url: redact_url(url.as_str()),
                    })?;
                self.upstream
                    .counters
                    .variant_bandwidth
                    .store(variant.bandwidth, Ordering::Relaxed);
                tracing::info!(
                    variant = %redact_url(variant.url.as_str()),
                    bandwidth = variant.bandwidth,
                    variants = variants.len(),
                    "HLS variant chosen"
                );
                let began = Instant::now();
                let (url, list) = self.upstream.load_media(&variant.url).await?;
                (url, list, began)
            }
        };
        if list.end_list && list.segments.is_empty() {
            return Err(HlsError::NoSegments {
                url: redact_url(url.as_str()),
            });
        }
        self.playlist = url;
        self.new_at = began;
        self.merge(list, began)
    }

    /// Reloads the media playlist when it is due.
    async fn reload(&mut self) -> Result<(), HlsError> {
        let wait = if self.changed {
            self.target
        } else {
            self.target / 2
        };
        let due = self.loaded_at + wait;
        tokio::select! {
            biased;
            () = self.upstream.request.cancel.cancelled() => return Err(HlsError::Cancelled),
            () = tokio::time::sleep_until(due) => {}
        }
        let began = Instant::now();
        Counters::add(&self.upstream.counters.reloads, 1);
        match self.upstream.load_media(&self.playlist).await {
            Ok((_, list)) => self.merge(list, began),
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, "HLS playlist reload failed; retrying");
                self.reload_error = Some(error.to_string());
                self.loaded_at = began;
                self.nothing_new()
            }
            Err(error) => Err(error),
        }
    }

    /// Takes what is new in a (re)loaded playlist that began loading at `began`.
    fn merge(&mut self, list: MediaList, began: Instant) -> Result<(), HlsError> {
        self.loaded_at = began;
        self.target = list.target;
        self.end_list |= list.end_list;
        let count = list.segments.len() as u64;
        let first = list.first_sequence;
        let end = first.saturating_add(count);
        let new = match self.next_sequence {
            None if count == 0 => false,
            None => {
                let start = self.start_index(&list);
                self.enqueue(list, start);
                true
            }
            Some(next) if end <= next => {
                if count > 0 && end.saturating_add(count) < next {
                    tracing::warn!(
                        expected = next,
                        first,
                        "HLS media sequence went back by more than a window; resynchronising"
                    );
                    Counters::add(&self.upstream.counters.restarts, 1);
                    let start = self.start_index(&list);
                    self.enqueue(list, start);
                    true
                } else {
                    false
                }
            }
            Some(next) => {
                let skip = if first > next {
                    let missed = first - next;
                    tracing::warn!(
                        missed,
                        "HLS segments left the playlist before they were fetched"
                    );
                    Counters::add(&self.upstream.counters.skipped_segments, missed);
                    0
                } else {
                    usize::try_from(next - first).unwrap_or(usize::MAX)
                };
                self.enqueue(list, skip);
                true
            }
        };
        if new {
            self.changed = true;
            self.new_at = began;
            self.empty_loads = 0;
            self.reload_error = None;
            self.had_segments = true;
            Ok(())
        } else {
            self.nothing_new()
        }
    }

    fn start_index(&self, list: &MediaList) -> usize {
        if list.end_list {
            0
        } else {
            list.segments
                .len()
                .saturating_sub(self.upstream.options.live_edge_segments)
        }
    }

    fn enqueue(&mut self, list: MediaList, skip: usize) {
        let end = list
            .first_sequence
            .saturating_add(list.segments.len() as u64);
        self.queue.extend(list.segments.into_iter().skip(skip));
        self.next_sequence = Some(end);
    }

    /// A load brought nothing new: fine until the stall bound.
    fn nothing_new(&mut self) -> Result<(), HlsError> {
        self.changed = false;
        self.empty_loads += 1;
        if self.end_list {
            return Ok(());
        }
        let waited = Instant::now().saturating_duration_since(self.new_at);
        let bound = self
            .target
            .saturating_mul(self.upstream.options.stall_target_durations);
        if waited < bound {
            return Ok(());
        }
        let url = redact_url(self.playlist.as_str());
        if !self.had_segments {
            return Err(HlsError::NoSegments { url });
        }
        Err(HlsError::Stalled {
            url,
            seconds: waited.as_secs(),
            reloads: self.empty_loads,
            last_error: self.reload_error.take(),
        })
    }

    /// Opens the next queued segment that can be played: `false` when none is queued.
    async fn open_next_segment(&mut self) -> Result<bool, HlsError> {
        while let Some(segment) = self.queue.pop_front() {
            if let Some(method) = segment.encryption {
                return Err(HlsError::Encrypted {
                    method,
                    url: redact_url(self.playlist.as_str()),
                });
            }
            if segment.init_map {
                return Err(HlsError::FragmentedMp4 {
                    url: redact_url(self.playlist.as_str()),
                });
            }
            if segment.discontinuity {
                tracing::debug!(sequence = segment.sequence, "HLS discontinuity");
                Counters::add(&self.upstream.counters.discontinuities, 1);
            }
            let range = segment.range.map(|r| {
                let start = r.start.unwrap_or_else(|| {
                    self.range_end
                        .as_ref()
                        .filter(|(url, _)| *url == segment.url)
                        .map_or(0, |(_, end)| *end)
                });
                (start, r.length)
            });
            if range.is_some_and(|(_, length)| length == 0) {
                continue;
            }
            let shown = redact_url(segment.url.as_str());
            let timeout = self.upstream.options.segment_timeout;
            let deadline = Instant::now() + timeout;
            let request = self.upstream.request_for(&segment.url, range);
            let opened = bounded(
                &request.cancel,
                deadline,
                self.upstream.fetcher.open_live(&request),
            )
            .await
            .map_err(|i| i.into_error(HlsResource::Segment, &shown, timeout))?;
            let response = match opened {
                Ok(response) => response,
                Err(IngestError::HttpStatus { status, .. })
                    if self.failures_in_row < self.upstream.options.skippable_segment_failures =>
                {
                    self.failures_in_row += 1;
                    Counters::add(&self.upstream.counters.skipped_segments, 1);
                    tracing::warn!(segment = %shown, status, "HLS segment failed; skipped");
                    continue;
                }
                Err(error) => return Err(fetch_error(HlsResource::Segment, &shown, error)),
            };
            self.failures_in_row = 0;
            if let Some((start, length)) = range {
                self.range_end = Some((segment.url.clone(), start.saturating_add(length)));
            }
            Counters::add(&self.upstream.counters.segments, 1);
            self.body = Some(SegmentBody {
                body: response.body,
                url: shown,
                deadline,
                remaining: range.map(|(_, length)| length),
                received: 0,
            });
            return Ok(true);
        }
        Ok(false)
    }

    /// The next bytes of the segment being read: `None` when there is none or it ended.
    async fn read_segment(&mut self) -> Result<Option<Bytes>, HlsError> {
        let Some(segment) = self.body.as_mut() else {
            return Ok(None);
        };
        let options = &self.upstream.options;
        loop {
            let next = bounded(
                &self.upstream.request.cancel,
                segment.deadline,
                segment.body.next(),
            )
            .await
            .map_err(|i| {
                i.into_error(HlsResource::Segment, &segment.url, options.segment_timeout)
            })?;
            let mut chunk = match next {
                None => {
                    if let Some(missing) = segment.remaining.filter(|r| *r > 0) {
                        tracing::warn!(segment = %segment.url, missing, "HLS sub-range ended short");
                    }
                    self.body = None;
                    return Ok(None);
                }
                Some(Err(error)) => {
                    return Err(fetch_error(
                        HlsResource::Segment,
                        &segment.url,
                        from_io(error),
                    ));
                }
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => chunk,
            };
            if let Some(remaining) = segment.remaining {
                let keep = usize::try_from(remaining).unwrap_or(usize::MAX);
                chunk.truncate(keep);
                segment.remaining = Some(remaining - chunk.len() as u64);
            }
            if segment.received == 0 && looks_like_fmp4(&chunk) {
                return Err(HlsError::FragmentedMp4 {
                    url: segment.url.clone(),
                });
            }
            segment.received += chunk.len() as u64;
            if segment.received > options.max_segment_bytes {
                return Err(HlsError::SegmentTooLarge {
                    url: segment.url.clone(),
                    limit: options.max_segment_bytes,
                });
            }
            Counters::add(&self.upstream.counters.bytes, chunk.len() as u64);
            if segment.remaining == Some(0) {
                // The sub-range is complete: whatever else the server sends is not ours.
                self.body = None;
            }
            return Ok(Some(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../fixtures/external/hls/m3u8-rs/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn base() -> Url {
        Url::parse("http://provider.test/hls/channel/index.m3u8").unwrap()
    }

    fn master(bytes: &[u8]) -> Vec<Variant> {
        match read_playlist(bytes, &base()).unwrap() {
            Playlist::Master(variants) => variants,
            Playlist::Media(media) => panic!("expected a master playlist, got {media:?}"),
        }
    }

    fn media(bytes: &[u8]) -> MediaList {
        match read_playlist(bytes, &base()).unwrap() {
            Playlist::Media(media) => media,
            Playlist::Master(variants) => panic!("expected a media playlist, got {variants:?}"),
        }
    }

    fn chosen(variants: &[Variant], cap: Option<u64>) -> String {
        choose_variant(variants, cap).unwrap().url.to_string()
    }

    #[test]
    fn every_m3u8_rs_fixture_is_read_without_panicking() {
        let dir = format!(
            "{}/../../fixtures/external/hls/m3u8-rs",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            match read_playlist(&bytes, &base()) {
                Ok(Playlist::Master(variants)) => {
                    assert!(name.starts_with("master"), "{name} read as a master");
                    assert!(!variants.is_empty(), "{name}: no variant");
                    assert!(choose_variant(&variants, None).is_some(), "{name}");
                    assert!(choose_variant(&variants, Some(1)).is_some(), "{name}");
                }
                Ok(Playlist::Media(list)) => {
                    assert!(name.starts_with("media"), "{name} read as a media playlist");
                    for pair in list.segments.windows(2) {
                        assert_eq!(pair[0].sequence + 1, pair[1].sequence, "{name}");
                    }
                }
                Err(error) => panic!("{name}: {error}"),
            }
            read += 1;
        }
        assert_eq!(read, 22);
    }

    #[test]
    fn picks_the_highest_variant_or_the_highest_under_the_preference() {
        let variants = master(&fixture("master.m3u8"));
        assert_eq!(variants.len(), 5);
        let at = |name: &str| format!("http://provider.test/hls/channel/{name}");
        assert_eq!(chosen(&variants, None), at("chunklist-b1500000.m3u8"));
        assert_eq!(
            chosen(&variants, Some(700_000)),
            at("chunklist-b600000.m3u8")
        );
        assert_eq!(
            chosen(&variants, Some(600_000)),
            at("chunklist-b600000.m3u8")
        );
        // Every variant above the preference: the lowest.
        assert_eq!(chosen(&variants, Some(1000)), at("chunklist-b300000.m3u8"));
    }

    #[test]
    fn never_picks_an_i_frame_stream() {
        let variants = master(&fixture("master-with-i-frame-stream-inf.m3u8"));
        assert!(
            variants.iter().all(|v| !v.url.path().contains("iframe")),
            "{variants:?}"
        );
        assert_eq!(
            chosen(&variants, None),
            "http://provider.test/hls/channel/hi/audio-video.m3u8"
        );
        // The audio-only variant is the only one under 100 kb/s.
        assert_eq!(
            chosen(&variants, Some(100_000)),
            "http://provider.test/hls/channel/audio-only.m3u8"
        );
    }

    #[test]
    fn stray_uri_lines_do_not_replace_a_variants_uri() {
        // A URI line follows each EXT-X-I-FRAME-STREAM-INF: m3u8-rs alone would give
        // `03_iframe_index.m3u8` to the 1695000 variant.
        let variants = master(&fixture("masterplaylist.m3u8"));
        let uris: Vec<_> = variants.iter().map(|v| v.url.path().to_owned()).collect();
        assert_eq!(
            uris,
            [
                "/hls/channel/01.m3u8",
                "/hls/channel/02.m3u8",
                "/hls/channel/03.m3u8"
            ]
        );
        // Their audio group has only a rendition with its own playlist: all "separate", so
        // the choice falls back to all of them.
        assert!(variants.iter().all(|v| v.separate_audio));
        assert_eq!(
            chosen(&variants, None),
            "http://provider.test/hls/channel/03.m3u8"
        );
    }

    #[test]
    fn resolves_relative_variants_and_keeps_muxed_audio() {
        let variants = master(&fixture("master-with-alternatives-2.m3u8"));
        // The bipbop audio group has a rendition without URI: the audio is in the variants.
        assert!(variants.iter().all(|v| !v.separate_audio));
        assert_eq!(variants.len(), 6);
        assert_eq!(
            chosen(&variants, None),
            "http://provider.test/hls/channel/gear5/prog_index.m3u8"
        );
        assert_eq!(
            chosen(&variants, Some(600_000)),
            "http://provider.test/hls/channel/gear2/prog_index.m3u8"
        );
    }

    #[test]
    fn keeps_absolute_variant_urls_with_commas() {
        let variants = master(&fixture("master-with-offset.m3u8"));
        let url = chosen(&variants, None);
        assert!(url.starts_with("http://hls.tagesschau.de/i/video/2015/0902/"));
        assert!(url.ends_with(".h264.mp4.csmil/index_5_av.m3u8"), "{url}");
    }

    #[test]
    fn prefers_a_variant_with_its_audio_in_its_segments() {
        let text = b"#EXTM3U\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"en\",URI=\"audio.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=5000000,AUDIO=\"aud\"\nvideo-only.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=2000000\nmuxed.m3u8\n";
        let variants = master(text);
        assert_eq!(
            chosen(&variants, None),
            "http://provider.test/hls/channel/muxed.m3u8"
        );
    }

    #[test]
    fn a_key_applies_until_the_next_key() {
        let list = media(&fixture("mediaplaylist.m3u8"));
        assert_eq!(list.segments.len(), 15);
        assert_eq!(list.first_sequence, 338_559);
        assert_eq!(list.target, Duration::from_secs(3));
        assert!(!list.end_list);
        assert!(
            list.segments
                .iter()
                .all(|s| s.encryption.as_deref() == Some("AES-128"))
        );

        let text = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n\
            #EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\nc.ts\n#EXTINF:2,\nd.ts\n\
            #EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k\",KEYFORMAT=\"x\"\n#EXTINF:2,\ne.ts\n";
        let methods: Vec<_> = media(text)
            .segments
            .into_iter()
            .map(|s| s.encryption)
            .collect();
        assert_eq!(
            methods,
            [
                Some("AES-128".to_owned()),
                Some("AES-128".to_owned()),
                None,
                None,
                Some("SAMPLE-AES".to_owned())
            ]
        );
    }

    #[test]
    fn a_map_marks_every_following_segment() {
        let text = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n\
            #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nb.m4s\n#EXTINF:2,\nc.m4s\n";
        let maps: Vec<_> = media(text)
            .segments
            .into_iter()
            .map(|s| s.init_map)
            .collect();
        assert_eq!(maps, [false, true, true]);
    }

    #[test]
    fn byte_ranges_without_offset_follow_the_previous_one() {
        let list = media(&fixture("media-playlist-with-byterange.m3u8"));
        let ranges: Vec<_> = list.segments.iter().map(|s| s.range).collect();
        let range = |start, length| {
            Some(SubRange {
                start: Some(start),
                length,
            })
        };
        assert_eq!(
            ranges,
            [
                range(0, 75232),
                range(752_321, 82112),
                range(834_433, 69864)
            ]
        );
        assert!(
            list.segments
                .iter()
                .all(|s| s.url.as_str() == "http://provider.test/hls/channel/video.ts")
        );

        // The first listed segment of a live window may leave its offset to one no longer
        // listed.
        let text = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-BYTERANGE:100\n#EXTINF:2,\nall.ts\n";
        assert_eq!(
            media(text).segments[0].range,
            Some(SubRange {
                start: None,
                length: 100
            })
        );
    }

    #[test]
    fn vod_type_discontinuities_and_empty_playlists() {
        let list = media(&fixture("media-playlist-zero-decimal.m3u8"));
        assert!(list.end_list);
        assert_eq!(list.segments.len(), 8);
        assert_eq!(list.target, Duration::from_secs(11));

        let list = media(&fixture("media-playlist-with-discontinuity.m3u8"));
        let flags: Vec<_> = list.segments.iter().map(|s| s.discontinuity).collect();
        assert_eq!(flags, [false, false, true, false]);

        let list = media(&fixture("media-playlist-without-segments.m3u8"));
        assert!(list.segments.is_empty());
        assert!(!list.end_list);

        // No target duration: the longest segment stands in.
        let list = media(b"#EXTM3U\n#EXTINF:4.5,\na.ts\n#EXTINF:2,\nb.ts\n");
        assert_eq!(list.target, Duration::from_secs(5));
    }

    #[test]
    fn tolerates_bom_crlf_lone_cr_and_latin1() {
        let text = b"\xEF\xBB\xBF \r\n#EXTM3U\r#EXT-X-TARGETDURATION:2\r\n#EXTINF:2,Caf\xe9\r\na.ts\r\n#EXTINF:2,\rb.ts";
        let list = media(text);
        let uris: Vec<_> = list.segments.iter().map(|s| s.url.path()).collect();
        assert_eq!(uris, ["/hls/channel/a.ts", "/hls/channel/b.ts"]);
    }

    #[test]
    fn huge_media_sequences_do_not_overflow() {
        let text =
            b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:18446744073709551614\n\
            #EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts\n";
        let list = media(text);
        assert_eq!(list.segments[2].sequence, u64::MAX);
    }

    #[test]
    fn refuses_what_is_not_a_playlist() {
        for body in [
            &b"<html><body>Forbidden</body></html>"[..],
            b"",
            b"#EXTINF:1,\na.ts\n",
        ] {
            assert!(matches!(
                read_playlist(body, &base()),
                Err(HlsError::NotHls { .. })
            ));
        }
    }

    #[test]
    fn redacts_urls_in_errors() {
        let url = Url::parse("http://h/live/bob/secret/1.m3u8").unwrap();
        let error = read_playlist(b"nope", &url).unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains("/live/***/***/1.m3u8"), "{error}");
    }

    #[test]
    fn sniffs_hls_from_body_then_labels() {
        let ts = Url::parse("http://h/live/1.ts").unwrap();
        let m3u8 = Url::parse("http://h/live/1.M3U8?token=x").unwrap();
        assert!(looks_like_hls(None, &ts, b"#EXTM3U\n"));
        assert!(looks_like_hls(None, &ts, b"\xEF\xBB\xBF\r\n  #EXTM3U"));
        assert!(looks_like_hls(None, &m3u8, b""));
        assert!(looks_like_hls(
            Some("Application/X-MpegURL; charset=utf-8"),
            &ts,
            b""
        ));
        assert!(looks_like_hls(Some("audio/mpegurl"), &ts, b"#EXT"));
        assert!(looks_like_hls(
            Some("application/vnd.apple.mpegurl"),
            &ts,
            b"<html>"
        ));
        // The body wins over the labels.
        assert!(!looks_like_hls(
            Some("application/vnd.apple.mpegurl"),
            &m3u8,
            &[TS_SYNC, 0x40, 0, 0x10]
        ));
        assert!(!looks_like_hls(Some("video/mp2t"), &ts, b""));
        assert!(!looks_like_hls(None, &ts, b"<html>"));
    }

    #[test]
    fn reads_attribute_lists() {
        let list = "URI=\"k?a=1,METHOD=X\", METHOD=AES-128,IV=0x1";
        assert_eq!(attribute(list, "METHOD"), Some("AES-128"));
        assert_eq!(attribute(list, "uri"), Some("k?a=1,METHOD=X"));
        assert_eq!(attribute(list, "IV"), Some("0x1"));
        assert_eq!(attribute(list, "KEYFORMAT"), None);
        assert_eq!(
            attribute("METHOD=\"unterminated", "METHOD"),
            Some("unterminated")
        );
    }

    #[test]
    fn tells_mp4_boxes_from_ts() {
        assert!(looks_like_fmp4(b"\0\0\0\x18ftypiso6"));
        assert!(looks_like_fmp4(b"\0\0\0\x18moof...."));
        assert!(!looks_like_fmp4(&[
            TS_SYNC, 0, 0, 0, b'f', b't', b'y', b'p'
        ]));
        assert!(!looks_like_fmp4(b"\0\0"));
    }
}
