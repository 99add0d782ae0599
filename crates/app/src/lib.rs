//! tvarr-app: what `tvarr-server` and `tvarr-worker` share: the settings (defaults, TOML file,
//! environment, flags), telemetry setup, and the wiring of storage, queue and services.
//!
//! It composes the other crates and is the only library that knows all of them; it holds no
//! domain logic of its own.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod settings;
pub mod telemetry;

pub use settings::{Flags, LogFormat, Settings, SettingsError};
