//! Published outputs: the files a generation writes (a proxy's M3U and XMLTV) and the store
//! that publishes them atomically and hands them to whoever serves them.
//!
//! The one-box default keeps them in the data directory; with workers on other machines the
//! store is one every process reaches (the database), so the worker that generated an output
//! need not be the server that serves it.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::RepoResult;
use crate::id::ProxyId;

/// Which output of a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// The M3U playlist.
    M3u,
    /// The XMLTV guide.
    Xmltv,
}

impl OutputKind {
    /// Every kind.
    pub const ALL: [OutputKind; 2] = [OutputKind::M3u, OutputKind::Xmltv];

    /// The file extension (and the stored name).
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::M3u => "m3u",
            OutputKind::Xmltv => "xmltv",
        }
    }

    /// The media type it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputKind::M3u => "audio/x-mpegurl",
            OutputKind::Xmltv => "application/xml",
        }
    }
}

/// A published output, as its readers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedOutput {
    /// A strong validator of the content (a hash), the same in every process.
    pub etag: String,
    /// When it was published.
    pub modified: DateTime<Utc>,
    /// Its length in bytes.
    pub len: u64,
    /// The length of its gzip form in bytes.
    pub gzip_len: u64,
}

/// The local files of one published output, ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFiles {
    /// What was published.
    pub output: PublishedOutput,
    /// The output as written.
    pub plain: PathBuf,
    /// Its gzip form.
    pub gzip: PathBuf,
}

/// Receives one output as it is generated. Nothing is visible to readers until
/// [`OutputWriter::commit`]; dropping the writer or calling [`OutputWriter::abort`] leaves the
/// previous output in place and no partial file behind.
#[async_trait]
pub trait OutputWriter: Send {
    /// Appends bytes.
    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()>;
    /// Publishes what was written, atomically replacing the previous output.
    async fn commit(self: Box<Self>) -> RepoResult<PublishedOutput>;
    /// Throws what was written away.
    async fn abort(self: Box<Self>) -> RepoResult<()>;
}

/// Where outputs are published.
#[async_trait]
pub trait OutputStore: Send + Sync {
    /// Starts writing a new `kind` output of `proxy`.
    async fn begin(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Box<dyn OutputWriter>>;
    /// What is published now, without reading it; `None` before the first publication.
    async fn current(
        &self,
        proxy: ProxyId,
        kind: OutputKind,
    ) -> RepoResult<Option<PublishedOutput>>;
    /// Local files holding what is published now, for serving; `None` before the first
    /// publication. A store that keeps outputs elsewhere copies them to a local cache once per
    /// publication.
    async fn files(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Option<OutputFiles>>;
    /// Removes every output of `proxy` (the proxy was deleted).
    async fn remove(&self, proxy: ProxyId) -> RepoResult<()>;
}
