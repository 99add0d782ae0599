//! The settings an ingest runs with and the report it ends with, and the reports of an
//! ingest that ended before anything was stored.

use chrono::Utc;
use tvarr_core::{IngestOutcome, IngestState};

use crate::error::IngestError;
use crate::limits::ParserLimits;
use crate::m3u::PlaylistHeader;
use crate::skip::SkipReport;

/// Tuning and guard settings.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestSettings {
    /// Records per batch written to the repository, at most.
    pub batch_size: usize,
    /// Bytes of text per batch, at most (about: a batch ends with the record that reaches
    /// it). With `queued_batches`, this bounds what an ingest holds between parser and
    /// writer whatever the records hold.
    pub batch_bytes: usize,
    /// Batches buffered between the parser and the writer.
    pub queued_batches: usize,
    /// A result smaller than `(1 - max_shrink) ×` the current count is suspicious and not
    /// stored (0.5: losing more than half the channels; 1: never suspicious). A fraction in
    /// `0..=1`; values outside are clamped.
    pub max_shrink: f64,
    /// How much of one value and one record the parsers hold (memory bombs).
    pub limits: ParserLimits,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            batch_size: 2_000,
            batch_bytes: 8 * 1024 * 1024,
            queued_batches: 4,
            max_shrink: 0.5,
            limits: ParserLimits::default(),
        }
    }
}

/// How an ingest went: the outcome to record, and what was skipped.
#[derive(Clone, Debug)]
pub struct IngestReport {
    /// Record it with `record_ingest`.
    pub outcome: IngestOutcome,
    /// Skipped lines or elements, by reason.
    pub skipped: SkipReport,
    /// Records parsed (whether or not they were committed).
    pub parsed: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Whether the ingest stopped because progress asked it to.
    pub cancelled: bool,
    /// The `#EXTM3U` header of an M3U playlist (its guide URLs and `tvg-shift`).
    pub playlist: Option<PlaylistHeader>,
    /// Playlist lines that were not UTF-8 and were decoded lossily (kept, not skipped).
    pub lossy_lines: u64,
}

/// What is current before an ingest; an ingest that does not succeed leaves both as they were.
#[derive(Clone, Copy, Debug)]
pub(super) struct Previous {
    pub(super) records: u64,
    pub(super) skipped: u64,
}

/// The outcome of an ingest cancelled before its download began: nothing changed.
pub(super) fn cancelled_report(previous: Previous, bytes: u64) -> IngestReport {
    let mut report = failed_report(previous, IngestError::Cancelled, bytes);
    report.cancelled = true;
    report
}

/// The outcome of an ingest that ended early: the previous records and skipped count stay.
pub(super) fn failed_report(previous: Previous, error: IngestError, bytes: u64) -> IngestReport {
    tracing::warn!(error = %error, "ingest failed; previous data kept");
    IngestReport {
        outcome: IngestOutcome {
            state: IngestState::Failed,
            at: Utc::now(),
            record_count: previous.records,
            skipped_count: previous.skipped,
            error: Some(error.to_string()),
        },
        skipped: SkipReport::default(),
        parsed: 0,
        bytes,
        cancelled: false,
        playlist: None,
        lossy_lines: 0,
    }
}
