//! Upstream reads gathered into fewer, larger chunks.
//!
//! A provider's stream arrives in whatever pieces TCP makes of it: a few kilobytes every few
//! milliseconds. Each piece the session pushes into its ring wakes every viewer and costs each
//! of them one write to its socket, so with 200 viewers the server spends its time in
//! `sendto` (measured by `cargo xtask bench-relay`: 8 % of a core at a 20 ms upstream tick,
//! 24 % at 5 ms). [`Coalesce`] gathers what arrives within [`Coalesce::window`] (or up to
//! [`Coalesce::max_bytes`]) into one chunk, so the viewers are woken and written to at most
//! once per window whatever the upstream does. A live player buffers seconds; the window adds
//! at most its length to the latency of each byte.
//!
//! The first [`Coalesce::warmup`] after the upstream opened is passed through as it comes, so
//! the first viewer of a channel starts as fast as the upstream allows. An error or the end of
//! the upstream comes after the bytes gathered before it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// A byte stream whose errors are words, gathered into chunks of at most a window.
pub(crate) struct Coalesce<S> {
    inner: S,
    window: Duration,
    max_bytes: usize,
    /// Until then, chunks pass through as they come.
    warm_until: Instant,
    gathered: BytesMut,
    /// When the gathered bytes must go, at the latest.
    due: Option<Pin<Box<Sleep>>>,
    /// What ended the inner stream, given after the gathered bytes.
    ended: Option<Option<String>>,
}

impl<S> Coalesce<S> {
    /// Gathers `inner` into chunks of what arrives within `window` (zero: no gathering), at most
    /// `max_bytes` each, once `warmup` has passed.
    pub(crate) fn new(inner: S, window: Duration, max_bytes: usize, warmup: Duration) -> Self {
        Self {
            inner,
            window,
            max_bytes: max_bytes.max(1),
            warm_until: Instant::now() + warmup,
            gathered: BytesMut::new(),
            due: None,
            ended: None,
        }
    }

    fn take(&mut self) -> Bytes {
        self.due = None;
        self.gathered.split().freeze()
    }
}

impl<S> Stream for Coalesce<S>
where
    S: Stream<Item = Result<Bytes, String>> + Unpin,
{
    type Item = Result<Bytes, String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(ended) = this.ended.take() {
            if !this.gathered.is_empty() {
                this.ended = Some(ended);
                return Poll::Ready(Some(Ok(this.take())));
            }
            return Poll::Ready(ended.map(Err));
        }
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    let warm = this.window.is_zero() || Instant::now() < this.warm_until;
                    if warm && this.gathered.is_empty() {
                        return Poll::Ready(Some(Ok(bytes)));
                    }
                    this.gathered.extend_from_slice(&bytes);
                    if warm || this.gathered.len() >= this.max_bytes {
                        return Poll::Ready(Some(Ok(this.take())));
                    }
                    if this.due.is_none() {
                        this.due = Some(Box::pin(tokio::time::sleep(this.window)));
                    }
                }
                Poll::Ready(end) => {
                    let error = end.and_then(Result::err);
                    if this.gathered.is_empty() {
                        return Poll::Ready(error.map(Err));
                    }
                    this.ended = Some(error);
                    return Poll::Ready(Some(Ok(this.take())));
                }
                Poll::Pending => {
                    let Some(due) = this.due.as_mut() else {
                        return Poll::Pending;
                    };
                    return match due.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Some(Ok(this.take()))),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use tokio::sync::mpsc;
    use tokio_stream_shim::Receiver;

    use super::*;

    /// The receiving end of a channel as a stream (tokio-stream is not a dependency).
    mod tokio_stream_shim {
        use super::*;

        pub(super) struct Receiver(pub(super) mpsc::UnboundedReceiver<Result<Bytes, String>>);

        impl Stream for Receiver {
            type Item = Result<Bytes, String>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                self.0.poll_recv(cx)
            }
        }
    }

    fn piece(n: usize) -> Result<Bytes, String> {
        Ok(Bytes::from(vec![7u8; n]))
    }

    #[tokio::test(start_paused = true)]
    async fn pieces_within_a_window_become_one_chunk_after_the_warmup() {
        let (tx, rx) = mpsc::unbounded_channel();
        let window = Duration::from_millis(100);
        let mut stream = Coalesce::new(Receiver(rx), window, 1 << 20, Duration::from_millis(50));
        // During the warmup, pieces pass as they come.
        tx.send(piece(10)).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 10);
        tokio::time::sleep(Duration::from_millis(60)).await;
        // Five pieces 20 ms apart: one chunk when the window closes.
        let sender = tokio::spawn({
            let tx = tx.clone();
            async move {
                for _ in 0..5 {
                    tx.send(piece(100)).unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        let started = Instant::now();
        let chunk = stream.next().await.unwrap().unwrap();
        assert_eq!(chunk.len(), 500);
        assert_eq!(started.elapsed(), window);
        sender.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_chunk_goes_at_once_and_the_end_comes_after_what_was_gathered() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut stream = Coalesce::new(Receiver(rx), Duration::from_secs(1), 250, Duration::ZERO);
        for _ in 0..3 {
            tx.send(piece(100)).unwrap();
        }
        let started = Instant::now();
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 300);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a full chunk does not wait"
        );
        tx.send(piece(40)).unwrap();
        tx.send(Err("the provider hung up".into())).unwrap();
        drop(tx);
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 40);
        assert_eq!(
            stream.next().await.unwrap().unwrap_err(),
            "the provider hung up"
        );
        assert!(stream.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_passes_everything_through() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut stream = Coalesce::new(Receiver(rx), Duration::ZERO, 1 << 20, Duration::ZERO);
        tx.send(piece(1)).unwrap();
        tx.send(piece(2)).unwrap();
        drop(tx);
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 1);
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 2);
        assert!(stream.next().await.is_none());
    }
}
