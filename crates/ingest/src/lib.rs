//! tvarr-ingest: getting channels and guides from providers into storage.
//!
//! This crate owns fetching (HTTP(S) with retries, limits and decompression, and local files),
//! the parsers for M3U playlists, XMLTV guides and Xtream Codes panels, and the ingest service
//! that streams parsed records into a repository's replacement while the download is still
//! arriving, with a guard that keeps the last good data when a fetch looks wrong.
//!
//! It must not depend on sea-orm, actix-web or any tvarr crate other than `tvarr-core`: storage
//! is reached only through the repository traits of `tvarr-core`, so the parsers and the service
//! are tested with in-memory implementations and a loopback HTTP server.
//!
//! Map:
//! - [`fetch`]: the [`fetch::Fetcher`] trait and [`fetch::HttpFetcher`] (HTTP(S), files, gzip,
//!   retries, limits), returning the body as an `AsyncRead` while it arrives.
//! - [`m3u`]: [`m3u::M3uReader`], a line-by-line playlist reader over any `BufRead`.
//! - [`xmltv`]: [`xmltv::XmltvReader`], a pull reader of guide channels and programmes on
//!   quick-xml, with its encoding rules and time handling.
//! - [`xtream`]: Xtream Codes answers as lenient types, URLs, and live streams as channels.
//! - [`ingest_stream_source`] and [`ingest_epg_source`]: fetch → parse → store, pipelined, with
//!   the guard that keeps the last good data ([`IngestReport`], [`IngestProgress`]).
//! - [`redact_url`]: credentials out of logs and errors.
//! - [`ParserLimits`]: how much of one value and one record a parser holds (memory bombs).
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
pub mod fetch;
mod limits;
pub mod m3u;
mod redact;
mod service;
mod skip;
mod weight;
pub mod xmltv;
pub mod xtream;

pub use error::{IngestError, IngestResult};
pub use limits::ParserLimits;
pub use redact::redact_url;
pub use service::{
    IngestProgress, IngestReport, IngestSettings, IngestStage, NoProgress, PROGRESS_INTERVAL,
    ProgressSnapshot, ingest_epg_source, ingest_stream_source, looks_like_html,
};
pub use skip::{SkipReason, SkipReport, SkippedExample};
