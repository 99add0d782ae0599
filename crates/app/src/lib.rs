//! tvarr-app: what `tvarr-server` and `tvarr-worker` share: the settings (defaults, TOML file,
//! environment, flags), telemetry setup, the job handlers of this build, and the start-up and
//! shutdown of both process kinds.
//!
//! It composes the other crates and is the only library that knows all of them; it holds no
//! domain logic of its own.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod allocator;
mod error;
mod generation;
mod handlers;
mod regeneration;
mod runtime;
mod schedules;
pub mod settings;
pub mod telemetry;
mod worker_http;

pub use allocator::limit_c_allocator_arenas;
pub use error::AppError;
pub use runtime::{run_server, run_worker};
pub use settings::{Flags, LogFormat, Settings, SettingsError};
