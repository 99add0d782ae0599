//! A published lineup as a response body that streams: read from the repository a page at a
//! time by number (a keyset read: no `OFFSET`), each channel written by the caller's writer,
//! so a lineup of 50,000 channels is never one string. `lineup.json`, `get_live_streams` and
//! the Xtream playlist are written this way.

use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use tvarr_core::{LineupChannel, LineupRepository, ProxyId};

/// Channels read per page.
pub(crate) const PAGE: u64 = 1_000;

struct Pages<W> {
    lineups: Arc<dyn LineupRepository>,
    proxy: ProxyId,
    next: Option<u32>,
    last: u32,
    head: Option<Vec<u8>>,
    tail: Option<Vec<u8>>,
    write: W,
}

impl<W: FnMut(&LineupChannel, &mut Vec<u8>) -> std::io::Result<()>> Pages<W> {
    async fn piece(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let mut out = self.head.take().unwrap_or_default();
        if let Some(from) = self.next {
            let page = match self
                .lineups
                .numbered(self.proxy, from, self.last, PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(proxy = %self.proxy, error = %e, "a lineup answer ended early");
                    self.next = None;
                    self.tail = None;
                    return Some(Err(std::io::Error::other(e.to_string())));
                }
            };
            self.next = match page.last() {
                Some(channel) if page.len() as u64 == PAGE && channel.number < self.last => {
                    Some(channel.number + 1)
                }
                _ => None,
            };
            out.reserve(page.len() * 200);
            for channel in &page {
                if let Err(e) = (self.write)(channel, &mut out) {
                    self.next = None;
                    self.tail = None;
                    return Some(Err(e));
                }
            }
        }
        if self.next.is_none() {
            match self.tail.take() {
                Some(tail) => out.extend_from_slice(&tail),
                None if out.is_empty() => return None,
                None => {}
            }
        }
        Some(Ok(Bytes::from(out)))
    }
}

/// The body of `head`, then each channel of `proxy`'s published lineup numbered `from` to `to`
/// in number order as `write` writes it, then `tail`.
pub(crate) fn lineup_body<W>(
    lineups: Arc<dyn LineupRepository>,
    proxy: ProxyId,
    (from, to): (u32, u32),
    head: Vec<u8>,
    tail: Vec<u8>,
    write: W,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + 'static
where
    W: FnMut(&LineupChannel, &mut Vec<u8>) -> std::io::Result<()> + 'static,
{
    let pages = Pages {
        lineups,
        proxy,
        next: (from <= to).then_some(from),
        last: to,
        head: Some(head),
        tail: Some(tail),
        write,
    };
    futures::stream::unfold(pages, |mut pages| async move {
        pages.piece().await.map(|piece| (piece, pages))
    })
}

/// Writes JSON array elements: the first after `[`, each next after `,` (the caller's head
/// and tail are `[` and `]`).
#[derive(Default)]
pub(crate) struct Commas {
    started: bool,
}

impl Commas {
    /// Writes the separator before the next element, if one is due.
    pub(crate) fn next(&mut self, out: &mut Vec<u8>) {
        if self.started {
            out.push(b',');
        }
        self.started = true;
    }
}
