//! Walking every ingested channel or programme, page by page, with the context fields
//! expressions read (source name and kind), for the filter and mapping test endpoints.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use tvarr_core::{
    Channel, ChannelQuery, EpgSource, EpgSourceId, PageRequest, Programme, ProgrammeQuery,
    RepoError, StreamSource, StreamSourceId,
};
use tvarr_pipeline::{ChannelContext, ProgrammeContext};

use crate::error::ApiResult;
use crate::state::AppState;

/// How many records are read from storage at a time.
const SCAN_PAGE: u64 = 5_000;

/// Calls `visit` for every current channel of `source_ids` (all sources when empty), in
/// source order, with its context. Returns how many channels were visited. Each source is
/// looked up once; a source deleted meanwhile reads as having no name.
pub(crate) async fn scan_channels(
    state: &AppState,
    source_ids: Vec<StreamSourceId>,
    mut visit: impl FnMut(Channel, ChannelContext<'_>),
) -> ApiResult<u64> {
    let query = ChannelQuery {
        source_ids,
        ..Default::default()
    };
    let mut sources: HashMap<StreamSourceId, Option<StreamSource>> = HashMap::new();
    let mut seen = 0;
    loop {
        let page = state
            .repos
            .channels
            .list(&query, PageRequest::new(SCAN_PAGE, seen))
            .await?;
        if page.items.is_empty() {
            break;
        }
        for channel in &page.items {
            if let Entry::Vacant(slot) = sources.entry(channel.source_id) {
                slot.insert(
                    match state.repos.stream_sources.get(channel.source_id).await {
                        Ok(s) => Some(s),
                        Err(RepoError::NotFound { .. }) => None,
                        Err(e) => return Err(e.into()),
                    },
                );
            }
        }
        seen += page.items.len() as u64;
        for channel in page.items {
            let source = sources.get(&channel.source_id).and_then(Option::as_ref);
            let context = ChannelContext {
                source_name: source.map(|s| s.name.as_str()),
                source_type: source.map(|s| s.source_type),
                source_url: source.map(|s| s.url.as_str()),
                channel_number: None,
            };
            visit(channel, context);
        }
        if seen >= page.total {
            break;
        }
    }
    Ok(seen)
}

/// Like [`scan_channels`], for every current programme of `source_ids`.
pub(crate) async fn scan_programmes(
    state: &AppState,
    source_ids: Vec<EpgSourceId>,
    mut visit: impl FnMut(Programme, ProgrammeContext<'_>),
) -> ApiResult<u64> {
    let query = ProgrammeQuery {
        source_ids,
        ..Default::default()
    };
    let mut sources: HashMap<EpgSourceId, Option<EpgSource>> = HashMap::new();
    let mut seen = 0;
    loop {
        let page = state
            .repos
            .programmes
            .list(&query, PageRequest::new(SCAN_PAGE, seen))
            .await?;
        if page.items.is_empty() {
            break;
        }
        for programme in &page.items {
            if let Entry::Vacant(slot) = sources.entry(programme.source_id) {
                slot.insert(
                    match state.repos.epg_sources.get(programme.source_id).await {
                        Ok(s) => Some(s),
                        Err(RepoError::NotFound { .. }) => None,
                        Err(e) => return Err(e.into()),
                    },
                );
            }
        }
        seen += page.items.len() as u64;
        for programme in page.items {
            let source = sources.get(&programme.source_id).and_then(Option::as_ref);
            let context = ProgrammeContext {
                source_name: source.map(|s| s.name.as_str()),
                source_type: source.map(|s| s.source_type),
            };
            visit(programme, context);
        }
        if seen >= page.total {
            break;
        }
    }
    Ok(seen)
}
