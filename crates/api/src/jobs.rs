//! Job status, cancellation, and progress as server-sent events.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tvarr_core::{Job, JobId, JobKind, JobProgress, JobQuery, JobStatus, redact_text};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::state::AppState;

/// A job as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// The source or proxy it works on.
    pub subject_id: Option<Uuid>,
    /// Where it is.
    pub status: JobStatus,
    /// How far it has come.
    pub progress: JobProgress,
    /// Why it failed (provider credentials in URLs masked).
    pub error: Option<String>,
    /// What it produced, once it ended: a generation's summary (its stages with their
    /// durations and counts, the change report, how channels matched their guide).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Whether cancellation was requested.
    pub cancel_requested: bool,
    /// How many times a worker started it.
    pub attempts: u32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            subject_id: j.subject_id,
            status: j.status,
            progress: j.progress,
            error: j.error.as_deref().map(redact_text),
            result: j.result,
            cancel_requested: j.cancel_requested,
            attempts: j.attempts,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// Job filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this status.
    pub status: Option<JobStatus>,
}

/// Jobs, newest first.
#[utoipa::path(tag = "jobs", params(JobFilter, PageParams), responses((status = 200, body = ListResponse<JobView>)))]
#[get("/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    filter: Params<JobFilter>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<JobView>>> {
    let query = JobQuery {
        kind: filter.kind,
        status: filter.status,
    };
    let page = state.repos.jobs.list(&query, page.request()?).await?;
    Ok(web::Json(ListResponse::from_page(page, JobView::from)))
}

/// One job.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> ApiResult<web::Json<JobView>> {
    Ok(web::Json(
        state.repos.jobs.get(id.into_inner()).await?.into(),
    ))
}

/// Cancels a queued job, or asks a running one to stop.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[post("/jobs/{id}/cancel")]
pub async fn cancel_job(
    state: web::Data<AppState>,
    id: web::Path<JobId>,
) -> ApiResult<web::Json<JobView>> {
    Ok(web::Json(state.queue.cancel(id.into_inner()).await?.into()))
}

/// Job changes as server-sent events: one `job` event with the job's JSON per change,
/// and a comment every 15 s to keep proxies from closing the connection.
#[utoipa::path(tag = "jobs", responses((status = 200, description = "an event stream", content_type = "text/event-stream")))]
#[get("/progress/events")]
pub async fn progress_events(state: web::Data<AppState>) -> HttpResponse {
    let receiver = state.job_events.subscribe();
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let item = match tokio::time::timeout(Duration::from_secs(15), receiver.recv()).await {
            Ok(Ok(job)) => {
                let json = serde_json::to_string(&JobView::from(job)).unwrap_or_default();
                Bytes::from(format!("event: job\ndata: {json}\n\n"))
            }
            Ok(Err(broadcast::error::RecvError::Lagged(missed))) => Bytes::from(format!(
                ": {missed} events were dropped for a slow reader\n\n"
            )),
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok::<_, actix_web::Error>(item), receiver))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}
