//! All channels across sources: list, one, groups.
//!
//! A channel's URLs are shown with provider credentials masked (`tvarr_core::redact_url`):
//! Xtream panels put the user name and password into every stream path.

use std::collections::BTreeMap;

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use tvarr_core::{Channel, ChannelId, ChannelQuery, StreamSourceId, redact_text, redact_url};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams, Params, check_text};
use crate::state::AppState;

/// A channel as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// Stable id.
    pub id: ChannelId,
    /// Source.
    pub source_id: StreamSourceId,
    /// Position in the provider's list.
    pub position: u32,
    /// Display name.
    pub name: String,
    /// `tvg-id`.
    pub tvg_id: Option<String>,
    /// `tvg-name`.
    pub tvg_name: Option<String>,
    /// `tvg-logo`.
    pub tvg_logo: Option<String>,
    /// `group-title`.
    pub group_title: Option<String>,
    /// `tvg-chno`.
    pub tvg_chno: Option<String>,
    /// `tvg-shift`.
    pub tvg_shift: Option<String>,
    /// Stream URL, with provider credentials masked as `***`.
    pub stream_url: String,
    /// `catchup`.
    pub catchup: Option<String>,
    /// `catchup-days`.
    pub catchup_days: Option<String>,
    /// `catchup-source`, with provider credentials masked.
    pub catchup_source: Option<String>,
    /// Other attributes, by name (URLs among them with provider credentials masked).
    pub extra: BTreeMap<String, String>,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        let d = c.data;
        Self {
            id: c.id,
            source_id: c.source_id,
            position: c.position,
            // A mapping rule may copy a URL (`source_url`) into any text field.
            name: redact_text(&d.name),
            tvg_id: d.tvg_id,
            tvg_name: d.tvg_name.as_deref().map(redact_text),
            tvg_logo: d.tvg_logo.as_deref().map(redact_url),
            group_title: d.group_title.as_deref().map(redact_text),
            tvg_chno: d.tvg_chno,
            tvg_shift: d.tvg_shift,
            stream_url: redact_url(&d.stream_url),
            catchup: d.catchup,
            catchup_days: d.catchup_days,
            catchup_source: d.catchup_source.as_deref().map(redact_url),
            extra: d
                .extra
                .into_iter()
                .map(|(name, value)| {
                    let value = if value.contains("://") {
                        redact_url(&value)
                    } else {
                        value
                    };
                    (name, value)
                })
                .collect(),
        }
    }
}

/// Channel filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChannelFilter {
    /// Only this source.
    pub source_id: Option<StreamSourceId>,
    /// Only this group (exact).
    pub group: Option<String>,
    /// Name contains this text (case-insensitive).
    pub q: Option<String>,
}

impl ChannelFilter {
    fn query(&self) -> ApiResult<ChannelQuery> {
        Ok(ChannelQuery {
            source_ids: self.source_id.into_iter().collect(),
            group: check_text("group", self.group.as_deref())?,
            q: check_text("q", self.q.as_deref())?,
            tvg_id: None,
        })
    }
}

/// Channels of every source, filterable by source, group and name.
#[utoipa::path(tag = "channels", params(ChannelFilter, PageParams), responses((status = 200, body = ListResponse<ChannelView>)))]
#[get("/channels")]
pub async fn list_channels(
    state: web::Data<AppState>,
    filter: Params<ChannelFilter>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ChannelView>>> {
    let page = state
        .repos
        .channels
        .list(&filter.query()?, page.request()?)
        .await?;
    Ok(web::Json(ListResponse::from_page(page, ChannelView::from)))
}

/// A group and how many channels it has.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCount {
    /// Group title.
    pub name: String,
    /// Channels in it.
    pub count: u64,
}

/// Group titles with their channel counts, as `{items, total}` like every list (all groups
/// in one page; `total` is the number of groups).
#[utoipa::path(tag = "channels", params(ChannelFilter), responses((status = 200, body = ListResponse<GroupCount>)))]
#[get("/channels/groups")]
pub async fn channel_groups(
    state: web::Data<AppState>,
    filter: Params<ChannelFilter>,
) -> ApiResult<web::Json<ListResponse<GroupCount>>> {
    let groups = state.repos.channels.groups(&filter.query()?).await?;
    Ok(web::Json(ListResponse::all(
        groups
            .into_iter()
            .map(|(name, count)| GroupCount { name, count })
            .collect(),
    )))
}

/// One channel.
#[utoipa::path(tag = "channels", params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/channels/{id}")]
pub async fn get_channel(
    state: web::Data<AppState>,
    id: web::Path<ChannelId>,
) -> ApiResult<web::Json<ChannelView>> {
    Ok(web::Json(
        state.repos.channels.get(id.into_inner()).await?.into(),
    ))
}
