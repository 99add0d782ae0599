//! The bounded buffer one upstream writes and all its viewers read.
//!
//! The upstream pushes whole packets in chunks; a chunk that starts with a join point (a
//! keyframe, see [`crate::ts::Inspector`]) is marked so, together with the PAT and PMT that
//! were current there (one step, so a viewer never gets one join point with another's
//! tables). The ring keeps the newest chunks up
//! to a byte capacity and forgets the oldest; each viewer holds only a cursor (a chunk's
//! sequence number), so a hundred viewers cost a hundred cursors, not a hundred copies. A
//! viewer whose cursor the ring has forgotten was too slow: it skips ahead to the newest join
//! point (its player sees one jump, never an unbounded delay), and after too many skips it is
//! dropped.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

#[derive(Debug)]
struct State {
    /// Chunks of whole packets.
    chunks: VecDeque<Bytes>,
    /// The sequence number of `chunks[0]`.
    first: u64,
    bytes: usize,
    /// The sequence number of the newest chunk that starts at a join point.
    last_join: Option<u64>,
    /// The latest PAT and PMT, sent to a viewer before its first chunk.
    tables: Bytes,
    /// Whether the stream ended.
    ended: bool,
}

/// What a viewer's read found.
#[derive(Debug)]
pub(crate) enum Read {
    /// The chunk at the cursor; the next cursor is one more.
    Chunk(Bytes),
    /// The ring no longer holds the cursor: the viewer is too slow.
    Behind,
    /// Nothing new yet.
    Wait,
    /// The stream ended (and the viewer has read everything).
    Ended,
}

/// The ring.
#[derive(Debug)]
pub(crate) struct Ring {
    state: Mutex<State>,
    capacity: usize,
    /// The sequence number the next chunk will get: viewers wait on its changes.
    tick: watch::Sender<u64>,
}

impl Ring {
    /// A ring that keeps about `capacity` bytes (never fewer than the newest chunk).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                first: 0,
                bytes: 0,
                last_join: None,
                tables: Bytes::new(),
                ended: false,
            }),
            capacity,
            tick: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a chunk of whole packets; `join`, with the PAT and PMT current there, when it
    /// starts at a join point.
    pub(crate) fn push(&self, data: Bytes, join: Option<Bytes>) {
        if data.is_empty() {
            return;
        }
        let next = {
            let mut state = self.lock();
            let seq = state.first + state.chunks.len() as u64;
            state.bytes += data.len();
            state.chunks.push_back(data);
            if let Some(tables) = join {
                state.last_join = Some(seq);
                if !tables.is_empty() {
                    state.tables = tables;
                }
            }
            while state.bytes > self.capacity && state.chunks.len() > 1 {
                if let Some(old) = state.chunks.pop_front() {
                    state.bytes -= old.len();
                    state.first += 1;
                }
            }
            if state.last_join.is_some_and(|j| j < state.first) {
                state.last_join = None;
            }
            seq + 1
        };
        self.tick.send_replace(next);
    }

    /// Ends the stream: viewers read what is left, then the end.
    pub(crate) fn end(&self) {
        self.lock().ended = true;
        self.tick.send_modify(|_| {});
    }

    /// Where a new viewer starts, and what it is sent first: the newest join point with the
    /// tables, else (no keyframe buffered yet) the oldest chunk the ring holds, with nothing.
    pub(crate) fn join(&self) -> (u64, Bytes) {
        let state = self.lock();
        match state.last_join {
            Some(seq) => (seq, state.tables.clone()),
            None => (state.first, Bytes::new()),
        }
    }

    /// The chunk at `cursor`.
    pub(crate) fn read(&self, cursor: u64) -> Read {
        let state = self.lock();
        if cursor < state.first {
            return Read::Behind;
        }
        match state.chunks.get((cursor - state.first) as usize) {
            Some(chunk) => Read::Chunk(chunk.clone()),
            None if state.ended => Read::Ended,
            None => Read::Wait,
        }
    }

    /// A receiver that changes whenever a chunk is pushed or the stream ends.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: u8, len: usize) -> Bytes {
        Bytes::from(vec![n; len])
    }

    #[test]
    fn the_ring_keeps_its_capacity_and_forgets_the_oldest() {
        let ring = Ring::new(1000);
        for n in 0..50 {
            ring.push(chunk(n, 100), (n % 10 == 0).then(Bytes::new));
        }
        assert!(ring.bytes() <= 1000);
        assert!(matches!(ring.read(0), Read::Behind));
        match ring.read(49) {
            Read::Chunk(data) => assert_eq!(data[0], 49),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ring.read(50), Read::Wait));
    }

    #[test]
    fn a_viewer_joins_at_the_newest_keyframe_with_the_tables() {
        let ring = Ring::new(10_000);
        ring.push(chunk(0, 10), None);
        assert_eq!(
            ring.join(),
            (0, Bytes::new()),
            "no keyframe yet: the oldest"
        );
        ring.push(chunk(1, 10), Some(Bytes::from_static(b"PAT1PMT1")));
        ring.push(chunk(2, 10), None);
        ring.push(chunk(3, 10), Some(Bytes::from_static(b"PAT2PMT2")));
        ring.push(chunk(4, 10), None);
        let (cursor, tables) = ring.join();
        assert_eq!(cursor, 3);
        assert!(matches!(ring.read(cursor), Read::Chunk(c) if c[0] == 3));
        assert_eq!(&tables[..], b"PAT2PMT2", "the tables of that join point");
    }

    #[test]
    fn a_forgotten_keyframe_is_no_join_point() {
        let ring = Ring::new(100);
        ring.push(chunk(0, 60), Some(Bytes::new()));
        ring.push(chunk(1, 60), None);
        ring.push(chunk(2, 60), None);
        assert_eq!(ring.join().0, 2, "the oldest held chunk");
    }

    #[test]
    fn an_ended_ring_is_read_to_its_end_first() {
        let ring = Ring::new(1000);
        ring.push(chunk(0, 10), Some(Bytes::new()));
        ring.end();
        assert!(matches!(ring.read(0), Read::Chunk(_)));
        assert!(matches!(ring.read(1), Read::Ended));
    }
}
