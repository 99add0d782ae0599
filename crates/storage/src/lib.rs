//! tvarr-storage: where tvarr keeps its data.
//!
//! This crate owns the sea-orm entities and the implementations of every repository trait of
//! `tvarr-core` on SQLite, PostgreSQL and MySQL/MariaDB, including the bulk path that stores
//! hundreds of thousands of channels and a million programmes per source, and the stores of
//! generated outputs (a directory, or the database). It applies the
//! schema of `tvarr-migration` when it connects.
//!
//! It is the only tvarr crate that depends on sea-orm (and, below it, sqlx). It must not depend
//! on actix-web or any other web type, nor on the domain crates above `tvarr-core`: they receive
//! its repositories as `tvarr-core` traits.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tvarr_core::{PageRequest, StreamSourceRepository};
//! let store = tvarr_storage::Store::connect("sqlite://data/tvarr.db").await?;
//! let sources = store.stream_sources().list(PageRequest::default()).await?;
//! println!("{} sources on {:?}", sources.total, store.backend());
//! # Ok(()) }
//! ```
//!
//! # Replacing a source's data atomically
//! Channels, guide channels and programmes carry a *generation* number. A replacement
//! ([`tvarr_core::ChannelReplacement`], [`tvarr_core::GuideReplacement`]) allocates a new
//! generation for its source and writes every batch under it, each batch in its own short
//! transaction of multi-row `INSERT`s, while readers keep reading the generation named by the
//! source row's `current_generation`. `commit` flips `current_generation` in one short
//! transaction, so readers see the whole old set or the whole new one; then it deletes the older
//! generations in chunks. `abort`, dropping a replacement, and [`Store::sweep_abandoned`] delete
//! the rows of generations that never became current. Write transactions stay short, so the API
//! keeps answering during a million-programme ingest on SQLite, and memory stays bounded by one
//! batch.
//!
//! Reading a guide for a generation goes by keyset instead: [`tvarr_core::ProgrammeRepository::scan`]
//! reads a source's current programmes by guide channel, start and position over the index
//! `(source_id, generation, channel, start_at)`, a batch at a time with an opaque cursor that
//! names the generation it read (a replacement between two batches is a conflict, never a mix).
//!
//! # Proxies' lineups and outputs
//! [`Lineups`] keeps each proxy's published lineup, the numbers it holds and the summary of its
//! last generation, replaced in one transaction that rewrites only the rows that changed (each
//! row carries a digest). The published files go to an [`tvarr_core::OutputStore`]:
//! [`DirectoryOutputStore`] in the data directory (the one-box default), or
//! [`DatabaseOutputStore`] in the database for processes that share no directory, each
//! materialising a version once into its own cache directory. Both publish a version by
//! replacing one small record, so readers see the previous complete output or the new one.
//!
//! # Secrets
//! Source passwords are stored in clear: tvarr must send them to the provider, so it cannot
//! keep only a hash. Protect the database file or server accordingly. `tvarr-core`'s `Secret`
//! keeps them out of logs and API answers.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod accounts;
mod bulk;
mod channels;
mod db;
mod entity;
mod error;
mod jobs;
mod lineups;
mod logos;
mod outputs;
mod programmes;
mod proxies;
mod rules;
mod sources;
mod store;

pub use accounts::{ApiKeys, Users};
pub use channels::Channels;
pub use error::StorageError;
pub use jobs::Jobs;
pub use lineups::Lineups;
pub use logos::Logos;
pub use outputs::{DatabaseOutputStore, DirectoryOutputStore};
pub use programmes::Programmes;
pub use proxies::{Proxies, RelayProfiles};
pub use rules::{Filters, MappingRules};
pub use sources::{EpgSources, StreamSources};
pub use store::{Backend, Store};
