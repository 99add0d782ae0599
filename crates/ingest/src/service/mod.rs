//! The ingest service: fetch → parse → store, pipelined, with a guard that keeps the last good
//! data when a fetch looks wrong.
//!
//! The parser runs on a blocking thread, reading the download through a bridge while it is
//! still arriving, and hands batches to the writer over a bounded channel; the writer feeds
//! them to the repository's replacement. Memory stays bounded by a few batches whatever the
//! size of the source. The replacement is committed only when the whole source was read and
//! passed the guard; otherwise it is aborted and the previous data stays current.
//!
//! Map:
//! - `progress`: [`IngestStage`], [`ProgressSnapshot`], [`IngestProgress`], and the watch that
//!   stops waiting for a download when progress says stop.
//! - `report`: [`IngestSettings`] and [`IngestReport`], and the reports of an early end.
//! - `sniff`: content sniffing, an error page told from the expected document.
//! - `sources`: opening an M3U or Xtream source and its parse into channels.
//! - `identities`: each channel's key and position within its source (pure).
//! - `guide`: the XMLTV parse into batches of guide channels and programmes.
//! - `sink`: the repository's replacement, for channels and guides alike.
//! - `run`: the pipelined parse and write, and the commit or abort.
//! - `guard`: the shrink guard that keeps the last good data (pure).

mod guard;
mod guide;
mod identities;
mod progress;
mod report;
mod run;
mod sink;
mod sniff;
mod sources;

use tokio_util::sync::CancellationToken;
use tvarr_core::{
    ChannelRepository, EpgSource, EpgSourceType, ProgrammeRepository, StreamSource,
    StreamSourceType,
};

use crate::error::IngestError;
use crate::fetch::{FetchRequest, Fetcher};
use crate::xmltv::XmltvOptions;
use crate::xtream::XtreamEndpoint;

pub use progress::{IngestProgress, IngestStage, NoProgress, PROGRESS_INTERVAL, ProgressSnapshot};
pub use report::{IngestReport, IngestSettings};
pub use sniff::looks_like_html;

use guide::parse_guide;
use progress::until_cancelled;
use report::{Previous, cancelled_report, failed_report};
use run::{ParseFn, run_pipeline};
use sink::{ChannelSink, GuideBatch, GuideSink};
use sniff::Expected;
use sources::{open_checked, prepare_m3u, prepare_xtream};

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
            Err(e) => return failed_report(previous, e.into(), 0),
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
                Err(e) => return failed_report(previous, e.into(), 0),
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
