//! Source preparation: opening a stream source's download (an M3U playlist, or an Xtream
//! panel's account, categories and live streams) and the parse that turns it into channels.

use std::io;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tvarr_core::{Channel, StreamSource};
use url::Url;

use crate::error::IngestError;
use crate::fetch::{Download, FetchRequest, Fetcher, from_io};
use crate::m3u::{M3uOptions, M3uReader};
use crate::skip::{SkipReason, SkipReport};
use crate::xtream::{
    Category, LiveStream, XtreamAccount, XtreamEndpoint, category_names, read_array,
};

use super::identities::ChannelIdentities;
use super::report::IngestSettings;
use super::run::{ParseFn, ParseSummary};
use super::sniff::{Expected, check_head};

pub(super) async fn prepare_m3u(
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
        let records = identities.count();
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

pub(super) async fn prepare_xtream(
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
                    // The listing's reader stops on a parse error: the cancel travels as
                    // the I/O error a stopped download gives, recovered by `from_io`.
                    if let Some(batch) = identities.push(data) {
                        tx.blocking_send(batch)
                            .map_err(|_| io::Error::other(IngestError::Cancelled))?;
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
        let records = identities.count();
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

/// Fetches and refuses an error page served in place of the expected document: an HTML page
/// (by its first bytes, or by `Content-Type: text/html` when the bytes are not clearly the
/// expected document), or JSON where a playlist or a guide was expected.
pub(super) async fn open_checked(
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
