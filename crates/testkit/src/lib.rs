//! tvarr-testkit: what tvarr's integration and end-to-end tests share, and nothing the product
//! ships: a loopback HTTP server standing in for IPTV providers (fixed routes or an answer
//! per request, every request kept, and the misbehaviours a fetcher must survive: delays, drips,
//! wrong lengths, stalls), a handle on a running `tvarr-server` or `tvarr-worker` process, a fresh
//! database per end-to-end test on PostgreSQL and MariaDB, and the contract suite every
//! [`tvarr_core::JobRepository`] must pass ([`job_repository_contract!`]), and a clock moved by
//! hand ([`ManualClock`]).
//!
//! Everything listens on 127.0.0.1 only.
#![warn(missing_docs)]

mod clock;
mod database;
pub mod job_store;
mod process;
mod provider;

pub use clock::ManualClock;
pub use database::{TEST_DATABASE_PREFIX, test_database_url, testing_on_sqlite};
pub use job_store::JobStore;
pub use process::{TvarrProcess, free_port};
pub use provider::{ProviderServer, Reply, Route, SeenRequest};
