//! tvarr-migration: the database schema of tvarr, as one ordered set of sea-orm migrations that
//! runs unchanged on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! This crate owns table, column and index definitions, nothing else. It depends only on
//! `sea-orm-migration`; `tvarr-storage` applies it when it connects. It must not depend on any
//! other tvarr crate, nor on a web framework.
//!
//! Portable types, the same on the three databases:
//! - identifiers are UUIDs in their 36-character text form;
//! - timestamps are UTC: `timestamp with time zone` on PostgreSQL, `DATETIME(6)` holding UTC on
//!   MySQL/MariaDB (its `TIMESTAMP` ends in 2038), ISO-8601 text on SQLite;
//! - long or unbounded text is `TEXT`; lists and maps (headers, extra attributes) are JSON in `TEXT`.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261201_000001_job_records;
mod m20261201_000101_sessions;
mod m20261202_000001_generation;
mod m20261202_000002_lineups;
mod m20261202_000003_published_outputs;
mod m20261202_000004_programme_scan_index;
mod m20261202_000005_login_attempts;
mod m20261203_000001_queued_job_key;
mod m20261203_000002_hdhomerun;
mod m20261203_000003_user_access;
mod m20261203_000004_output_networks;
mod m20261204_000001_relay_profile_tuning;
mod m20261204_000002_source_max_connections;

/// Every migration of tvarr, in order. Apply them with `Migrator::up(&db, None)`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261201_000001_job_records::Migration),
            Box::new(m20261201_000101_sessions::Migration),
            Box::new(m20261202_000001_generation::Migration),
            Box::new(m20261202_000002_lineups::Migration),
            Box::new(m20261202_000003_published_outputs::Migration),
            Box::new(m20261202_000004_programme_scan_index::Migration),
            Box::new(m20261202_000005_login_attempts::Migration),
            Box::new(m20261203_000001_queued_job_key::Migration),
            Box::new(m20261203_000002_hdhomerun::Migration),
            Box::new(m20261203_000003_user_access::Migration),
            Box::new(m20261203_000004_output_networks::Migration),
            Box::new(m20261204_000001_relay_profile_tuning::Migration),
            Box::new(m20261204_000002_source_max_connections::Migration),
        ]
    }
}
