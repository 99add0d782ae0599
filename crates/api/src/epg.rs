//! Programme guide queries.

use actix_web::{get, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{EpgSourceId, Programme, ProgrammeQuery};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::pagination::{ListResponse, PageParams};
use crate::state::AppState;

/// A programme as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgrammeView {
    /// EPG source.
    pub source_id: EpgSourceId,
    /// Guide channel id.
    pub channel_id: String,
    /// Start (UTC).
    pub start: DateTime<Utc>,
    /// Stop (UTC).
    pub stop: DateTime<Utc>,
    /// Main title.
    pub title: String,
    /// Episode title.
    pub sub_title: Option<String>,
    /// Main description.
    pub description: Option<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Season, from 1.
    pub season: Option<u32>,
    /// Episode, from 1.
    pub episode: Option<u32>,
    /// Icon URL.
    pub icon: Option<String>,
}

impl From<Programme> for ProgrammeView {
    fn from(p: Programme) -> Self {
        let d = p.data;
        Self {
            source_id: p.source_id,
            title: d.title().to_string(),
            description: d.description().map(str::to_string),
            sub_title: d.sub_titles.into_iter().next().map(|t| t.value),
            categories: d.categories.into_iter().map(|c| c.value).collect(),
            channel_id: d.channel,
            start: d.start,
            stop: d.stop,
            season: d.season,
            episode: d.episode,
            icon: d.icon,
        }
    }
}

/// Programme filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgrammeFilter {
    /// Only this guide channel id.
    pub channel_id: Option<String>,
    /// Programmes ending after this time (RFC 3339); default now.
    pub from: Option<DateTime<Utc>>,
    /// Programmes starting before this time (RFC 3339); default `from` + 24 h.
    pub to: Option<DateTime<Utc>>,
    /// Only this EPG source.
    pub source_id: Option<EpgSourceId>,
}

/// Programmes in a time window, by channel and start.
#[utoipa::path(tag = "epg", params(ProgrammeFilter, PageParams), responses((status = 200, body = ListResponse<ProgrammeView>)))]
#[get("/epg/programs")]
pub async fn list_programmes(
    state: web::Data<AppState>,
    filter: web::Query<ProgrammeFilter>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProgrammeView>>> {
    let from = filter.from.unwrap_or_else(Utc::now);
    let to = filter.to.unwrap_or(from + Duration::hours(24));
    if to <= from {
        return Err(ApiError::field("to", "must be later than `from`"));
    }
    let query = ProgrammeQuery {
        source_ids: filter.source_id.into_iter().collect(),
        channel: filter.channel_id.clone(),
        from: Some(from),
        to: Some(to),
        q: None,
    };
    let page = state.repos.programmes.list(&query, page.request()).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        ProgrammeView::from,
    )))
}

/// What is on now, on every guide channel.
#[utoipa::path(tag = "epg", params(PageParams), responses((status = 200, body = ListResponse<ProgrammeView>)))]
#[get("/epg/now")]
pub async fn now_playing(
    state: web::Data<AppState>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProgrammeView>>> {
    let now = Utc::now();
    let query = ProgrammeQuery {
        from: Some(now),
        to: Some(now + Duration::seconds(1)),
        ..Default::default()
    };
    let page = state.repos.programmes.list(&query, page.request()).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        ProgrammeView::from,
    )))
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Title contains this text (case-insensitive).
    pub q: String,
}

/// Programmes whose title contains the text, from now on.
#[utoipa::path(tag = "epg", params(SearchParams, PageParams), responses((status = 200, body = ListResponse<ProgrammeView>)))]
#[get("/epg/search")]
pub async fn search_programmes(
    state: web::Data<AppState>,
    search: web::Query<SearchParams>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProgrammeView>>> {
    let q = search.q.trim();
    if q.is_empty() {
        return Err(ApiError::field("q", "must not be empty"));
    }
    let query = ProgrammeQuery {
        from: Some(Utc::now()),
        q: Some(q.to_string()),
        ..Default::default()
    };
    let page = state.repos.programmes.list(&query, page.request()).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        ProgrammeView::from,
    )))
}
