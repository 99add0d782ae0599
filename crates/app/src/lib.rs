//! tvarr-app: what `tvarr-server` and `tvarr-worker` share: the settings (defaults, TOML file,
//! environment, flags), telemetry setup, the wiring of the domain crates' job handlers, and the
//! start-up and shutdown of both process kinds.
//!
//! It composes the other crates and is the only library that knows all of them; it holds no
//! domain logic of its own. Feature `server` (default): [`run_server`], with the HTTP API
//! (tvarr-api, actix-web) and the cron scheduler; `tvarr-worker` builds without it and links no
//! web framework (its `/metrics` and `/livez` are served on hyper).
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod allocator;
mod error;
mod handlers;
#[cfg(feature = "server")]
mod hdhomerun_discovery;
mod regeneration;
mod runtime;
#[cfg(feature = "server")]
mod schedules;
#[cfg(feature = "server")]
mod server;
pub mod settings;
pub mod telemetry;
mod worker_http;

pub use allocator::limit_c_allocator_arenas;
pub use error::AppError;
pub use runtime::run_worker;
#[cfg(feature = "server")]
pub use server::run_server;
pub use settings::{Flags, LogFormat, Settings, SettingsError};
