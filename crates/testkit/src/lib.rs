//! tvarr-testkit: what tvarr's integration and end-to-end tests share, and nothing the product
//! ships: a loopback HTTP server standing in for IPTV providers, with per-path request counts
//! and stalls, and a handle on a running `tvarr-server` or `tvarr-worker` process.
//!
//! Everything listens on 127.0.0.1 only.
#![warn(missing_docs)]

mod process;
mod provider;

pub use process::{TvarrProcess, free_port, test_database_url};
pub use provider::{ProviderServer, Route};
