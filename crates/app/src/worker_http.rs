//! What a `tvarr-worker` serves over HTTP: its own `/metrics` and `/livez`, so Prometheus scrapes
//! every process of a distributed install (the server serves both on its main address).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use tokio_util::sync::CancellationToken;
use tvarr_core::JobRepository;
use tvarr_metrics::Metrics;

use crate::error::AppError;

struct Scrape {
    metrics: Arc<Metrics>,
    jobs: Arc<dyn JobRepository>,
}

async fn scrape_metrics(scrape: web::Data<Scrape>) -> HttpResponse {
    scrape
        .metrics
        .refresh_job_counts(scrape.jobs.as_ref())
        .await;
    match scrape.metrics.encode() {
        Ok(body) => HttpResponse::Ok()
            .content_type(Metrics::CONTENT_TYPE)
            .body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Serves `/metrics` and `/livez` on `address` until `shutdown` fires; anything else is a 404.
/// One thread: a scrape every few seconds is all it answers.
pub(crate) fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    jobs: Arc<dyn JobRepository>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, AppError> {
    let scrape = web::Data::new(Scrape { metrics, jobs });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(scrape.clone())
            .route("/metrics", web::get().to(scrape_metrics))
            .route("/livez", web::get().to(livez))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(address)
    .map_err(|source| AppError::Listen { address, source })?
    .run();
    let handle = server.handle();
    tracing::info!(listen = %address, "serving /metrics and /livez");
    Ok(tokio::spawn(async move {
        tokio::select! {
            result = server => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            }
            _ = shutdown.cancelled() => handle.stop(true).await,
        }
    }))
}
