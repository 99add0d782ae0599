//! Progress reporting: where an ingest is, who is told, and the watch that cancels the wait
//! for a download when the watcher says stop.

use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::error::IngestError;

/// Where an ingest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestStage {
    /// Connecting and receiving the first bytes; no record has been parsed yet.
    Downloading,
    /// Records are parsed and written while the download goes on.
    Parsing,
    /// Everything was read; the records are being committed.
    Storing,
}

impl IngestStage {
    /// A short stable name: `downloading`, `parsing`, `storing`.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestStage::Downloading => "downloading",
            IngestStage::Parsing => "parsing",
            IngestStage::Storing => "storing",
        }
    }
}

/// How far an ingest has come: bytes and records together, so that neither hides the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// The stage.
    pub stage: IngestStage,
    /// Bytes received, as sent (compressed when the source is compressed).
    pub bytes: u64,
    /// Bytes announced (`Content-Length`, or a file's size), when known.
    pub total_bytes: Option<u64>,
    /// Records written to the replacement so far.
    pub records: u64,
    /// What the records are: `channels` or `programmes`.
    pub unit: &'static str,
}

/// Receives progress and says whether to go on.
pub trait IngestProgress: Send + Sync {
    /// Called after every batch and at least every [`PROGRESS_INTERVAL`] while the download
    /// runs. Returns `false` to ask the ingest to stop. Called from the ingest's task: keep it
    /// cheap and never block.
    fn report(&self, progress: &ProgressSnapshot) -> bool;
}

/// How often progress is reported while no batch arrives (a slow download, a large header).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Progress that nobody watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl IngestProgress for NoProgress {
    fn report(&self, _progress: &ProgressSnapshot) -> bool {
        true
    }
}

/// Runs `work` (connecting, waiting for the answer, the first bytes, retries) while asking
/// `progress` every [`PROGRESS_INTERVAL`] whether to go on. When it says no, `cancel` fires
/// (the fetcher's token, for reads still in flight) and `work` is dropped wherever it is.
pub(super) async fn until_cancelled<T>(
    progress: &dyn IngestProgress,
    cancel: &CancellationToken,
    unit: &'static str,
    work: impl Future<Output = Result<T, IngestError>>,
) -> Result<T, IngestError> {
    let watch = async {
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let waiting = ProgressSnapshot {
            stage: IngestStage::Downloading,
            bytes: 0,
            total_bytes: None,
            records: 0,
            unit,
        };
        loop {
            ticker.tick().await;
            if !progress.report(&waiting) {
                cancel.cancel();
                return;
            }
        }
    };
    tokio::select! {
        result = work => result,
        () = watch => Err(IngestError::Cancelled),
    }
}
