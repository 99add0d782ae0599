//! The pipelined run: the parser on a blocking thread reading the download through a bridge
//! while it arrives, the writer here feeding batches to the replacement, and the end of it:
//! commit when the whole source was read and passed the guard, abort otherwise.

use std::io::BufRead;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::Utc;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tvarr_core::{IngestOutcome, IngestState};

use crate::error::IngestError;
use crate::fetch::{Download, from_io};
use crate::m3u::PlaylistHeader;
use crate::skip::SkipReport;

use super::guard::ShrinkGuard;
use super::progress::{IngestProgress, IngestStage, PROGRESS_INTERVAL, ProgressSnapshot};
use super::report::{IngestReport, IngestSettings, Previous, cancelled_report, failed_report};
use super::sink::Replacement;

/// What the parser thread returns besides its batches.
pub(super) struct ParseSummary {
    pub(super) records: u64,
    pub(super) skipped: SkipReport,
    pub(super) playlist: Option<PlaylistHeader>,
    pub(super) lossy_lines: u64,
}

pub(super) type ParseFn<B> = Box<
    dyn FnOnce(Box<dyn BufRead + Send>, mpsc::Sender<B>) -> Result<ParseSummary, IngestError>
        + Send,
>;

/// Runs the parser on a blocking thread and the writer here; commits or aborts.
pub(super) async fn run_pipeline<S: Replacement>(
    download: Download,
    parse: ParseFn<S::Batch>,
    mut replacement: S,
    previous: Previous,
    progress: &dyn IngestProgress,
    settings: &IngestSettings,
    unit: &'static str,
) -> IngestReport {
    let (tx, mut rx) = mpsc::channel::<S::Batch>(settings.queued_batches.max(1));
    let received = download.received.clone();
    let total = download.content_length;
    let stop = CancellationToken::new();
    let bridge = SyncIoBridge::new(StopOnCancel {
        inner: download.body,
        stopped: Box::pin(stop.clone().cancelled_owned()),
    });
    // The parser's logs belong to the ingest (its job and source ids): run it inside the
    // caller's span, with the caller's subscriber (which may be a scoped one, not the global).
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    let parser = tokio::task::spawn_blocking(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let _entered = span.enter();
            let input: Box<dyn BufRead + Send> =
                Box::new(std::io::BufReader::with_capacity(256 * 1024, bridge));
            parse(input, tx)
        })
    });

    let snapshot = |stage: IngestStage, records: u64| ProgressSnapshot {
        stage,
        bytes: received.get(),
        total_bytes: total,
        records,
        unit,
    };
    let mut written = 0u64;
    let mut stage = IngestStage::Downloading;
    let mut failure: Option<IngestError> = None;
    let mut cancelled = false;
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first report is always `downloading`; the ticker's next one comes an interval later.
    ticker.reset();
    if !progress.report(&snapshot(stage, 0)) {
        cancelled = true;
    }
    while !cancelled {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                stage = IngestStage::Parsing;
                let len = S::records(&batch);
                if let Err(e) = replacement.write(batch).await {
                    failure = Some(e);
                    break;
                }
                written += len;
            }
            // Progress and cancellation while no batch arrives (a slow download).
            _ = ticker.tick() => {}
        }
        if !progress.report(&snapshot(stage, written)) {
            cancelled = true;
        }
    }
    if failure.is_some() || cancelled {
        // The parser may be blocked reading a slow download: make its reads fail now.
        stop.cancel();
    }
    // Its sends fail once the receiver is gone; wait for it.
    drop(rx);
    let parsed = match parser.await {
        Ok(result) => result,
        Err(e) => Err(IngestError::Task(e.to_string())),
    };
    let bytes = received.get();
    let summary = match (failure, cancelled, parsed) {
        (_, true, _) => {
            replacement.abort().await;
            return cancelled_report(previous, bytes);
        }
        (Some(e), _, _) | (None, _, Err(e)) => {
            replacement.abort().await;
            let e = match e {
                IngestError::Io(io) => from_io(io),
                other => other,
            };
            return failed_report(previous, e, bytes);
        }
        (None, false, Ok(summary)) => summary,
    };
    progress.report(&snapshot(IngestStage::Storing, written));
    let mut report = IngestReport {
        outcome: IngestOutcome {
            state: IngestState::Ok,
            at: Utc::now(),
            record_count: previous.records,
            skipped_count: summary.skipped.total(),
            error: None,
        },
        parsed: summary.records,
        bytes,
        cancelled: false,
        playlist: summary.playlist,
        lossy_lines: summary.lossy_lines,
        skipped: summary.skipped,
    };
    let guard = ShrinkGuard::new(settings.max_shrink);
    let problem = guard
        .check(previous.records, summary.records)
        .err()
        .map(|refusal| (refusal.state(), guard.message(refusal, unit)));
    if let Some((state, mut message)) = problem {
        replacement.abort().await;
        // Like the record count, the skipped count stays that of the data still current;
        // what this attempt skipped is told in the message.
        if report.skipped.total() > 0 {
            message.push_str(&format!("; this attempt skipped {}", report.skipped));
        }
        report.outcome.state = state;
        report.outcome.skipped_count = previous.skipped;
        report.outcome.error = Some(message);
        return report;
    }
    match replacement.commit().await {
        Ok(count) => {
            report.outcome.record_count = count;
            report
        }
        Err(e) => {
            report.outcome.state = IngestState::Failed;
            report.outcome.skipped_count = previous.skipped;
            report.outcome.error = Some(e.to_string());
            report
        }
    }
}

/// A download body that fails as soon as `stopped` completes, so that a parser blocked on a
/// slow download ends when the writer gives up instead of when the download does.
struct StopOnCancel {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl AsyncRead for StopOnCancel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::other(IngestError::Cancelled)));
        }
        self.inner.as_mut().poll_read(cx, buf)
    }
}
