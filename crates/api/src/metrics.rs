//! `/metrics`: this process's [`Metrics`] in the Prometheus text format.

use actix_web::{HttpResponse, get, web};
pub use tvarr_metrics::Metrics;

use crate::state::AppState;

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "health", responses((status = 200, description = "metrics", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let relay = state.relay.totals();
    state.metrics.set_relay(tvarr_metrics::RelayFigures {
        sessions: relay.sessions,
        viewers: relay.viewers,
        open_breakers: relay.open_breakers,
        upstream_bytes: relay.upstream_bytes,
        failovers: relay.failovers,
    });
    match state.metrics.scrape(state.repos.jobs.as_ref()).await {
        Ok(body) => HttpResponse::Ok()
            .content_type(Metrics::CONTENT_TYPE)
            .body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
