//! What every handler can reach.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;
use tvarr_core::{IpNetwork, Job, JobQueue, OutputStore, Repositories};

use crate::auth::Authenticator;
use crate::metrics::Metrics;

/// Answers whether the server can do its work (database reachable, migrations applied).
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when ready; otherwise what is wrong.
    async fn check(&self) -> Result<(), String>;
}

/// Settings the API needs.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The public base URL written into playlists, without a trailing slash: the configured
    /// one, or the default `http://<listen>`.
    pub base_url: String,
    /// Whether `base_url` was configured. When it was not, answers use the origin of each
    /// request instead (see [`ApiSettings::trusted_proxies`]), and a served playlist written
    /// with the default has it replaced by that origin.
    pub base_url_configured: bool,
    /// The reverse proxies whose `X-Forwarded-Proto` and `X-Forwarded-Host` are believed when
    /// no base URL is configured. Empty (the default): nobody's, so the origin is the `Host`
    /// header a client sent.
    pub trusted_proxies: Vec<IpNetwork>,
    /// The version reported by `/health`.
    pub version: String,
    /// The shortest time allowed between two runs of a source's `update_cron` (zero: any).
    pub cron_min_interval: std::time::Duration,
    /// The directory local-file sources must lie below (`None`: local files are refused).
    /// Checked on the path as written when a source is saved; the fetcher checks again.
    pub import_dir: Option<std::path::PathBuf>,
}

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub repos: Repositories,
    /// Where jobs are submitted.
    pub queue: Arc<dyn JobQueue>,
    /// Readiness probe.
    pub readiness: Arc<dyn Readiness>,
    /// Job changes, for server-sent events.
    pub job_events: broadcast::Sender<Job>,
    /// Settings.
    pub settings: ApiSettings,
    /// Access control.
    pub auth: Arc<Authenticator>,
    /// Metrics of this process.
    pub metrics: Arc<Metrics>,
    /// Where published playlists and guides are read from.
    pub outputs: Arc<dyn OutputStore>,
    /// Stream delivery in `proxy` and `relay` modes.
    pub relay: tvarr_relay::Relay,
    /// How `relay` mode runs FFmpeg.
    pub transcoding: tvarr_relay::Transcoding,
}
