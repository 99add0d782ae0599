//! A layer under quick-xml that keeps every XML event within a byte budget.
//!
//! quick-xml copies each event (a text, a tag with its attributes, a comment, a CDATA section)
//! whole into the caller's buffer before returning it, so a text without a `<` (a gzip stream
//! of zeros) or a tag without a `>` would be buffered whole. [`BoundedEvents`] sits between the
//! decoded input and the XML reader and counts the bytes the reader takes for the current
//! event; [`BoundedEvents::begin_event`] is called before each `read_event_into`, so an event's
//! first byte is known and its kind with it. When an event reaches its budget, the rest of it
//! is read without being handed on, and the few bytes that end that kind of event are handed
//! on instead (`"` and `>` for a tag cut inside an attribute value, `-->` for a comment), so
//! the reader sees a short, well-formed event. [`BoundedEvents::take_truncated`] tells the
//! caller that the last event was cut, to skip the record it belongs to.
//!
//! The end of a tag is found with quick-xml's own [`ElementParser`] and [`PiParser`] (a `>`
//! outside quoted attribute values), so the layer and the reader agree on where events end.
//! A DOCTYPE over budget, whose internal subset has rules of its own, is an error.

use std::io::{self, BufRead, Read};

use quick_xml::parser::{ElementParser, Parser, PiParser};

/// The smallest budget: enough for any event's opening and closing sequences.
const MIN_BUDGET: usize = 16;

/// What the current event is, as far as its first bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Nothing taken yet.
    Fresh,
    /// `<` taken.
    Open,
    /// `<!` taken.
    Bang,
    /// Text or a reference (up to the next `<`).
    Text,
    /// A start or end tag, with the quoting state of its attributes.
    Tag(ElementParser),
    /// A tag whose `>` was taken: the event is complete.
    TagDone,
    /// `<?…`.
    Pi,
    /// `<!--…`.
    Comment,
    /// `<![…`.
    CData,
    /// `<!D…`.
    DocType,
    /// Anything quick-xml refuses by itself (`<!x`).
    Other,
}

/// The kind of the current event and its last bytes, from the bytes handed on.
#[derive(Clone, Copy, Debug)]
struct Tracker {
    kind: Kind,
    /// The last two bytes handed on (to finish a comment or CDATA already half-closed).
    tail: [u8; 2],
}

impl Tracker {
    const FRESH: Self = Self {
        kind: Kind::Fresh,
        tail: [0; 2],
    };

    fn observe(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((&byte, after)) = rest.split_first() {
            let next = match self.kind {
                Kind::Fresh if byte == b'<' => Kind::Open,
                Kind::Fresh => Kind::Text,
                Kind::Open => match byte {
                    b'!' => Kind::Bang,
                    b'?' => Kind::Pi,
                    _ => Kind::Tag(ElementParser::Outside),
                },
                Kind::Bang => match byte {
                    b'-' => Kind::Comment,
                    b'[' => Kind::CData,
                    b'D' | b'd' => Kind::DocType,
                    _ => Kind::Other,
                },
                _ => break,
            };
            self.kind = next;
            // The first byte of a tag's name may already be a quote (`<"`): it is fed too.
            if let Kind::Tag(_) = next {
                break;
            }
            rest = after;
        }
        if let Kind::Tag(mut parser) = self.kind {
            self.kind = match parser.feed(rest) {
                Some(_) => Kind::TagDone,
                None => Kind::Tag(parser),
            };
        }
        match bytes {
            [.., a, b] => self.tail = [*a, *b],
            [b] => self.tail = [self.tail[1], *b],
            [] => {}
        }
    }
}

/// What kind of event was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// A text, a tag or a CDATA section: data of the record it is in.
    Value,
    /// A comment or a processing instruction, which the guide reader ignores anyway.
    Ignorable,
}

/// A [`BufRead`] that hands the XML reader at most `budget` bytes of any one event.
#[derive(Debug)]
pub(crate) struct BoundedEvents<R> {
    inner: R,
    budget: usize,
    tracker: Tracker,
    /// Bytes of the current event handed on.
    used: usize,
    /// Bytes handed on in place of a cut event's end.
    inject: [u8; 4],
    inject_len: usize,
    inject_pos: usize,
    /// The current event was cut.
    truncated: bool,
    /// Bytes taken from `inner` in all.
    position: u64,
}

impl<R: BufRead> BoundedEvents<R> {
    /// A layer over `inner` that keeps events within `budget` bytes (at least 16).
    pub(crate) fn new(inner: R, budget: usize) -> Self {
        Self {
            inner,
            budget: budget.max(MIN_BUDGET),
            tracker: Tracker::FRESH,
            used: 0,
            inject: [0; 4],
            inject_len: 0,
            inject_pos: 0,
            truncated: false,
            position: 0,
        }
    }

    /// The decoded input underneath.
    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Bytes taken from the input so far, cut parts included.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Starts a new event: called before each `read_event_into`.
    pub(crate) fn begin_event(&mut self) {
        self.tracker = Tracker::FRESH;
        self.used = 0;
        self.truncated = false;
    }

    /// Whether the last event was cut to fit the budget, and what it was (told once).
    pub(crate) fn take_cut(&mut self) -> Option<Cut> {
        if !std::mem::take(&mut self.truncated) {
            return None;
        }
        Some(match self.tracker.kind {
            Kind::Comment | Kind::Pi => Cut::Ignorable,
            _ => Cut::Value,
        })
    }

    /// Reads the rest of the cut event without handing it on, and prepares its ending.
    fn cut(&mut self) -> io::Result<()> {
        self.truncated = true;
        match self.tracker.kind {
            Kind::Text | Kind::Fresh | Kind::Open | Kind::Bang | Kind::Other | Kind::TagDone => {
                // Up to the next markup, which ends the text.
                self.discard_until(|chunk| memchr::memchr(b'<', chunk).map(|i| (i, 0)))?;

                self.set_inject(&[]);
            }
            Kind::Tag(at_cut) => {
                let mut parser = at_cut;
                let mut last = self.tracker.tail[1];
                let mut empty = false;
                let found = self.discard_until(|chunk| match parser.feed(chunk) {
                    Some(i) => {
                        let before = if i > 0 { chunk[i - 1] } else { last };
                        empty = before == b'/';
                        Some((i, 1))
                    }
                    None => {
                        last = chunk.last().copied().unwrap_or(last);
                        None
                    }
                })?;
                let mut ending = Vec::with_capacity(3);
                match at_cut {
                    ElementParser::SingleQ => ending.push(b'\''),
                    ElementParser::DoubleQ => ending.push(b'"'),
                    ElementParser::Outside => {}
                }
                if empty {
                    ending.push(b'/');
                }
                ending.push(b'>');
                // A tag the input ends inside stays unclosed: quick-xml reports it.
                self.set_inject(if found { &ending } else { &[] });
                self.tracker.kind = Kind::TagDone;
            }
            Kind::Pi => {
                let mut parser = PiParser(self.tracker.tail[1] == b'?');
                let found = self.discard_until(|chunk| parser.feed(chunk).map(|i| (i, 1)))?;
                self.set_inject(if found { b"?>" } else { b"" });
            }
            Kind::Comment => {
                let found = self.discard_sequence(b'-')?;
                self.set_inject(if found { b"-->" } else { b"" });
            }
            Kind::CData => {
                let found = self.discard_sequence(b']')?;
                self.set_inject(if found { b"]]>" } else { b"" });
            }
            Kind::DocType => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a DOCTYPE longer than {} bytes", self.budget),
                ));
            }
        }
        Ok(())
    }

    /// Discards up to the end of a comment (`-->`) or CDATA section (`]]>`), that end included.
    fn discard_sequence(&mut self, mark: u8) -> io::Result<bool> {
        let mut marks = self
            .tracker
            .tail
            .iter()
            .rev()
            .take_while(|b| **b == mark)
            .count();
        self.discard_until(|chunk| {
            for (i, &byte) in chunk.iter().enumerate() {
                if byte == b'>' && marks >= 2 {
                    return Some((i, 1));
                }
                marks = if byte == mark { marks + 1 } else { 0 };
            }
            None
        })
    }

    /// Takes bytes from `inner` without handing them on until `find` returns `(index, extra)`:
    /// then `index + extra` bytes of that chunk are taken too. `false` when the input ended
    /// first.
    fn discard_until(
        &mut self,
        mut find: impl FnMut(&[u8]) -> Option<(usize, usize)>,
    ) -> io::Result<bool> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(false);
            }
            let (used, done) = match find(available) {
                Some((i, extra)) => (i + extra, true),
                None => (available.len(), false),
            };
            self.inner.consume(used);
            self.position += used as u64;
            if done {
                return Ok(true);
            }
        }
    }

    fn set_inject(&mut self, bytes: &[u8]) {
        self.inject[..bytes.len()].copy_from_slice(bytes);
        self.inject_len = bytes.len();
        self.inject_pos = 0;
    }
}

impl<R: BufRead> Read for BoundedEvents<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for BoundedEvents<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.inject_pos < self.inject_len {
            return Ok(&self.inject[self.inject_pos..self.inject_len]);
        }
        if self.truncated {
            // The event was cut and its ending handed on: what follows is the next event's.
            return self.inner.fill_buf();
        }
        let room = self.budget.saturating_sub(self.used);
        let cut_at = {
            let available = self.inner.fill_buf()?;
            if available.len() <= room {
                None
            } else {
                // The input is valid UTF-8: cut before a character, never inside one.
                let mut end = room;
                while end > 0 && available[end] & 0xC0 == 0x80 {
                    end -= 1;
                }
                Some(end)
            }
        };
        match cut_at {
            None => self.inner.fill_buf(),
            Some(0) => {
                self.cut()?;
                self.fill_buf()
            }
            Some(end) => Ok(&self.inner.fill_buf()?[..end]),
        }
    }

    fn consume(&mut self, amount: usize) {
        if self.inject_pos < self.inject_len {
            self.inject_pos = (self.inject_pos + amount).min(self.inject_len);
            return;
        }
        if !self.truncated {
            // The bytes consumed are the front of what `fill_buf` returned, still buffered.
            if let Ok(available) = self.inner.fill_buf() {
                self.tracker
                    .observe(&available[..amount.min(available.len())]);
            }
            self.used += amount;
        }
        self.inner.consume(amount);
        self.position += amount as u64;
    }
}
