//! All channels across sources: list, one, groups.

use std::collections::BTreeMap;

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use tvarr_core::{Channel, ChannelId, ChannelQuery, StreamSourceId};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams};
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
    /// Stream URL.
    pub stream_url: String,
    /// `catchup`.
    pub catchup: Option<String>,
    /// `catchup-days`.
    pub catchup_days: Option<String>,
    /// `catchup-source`.
    pub catchup_source: Option<String>,
    /// Other attributes, by name.
    pub extra: BTreeMap<String, String>,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        let d = c.data;
        Self {
            id: c.id,
            source_id: c.source_id,
            position: c.position,
            name: d.name,
            tvg_id: d.tvg_id,
            tvg_name: d.tvg_name,
            tvg_logo: d.tvg_logo,
            group_title: d.group_title,
            tvg_chno: d.tvg_chno,
            tvg_shift: d.tvg_shift,
            stream_url: d.stream_url,
            catchup: d.catchup,
            catchup_days: d.catchup_days,
            catchup_source: d.catchup_source,
            extra: d.extra.into_iter().collect(),
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
    fn query(&self) -> ChannelQuery {
        ChannelQuery {
            source_ids: self.source_id.into_iter().collect(),
            group: self.group.clone().filter(|g| !g.is_empty()),
            q: self.q.clone().filter(|q| !q.trim().is_empty()),
        }
    }
}

/// Channels of every source, filterable by source, group and name.
#[utoipa::path(tag = "channels", params(ChannelFilter, PageParams), responses((status = 200, body = ListResponse<ChannelView>)))]
#[get("/channels")]
pub async fn list_channels(
    state: web::Data<AppState>,
    filter: web::Query<ChannelFilter>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<ListResponse<ChannelView>>> {
    let page = state
        .repos
        .channels
        .list(&filter.query(), page.request())
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

/// Group titles with their channel counts.
#[utoipa::path(tag = "channels", params(ChannelFilter), responses((status = 200, body = Vec<GroupCount>)))]
#[get("/channels/groups")]
pub async fn channel_groups(
    state: web::Data<AppState>,
    filter: web::Query<ChannelFilter>,
) -> ApiResult<web::Json<Vec<GroupCount>>> {
    let groups = state.repos.channels.groups(&filter.query()).await?;
    Ok(web::Json(
        groups
            .into_iter()
            .map(|(name, count)| GroupCount { name, count })
            .collect(),
    ))
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
