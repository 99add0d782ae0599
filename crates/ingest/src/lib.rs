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
//! Features:
//! - `fetch` (default): the fetcher and the ingest service, with tokio, reqwest, backon,
//!   async-compression, tokio-util and libc. Without it (`default-features = false`) the crate
//!   is the parsers alone, over `BufRead`, with [`ParseError`] as their error; under `fetch`
//!   `IngestError` takes every [`ParseError`] as its variant of the same name.
//!
//! Map (`*`: with `fetch` only):
//! - [`m3u`]: [`m3u::M3uReader`], a line-by-line playlist reader over any `BufRead`.
//! - [`xmltv`]: [`xmltv::XmltvReader`], a pull reader of guide channels and programmes on
//!   quick-xml, with its encoding rules and time handling.
//! - [`xtream`]: Xtream Codes answers as lenient types, URLs, and live streams as channels.
//! - [`ParseError`], [`ParserLimits`] (how much of one value and one record a parser holds:
//!   memory bombs), [`SkipReport`] (what a parser skipped, and why), [`redact_url`]
//!   (credentials out of logs and errors).
//! - `fetch`*: the `Fetcher` trait and `HttpFetcher` (HTTP(S), files, gzip, retries, limits),
//!   returning the body as an `AsyncRead` while it arrives.
//! - `ingest_stream_source`* and `ingest_epg_source`*: fetch → parse → store, pipelined, with
//!   `IngestReport`, `IngestProgress` and `IngestSettings`. The service's modules: progress
//!   reporting, settings and report types, content sniffing (`looks_like_html`), source
//!   preparation (M3U, Xtream), the guide parse, the repository sinks, the pipelined run, the
//!   shrink guard and channel identities (the last two pure).
//! - `IngestJobHandler`*: the `ingest-stream` / `ingest-epg` job handler (`tvarr-core`'s
//!   `JobHandler`), with progress, cancellation, the outcome recorded on the source, and an
//!   `IngestObserver` told of each finished ingest.
//! - `IngestError`*: what went wrong fetching, parsing or storing.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "fetch")]
mod job;
mod limits;
pub mod m3u;
mod redact;
#[cfg(feature = "fetch")]
mod service;
mod skip;
#[cfg(feature = "fetch")]
mod weight;
pub mod xmltv;
pub mod xtream;

pub use error::ParseError;
#[cfg(feature = "fetch")]
pub use error::{IngestError, IngestResult};
#[cfg(feature = "fetch")]
pub use job::{IngestJobHandler, IngestObserver};
pub use limits::ParserLimits;
pub use redact::redact_url;
#[cfg(feature = "fetch")]
pub use service::{
    IngestProgress, IngestReport, IngestSettings, IngestStage, NoProgress, PROGRESS_INTERVAL,
    ProgressSnapshot, ingest_epg_source, ingest_stream_source, looks_like_html,
};
pub use skip::{SkipReason, SkipReport, SkippedExample};
