//! Stream sources and EPG sources: CRUD, ingest, and a source's channels.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    ChannelQuery, EpgSource, EpgSourceId, EpgSourceInput, EpgSourceType, FieldError, IngestState,
    JobKind, NewJob, PageRequest, REDACTED, RepoError, Secret, StreamSource, StreamSourceId,
    StreamSourceInput, StreamSourceType, is_secret_header, local_file, redact_text, redact_url,
    schedule,
};
use utoipa::ToSchema;

use crate::channels::ChannelView;
use crate::error::{ApiError, ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::state::{ApiSettings, AppState};

/// The body that creates or replaces a stream source.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSourceBody {
    /// A name for people.
    pub name: String,
    /// `m3u` or `xtream`.
    pub source_type: StreamSourceType,
    /// Playlist URL or absolute path (M3U), or server base URL (Xtream).
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Xtream password. Write-only: never returned.
    pub password: Option<String>,
    /// Cron expression (5 or 6 fields) for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether the source is used (default true).
    pub enabled: Option<bool>,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra HTTP headers sent to the provider.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How many connections the provider account allows at once (1 to 1000; absent or null:
    /// no limit). The relay refuses a channel of this source, with a 503, while the source has
    /// that many provider connections open.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_connections: Option<u32>,
}

impl StreamSourceBody {
    fn into_input(self, settings: &ApiSettings) -> ApiResult<StreamSourceInput> {
        let input = StreamSourceInput {
            name: self.name.trim().to_string(),
            source_type: self.source_type,
            url: self.url.trim().to_string(),
            username: none_if_blank(self.username),
            password: none_if_blank(self.password).map(Secret::new),
            update_cron: none_if_blank(self.update_cron),
            enabled: self.enabled.unwrap_or(true),
            user_agent: none_if_blank(self.user_agent),
            headers: self.headers.into_iter().collect(),
            max_connections: self.max_connections,
        };
        let mut errors = input.validate().err().unwrap_or_default();
        let may_be_local = input.source_type == StreamSourceType::M3u;
        check_schedule_and_location(
            input.update_cron.as_deref(),
            may_be_local.then_some(input.url.as_str()),
            settings,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(ApiError::fields(errors))
        }
    }
}

/// The stream sources of `ids`, every one when `ids` is empty; ids no source has are left
/// out (they have no channels).
pub(crate) async fn stream_sources_of(
    state: &AppState,
    ids: Vec<StreamSourceId>,
) -> ApiResult<Vec<StreamSource>> {
    let repo = &state.repos.stream_sources;
    sources_of(ids, |page| repo.list(page), |id| repo.get(id)).await
}

/// Like [`stream_sources_of`], for EPG sources.
pub(crate) async fn epg_sources_of(
    state: &AppState,
    ids: Vec<EpgSourceId>,
) -> ApiResult<Vec<EpgSource>> {
    let repo = &state.repos.epg_sources;
    sources_of(ids, |page| repo.list(page), |id| repo.get(id)).await
}

/// The records of `ids` through `get` (every one, page by page through `list`, when `ids` is
/// empty); ids nothing has are left out.
async fn sources_of<Id, T, ListFut, GetFut>(
    ids: Vec<Id>,
    list: impl Fn(PageRequest) -> ListFut,
    get: impl Fn(Id) -> GetFut,
) -> ApiResult<Vec<T>>
where
    ListFut: std::future::Future<Output = tvarr_core::RepoResult<tvarr_core::Page<T>>>,
    GetFut: std::future::Future<Output = tvarr_core::RepoResult<T>>,
{
    if ids.is_empty() {
        let mut all = Vec::new();
        loop {
            let page = list(PageRequest::new(PageRequest::MAX_LIMIT, all.len() as u64)).await?;
            let done = page.items.is_empty();
            all.extend(page.items);
            if done || all.len() as u64 >= page.total {
                return Ok(all);
            }
        }
    }
    let mut sources = Vec::with_capacity(ids.len());
    for id in ids {
        match get(id).await {
            Ok(source) => sources.push(source),
            Err(RepoError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(sources)
}

/// The checks of a source body that need the server's settings: its `update_cron`, and, for
/// the types that may name a local file, where `local_url` points.
fn check_schedule_and_location(
    update_cron: Option<&str>,
    local_url: Option<&str>,
    settings: &ApiSettings,
    errors: &mut Vec<FieldError>,
) {
    if let Some(expr) = update_cron
        && let Err(problem) = schedule::check_cron_interval(expr, settings.cron_min_interval)
    {
        errors.push(FieldError::new("update_cron", problem.to_string()));
    }
    if let Some(url) = local_url {
        check_local_path(url, settings, errors);
    }
}

/// A source naming a local file must name one below the import directory, outside `/proc`,
/// `/sys` and `/dev`: judged on the path as written, so the refusal comes at once rather than
/// at the first ingest, and tells nothing about what exists on the disk. The fetcher checks
/// again when it reads, symlinks resolved.
fn check_local_path(url: &str, settings: &ApiSettings, errors: &mut Vec<FieldError>) {
    if errors.iter().any(|e| e.field == "url") {
        return;
    }
    let Some(path) = local_file::file_path(url) else {
        return;
    };
    let reason = match settings.import_dir.as_deref() {
        None => Some("local files are disabled: no import directory is set".to_owned()),
        Some(dir) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let canonical = dir.canonicalize().ok();
            local_file::refusal(&path, dir, canonical.as_deref(), &cwd)
        }
    };
    if let Some(reason) = reason {
        errors.push(FieldError::new(
            "url",
            format!("a local file is refused: {reason}"),
        ));
    }
}

fn none_if_blank(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Headers as a view shows them: the values of credential headers masked.
fn masked_headers(headers: Vec<(String, String)>) -> BTreeMap<String, String> {
    headers
        .into_iter()
        .map(|(name, value)| {
            let value = if is_secret_header(&name) {
                REDACTED.to_string()
            } else {
                value
            };
            (name, value)
        })
        .collect()
}

/// What a view showed masked and a client sent back as it was keeps the stored value: a `url`
/// equal to the stored URL's masked form, and a header whose value is the mask.
fn keep_masked(
    url: &mut String,
    headers: &mut BTreeMap<String, String>,
    stored_url: &str,
    stored_headers: &[(String, String)],
) {
    if url.trim() == redact_url(stored_url) {
        *url = stored_url.to_string();
    }
    for (name, value) in headers.iter_mut() {
        if value.trim() == REDACTED
            && let Some((_, stored)) = stored_headers
                .iter()
                .find(|(stored_name, _)| stored_name.eq_ignore_ascii_case(name))
        {
            value.clone_from(stored);
        }
    }
}

/// A stream source as the API shows it. The password is never included.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamSourceView {
    /// Id.
    pub id: StreamSourceId,
    /// Name.
    pub name: String,
    /// `m3u` or `xtream`.
    pub source_type: StreamSourceType,
    /// Playlist URL or path, or Xtream server URL, with credentials masked as `***` (user
    /// info, `password=`-like parameters). Sending it back unchanged keeps the stored URL.
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Cron expression for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether the source is used.
    pub enabled: bool,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra headers sent to the provider; the values of credential headers
    /// (`Authorization`, `Cookie`, names with `token`, `key`, `auth`…) are shown as `***`, and
    /// sending `***` back keeps the stored value.
    pub headers: BTreeMap<String, String>,
    /// How many connections the provider account allows at once; null: no limit.
    pub max_connections: Option<u32>,
    /// How the last ingest went.
    pub state: IngestState,
    /// When the last ingest ended.
    pub last_ingested_at: Option<DateTime<Utc>>,
    /// When the last successful ingest ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Channels stored.
    pub channel_count: u64,
    /// Lines skipped by the last ingest.
    pub skipped_count: u64,
    /// Why the last ingest failed (credentials in URLs masked).
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<StreamSource> for StreamSourceView {
    fn from(s: StreamSource) -> Self {
        Self {
            id: s.id,
            name: s.name,
            source_type: s.source_type,
            url: redact_url(&s.url),
            username: s.username,
            has_password: s.password.as_ref().is_some_and(|p| !p.is_empty()),
            update_cron: s.update_cron,
            enabled: s.enabled,
            user_agent: s.user_agent,
            headers: masked_headers(s.headers),
            max_connections: s.max_connections,
            state: s.state,
            last_ingested_at: s.last_ingested_at,
            last_success_at: s.last_success_at,
            channel_count: s.channel_count,
            skipped_count: s.skipped_count,
            last_error: s.last_error.as_deref().map(redact_text),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// The answer to a request that queued a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobAccepted {
    /// The queued job; follow it at `/api/v1/jobs/{job_id}`.
    pub job_id: tvarr_core::JobId,
}

/// Lists stream sources.
#[utoipa::path(tag = "sources", params(PageParams), responses((status = 200, body = ListResponse<StreamSourceView>)))]
#[get("/sources/stream")]
pub async fn list_stream_sources(
    state: web::Data<AppState>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<StreamSourceView>>> {
    let page = state.repos.stream_sources.list(page.request()?).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        StreamSourceView::from,
    )))
}

/// Creates a stream source.
#[utoipa::path(tag = "sources", request_body = StreamSourceBody, responses(
    (status = 201, body = StreamSourceView),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/sources/stream")]
pub async fn create_stream_source(
    state: web::Data<AppState>,
    body: web::Json<StreamSourceBody>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner().into_input(&state.settings)?;
    let source = state.repos.stream_sources.create(input).await?;
    tracing::info!(source_id = %source.id, name = %source.name, "stream source created");
    Ok(HttpResponse::Created().json(StreamSourceView::from(source)))
}

/// One stream source.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")), responses(
    (status = 200, body = StreamSourceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/sources/stream/{id}")]
pub async fn get_stream_source(
    state: web::Data<AppState>,
    id: web::Path<StreamSourceId>,
) -> ApiResult<web::Json<StreamSourceView>> {
    let source = state.repos.stream_sources.get(id.into_inner()).await?;
    Ok(web::Json(source.into()))
}

/// Replaces a stream source's settings. Leaving `password` out keeps the stored one, and so
/// does sending back the masked `url` or a masked header value as the source's view shows it.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")), request_body = StreamSourceBody,
    responses((status = 200, body = StreamSourceView), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/sources/stream/{id}")]
pub async fn update_stream_source(
    state: web::Data<AppState>,
    id: web::Path<StreamSourceId>,
    body: web::Json<StreamSourceBody>,
) -> ApiResult<web::Json<StreamSourceView>> {
    let id = id.into_inner();
    let mut body = body.into_inner();
    let stored = state.repos.stream_sources.get(id).await?;
    keep_masked(
        &mut body.url,
        &mut body.headers,
        &stored.url,
        &stored.headers,
    );
    if body.source_type == StreamSourceType::Xtream && body.password.is_none() {
        // Validation needs the password: use the stored one when the body leaves it out.
        body.password = stored.password.map(|p| p.expose().to_string());
    }
    let input = body.into_input(&state.settings)?;
    let source = state.repos.stream_sources.update(id, input).await?;
    Ok(web::Json(source.into()))
}

/// Deletes a stream source and its channels.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/sources/stream/{id}")]
pub async fn delete_stream_source(
    state: web::Data<AppState>,
    id: web::Path<StreamSourceId>,
) -> ApiResult<HttpResponse> {
    state.repos.stream_sources.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queues an ingest of a stream source.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")),
    responses((status = 202, body = JobAccepted), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[post("/sources/stream/{id}/ingest")]
pub async fn ingest_stream_source(
    state: web::Data<AppState>,
    id: web::Path<StreamSourceId>,
) -> ApiResult<HttpResponse> {
    let source = state.repos.stream_sources.get(id.into_inner()).await?;
    let job = state
        .queue
        .enqueue(NewJob {
            kind: JobKind::IngestStream,
            subject_id: Some(source.id.as_uuid()),
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobAccepted { job_id: job.id }))
}

/// The channels of one stream source, in provider order.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id"), PageParams),
    responses((status = 200, body = ListResponse<ChannelView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/sources/stream/{id}/channels")]
pub async fn stream_source_channels(
    state: web::Data<AppState>,
    id: web::Path<StreamSourceId>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ChannelView>>> {
    let source = state.repos.stream_sources.get(id.into_inner()).await?;
    let query = ChannelQuery {
        source_ids: vec![source.id],
        ..Default::default()
    };
    let page = state.repos.channels.list(&query, page.request()?).await?;
    Ok(web::Json(ListResponse::from_page(page, ChannelView::from)))
}

/// The body that creates or replaces an EPG source.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EpgSourceBody {
    /// A name for people.
    pub name: String,
    /// `xmltv` or `xtream`.
    pub source_type: EpgSourceType,
    /// Guide URL or absolute path (XMLTV), or server base URL (Xtream).
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Xtream password. Write-only: never returned.
    pub password: Option<String>,
    /// Cron expression (5 or 6 fields) for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether the source is used (default true).
    pub enabled: Option<bool>,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra HTTP headers sent to the provider.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Minutes added to every programme time (default 0).
    pub time_offset_minutes: Option<i32>,
    /// IANA time zone for programme times given without an offset (default UTC).
    pub timezone: Option<String>,
}

impl EpgSourceBody {
    fn into_input(self, settings: &ApiSettings) -> ApiResult<EpgSourceInput> {
        let input = EpgSourceInput {
            name: self.name.trim().to_string(),
            source_type: self.source_type,
            url: self.url.trim().to_string(),
            username: none_if_blank(self.username),
            password: none_if_blank(self.password).map(Secret::new),
            update_cron: none_if_blank(self.update_cron),
            enabled: self.enabled.unwrap_or(true),
            user_agent: none_if_blank(self.user_agent),
            headers: self.headers.into_iter().collect(),
            time_offset_minutes: self.time_offset_minutes.unwrap_or(0),
            timezone: none_if_blank(self.timezone),
        };
        let mut errors = input.validate().err().unwrap_or_default();
        let may_be_local = input.source_type == EpgSourceType::Xmltv;
        check_schedule_and_location(
            input.update_cron.as_deref(),
            may_be_local.then_some(input.url.as_str()),
            settings,
            &mut errors,
        );
        if let Some(tz) = &input.timezone
            && let Err(unknown) = schedule::check_time_zone(tz)
        {
            errors.push(FieldError::new("timezone", unknown.to_string()));
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(ApiError::fields(errors))
        }
    }
}

/// An EPG source as the API shows it. The password is never included.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpgSourceView {
    /// Id.
    pub id: EpgSourceId,
    /// Name.
    pub name: String,
    /// `xmltv` or `xtream`.
    pub source_type: EpgSourceType,
    /// Guide URL or path, or Xtream server URL, with credentials masked as `***` (user
    /// info, `password=`-like parameters). Sending it back unchanged keeps the stored URL.
    pub url: String,
    /// Xtream user name.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Cron expression for scheduled ingests.
    pub update_cron: Option<String>,
    /// Whether the source is used.
    pub enabled: bool,
    /// User agent sent to the provider.
    pub user_agent: Option<String>,
    /// Extra headers sent to the provider; the values of credential headers
    /// (`Authorization`, `Cookie`, names with `token`, `key`, `auth`…) are shown as `***`, and
    /// sending `***` back keeps the stored value.
    pub headers: BTreeMap<String, String>,
    /// Minutes added to every programme time.
    pub time_offset_minutes: i32,
    /// Time zone for times without an offset.
    pub timezone: Option<String>,
    /// How the last ingest went.
    pub state: IngestState,
    /// When the last ingest ended.
    pub last_ingested_at: Option<DateTime<Utc>>,
    /// When the last successful ingest ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Programmes stored.
    pub programme_count: u64,
    /// Elements skipped by the last ingest.
    pub skipped_count: u64,
    /// Why the last ingest failed (credentials in URLs masked).
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<EpgSource> for EpgSourceView {
    fn from(s: EpgSource) -> Self {
        Self {
            id: s.id,
            name: s.name,
            source_type: s.source_type,
            url: redact_url(&s.url),
            username: s.username,
            has_password: s.password.as_ref().is_some_and(|p| !p.is_empty()),
            update_cron: s.update_cron,
            enabled: s.enabled,
            user_agent: s.user_agent,
            headers: masked_headers(s.headers),
            time_offset_minutes: s.time_offset_minutes,
            timezone: s.timezone,
            state: s.state,
            last_ingested_at: s.last_ingested_at,
            last_success_at: s.last_success_at,
            programme_count: s.programme_count,
            skipped_count: s.skipped_count,
            last_error: s.last_error.as_deref().map(redact_text),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Lists EPG sources.
#[utoipa::path(tag = "sources", params(PageParams), responses((status = 200, body = ListResponse<EpgSourceView>)))]
#[get("/sources/epg")]
pub async fn list_epg_sources(
    state: web::Data<AppState>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<EpgSourceView>>> {
    let page = state.repos.epg_sources.list(page.request()?).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        EpgSourceView::from,
    )))
}

/// Creates an EPG source.
#[utoipa::path(tag = "sources", request_body = EpgSourceBody, responses(
    (status = 201, body = EpgSourceView), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/sources/epg")]
pub async fn create_epg_source(
    state: web::Data<AppState>,
    body: web::Json<EpgSourceBody>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner().into_input(&state.settings)?;
    let source = state.repos.epg_sources.create(input).await?;
    tracing::info!(source_id = %source.id, name = %source.name, "EPG source created");
    Ok(HttpResponse::Created().json(EpgSourceView::from(source)))
}

/// One EPG source.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")), responses(
    (status = 200, body = EpgSourceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/sources/epg/{id}")]
pub async fn get_epg_source(
    state: web::Data<AppState>,
    id: web::Path<EpgSourceId>,
) -> ApiResult<web::Json<EpgSourceView>> {
    let source = state.repos.epg_sources.get(id.into_inner()).await?;
    Ok(web::Json(source.into()))
}

/// Replaces an EPG source's settings. Leaving `password` out keeps the stored one, and so
/// does sending back the masked `url` or a masked header value as the source's view shows it.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")), request_body = EpgSourceBody,
    responses((status = 200, body = EpgSourceView), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/sources/epg/{id}")]
pub async fn update_epg_source(
    state: web::Data<AppState>,
    id: web::Path<EpgSourceId>,
    body: web::Json<EpgSourceBody>,
) -> ApiResult<web::Json<EpgSourceView>> {
    let id = id.into_inner();
    let mut body = body.into_inner();
    let stored = state.repos.epg_sources.get(id).await?;
    keep_masked(
        &mut body.url,
        &mut body.headers,
        &stored.url,
        &stored.headers,
    );
    if body.source_type == EpgSourceType::Xtream && body.password.is_none() {
        body.password = stored.password.map(|p| p.expose().to_string());
    }
    let input = body.into_input(&state.settings)?;
    let source = state.repos.epg_sources.update(id, input).await?;
    Ok(web::Json(source.into()))
}

/// Deletes an EPG source and its guide data.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/sources/epg/{id}")]
pub async fn delete_epg_source(
    state: web::Data<AppState>,
    id: web::Path<EpgSourceId>,
) -> ApiResult<HttpResponse> {
    state.repos.epg_sources.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queues an ingest of an EPG source.
#[utoipa::path(tag = "sources", params(("id" = String, Path, description = "source id")),
    responses((status = 202, body = JobAccepted), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[post("/sources/epg/{id}/ingest")]
pub async fn ingest_epg_source(
    state: web::Data<AppState>,
    id: web::Path<EpgSourceId>,
) -> ApiResult<HttpResponse> {
    let source = state.repos.epg_sources.get(id.into_inner()).await?;
    let job = state
        .queue
        .enqueue(NewJob {
            kind: JobKind::IngestEpg,
            subject_id: Some(source.id.as_uuid()),
        })
        .await?;
    Ok(HttpResponse::Accepted().json(JobAccepted { job_id: job.id }))
}
