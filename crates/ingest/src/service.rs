//! The ingest service: fetch → parse → store, pipelined, with a guard that keeps the last good
//! data when a fetch looks wrong.
//!
//! The parser runs on a blocking thread, reading the download through a bridge while it is
//! still arriving, and hands batches to the writer over a bounded channel; the writer feeds
//! them to the repository's replacement. Memory stays bounded by a few batches whatever the
//! size of the source. The replacement is committed only when the whole source was read and
//! passed the guard; otherwise it is aborted and the previous data stays current.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::BufRead;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tvarr_core::{
    Channel, ChannelData, ChannelRepository, EpgChannel, EpgSource, EpgSourceType, IngestOutcome,
    IngestState, ProgrammeData, ProgrammeRepository, StreamSource, StreamSourceId,
    StreamSourceType,
};
use url::Url;

use crate::error::IngestError;
use crate::fetch::{Download, FetchRequest, Fetcher, from_io};
use crate::limits::ParserLimits;
use crate::m3u::{M3uOptions, M3uReader, PlaylistHeader};
use crate::skip::{SkipReason, SkipReport};
use crate::weight::Batcher;
use crate::xmltv::{XmltvItem, XmltvOptions, XmltvReader};
use crate::xtream::{
    Category, LiveStream, XtreamAccount, XtreamEndpoint, category_names, read_array,
};

/// Where an ingest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestStage {
    /// Connecting and receiving the first bytes; no record has been parsed yet.
    Downloading,
    /// Records are parsed and written while the download goes on.
    Parsing,
    /// Everything was read; the records are being committed.
    Storing,
}

impl IngestStage {
    /// A short stable name: `downloading`, `parsing`, `storing`.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestStage::Downloading => "downloading",
            IngestStage::Parsing => "parsing",
            IngestStage::Storing => "storing",
        }
    }
}

/// How far an ingest has come: bytes and records together, so that neither hides the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// The stage.
    pub stage: IngestStage,
    /// Bytes received, as sent (compressed when the source is compressed).
    pub bytes: u64,
    /// Bytes announced (`Content-Length`, or a file's size), when known.
    pub total_bytes: Option<u64>,
    /// Records written to the replacement so far.
    pub records: u64,
    /// What the records are: `channels` or `programmes`.
    pub unit: &'static str,
}

/// Receives progress and says whether to go on.
pub trait IngestProgress: Send + Sync {
    /// Called after every batch and at least every [`PROGRESS_INTERVAL`] while the download
    /// runs. Returns `false` to ask the ingest to stop. Called from the ingest's task: keep it
    /// cheap and never block.
    fn report(&self, progress: &ProgressSnapshot) -> bool;
}

/// How often progress is reported while no batch arrives (a slow download, a large header).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Progress that nobody watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl IngestProgress for NoProgress {
    fn report(&self, _progress: &ProgressSnapshot) -> bool {
        true
    }
}

/// Tuning and guard settings.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestSettings {
    /// Records per batch written to the repository, at most.
    pub batch_size: usize,
    /// Bytes of text per batch, at most (about: a batch ends with the record that reaches
    /// it). With `queued_batches`, this bounds what an ingest holds between parser and
    /// writer whatever the records hold.
    pub batch_bytes: usize,
    /// Batches buffered between the parser and the writer.
    pub queued_batches: usize,
    /// A result smaller than `(1 - max_shrink) ×` the current count is suspicious and not
    /// stored (0.5: losing more than half the channels; 1: never suspicious). A fraction in
    /// `0..=1`; values outside are clamped.
    pub max_shrink: f64,
    /// How much of one value and one record the parsers hold (memory bombs).
    pub limits: ParserLimits,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            batch_size: 2_000,
            batch_bytes: 8 * 1024 * 1024,
            queued_batches: 4,
            max_shrink: 0.5,
            limits: ParserLimits::default(),
        }
    }
}

/// How an ingest went: the outcome to record, and what was skipped.
#[derive(Clone, Debug)]
pub struct IngestReport {
    /// Record it with `record_ingest`.
    pub outcome: IngestOutcome,
    /// Skipped lines or elements, by reason.
    pub skipped: SkipReport,
    /// Records parsed (whether or not they were committed).
    pub parsed: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Whether the ingest stopped because progress asked it to.
    pub cancelled: bool,
    /// The `#EXTM3U` header of an M3U playlist (its guide URLs and `tvg-shift`).
    pub playlist: Option<PlaylistHeader>,
    /// Playlist lines that were not UTF-8 and were decoded lossily (kept, not skipped).
    pub lossy_lines: u64,
}

/// Repository calls the service makes, for channels and for guides alike.
trait Replacement: Send {
    type Batch: Send + 'static;
    /// Records of the main kind in a batch (channels, programmes), for progress.
    fn records(batch: &Self::Batch) -> u64;
    fn write(&mut self, batch: Self::Batch)
    -> impl Future<Output = Result<(), IngestError>> + Send;
    fn commit(self) -> impl Future<Output = Result<u64, IngestError>> + Send;
    fn abort(self) -> impl Future<Output = ()> + Send;
}

struct ChannelSink(Box<dyn tvarr_core::ChannelReplacement>);

impl Replacement for ChannelSink {
    type Batch = Vec<Channel>;
    fn records(batch: &Vec<Channel>) -> u64 {
        batch.len() as u64
    }
    async fn write(&mut self, batch: Vec<Channel>) -> Result<(), IngestError> {
        Ok(self.0.write(&batch).await?)
    }
    async fn commit(self) -> Result<u64, IngestError> {
        Ok(self.0.commit().await?)
    }
    async fn abort(self) {
        if let Err(e) = self.0.abort().await {
            tracing::warn!(error = %e, "aborting the channel replacement failed");
        }
    }
}

/// A batch of guide records.
enum GuideBatch {
    Channels(Vec<EpgChannel>),
    Programmes(Vec<ProgrammeData>),
}

struct GuideSink(Box<dyn tvarr_core::GuideReplacement>);

impl Replacement for GuideSink {
    type Batch = GuideBatch;
    fn records(batch: &GuideBatch) -> u64 {
        match batch {
            GuideBatch::Channels(_) => 0,
            GuideBatch::Programmes(programmes) => programmes.len() as u64,
        }
    }
    async fn write(&mut self, batch: GuideBatch) -> Result<(), IngestError> {
        match batch {
            GuideBatch::Channels(channels) => self.0.write_channels(&channels).await?,
            GuideBatch::Programmes(programmes) => self.0.write_programmes(&programmes).await?,
        }
        Ok(())
    }
    async fn commit(self) -> Result<u64, IngestError> {
        Ok(self.0.commit().await?)
    }
    async fn abort(self) {
        if let Err(e) = self.0.abort().await {
            tracing::warn!(error = %e, "aborting the guide replacement failed");
        }
    }
}

/// What the parser thread returns besides its batches.
struct ParseSummary {
    records: u64,
    skipped: SkipReport,
    playlist: Option<PlaylistHeader>,
    lossy_lines: u64,
}

/// Ingests a stream source (M3U or Xtream) into `channels`.
///
/// Never returns an error: every failure ends as an outcome marked `failed` (fetch error, HTTP
/// error, HTML page, truncated or oversized download, empty result, storage error) or
/// `suspicious` (the result shrank by more than [`IngestSettings::max_shrink`]); in both cases
/// the replacement is aborted and `record_count` is the previous count.
pub async fn ingest_stream_source<C>(
    source: &StreamSource,
    fetcher: &dyn Fetcher,
    channels: &C,
    progress: &dyn IngestProgress,
    settings: &IngestSettings,
) -> IngestReport
where
    C: ChannelRepository + ?Sized,
{
    let mut previous = Previous {
        records: source.channel_count,
        skipped: source.skipped_count,
    };
    match channels.count(source.id).await {
        Ok(count) => previous.records = count,
        Err(e) => return failed_report(previous, IngestError::Repo(e), 0),
    }
    let cancel = CancellationToken::new();
    let request = FetchRequest {
        location: source.url.clone(),
        user_agent: source.user_agent.clone(),
        headers: source.headers.clone(),
        cancel: cancel.clone(),
    };
    let prepared = until_cancelled(progress, &cancel, "channels", async {
        match source.source_type {
            StreamSourceType::M3u => prepare_m3u(source, fetcher, &request, settings).await,
            StreamSourceType::Xtream => prepare_xtream(source, fetcher, &request, settings).await,
        }
    })
    .await;
    let (download, parse) = match prepared {
        Ok(prepared) => prepared,
        Err(IngestError::Cancelled) => return cancelled_report(previous, 0),
        Err(e) => return failed_report(previous, e, 0),
    };
    let replacement = match channels.begin_replace(source.id).await {
        Ok(replacement) => ChannelSink(replacement),
        Err(e) => return failed_report(previous, IngestError::Repo(e), 0),
    };
    run_pipeline(
        download,
        parse,
        replacement,
        previous,
        progress,
        settings,
        "channels",
    )
    .await
}

/// Ingests an EPG source (XMLTV or Xtream `xmltv.php`) into `programmes`; see
/// [`ingest_stream_source`] for the guard.
pub async fn ingest_epg_source<P>(
    source: &EpgSource,
    fetcher: &dyn Fetcher,
    programmes: &P,
    progress: &dyn IngestProgress,
    settings: &IngestSettings,
) -> IngestReport
where
    P: ProgrammeRepository + ?Sized,
{
    let mut previous = Previous {
        records: source.programme_count,
        skipped: source.skipped_count,
    };
    match programmes.count(source.id).await {
        Ok(count) => previous.records = count,
        Err(e) => return failed_report(previous, IngestError::Repo(e), 0),
    }
    let options =
        match XmltvOptions::for_source(source.time_offset_minutes, source.timezone.as_deref()) {
            Ok(options) => XmltvOptions {
                limits: settings.limits,
                ..options
            },
            Err(e) => return failed_report(previous, e, 0),
        };
    let location = match source.source_type {
        EpgSourceType::Xmltv => source.url.clone(),
        EpgSourceType::Xtream => {
            let endpoint = XtreamEndpoint::new(
                &source.url,
                source.username.as_deref().unwrap_or(""),
                source.password.clone().unwrap_or_default(),
            );
            match endpoint {
                Ok(endpoint) => endpoint.xmltv().to_string(),
                Err(e) => return failed_report(previous, e, 0),
            }
        }
    };
    let cancel = CancellationToken::new();
    let request = FetchRequest {
        location,
        user_agent: source.user_agent.clone(),
        headers: source.headers.clone(),
        cancel: cancel.clone(),
    };
    let opened = until_cancelled(
        progress,
        &cancel,
        "programmes",
        open_checked(fetcher, &request, Expected::Guide),
    )
    .await;
    let download = match opened {
        Ok(download) => download,
        Err(IngestError::Cancelled) => return cancelled_report(previous, 0),
        Err(e) => return failed_report(previous, e, 0),
    };
    let replacement = match programmes.begin_replace(source.id).await {
        Ok(replacement) => GuideSink(replacement),
        Err(e) => return failed_report(previous, IngestError::Repo(e), 0),
    };
    let (batch_size, batch_bytes) = (settings.batch_size, settings.batch_bytes);
    let parse: ParseFn<GuideBatch> =
        Box::new(move |input, tx| parse_guide(input, tx, options, batch_size, batch_bytes));
    run_pipeline(
        download,
        parse,
        replacement,
        previous,
        progress,
        settings,
        "programmes",
    )
    .await
}

/// Runs `work` (connecting, waiting for the answer, the first bytes, retries) while asking
/// `progress` every [`PROGRESS_INTERVAL`] whether to go on. When it says no, `cancel` fires
/// (the fetcher's token, for reads still in flight) and `work` is dropped wherever it is.
async fn until_cancelled<T>(
    progress: &dyn IngestProgress,
    cancel: &CancellationToken,
    unit: &'static str,
    work: impl Future<Output = Result<T, IngestError>>,
) -> Result<T, IngestError> {
    let watch = async {
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let waiting = ProgressSnapshot {
            stage: IngestStage::Downloading,
            bytes: 0,
            total_bytes: None,
            records: 0,
            unit,
        };
        loop {
            ticker.tick().await;
            if !progress.report(&waiting) {
                cancel.cancel();
                return;
            }
        }
    };
    tokio::select! {
        result = work => result,
        () = watch => Err(IngestError::Cancelled),
    }
}

type ParseFn<B> = Box<
    dyn FnOnce(Box<dyn BufRead + Send>, mpsc::Sender<B>) -> Result<ParseSummary, IngestError>
        + Send,
>;

async fn prepare_m3u(
    source: &StreamSource,
    fetcher: &dyn Fetcher,
    request: &FetchRequest,
    settings: &IngestSettings,
) -> Result<(Download, ParseFn<Vec<Channel>>), IngestError> {
    let download = open_checked(fetcher, request, Expected::Playlist).await?;
    let base_url = Url::parse(source.url.trim()).ok().or_else(|| {
        std::path::Path::new(source.url.trim())
            .canonicalize()
            .ok()
            .and_then(|p| Url::from_file_path(p).ok())
    });
    let source_id = source.id;
    let (batch_size, batch_bytes) = (settings.batch_size, settings.batch_bytes);
    let limits = settings.limits;
    let parse: ParseFn<Vec<Channel>> = Box::new(move |input, tx| {
        let mut reader = M3uReader::new(input, M3uOptions { base_url, limits });
        let mut identities = ChannelIdentities::new(source_id, batch_size, batch_bytes);
        while let Some(data) = reader.next_channel()? {
            if let Some(batch) = identities.push(data)
                && tx.blocking_send(batch).is_err()
            {
                return Err(IngestError::Cancelled);
            }
        }
        let records = identities.count;
        if let Some(batch) = identities.take()
            && tx.blocking_send(batch).is_err()
        {
            return Err(IngestError::Cancelled);
        }
        let skipped = reader.skipped().clone();
        if reader.lossy_lines() > 0 {
            tracing::info!(lines = reader.lossy_lines(), "lines decoded lossily");
        }
        Ok(ParseSummary {
            records,
            skipped,
            playlist: Some(reader.header().clone()),
            lossy_lines: reader.lossy_lines(),
        })
    });
    Ok((download, parse))
}

async fn prepare_xtream(
    source: &StreamSource,
    fetcher: &dyn Fetcher,
    request: &FetchRequest,
    settings: &IngestSettings,
) -> Result<(Download, ParseFn<Vec<Channel>>), IngestError> {
    let endpoint = XtreamEndpoint::new(
        &source.url,
        source.username.as_deref().unwrap_or(""),
        source.password.clone().unwrap_or_default(),
    )?;
    let with_location = |url: Url| FetchRequest {
        location: url.to_string(),
        ..request.clone()
    };
    let account: XtreamAccount =
        read_small_json(fetcher, &with_location(endpoint.player_api(None))).await?;
    account.check(Utc::now().timestamp())?;
    let extension = account.live_extension();
    let categories: Vec<Category> = match read_small_json(
        fetcher,
        &with_location(endpoint.player_api(Some("get_live_categories"))),
    )
    .await
    {
        Ok(categories) => categories,
        Err(e) => {
            tracing::warn!(error = %e, "live categories unavailable; channels get no group");
            Vec::new()
        }
    };
    let names = category_names(&categories);
    let download = open_checked(
        fetcher,
        &with_location(endpoint.player_api(Some("get_live_streams"))),
        Expected::Json("stream list"),
    )
    .await?;
    let source_id = source.id;
    let (batch_size, batch_bytes) = (settings.batch_size, settings.batch_bytes);
    let limits = settings.limits;
    let parse: ParseFn<Vec<Channel>> = Box::new(move |input, tx| {
        let mut identities = ChannelIdentities::new(source_id, batch_size, batch_bytes);
        let mut skipped = SkipReport::default();
        let mut element = 0u64;
        let skips = read_array::<LiveStream, _, _>(input, limits, |stream| {
            element += 1;
            let name = stream.name.clone().unwrap_or_default();
            match endpoint.channel(stream, &names, extension) {
                Some(data) => {
                    if let Some(batch) = identities.push(data) {
                        tx.blocking_send(batch)
                            .map_err(|_| IngestError::Cancelled)?;
                    }
                }
                None => skipped.record(SkipReason::StreamWithoutId, element, &name),
            }
            Ok(())
        })?;
        for _ in 0..skips.odd {
            skipped.record(SkipReason::StreamWithoutId, 0, "(not an object)");
        }
        for _ in 0..skips.too_long {
            skipped.record(SkipReason::ValueTooLong, 0, "(a string too long)");
        }
        let records = identities.count;
        if let Some(batch) = identities.take() {
            tx.blocking_send(batch)
                .map_err(|_| IngestError::Cancelled)?;
        }
        Ok(ParseSummary {
            records,
            skipped,
            playlist: None,
            lossy_lines: 0,
        })
    });
    Ok((download, parse))
}

/// The most a small JSON answer (an Xtream account, its categories) may hold. A panel with
/// thousands of categories answers in well under 1 MiB; the stream lists, which can be large,
/// are read streaming instead.
const SMALL_JSON_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a small JSON answer (authentication, categories) whole, at most
/// [`SMALL_JSON_MAX_BYTES`]: a longer one is refused, not buffered.
async fn read_small_json<T: serde::de::DeserializeOwned>(
    fetcher: &dyn Fetcher,
    request: &FetchRequest,
) -> Result<T, IngestError> {
    let download = open_checked(fetcher, request, Expected::Json("JSON answer")).await?;
    if download
        .content_length
        .is_some_and(|n| n > SMALL_JSON_MAX_BYTES)
    {
        return Err(IngestError::TooLarge {
            limit: SMALL_JSON_MAX_BYTES,
        });
    }
    let mut body = Vec::new();
    download
        .body
        .take(SMALL_JSON_MAX_BYTES + 1)
        .read_to_end(&mut body)
        .await
        .map_err(from_io)?;
    if body.len() as u64 > SMALL_JSON_MAX_BYTES {
        return Err(IngestError::TooLarge {
            limit: SMALL_JSON_MAX_BYTES,
        });
    }
    Ok(serde_json::from_slice(&body)?)
}

/// What a download should hold, to tell it from an error page.
#[derive(Clone, Copy, Debug)]
enum Expected {
    /// An M3U playlist.
    Playlist,
    /// An XMLTV guide.
    Guide,
    /// A JSON answer of an Xtream panel, named for messages.
    Json(&'static str),
}

impl Expected {
    fn name(self) -> &'static str {
        match self {
            Expected::Playlist => "playlist",
            Expected::Guide => "guide",
            Expected::Json(name) => name,
        }
    }

    /// Whether the first bytes clearly are the expected document, whatever the content type.
    fn starts_like(self, head: &[u8]) -> bool {
        match self {
            // A directive or comment, or a bare stream URL (playlists without a header).
            Expected::Playlist => {
                head.starts_with(b"#")
                    || head
                        .iter()
                        .take(16)
                        .position(|b| *b == b':')
                        .is_some_and(|colon| {
                            colon > 0
                                && head[..colon].iter().all(u8::is_ascii_alphanumeric)
                                && head[colon + 1..].starts_with(b"//")
                        })
            }
            Expected::Guide => {
                starts_with_ignore_case(head, b"<?xml")
                    || starts_with_ignore_case(head, b"<tv")
                    || starts_with_ignore_case(head, b"<!doctype tv")
            }
            Expected::Json(_) => head.starts_with(b"{") || head.starts_with(b"["),
        }
    }
}

/// Fetches and refuses an error page served in place of the expected document: an HTML page
/// (by its first bytes, or by `Content-Type: text/html` when the bytes are not clearly the
/// expected document), or JSON where a playlist or a guide was expected.
async fn open_checked(
    fetcher: &dyn Fetcher,
    request: &FetchRequest,
    expected: Expected,
) -> Result<Download, IngestError> {
    let download = fetcher.fetch(request).await?;
    let content_type = download.content_type.clone();
    let mut reader = BufReader::with_capacity(64 * 1024, download.body);
    let head = reader.fill_buf().await.map_err(from_io)?;
    check_head(head, content_type.as_deref(), expected)?;
    Ok(Download {
        body: Box::pin(reader),
        ..download
    })
}

fn check_head(
    head: &[u8],
    content_type: Option<&str>,
    expected: Expected,
) -> Result<(), IngestError> {
    let html = IngestError::HtmlPage {
        expected: expected.name(),
    };
    if looks_like_html(head) {
        return Err(html);
    }
    // A comment longer than the head leaves nothing to judge by.
    let Some(start) = skip_comments(trim_start(head)) else {
        return Ok(());
    };
    // PHP panels label everything text/html, playlists and JSON included: the content type
    // only decides when the bytes are not clearly what was expected.
    let html_type = content_type.is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("text/html")
            || essence.eq_ignore_ascii_case("application/xhtml+xml")
    });
    if html_type && !start.is_empty() && !expected.starts_like(start) {
        return Err(html);
    }
    if matches!(expected, Expected::Playlist | Expected::Guide) && looks_like_json(start) {
        return Err(IngestError::JsonAnswer {
            expected: expected.name(),
        });
    }
    Ok(())
}

/// Whether the first bytes of a body are an HTML page: an `<!DOCTYPE html>`, `<html>`,
/// `<head>` or `<body>` tag at the start, after a BOM, whitespace and any `<!-- … -->`
/// comments; any case.
pub fn looks_like_html(head: &[u8]) -> bool {
    let Some(rest) = skip_comments(trim_start(head)) else {
        return false;
    };
    // The tag name must end there: `<header-less text` is no `<head`.
    [&b"<!doctype html"[..], b"<html", b"<head", b"<body"]
        .iter()
        .any(|tag| {
            starts_with_ignore_case(rest, tag)
                && rest
                    .get(tag.len())
                    .is_none_or(|b| matches!(b, b'>' | b'/') || b.is_ascii_whitespace())
        })
}

/// The bytes after leading `<!-- … -->` comments (a generator's banner) and the whitespace
/// around them; `None` when a comment does not end within `start`.
fn skip_comments(mut start: &[u8]) -> Option<&[u8]> {
    while let Some(comment) = start.strip_prefix(b"<!--") {
        let end = memchr::memmem::find(comment, b"-->")?;
        start = comment[end + 3..].trim_ascii_start();
    }
    Some(start)
}

/// A JSON object or array at the start: `{` then `"` or `}`, or `[` then a value or `]`
/// (`[NO PUBLIC STREAM]` and other bracketed text are not JSON).
fn looks_like_json(start: &[u8]) -> bool {
    let after = |open: usize| start.get(open..).map(<[u8]>::trim_ascii_start);
    match start.first() {
        Some(b'{') => after(1).is_some_and(|a| a.is_empty() || matches!(a[0], b'"' | b'}')),
        Some(b'[') => after(1).is_some_and(|a| {
            a.is_empty() || matches!(a[0], b'{' | b'[' | b'"' | b']' | b'-' | b'0'..=b'9')
        }),
        _ => false,
    }
}

/// The bytes after a UTF-8 BOM and leading whitespace.
fn trim_start(head: &[u8]) -> &[u8] {
    head.strip_prefix(&[0xEF, 0xBB, 0xBF])
        .unwrap_or(head)
        .trim_ascii_start()
}

fn starts_with_ignore_case(head: &[u8], prefix: &[u8]) -> bool {
    head.len() >= prefix.len() && head[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Gives parsed channels their identity and position, and groups them in batches.
struct ChannelIdentities {
    source_id: StreamSourceId,
    /// Occurrences per key, by a 64-bit hash of the key (plenty for one source's keys, and
    /// far smaller than the keys themselves).
    seen: HashMap<u64, u32>,
    batch: Batcher<Channel>,
    count: u64,
}

impl ChannelIdentities {
    fn new(source_id: StreamSourceId, batch_size: usize, batch_bytes: usize) -> Self {
        Self {
            source_id,
            seen: HashMap::new(),
            batch: Batcher::new(batch_size, batch_bytes),
            count: 0,
        }
    }

    /// The identity key, made unique within the playlist: the second channel with the same
    /// key gets `#2`, the third `#3`, in order of appearance.
    fn push(&mut self, data: ChannelData) -> Option<Vec<Channel>> {
        let key = data.identity_key();
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(&key);
        let occurrences = self.seen.entry(hash).or_insert(0);
        *occurrences += 1;
        let key = if *occurrences == 1 {
            key
        } else {
            format!("{key}#{occurrences}")
        };
        let position = u32::try_from(self.count).unwrap_or(u32::MAX);
        self.count += 1;
        let weight = data.text_bytes() + key.len();
        self.batch
            .push(weight, Channel::new(self.source_id, key, position, data))
    }

    fn take(&mut self) -> Option<Vec<Channel>> {
        self.batch.take()
    }
}

fn parse_guide(
    input: Box<dyn BufRead + Send>,
    tx: mpsc::Sender<GuideBatch>,
    options: XmltvOptions,
    batch_size: usize,
    batch_bytes: usize,
) -> Result<ParseSummary, IngestError> {
    let mut reader = XmltvReader::new(input, options)?;
    let mut channels = Batcher::new(batch_size, batch_bytes);
    let mut programmes = Batcher::new(batch_size, batch_bytes);
    let send = |batch| tx.blocking_send(batch).map_err(|_| IngestError::Cancelled);
    while let Some(item) = reader.next_item()? {
        match item {
            XmltvItem::Channel(channel) => {
                if let Some(full) = channels.push(channel.text_bytes(), channel) {
                    send(GuideBatch::Channels(full))?;
                }
            }
            XmltvItem::Programme(programme) => {
                if let Some(full) = programmes.push(programme.text_bytes(), programme) {
                    send(GuideBatch::Programmes(full))?;
                }
            }
        }
    }
    if let Some(rest) = channels.take() {
        send(GuideBatch::Channels(rest))?;
    }
    if let Some(rest) = programmes.take() {
        send(GuideBatch::Programmes(rest))?;
    }
    let stats = reader.stats();
    Ok(ParseSummary {
        records: stats.programmes,
        skipped: stats.skipped,
        playlist: None,
        lossy_lines: 0,
    })
}

/// What is current before an ingest; an ingest that does not succeed leaves both as they were.
#[derive(Clone, Copy, Debug)]
struct Previous {
    records: u64,
    skipped: u64,
}

/// Runs the parser on a blocking thread and the writer here; commits or aborts.
async fn run_pipeline<S: Replacement>(
    download: Download,
    parse: ParseFn<S::Batch>,
    mut replacement: S,
    previous: Previous,
    progress: &dyn IngestProgress,
    settings: &IngestSettings,
    unit: &'static str,
) -> IngestReport {
    let (tx, mut rx) = mpsc::channel::<S::Batch>(settings.queued_batches.max(1));
    let received = download.received.clone();
    let total = download.content_length;
    let stop = CancellationToken::new();
    let bridge = SyncIoBridge::new(StopOnCancel {
        inner: download.body,
        stopped: Box::pin(stop.clone().cancelled_owned()),
    });
    // The parser's logs belong to the ingest (its job and source ids): run it inside the
    // caller's span, with the caller's subscriber (which may be a scoped one, not the global).
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    let parser = tokio::task::spawn_blocking(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let _entered = span.enter();
            let input: Box<dyn BufRead + Send> =
                Box::new(std::io::BufReader::with_capacity(256 * 1024, bridge));
            parse(input, tx)
        })
    });

    let snapshot = |stage: IngestStage, records: u64| ProgressSnapshot {
        stage,
        bytes: received.get(),
        total_bytes: total,
        records,
        unit,
    };
    let mut written = 0u64;
    let mut stage = IngestStage::Downloading;
    let mut failure: Option<IngestError> = None;
    let mut cancelled = false;
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first report is always `downloading`; the ticker's next one comes an interval later.
    ticker.reset();
    if !progress.report(&snapshot(stage, 0)) {
        cancelled = true;
    }
    while !cancelled {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                stage = IngestStage::Parsing;
                let len = S::records(&batch);
                if let Err(e) = replacement.write(batch).await {
                    failure = Some(e);
                    break;
                }
                written += len;
            }
            // Progress and cancellation while no batch arrives (a slow download).
            _ = ticker.tick() => {}
        }
        if !progress.report(&snapshot(stage, written)) {
            cancelled = true;
        }
    }
    if failure.is_some() || cancelled {
        // The parser may be blocked reading a slow download: make its reads fail now.
        stop.cancel();
    }
    // Its sends fail once the receiver is gone; wait for it.
    drop(rx);
    let parsed = match parser.await {
        Ok(result) => result,
        Err(e) => Err(IngestError::Task(e.to_string())),
    };
    let bytes = received.get();
    let summary = match (failure, cancelled, parsed) {
        (_, true, _) => {
            replacement.abort().await;
            return cancelled_report(previous, bytes);
        }
        (Some(e), _, _) | (None, _, Err(e)) => {
            replacement.abort().await;
            let e = match e {
                IngestError::Io(io) => from_io(io),
                other => other,
            };
            return failed_report(previous, e, bytes);
        }
        (None, false, Ok(summary)) => summary,
    };
    progress.report(&snapshot(IngestStage::Storing, written));
    let mut report = IngestReport {
        outcome: IngestOutcome {
            state: IngestState::Ok,
            at: Utc::now(),
            record_count: previous.records,
            skipped_count: summary.skipped.total(),
            error: None,
        },
        parsed: summary.records,
        bytes,
        cancelled: false,
        playlist: summary.playlist,
        lossy_lines: summary.lossy_lines,
        skipped: summary.skipped,
    };
    let problem = if summary.records == 0 {
        Some((
            IngestState::Failed,
            format!("the source returned no {unit}"),
        ))
    } else {
        let floor = (previous.records as f64) * (1.0 - settings.max_shrink.clamp(0.0, 1.0));
        (previous.records > 0 && (summary.records as f64) < floor).then(|| {
            (
                IngestState::Suspicious,
                format!(
                    "the source shrank from {} to {} {unit} (more than {:.0} %); the previous data is kept",
                    previous.records,
                    summary.records,
                    settings.max_shrink.clamp(0.0, 1.0) * 100.0
                ),
            )
        })
    };
    if let Some((state, mut message)) = problem {
        replacement.abort().await;
        // Like the record count, the skipped count stays that of the data still current;
        // what this attempt skipped is told in the message.
        if report.skipped.total() > 0 {
            message.push_str(&format!("; this attempt skipped {}", report.skipped));
        }
        report.outcome.state = state;
        report.outcome.skipped_count = previous.skipped;
        report.outcome.error = Some(message);
        return report;
    }
    match replacement.commit().await {
        Ok(count) => {
            report.outcome.record_count = count;
            report
        }
        Err(e) => {
            report.outcome.state = IngestState::Failed;
            report.outcome.skipped_count = previous.skipped;
            report.outcome.error = Some(e.to_string());
            report
        }
    }
}

/// The outcome of an ingest cancelled before its download began: nothing changed.
fn cancelled_report(previous: Previous, bytes: u64) -> IngestReport {
    let mut report = failed_report(previous, IngestError::Cancelled, bytes);
    report.cancelled = true;
    report
}

/// The outcome of an ingest that ended early: the previous records and skipped count stay.
fn failed_report(previous: Previous, error: IngestError, bytes: u64) -> IngestReport {
    tracing::warn!(error = %error, "ingest failed; previous data kept");
    IngestReport {
        outcome: IngestOutcome {
            state: IngestState::Failed,
            at: Utc::now(),
            record_count: previous.records,
            skipped_count: previous.skipped,
            error: Some(error.to_string()),
        },
        skipped: SkipReport::default(),
        parsed: 0,
        bytes,
        cancelled: false,
        playlist: None,
        lossy_lines: 0,
    }
}

/// A download body that fails as soon as `stopped` completes, so that a parser blocked on a
/// slow download ends when the writer gives up instead of when the download does.
struct StopOnCancel {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl AsyncRead for StopOnCancel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::other(IngestError::Cancelled)));
        }
        self.inner.as_mut().poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(head: &str, content_type: Option<&str>, expected: Expected) -> Option<String> {
        check_head(head.as_bytes(), content_type, expected)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn html_is_recognised_after_a_bom_whitespace_and_comments() {
        for head in [
            "<!DOCTYPE html><html>",
            "\u{feff} \r\n<HTML lang=en>",
            "<head><title>x</title></head>",
            "<body>Suspended</body>",
            "<!-- banner -->\n<!doctype HTML>",
            "<!----><!-- a --> <html>",
        ] {
            assert!(looks_like_html(head.as_bytes()), "{head}");
        }
        for head in [
            "#EXTM3U\n",
            "<?xml version=\"1.0\"?><tv>",
            "<!-- generated --><tv>",
            "<!-- a comment that never ends <html>",
            "<header-less text",
            "<htmlish>",
            "",
        ] {
            assert!(!looks_like_html(head.as_bytes()), "{head}");
        }
    }

    #[test]
    fn json_is_recognised_but_bracketed_text_is_not() {
        for head in [
            "{\"a\":1}",
            "{ }",
            "[]",
            "[ {\"a\":1}]",
            "[1,2]",
            "[\"x\"]",
            "{",
        ] {
            assert!(looks_like_json(head.as_bytes()), "{head}");
        }
        for head in ["[NO PUBLIC STREAM]", "[ Channel ]", "{name}", "#EXTM3U", ""] {
            assert!(!looks_like_json(head.as_bytes()), "{head}");
        }
    }

    #[test]
    fn a_text_html_content_type_refuses_only_what_does_not_look_expected() {
        let html = Some("text/html; charset=UTF-8");
        assert_eq!(
            refused("#EXTM3U\n#EXTINF:-1,A\n", html, Expected::Playlist),
            None
        );
        assert_eq!(refused("http://h/a.ts\n", html, Expected::Playlist), None);
        assert_eq!(
            refused("<?xml version=\"1.0\"?>", html, Expected::Guide),
            None
        );
        assert_eq!(refused("<!-- grabber --><tv>", html, Expected::Guide), None);
        assert_eq!(
            refused("[{\"num\":1}]", html, Expected::Json("stream list")),
            None
        );
        assert_eq!(refused("", html, Expected::Playlist), None);
        let message = refused("Access denied", html, Expected::Playlist).unwrap();
        assert!(
            message.contains("HTML page instead of a playlist"),
            "{message}"
        );
        assert!(refused("Forbidden", html, Expected::Json("JSON answer")).is_some());
        assert!(refused("Access denied", Some("text/plain"), Expected::Playlist).is_none());
    }

    #[test]
    fn json_is_refused_only_where_a_playlist_or_guide_was_expected() {
        let message = refused("{\"error\":1}", None, Expected::Playlist).unwrap();
        assert!(message.contains("JSON, not a playlist"), "{message}");
        let message = refused("[]", Some("application/json"), Expected::Guide).unwrap();
        assert!(message.contains("JSON, not a guide"), "{message}");
        assert_eq!(
            refused("{\"user_info\":{}}", None, Expected::Json("JSON answer")),
            None
        );
    }
}
