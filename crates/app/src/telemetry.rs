//! Logging setup: human text on a terminal, JSON lines otherwise.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogFormat, Settings};

/// Installs the global tracing subscriber for `settings`. Call once, at start.
pub fn init_tracing(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    // A second call (tests) keeps the first subscriber.
    let _ = result;
}
