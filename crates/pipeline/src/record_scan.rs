//! Walking every current channel or programme of some sources, with the context fields
//! expressions read (source name and kind): what the API's filter and mapping previews run an
//! unsaved expression over.
//!
//! Both walks read the way the generation does, so none gets slower the further it has come:
//! channels source by source, each page a seek to its first position (storage answers a
//! listing filtered by source alone that way), and programmes through
//! [`ProgrammeRepository::scan`]'s keyset cursor, one cursor per source, merged.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use tvarr_core::{
    Channel, ChannelQuery, ChannelRepository, EpgSource, PageRequest, Programme, ProgrammeData,
    ProgrammeRepository, RepoError, RepoResult, StreamSource,
};

use crate::{ChannelContext, ProgrammeContext};

/// Calls `visit` for every current channel of `sources`, ordered by source id then by
/// position in the source, reading `page_size` channels at a time. Returns how many channels
/// were visited.
pub async fn scan_channels(
    channels: &dyn ChannelRepository,
    sources: &[StreamSource],
    page_size: u32,
    mut visit: impl FnMut(Channel, ChannelContext<'_>),
) -> RepoResult<u64> {
    let page_size = u64::from(page_size.max(1));
    let mut sources: Vec<(String, &StreamSource)> =
        sources.iter().map(|s| (s.id.to_string(), s)).collect();
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    sources.dedup_by(|a, b| a.0 == b.0);
    let mut seen = 0;
    for (_, source) in sources {
        let query = ChannelQuery {
            source_ids: vec![source.id],
            ..ChannelQuery::default()
        };
        let mut offset = 0u64;
        loop {
            let page = channels
                .list(&query, PageRequest::new(page_size, offset))
                .await?;
            let n = page.items.len() as u64;
            offset += n;
            for channel in page.items {
                let context = ChannelContext {
                    source_name: Some(&source.name),
                    source_type: Some(source.source_type),
                    source_url: Some(&source.url),
                    channel_number: None,
                };
                visit(channel, context);
            }
            if n < page_size || offset >= page.total {
                break;
            }
        }
        seen += offset;
    }
    Ok(seen)
}

/// One source's side of the programme merge: the batch read and where the next one starts.
struct SourceCursor<'a> {
    source: &'a EpgSource,
    /// The source id as storage orders it, for ties between sources.
    key: String,
    batch: VecDeque<ProgrammeData>,
    /// The cursor of the next batch (`None` before the first).
    next: Option<String>,
    /// Whether every batch has been read.
    exhausted: bool,
}

/// Calls `visit` for every current programme of `sources`, ordered by guide channel, start,
/// then source id (and by position within a source), reading `batch_size` programmes of each
/// source at a time. A source deleted during the walk ends its part of it; one whose guide
/// is replaced during it fails the walk (with [`ProgrammeRepository::scan`]'s conflict)
/// instead of mixing two guides. Returns how many programmes were visited.
pub async fn scan_programmes(
    programmes: &dyn ProgrammeRepository,
    sources: &[EpgSource],
    batch_size: u32,
    mut visit: impl FnMut(Programme, ProgrammeContext<'_>),
) -> RepoResult<u64> {
    let mut cursors: Vec<SourceCursor<'_>> = sources
        .iter()
        .map(|source| SourceCursor {
            source,
            key: source.id.to_string(),
            batch: VecDeque::new(),
            next: None,
            exhausted: false,
        })
        .collect();
    cursors.sort_by(|a, b| a.key.cmp(&b.key));
    cursors.dedup_by(|a, b| a.key == b.key);
    let mut seen = 0;
    loop {
        for cursor in &mut cursors {
            if cursor.batch.is_empty() && !cursor.exhausted {
                fill(programmes, cursor, batch_size).await?;
            }
        }
        // The cursor whose next programme comes first: channel, start, then source.
        // (The cursors are in source order, and `min_by_key` keeps the first of equals.)
        let first = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.batch.front().map(|p| ((&p.channel, p.start), i)))
            .min_by_key(|(key, _)| *key)
            .map(|(_, i)| i);
        let Some(first) = first.and_then(|i| cursors.get_mut(i)) else {
            return Ok(seen);
        };
        let Some(data) = first.batch.pop_front() else {
            return Ok(seen);
        };
        let source = first.source;
        let context = ProgrammeContext {
            source_name: Some(&source.name),
            source_type: Some(source.source_type),
        };
        visit(
            Programme {
                source_id: source.id,
                data,
            },
            context,
        );
        seen += 1;
    }
}

/// The window that holds every programme: years 1000 to 9999. Not chrono's whole range: storage
/// may order times as text (SQLite does), where a year of more than four digits is out of
/// order (`+262142-…` sorts before `2024-…`); and MariaDB's `DATETIME` holds years 1000 to
/// 9999 only (a bound outside it matched nothing there).
const ALL_TIME: (DateTime<Utc>, DateTime<Utc>) = (
    match DateTime::from_timestamp(-30_610_224_000, 0) {
        Some(t) => t,
        None => DateTime::<Utc>::MIN_UTC,
    },
    match DateTime::from_timestamp(253_402_300_799, 0) {
        Some(t) => t,
        None => DateTime::<Utc>::MAX_UTC,
    },
);

/// Reads `cursor`'s next batch (its first when it has read none).
async fn fill(
    programmes: &dyn ProgrammeRepository,
    cursor: &mut SourceCursor<'_>,
    batch_size: u32,
) -> RepoResult<()> {
    let batch = match programmes
        .scan(
            cursor.source.id,
            ALL_TIME.0,
            ALL_TIME.1,
            cursor.next.as_deref(),
            batch_size.max(1),
        )
        .await
    {
        Ok(batch) => batch,
        // Deleted since it was looked up: it has no programmes any more.
        Err(RepoError::NotFound { .. }) => {
            cursor.exhausted = true;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // An empty batch ends the source even if it names a next one.
    cursor.exhausted = batch.items.is_empty() || batch.next.is_none();
    cursor.next = batch.next;
    cursor.batch = batch.items.into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_years_1000_to_9999() {
        assert_eq!(ALL_TIME.0.to_rfc3339(), "1000-01-01T00:00:00+00:00");
        assert_eq!(ALL_TIME.1.to_rfc3339(), "9999-12-31T23:59:59+00:00");
    }
}
