//! An upstream's bytes through FFmpeg: what `relay` mode reads instead of the upstream itself.
//!
//! [`through_ffmpeg`] starts a [`Transcoder`] with a relay profile's arguments (input on
//! standard input, MPEG-TS on standard output), writes the upstream's bytes to its standard
//! input from a task, and yields what FFmpeg writes. Everything the session does to an upstream
//! (realignment, keyframes, stall detection, failover) then applies to FFmpeg's output, so a
//! hung FFmpeg stalls like a hung provider and a crashed one fails over like a dropped
//! connection, with FFmpeg's exit and last error line as the reason.
//!
//! Dropping the stream ends everything: the feeder task is aborted (closing the upstream), and
//! the transcoder, dropped, is killed and reaped by tokio. FFmpeg also exits by itself when the
//! server dies, since its input ends and its output breaks.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use crate::ffmpeg::{Ffmpeg, Transcoder};

/// A byte stream whose errors are already words.
pub(crate) type Body = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// `input` through FFmpeg with `args`; an error when FFmpeg cannot be started.
pub(crate) fn through_ffmpeg(
    input: Body,
    ffmpeg: &Ffmpeg,
    args: &[String],
) -> Result<Body, String> {
    let mut transcoder =
        Transcoder::spawn(ffmpeg, args).map_err(|e| format!("FFmpeg could not start: {e}"))?;
    let mut stdin = transcoder
        .take_stdin()
        .ok_or("FFmpeg's standard input is not piped")?;
    let stdout = transcoder
        .take_stdout()
        .ok_or("FFmpeg's standard output is not piped")?;
    let feeder = tokio::spawn(async move {
        let mut input = input;
        while let Some(chunk) = input.next().await {
            match chunk {
                Ok(bytes) => {
                    if stdin.write_all(&bytes).await.is_err() {
                        // FFmpeg is gone; its exit says why.
                        return Ok(());
                    }
                }
                Err(error) => return Err(error),
            }
        }
        // The upstream ended: FFmpeg flushes and exits.
        Ok(())
    });
    let output = Output {
        stdout: Box::pin(stdout),
        feeder: Some(feeder),
        transcoder: Some(transcoder),
        ending: None,
    };
    Ok(Box::pin(output))
}

type Ending = Pin<Box<dyn Future<Output = String> + Send>>;

struct Output {
    stdout: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
    feeder: Option<JoinHandle<Result<(), String>>>,
    /// Taken when FFmpeg's output ends, to wait for its exit.
    transcoder: Option<Transcoder>,
    /// Once FFmpeg's output ended: its exit, the reason the stream ends with.
    ending: Option<Ending>,
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(feeder) = self.feeder.take() {
            feeder.abort();
        }
    }
}

impl Stream for Output {
    type Item = Result<Bytes, String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ending.is_none() {
            // An upstream that failed ends the stream with its error, as without FFmpeg.
            if let Some(feeder) = this.feeder.as_mut()
                && let Poll::Ready(done) = Pin::new(feeder).poll(cx)
            {
                this.feeder = None;
                if let Ok(Err(error)) = done {
                    return Poll::Ready(Some(Err(error)));
                }
            }
            match this.stdout.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => return Poll::Ready(Some(Ok(bytes))),
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(format!(
                        "reading FFmpeg's output failed: {error}"
                    ))));
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    // Its output ended: the stream ends with why FFmpeg did, once.
                    let Some(mut transcoder) = this.transcoder.take() else {
                        return Poll::Ready(None);
                    };
                    this.ending = Some(Box::pin(async move {
                        format!("FFmpeg ended: {}", transcoder.wait().await.reason())
                    }));
                }
            }
        }
        let Some(ending) = this.ending.as_mut() else {
            return Poll::Ready(None);
        };
        let reason = std::task::ready!(ending.as_mut().poll(cx));
        this.ending = None;
        Poll::Ready(Some(Err(reason)))
    }
}
