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

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tvarr_core::{
    Channel, ChannelData, ChannelRepository, EpgChannel, EpgSource, EpgSourceType, IngestOutcome,
    IngestState, ProgrammeData, ProgrammeRepository, StreamSource, StreamSourceId,
    StreamSourceType,
};
use url::Url;

use crate::error::IngestError;
use crate::fetch::{Download, FetchRequest, Fetcher, from_io};
use crate::m3u::{M3uOptions, M3uReader, PlaylistHeader};
use crate::skip::{SkipReason, SkipReport};
use crate::xmltv::{XmltvItem, XmltvOptions, XmltvReader};
use crate::xtream::{
    Category, LiveStream, XtreamAccount, XtreamEndpoint, category_names, for_each_in_array,
};

/// Receives progress and says whether to go on.
pub trait IngestProgress: Send + Sync {
    /// `stage` is `download` (bytes) or `channels` / `programmes` (records); `total` is known
    /// for downloads with a length. Returns `false` to ask the ingest to stop.
    fn report(&self, stage: &str, done: u64, total: Option<u64>) -> bool;
}

/// Progress that nobody watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl IngestProgress for NoProgress {
    fn report(&self, _stage: &str, _done: u64, _total: Option<u64>) -> bool {
        true
    }
}

/// Tuning and guard settings.
#[derive(Clone, Debug)]
pub struct IngestSettings {
    /// Records per batch written to the repository.
    pub batch_size: usize,
    /// Batches buffered between the parser and the writer.
    pub queued_batches: usize,
    /// A result smaller than `(1 - max_shrink) ×` the current count is suspicious and not
    /// stored (0.5: losing more than half the channels).
    pub max_shrink: f64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            batch_size: 2_000,
            queued_batches: 4,
            max_shrink: 0.5,
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
    let previous = match channels.count(source.id).await {
        Ok(count) => count,
        Err(e) => return failed_report(0, IngestError::Repo(e), 0),
    };
    let request = FetchRequest {
        location: source.url.clone(),
        user_agent: source.user_agent.clone(),
        headers: source.headers.clone(),
    };
    let prepared = match source.source_type {
        StreamSourceType::M3u => prepare_m3u(source, fetcher, &request, settings).await,
        StreamSourceType::Xtream => prepare_xtream(source, fetcher, &request, settings).await,
    };
    let (download, parse) = match prepared {
        Ok(prepared) => prepared,
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
    let previous = match programmes.count(source.id).await {
        Ok(count) => count,
        Err(e) => return failed_report(0, IngestError::Repo(e), 0),
    };
    let options =
        match XmltvOptions::for_source(source.time_offset_minutes, source.timezone.as_deref()) {
            Ok(options) => options,
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
    let request = FetchRequest {
        location,
        user_agent: source.user_agent.clone(),
        headers: source.headers.clone(),
    };
    let download = match open_checked(fetcher, &request, "guide").await {
        Ok(download) => download,
        Err(e) => return failed_report(previous, e, 0),
    };
    let replacement = match programmes.begin_replace(source.id).await {
        Ok(replacement) => GuideSink(replacement),
        Err(e) => return failed_report(previous, IngestError::Repo(e), 0),
    };
    let batch_size = settings.batch_size.max(1);
    let parse: ParseFn<GuideBatch> =
        Box::new(move |input, tx| parse_guide(input, tx, options, batch_size));
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
    let download = open_checked(fetcher, request, "playlist").await?;
    let base_url = Url::parse(source.url.trim()).ok().or_else(|| {
        std::path::Path::new(source.url.trim())
            .canonicalize()
            .ok()
            .and_then(|p| Url::from_file_path(p).ok())
    });
    let source_id = source.id;
    let batch_size = settings.batch_size.max(1);
    let parse: ParseFn<Vec<Channel>> = Box::new(move |input, tx| {
        let mut reader = M3uReader::new(input, M3uOptions { base_url });
        let mut identities = ChannelIdentities::new(source_id, batch_size);
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
        "stream list",
    )
    .await?;
    let source_id = source.id;
    let batch_size = settings.batch_size.max(1);
    let parse: ParseFn<Vec<Channel>> = Box::new(move |input, tx| {
        let mut identities = ChannelIdentities::new(source_id, batch_size);
        let mut skipped = SkipReport::default();
        let mut element = 0u64;
        let odd = for_each_in_array::<LiveStream, _, _>(input, |stream| {
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
        for _ in 0..odd {
            skipped.record(SkipReason::StreamWithoutId, 0, "(not an object)");
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

/// Reads a small JSON answer (authentication, categories) whole.
async fn read_small_json<T: serde::de::DeserializeOwned>(
    fetcher: &dyn Fetcher,
    request: &FetchRequest,
) -> Result<T, IngestError> {
    let mut download = open_checked(fetcher, request, "JSON answer").await?;
    let mut body = Vec::new();
    download
        .body
        .read_to_end(&mut body)
        .await
        .map_err(from_io)?;
    Ok(serde_json::from_slice(&body)?)
}

/// Fetches and refuses an HTML page served in place of the expected document.
async fn open_checked(
    fetcher: &dyn Fetcher,
    request: &FetchRequest,
    expected: &'static str,
) -> Result<Download, IngestError> {
    let download = fetcher.fetch(request).await?;
    let mut reader = BufReader::with_capacity(64 * 1024, download.body);
    let head = reader.fill_buf().await.map_err(from_io)?;
    if looks_like_html(head) {
        return Err(IngestError::HtmlPage { expected });
    }
    Ok(Download {
        body: Box::pin(reader),
        ..download
    })
}

/// `<!DOCTYPE html` or `<html` at the start (after a BOM and whitespace), any case.
pub fn looks_like_html(head: &[u8]) -> bool {
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    let head = head.trim_ascii_start();
    let starts = |prefix: &[u8]| {
        head.len() >= prefix.len() && head[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    starts(b"<!doctype html") || starts(b"<html")
}

/// Gives parsed channels their identity and position, and groups them in batches.
struct ChannelIdentities {
    source_id: StreamSourceId,
    /// Occurrences per key, by a 64-bit hash of the key (plenty for one source's keys, and
    /// far smaller than the keys themselves).
    seen: HashMap<u64, u32>,
    batch: Vec<Channel>,
    batch_size: usize,
    count: u64,
}

impl ChannelIdentities {
    fn new(source_id: StreamSourceId, batch_size: usize) -> Self {
        Self {
            source_id,
            seen: HashMap::new(),
            batch: Vec::with_capacity(batch_size),
            batch_size,
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
        self.batch
            .push(Channel::new(self.source_id, key, position, data));
        if self.batch.len() >= self.batch_size {
            return self.take();
        }
        None
    }

    fn take(&mut self) -> Option<Vec<Channel>> {
        if self.batch.is_empty() {
            None
        } else {
            Some(std::mem::replace(
                &mut self.batch,
                Vec::with_capacity(self.batch_size),
            ))
        }
    }
}

fn parse_guide(
    input: Box<dyn BufRead + Send>,
    tx: mpsc::Sender<GuideBatch>,
    options: XmltvOptions,
    batch_size: usize,
) -> Result<ParseSummary, IngestError> {
    let mut reader = XmltvReader::new(input, options)?;
    let mut channels = Vec::new();
    let mut programmes = Vec::with_capacity(batch_size);
    let send = |batch| tx.blocking_send(batch).map_err(|_| IngestError::Cancelled);
    while let Some(item) = reader.next_item()? {
        match item {
            XmltvItem::Channel(channel) => {
                channels.push(channel);
                if channels.len() >= batch_size {
                    send(GuideBatch::Channels(std::mem::take(&mut channels)))?;
                }
            }
            XmltvItem::Programme(programme) => {
                programmes.push(programme);
                if programmes.len() >= batch_size {
                    let full = std::mem::replace(&mut programmes, Vec::with_capacity(batch_size));
                    send(GuideBatch::Programmes(full))?;
                }
            }
        }
    }
    if !channels.is_empty() {
        send(GuideBatch::Channels(channels))?;
    }
    if !programmes.is_empty() {
        send(GuideBatch::Programmes(programmes))?;
    }
    let stats = reader.stats();
    Ok(ParseSummary {
        records: stats.programmes,
        skipped: stats.skipped,
        playlist: None,
        lossy_lines: 0,
    })
}

/// Runs the parser on a blocking thread and the writer here; commits or aborts.
async fn run_pipeline<S: Replacement>(
    download: Download,
    parse: ParseFn<S::Batch>,
    mut replacement: S,
    previous: u64,
    progress: &dyn IngestProgress,
    settings: &IngestSettings,
    stage: &'static str,
) -> IngestReport {
    let (tx, mut rx) = mpsc::channel::<S::Batch>(settings.queued_batches.max(1));
    let received = download.received.clone();
    let total = download.content_length;
    let bridge = SyncIoBridge::new(download.body);
    let parser = tokio::task::spawn_blocking(move || {
        let input: Box<dyn BufRead + Send> =
            Box::new(std::io::BufReader::with_capacity(256 * 1024, bridge));
        parse(input, tx)
    });

    let mut written = 0u64;
    let mut failure: Option<IngestError> = None;
    let mut cancelled = false;
    while let Some(batch) = rx.recv().await {
        let len = S::records(&batch);
        if let Err(e) = replacement.write(batch).await {
            failure = Some(e);
            break;
        }
        written += len;
        let go_on = progress.report("download", received.get(), total)
            && progress.report(stage, written, None);
        if !go_on {
            cancelled = true;
            break;
        }
    }
    // Stop the parser (its sends fail once the receiver is gone) and wait for it.
    drop(rx);
    let parsed = match parser.await {
        Ok(result) => result,
        Err(e) => Err(IngestError::Task(e.to_string())),
    };
    let bytes = received.get();
    let summary = match (failure, cancelled, parsed) {
        (_, true, _) => {
            replacement.abort().await;
            let mut report = failed_report(previous, IngestError::Cancelled, bytes);
            report.cancelled = true;
            return report;
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
    progress.report("download", bytes, total);
    let skipped_count = summary.skipped.total();
    let mut report = IngestReport {
        outcome: IngestOutcome {
            state: IngestState::Ok,
            at: Utc::now(),
            record_count: previous,
            skipped_count,
            error: None,
        },
        skipped: summary.skipped,
        parsed: summary.records,
        bytes,
        cancelled: false,
        playlist: summary.playlist,
        lossy_lines: summary.lossy_lines,
    };
    if summary.records == 0 {
        replacement.abort().await;
        report.outcome.state = IngestState::Failed;
        report.outcome.error = Some(format!("the source returned no {stage}"));
        return report;
    }
    let floor = (previous as f64) * (1.0 - settings.max_shrink.clamp(0.0, 1.0));
    if previous > 0 && (summary.records as f64) < floor {
        replacement.abort().await;
        report.outcome.state = IngestState::Suspicious;
        report.outcome.error = Some(format!(
            "the source shrank from {previous} to {} {stage} (more than {:.0} %); the previous data is kept",
            summary.records,
            settings.max_shrink * 100.0
        ));
        return report;
    }
    match replacement.commit().await {
        Ok(count) => {
            report.outcome.record_count = count;
            report
        }
        Err(e) => {
            report.outcome.state = IngestState::Failed;
            report.outcome.error = Some(e.to_string());
            report
        }
    }
}

fn failed_report(previous: u64, error: IngestError, bytes: u64) -> IngestReport {
    tracing::warn!(error = %error, "ingest failed; previous data kept");
    IngestReport {
        outcome: IngestOutcome {
            state: IngestState::Failed,
            at: Utc::now(),
            record_count: previous,
            skipped_count: 0,
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
