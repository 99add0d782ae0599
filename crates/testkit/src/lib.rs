//! tvarr-testkit: what tvarr's integration and end-to-end tests share, and nothing the product
//! ships: a loopback HTTP server standing in for IPTV providers, with per-path request counts
//! and stalls, a handle on a running `tvarr-server` or `tvarr-worker` process, and a fresh
//! database per end-to-end test on PostgreSQL and MariaDB.
//!
//! Everything listens on 127.0.0.1 only.
#![warn(missing_docs)]

mod database;
mod process;
mod provider;

pub use database::{TEST_DATABASE_PREFIX, test_database_url, testing_on_sqlite};
pub use process::{TvarrProcess, free_port};
pub use provider::{ProviderServer, Route};
