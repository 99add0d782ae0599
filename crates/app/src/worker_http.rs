//! What a `tvarr-worker` serves over HTTP: its own `/metrics` and `/livez`, so Prometheus scrapes
//! every process of a distributed install (the server serves both on its main address).
//!
//! Two GET routes on hyper's HTTP/1 connection, without a web framework: the worker links no
//! actix-web. Anything else is a 404. A stranger can reach this port, so it is bounded: at most
//! [`MAX_CONNECTIONS`] at once, [`HEADER_TIMEOUT`] to send the request head, and
//! [`CONNECTION_TIMEOUT`] for a whole connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tvarr_core::JobRepository;
use tvarr_metrics::Metrics;

use crate::error::AppError;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 16;
/// How long a client has to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open, keep-alive included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

struct Scrape {
    metrics: Arc<Metrics>,
    jobs: Arc<dyn JobRepository>,
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn answer(scrape: &Scrape, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return reply(StatusCode::NOT_FOUND, "text/plain", Bytes::new());
    }
    match request.uri().path() {
        "/livez" => reply(StatusCode::OK, "text/plain", Bytes::from_static(b"ok")),
        "/metrics" => {
            scrape
                .metrics
                .refresh_job_counts(scrape.jobs.as_ref())
                .await;
            match scrape.metrics.encode() {
                Ok(body) => reply(StatusCode::OK, Metrics::CONTENT_TYPE, Bytes::from(body)),
                Err(_) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    Bytes::new(),
                ),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", Bytes::new()),
    }
}

/// Serves `/metrics` and `/livez` on `address` until `shutdown` fires; anything else is a 404.
pub(crate) fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    jobs: Arc<dyn JobRepository>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, AppError> {
    let listen_error = |source| AppError::Listen { address, source };
    let listener = std::net::TcpListener::bind(address).map_err(listen_error)?;
    listener.set_nonblocking(true).map_err(listen_error)?;
    let listener = TcpListener::from_std(listener).map_err(listen_error)?;
    let scrape = Arc::new(Scrape { metrics, jobs });
    tracing::info!(listen = %address, "serving /metrics and /livez");
    Ok(tokio::spawn(accept_loop(listener, scrape, shutdown)))
}

async fn accept_loop(listener: TcpListener, scrape: Arc<Scrape>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::debug!(error = %e, "cannot accept a metrics connection");
                    continue;
                }
            },
        };
        let scrape = scrape.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let scrape = scrape.clone();
                async move { Ok::<_, Infallible>(answer(&scrape, &request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection) => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}
