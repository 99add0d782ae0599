//! Programme guide queries.
//!
//! Every guide query works on a time window, and says which in its parameters: a programme
//! is in the window `from`..`to` when it ends after `from` and starts before `to` (so one
//! that is on at `from` counts). `/epg/programs` defaults to `from` now and `to` a day
//! after `from`; `/epg/now` takes one instant `at` (default now); `/epg/search` defaults to
//! `from` now (programmes that have ended are left out unless `from` is earlier) and no end.
//! Times are RFC 3339, in the years 1970 to 9999, and a window spans at most 366 days.

use actix_web::{get, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{EpgSourceId, Programme, ProgrammeQuery, redact_url};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::pagination::{ListResponse, PageParams, Params, check_text, check_time, check_window};
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
            icon: d.icon.as_deref().map(redact_url),
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
    /// Programmes starting before this time (RFC 3339); default `from` + 24 h; at most 366
    /// days after `from`.
    pub to: Option<DateTime<Utc>>,
    /// Only this EPG source.
    pub source_id: Option<EpgSourceId>,
}

/// Programmes in a time window (those ending after `from` and starting before `to`), by
/// channel and start.
#[utoipa::path(tag = "epg", params(ProgrammeFilter, PageParams), responses((status = 200, body = ListResponse<ProgrammeView>),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
#[get("/epg/programs")]
pub async fn list_programmes(
    state: web::Data<AppState>,
    filter: Params<ProgrammeFilter>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProgrammeView>>> {
    let page = page.request()?;
    let from = check_time("from", filter.from.unwrap_or_else(Utc::now))?;
    // `from` is in range, so a day later cannot overflow.
    let to = filter.to.unwrap_or(from + Duration::hours(24));
    let (from, to) = check_window(from, to)?;
    let query = ProgrammeQuery {
        source_ids: filter.source_id.into_iter().collect(),
        channel: check_text("channel_id", filter.channel_id.as_deref())?,
        from: Some(from),
        to: Some(to),
        q: None,
    };
    let page = state.repos.programmes.list(&query, page).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        ProgrammeView::from,
    )))
}

/// Which instant `/epg/now` looks at.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NowParams {
    /// The instant (RFC 3339); default now.
    pub at: Option<DateTime<Utc>>,
}

/// What is on at one instant (default now), on every guide channel: programmes that started
/// at or before `at` and end after it.
#[utoipa::path(tag = "epg", params(NowParams, PageParams), responses((status = 200, body = ListResponse<ProgrammeView>),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
#[get("/epg/now")]
pub async fn now_playing(
    state: web::Data<AppState>,
    params: Params<NowParams>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProgrammeView>>> {
    let page = page.request()?;
    let at = check_time("at", params.at.unwrap_or_else(Utc::now))?;
    let query = ProgrammeQuery {
        from: Some(at),
        to: Some(at + Duration::seconds(1)),
        ..Default::default()
    };
    let page = state.repos.programmes.list(&query, page).await?;
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
    /// Programmes ending after this time (RFC 3339); default now, so programmes that have
    /// ended are left out unless this is earlier.
    pub from: Option<DateTime<Utc>>,
    /// Programmes starting before this time (RFC 3339); default no end. At most 366 days
    /// after `from`.
    pub to: Option<DateTime<Utc>>,
}

/// Programmes whose title contains the text, in the window `from` (default now) .. `to`
/// (default no end).
#[utoipa::path(tag = "epg", params(SearchParams, PageParams), responses((status = 200, body = ListResponse<ProgrammeView>),
    (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
#[get("/epg/search")]
pub async fn search_programmes(
    state: web::Data<AppState>,
    search: Params<SearchParams>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ProgrammeView>>> {
    let page = page.request()?;
    let Some(q) = check_text("q", Some(search.q.as_str()))? else {
        return Err(ApiError::parameter("q", "must not be empty"));
    };
    let from = check_time("from", search.from.unwrap_or_else(Utc::now))?;
    let to = match search.to {
        Some(to) => Some(check_window(from, to)?.1),
        None => None,
    };
    let query = ProgrammeQuery {
        from: Some(from),
        to,
        q: Some(q.trim().to_string()),
        ..Default::default()
    };
    let page = state.repos.programmes.list(&query, page).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        ProgrammeView::from,
    )))
}
