//! A streaming, tolerant M3U / M3U Plus playlist parser.
//!
//! The playlist is read one line at a time ([`M3uReader`] over any [`BufRead`], or
//! [`M3uLineParser`] fed by any line source), so memory does not grow with the playlist.
//! Each line is borrowed from one reused buffer; only the output strings are allocated.
//!
//! Memory is bounded by [`ParserLimits`]: a line longer than `max_value_bytes` is read to its
//! end without being kept, and an entry whose lines add up to more than `max_record_bytes` (an
//! `#EXTINF` followed by millions of `#EXTVLCOPT` lines) is skipped; both are counted.
//!
//! A positive `#EXTINF` duration (VOD entries, clips) is kept in [`ChannelData::extra`] as
//! [`DURATION_ATTRIBUTE`], as written; `-1` and `0`, the usual "live, unknown length", are not.
//!
//! The parser needs no runtime and no network: with `tvarr-ingest = { default-features = false }`
//! this module, [`ParserLimits`] and [`crate::ParseError`] are what an embedder gets.
//!
//! ```
//! use tvarr_ingest::ParseError;
//! use tvarr_ingest::m3u::{M3uOptions, M3uReader};
//!
//! # fn main() -> Result<(), ParseError> {
//! let playlist = "#EXTM3U url-tvg=\"http://epg.example/guide.xml\"\n\
//!     #EXTINF:-1 tvg-id=\"news.uk\" tvg-chno=\"101\" group-title=\"News\",News HD\n\
//!     http://cdn.example/live/101.ts\n";
//! let mut reader = M3uReader::new(playlist.as_bytes(), M3uOptions::default());
//! let mut names = Vec::new();
//! while let Some(channel) = reader.next_channel()? {
//!     assert_eq!(channel.tvg_id.as_deref(), Some("news.uk"));
//!     assert_eq!(channel.stream_url, "http://cdn.example/live/101.ts");
//!     names.push(channel.name);
//! }
//! assert_eq!(names, ["News HD"]);
//! assert_eq!(reader.header().tvg_urls, ["http://epg.example/guide.xml"]);
//! assert_eq!(reader.skipped().total(), 0);
//! # Ok(())
//! # }
//! ```

use std::io::BufRead;

use memchr::memchr;
use tvarr_core::ChannelData;
use url::Url;

use crate::error::ParseError;
use crate::limits::ParserLimits;
use crate::skip::{SkipReason, SkipReport};

/// The default longest line kept ([`ParserLimits::max_value_bytes`]); a longer line is read to
/// its end without being kept, and counted.
pub const MAX_LINE_BYTES: usize = ParserLimits::DEFAULT_MAX_VALUE_BYTES;

/// What a directive line of an entry costs besides its text (two strings and a vector slot),
/// counted against [`ParserLimits::max_record_bytes`].
const ENTRY_LINE_OVERHEAD: usize = 64;

/// The name under which a positive `#EXTINF` duration is kept in [`ChannelData::extra`].
pub const DURATION_ATTRIBUTE: &str = "duration";

/// The attributes of the `#EXTM3U` header line(s).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaylistHeader {
    /// Guide URLs from `url-tvg`, `x-tvg-url` or `tvg-url`, split on commas, in order, without
    /// duplicates.
    pub tvg_urls: Vec<String>,
    /// `tvg-shift` of the whole playlist.
    pub tvg_shift: Option<String>,
    /// Every header attribute as `(name, value)`, in source order.
    pub attributes: Vec<(String, String)>,
    /// How many `#EXTM3U` lines were seen (0 when the header is missing).
    pub header_lines: u32,
}

/// Per-playlist parsing options.
#[derive(Clone, Debug, Default)]
pub struct M3uOptions {
    /// The playlist's own URL: relative stream URLs are resolved against it.
    pub base_url: Option<Url>,
    /// How long a line and how large an entry may be.
    pub limits: ParserLimits,
}

/// Parses one playlist line at a time. Use it directly when lines come from somewhere other
/// than a [`BufRead`]; [`M3uReader`] drives it over a reader.
#[derive(Debug, Default)]
pub struct M3uLineParser {
    base_url: Option<Url>,
    limits: ParserLimits,
    header: PlaylistHeader,
    skipped: SkipReport,
    pending: Option<Pending>,
    extinf_entries: u64,
    channels: u64,
}

/// An `#EXTINF` waiting for its URL.
#[derive(Debug)]
struct Pending {
    line_no: u64,
    data: ChannelData,
    /// Bytes of the entry's lines so far (with [`ENTRY_LINE_OVERHEAD`] per directive).
    bytes: usize,
    /// Why the entry will be skipped when its URL comes (a line too long, too many lines); its
    /// further directive lines are then not kept.
    doomed: Option<SkipReason>,
}

impl M3uLineParser {
    /// A parser with `options`.
    pub fn new(options: M3uOptions) -> Self {
        Self {
            base_url: options.base_url,
            limits: options.limits.sane(),
            ..Self::default()
        }
    }

    /// The header attributes seen so far.
    pub fn header(&self) -> &PlaylistHeader {
        &self.header
    }

    /// The lines skipped so far.
    pub fn skipped(&self) -> &SkipReport {
        &self.skipped
    }

    /// The skip report, mutable (for readers that skip lines of their own).
    pub fn skipped_mut(&mut self) -> &mut SkipReport {
        &mut self.skipped
    }

    /// `#EXTINF` entries seen so far, kept or not.
    pub fn extinf_entries(&self) -> u64 {
        self.extinf_entries
    }

    /// Channels produced so far.
    pub fn channels(&self) -> u64 {
        self.channels
    }

    /// Feeds one line (without its `\n`; a trailing `\r` is ignored). `line_no` is 1-based.
    /// Returns a channel when the line completes one.
    pub fn push_line(&mut self, line: &str, line_no: u64) -> Option<ChannelData> {
        let line = if line_no == 1 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.starts_with('#') {
            self.directive(trimmed, line_no);
            return None;
        }
        if looks_like_url(trimmed) {
            if let Some(reason) = self.pending.as_ref().and_then(|p| p.doomed) {
                if let Some(pending) = self.pending.take() {
                    self.skipped.record(reason, pending.line_no, trimmed);
                }
                return None;
            }
            return Some(self.finish_entry(trimmed));
        }
        if let Some(at) = memchr::memmem::find(trimmed.as_bytes(), b"#EXTM3U") {
            self.skipped
                .record(SkipReason::StrayText, line_no, &trimmed[..at]);
            self.header_line(&trimmed[at + "#EXTM3U".len()..]);
            return None;
        }
        self.skipped.record(SkipReason::NotAUrl, line_no, trimmed);
        // The entry's URL is not a URL: the entry cannot be played, drop it.
        self.pending = None;
        None
    }

    /// Counts a line longer than [`ParserLimits::max_value_bytes`], of which only `head` (its
    /// first bytes) was kept. An `#EXTINF` or another directive dooms its entry (skipped when
    /// its URL comes, counted once); any other line is the entry's URL or stray text.
    pub fn push_overlong_line(&mut self, head: &str, line_no: u64) {
        let head = head.trim_start_matches('\u{feff}').trim_start();
        if strip_prefix_ignore_case(head, "#EXTINF:").is_some() {
            self.end_pending();
            self.extinf_entries += 1;
            self.pending = Some(Pending {
                line_no,
                data: ChannelData::default(),
                bytes: 0,
                doomed: Some(SkipReason::ValueTooLong),
            });
        } else if head.starts_with('#') && self.pending.is_some() {
            if let Some(pending) = self.pending.as_mut() {
                pending.doom(SkipReason::ValueTooLong);
            }
        } else {
            let line_no = self.pending.take().map_or(line_no, |p| p.line_no);
            self.skipped
                .record(SkipReason::ValueTooLong, line_no, "(line too long)");
        }
    }

    /// Ends the playlist: an `#EXTINF` still waiting for its URL is counted as skipped.
    pub fn finish(&mut self) {
        self.end_pending();
    }

    /// Counts the entry waiting for a URL, if any, as skipped.
    fn end_pending(&mut self) {
        if let Some(pending) = self.pending.take() {
            let reason = pending.doomed.unwrap_or(SkipReason::ExtinfWithoutUrl);
            self.skipped
                .record(reason, pending.line_no, &pending.data.name);
        }
    }

    /// The entry waiting for its URL, charged for one more directive line of `len` bytes;
    /// `None` when there is none, or when it is doomed (its lines are no longer kept).
    fn pending_for_line(&mut self, len: usize) -> Option<&mut ChannelData> {
        let max = self.limits.max_record_bytes;
        let pending = self.pending.as_mut()?;
        if pending.doomed.is_some() {
            return None;
        }
        pending.bytes = pending
            .bytes
            .saturating_add(len.saturating_add(ENTRY_LINE_OVERHEAD));
        if pending.bytes > max {
            pending.doom(SkipReason::RecordTooLarge);
            return None;
        }
        Some(&mut pending.data)
    }

    fn directive(&mut self, line: &str, line_no: u64) {
        if let Some(rest) = strip_prefix_ignore_case(line, "#EXTINF:") {
            self.end_pending();
            self.extinf_entries += 1;
            self.pending = Some(Pending {
                line_no,
                data: parse_extinf(rest),
                bytes: line.len(),
                doomed: None,
            });
        } else if let Some(rest) = strip_prefix_ignore_case(line, "#EXTM3U") {
            self.header_line(rest);
        } else if let Some(rest) = strip_prefix_ignore_case(line, "#EXTGRP:") {
            if let Some(data) = self.pending_for_line(line.len()) {
                let group = rest.trim();
                if !group.is_empty() {
                    if data.group_title.is_none() {
                        data.group_title = Some(group.to_owned());
                    } else {
                        data.extra.push(("EXTGRP".to_owned(), group.to_owned()));
                    }
                }
            }
        } else if let Some(rest) = strip_prefix_ignore_case(line, "#EXTVLCOPT:")
            .or_else(|| strip_prefix_ignore_case(line, "#KODIPROP:"))
            && let Some(data) = self.pending_for_line(line.len())
        {
            let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
            let value = unquote(value.trim());
            data.extra.push((name.trim().to_owned(), value.to_owned()));
        }
        // Anything else is a comment or an HLS tag: ignored, not counted.
    }

    fn header_line(&mut self, rest: &str) {
        self.header.header_lines += 1;
        let header = &mut self.header;
        scan_attributes(rest, |name, value| {
            if name.eq_ignore_ascii_case("url-tvg")
                || name.eq_ignore_ascii_case("x-tvg-url")
                || name.eq_ignore_ascii_case("tvg-url")
            {
                for url in value.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    if !header.tvg_urls.iter().any(|known| known == url) {
                        header.tvg_urls.push(url.to_owned());
                    }
                }
            } else if name.eq_ignore_ascii_case("tvg-shift") && !value.is_empty() {
                header.tvg_shift = Some(value.to_owned());
            }
            header.attributes.push((name.to_owned(), value.to_owned()));
        });
    }

    fn finish_entry(&mut self, url_line: &str) -> ChannelData {
        let mut data = match self.pending.take() {
            Some(pending) => pending.data,
            None => ChannelData::default(),
        };
        let url = split_pipe_headers(url_line, &mut data.extra);
        data.stream_url = self.resolve(url);
        if data.name.is_empty() {
            data.name = data
                .tvg_name
                .clone()
                .unwrap_or_else(|| data.stream_url.clone());
        }
        self.channels += 1;
        data
    }

    fn resolve(&self, url: &str) -> String {
        if has_scheme(url) {
            return url.to_owned();
        }
        match &self.base_url {
            Some(base) => base
                .join(url)
                .map(String::from)
                .unwrap_or_else(|_| url.to_owned()),
            None => url.to_owned(),
        }
    }
}

impl Pending {
    /// Marks the entry to be skipped, and drops what it kept.
    fn doom(&mut self, reason: SkipReason) {
        if self.doomed.is_none() {
            self.doomed = Some(reason);
            self.data.extra = Vec::new();
        }
    }
}

/// Reads channels from a playlist, one at a time, with bounded memory.
///
/// ```
/// use tvarr_ingest::m3u::{M3uOptions, M3uReader};
/// let text = "#EXTM3U\n#EXTINF:-1 tvg-id=\"a\" group-title=\"News\",A\nhttp://h/a.ts\n";
/// let mut reader = M3uReader::new(text.as_bytes(), M3uOptions::default());
/// let channel = reader.next().unwrap().unwrap();
/// assert_eq!(channel.name, "A");
/// assert_eq!(channel.group_title.as_deref(), Some("News"));
/// assert!(reader.next().is_none());
/// ```
#[derive(Debug)]
pub struct M3uReader<R> {
    input: R,
    line: Vec<u8>,
    max_line: usize,
    line_no: u64,
    bytes_read: u64,
    lossy_lines: u64,
    parser: M3uLineParser,
    finished: bool,
}

impl<R: BufRead> M3uReader<R> {
    /// A reader over `input`.
    pub fn new(input: R, options: M3uOptions) -> Self {
        let max_line = options.limits.sane().max_value_bytes;
        Self {
            input,
            line: Vec::with_capacity(1024),
            max_line,
            line_no: 0,
            bytes_read: 0,
            lossy_lines: 0,
            parser: M3uLineParser::new(options),
            finished: false,
        }
    }

    /// The header attributes seen so far (complete once the first channel is read).
    pub fn header(&self) -> &PlaylistHeader {
        self.parser.header()
    }

    /// The lines skipped so far.
    pub fn skipped(&self) -> &SkipReport {
        self.parser.skipped()
    }

    /// Lines that were not valid UTF-8 and were decoded lossily (kept, with U+FFFD).
    pub fn lossy_lines(&self) -> u64 {
        self.lossy_lines
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// `#EXTINF` entries seen so far, kept or not.
    pub fn extinf_entries(&self) -> u64 {
        self.parser.extinf_entries()
    }

    /// The next channel, `Ok(None)` at the end of the playlist.
    pub fn next_channel(&mut self) -> Result<Option<ChannelData>, ParseError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            let Some(too_long) = self.read_line()? else {
                self.finished = true;
                self.parser.finish();
                return Ok(None);
            };
            self.line_no += 1;
            if too_long {
                // The head kept may end inside a character: decode it lossily.
                let head = String::from_utf8_lossy(&self.line[..self.line.len().min(64)]);
                self.parser.push_overlong_line(&head, self.line_no);
                continue;
            }
            let line = trim_cr(&self.line);
            let produced = match std::str::from_utf8(line) {
                Ok(text) => self.parser.push_line(text, self.line_no),
                Err(_) => {
                    self.lossy_lines += 1;
                    let text = String::from_utf8_lossy(line);
                    self.parser.push_line(&text, self.line_no)
                }
            };
            if produced.is_some() {
                return Ok(produced);
            }
        }
    }

    /// Reads one line into `self.line`; `Some(true)` when it was longer than the limit (then
    /// `self.line` holds only its first bytes).
    fn read_line(&mut self) -> std::io::Result<Option<bool>> {
        self.line.clear();
        let mut any = false;
        let mut too_long = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(any.then_some(too_long));
            }
            any = true;
            let (chunk, used, done) = match memchr(b'\n', available) {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            if too_long {
                // Read on to the end of the line without keeping it.
            } else if self.line.len() + chunk.len() <= self.max_line {
                self.line.extend_from_slice(chunk);
            } else {
                // Keep the head, to tell a directive from a URL.
                let room = 64usize.saturating_sub(self.line.len()).min(chunk.len());
                self.line.extend_from_slice(&chunk[..room]);
                too_long = true;
            }
            self.input.consume(used);
            self.bytes_read += used as u64;
            if done {
                return Ok(Some(too_long));
            }
        }
    }
}

impl<R: BufRead> Iterator for M3uReader<R> {
    type Item = Result<ChannelData, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_channel() {
            Ok(Some(channel)) => Some(Ok(channel)),
            Ok(None) => None,
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

/// A whole playlist in memory: for small playlists, tests and tools.
#[derive(Clone, Debug, Default)]
pub struct Playlist {
    /// Header attributes.
    pub header: PlaylistHeader,
    /// Channels in source order.
    pub channels: Vec<ChannelData>,
    /// Skipped lines.
    pub skipped: SkipReport,
    /// `#EXTINF` entries seen, kept or not.
    pub extinf_entries: u64,
    /// Lines decoded lossily.
    pub lossy_lines: u64,
}

/// Reads a whole playlist into memory. Prefer [`M3uReader`] for large inputs.
pub fn parse_m3u<R: BufRead>(input: R, options: M3uOptions) -> Result<Playlist, ParseError> {
    let mut reader = M3uReader::new(input, options);
    let mut channels = Vec::new();
    while let Some(channel) = reader.next_channel()? {
        channels.push(channel);
    }
    Ok(Playlist {
        header: reader.header().clone(),
        channels,
        skipped: reader.skipped().clone(),
        extinf_entries: reader.extinf_entries(),
        lossy_lines: reader.lossy_lines(),
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.as_bytes().get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix.as_bytes()) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn unquote(value: &str) -> &str {
    let bytes = value.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

/// `scheme://…` (any scheme: http, https, rtmp, rtsp, udp, …).
fn has_scheme(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(colon) = memchr(b':', bytes) else {
        return false;
    };
    colon > 0
        && bytes[0].is_ascii_alphabetic()
        && bytes[..colon]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && bytes[colon + 1..].starts_with(b"//")
}

/// Whether a line that is not a directive is a stream URL: absolute with a scheme, or a
/// relative reference that looks like a path (`stream/chunklist.m3u8`, `movie.m3u8`).
fn looks_like_url(s: &str) -> bool {
    if has_scheme(s) {
        return true;
    }
    !s.starts_with('=')
        && s.bytes().any(|b| b == b'/' || b == b'.')
        && !s.bytes().any(|b| {
            b.is_ascii_whitespace() || matches!(b, b'[' | b']' | b'<' | b'>' | b'"' | b'{' | b'}')
        })
}

/// Splits Kodi-style `url|Header=value&Other=value` headers off the URL into `extra`.
fn split_pipe_headers<'a>(line: &'a str, extra: &mut Vec<(String, String)>) -> &'a str {
    let Some(bar) = memchr(b'|', line.as_bytes()) else {
        return line;
    };
    let (url, headers) = (&line[..bar], &line[bar + 1..]);
    let looks_like_headers = headers.split('&').all(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, _)| !k.trim().is_empty())
    });
    if !looks_like_headers {
        return line;
    }
    for pair in headers.split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            extra.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    url.trim_end()
}

/// Parses what follows `#EXTINF:`: a duration, attributes, a comma and the name.
fn parse_extinf(rest: &str) -> ChannelData {
    let rest = rest.trim_start();
    // The duration runs to the first space or comma.
    let duration_end = rest
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(rest.len());
    let mut data = ChannelData::default();
    let duration = &rest[..duration_end];
    if duration
        .parse::<f64>()
        .is_ok_and(|seconds| seconds.is_finite() && seconds > 0.0)
    {
        data.extra
            .push((DURATION_ATTRIBUTE.to_owned(), duration.to_owned()));
    }
    let name = scan_attributes(&rest[duration_end..], |name, value| {
        assign_attribute(&mut data, name, value);
    });
    if let Some(name) = name {
        data.name = name.trim().to_owned();
    }
    data
}

fn assign_attribute(data: &mut ChannelData, name: &str, value: &str) {
    let field = match name.len() {
        6 if name.eq_ignore_ascii_case("tvg-id") => &mut data.tvg_id,
        8 if name.eq_ignore_ascii_case("tvg-name") => &mut data.tvg_name,
        8 if name.eq_ignore_ascii_case("tvg-logo") => &mut data.tvg_logo,
        8 if name.eq_ignore_ascii_case("tvg-chno") => &mut data.tvg_chno,
        9 if name.eq_ignore_ascii_case("tvg-shift") => &mut data.tvg_shift,
        11 if name.eq_ignore_ascii_case("group-title") => &mut data.group_title,
        7 if name.eq_ignore_ascii_case("catchup") => &mut data.catchup,
        12 if name.eq_ignore_ascii_case("catchup-days") => &mut data.catchup_days,
        14 if name.eq_ignore_ascii_case("catchup-source") => &mut data.catchup_source,
        _ => {
            data.extra.push((name.to_owned(), value.to_owned()));
            return;
        }
    };
    *field = if value.is_empty() {
        None
    } else {
        Some(value.to_owned())
    };
}

/// Scans `name=value` / `name="value"` / `name='value'` attributes, calling `on_attribute` for
/// each, up to the first comma outside quotes. Returns the text after that comma, if any.
fn scan_attributes<'a>(
    s: &'a str,
    mut on_attribute: impl FnMut(&'a str, &'a str),
) -> Option<&'a str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b',' {
            return Some(&s[i + 1..]);
        }
        let name_start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b',') && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = &s[name_start..i];
        if i >= bytes.len() || bytes[i] != b'=' {
            // A bare word: not an attribute, ignore it.
            continue;
        }
        i += 1;
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = i + 1;
                match memchr(quote, &bytes[start..]) {
                    Some(len) => {
                        i = start + len + 1;
                        &s[start..start + len]
                    }
                    None => {
                        // Unterminated quote: the value runs to the end of the line.
                        i = bytes.len();
                        &s[start..]
                    }
                }
            }
            _ => {
                let start = i;
                while i < bytes.len() && bytes[i] != b',' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &s[start..i]
            }
        };
        if !name.is_empty() {
            on_attribute(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Playlist {
        parse_m3u(text.as_bytes(), M3uOptions::default()).unwrap()
    }

    #[test]
    fn reads_quoted_unquoted_and_mixed_case_attributes() {
        let p = parse(
            "#EXTM3U\n#EXTINF:-1 TVG-ID=abc tvg-Name='A, B' group-title=\"G\" tvg-country=\"JP\",Name, with comma\nhttp://h/1\n",
        );
        let c = &p.channels[0];
        assert_eq!(c.tvg_id.as_deref(), Some("abc"));
        assert_eq!(c.tvg_name.as_deref(), Some("A, B"));
        assert_eq!(c.group_title.as_deref(), Some("G"));
        assert_eq!(c.name, "Name, with comma");
        assert_eq!(c.extra("tvg-country"), Some("JP"));
    }

    #[test]
    fn keeps_positive_durations_and_drops_live_ones() {
        let p = parse(
            "#EXTM3U\n#EXTINF:16,A\nhttp://h/a\n#EXTINF: 2.5 tvg-id=\"b\",B\nhttp://h/b\n#EXTINF:-1,C\nhttp://h/c\n#EXTINF:0,D\nhttp://h/d\n#EXTINF:abc,E\nhttp://h/e\n",
        );
        let durations: Vec<_> = p
            .channels
            .iter()
            .map(|c| c.extra(DURATION_ATTRIBUTE))
            .collect();
        assert_eq!(durations, [Some("16"), Some("2.5"), None, None, None]);
        assert_eq!(p.channels[1].tvg_id.as_deref(), Some("b"));
    }

    #[test]
    fn bare_url_lines_become_channels_named_by_url() {
        let p = parse("http://h/a.ts\nhttp://h/b.ts\n");
        assert_eq!(p.channels.len(), 2);
        assert_eq!(p.channels[1].name, "http://h/b.ts");
        assert_eq!(p.header.header_lines, 0);
    }

    #[test]
    fn extinf_without_url_is_counted() {
        let p = parse("#EXTM3U\n#EXTINF:-1,A\n#EXTINF:-1,B\nhttp://h/b\n#EXTINF:-1,C\n");
        assert_eq!(p.channels.len(), 1);
        assert_eq!(p.skipped.count(SkipReason::ExtinfWithoutUrl), 2);
        assert_eq!(p.extinf_entries, 3);
    }

    #[test]
    fn invalid_utf8_lines_are_decoded_lossily_and_counted() {
        let bytes = b"#EXTM3U\n#EXTINF:-1,Caf\xe9\nhttp://h/a\n";
        let p = parse_m3u(&bytes[..], M3uOptions::default()).unwrap();
        assert_eq!(p.lossy_lines, 1);
        assert_eq!(p.channels[0].name, "Caf\u{fffd}");
    }

    #[test]
    fn overlong_lines_are_dropped_not_buffered() {
        let mut text = String::from("#EXTM3U\n");
        text.push_str(&"x".repeat(MAX_LINE_BYTES + 10));
        text.push_str("\n#EXTINF:-1,A\nhttp://h/a\n");
        let p = parse(&text);
        assert_eq!(p.channels.len(), 1);
        assert_eq!(p.skipped.count(SkipReason::ValueTooLong), 1);
    }

    fn parse_with(text: &str, max_value_bytes: usize, max_record_bytes: usize) -> Playlist {
        let options = M3uOptions {
            limits: ParserLimits {
                max_value_bytes,
                max_record_bytes,
            },
            ..M3uOptions::default()
        };
        parse_m3u(text.as_bytes(), options).unwrap()
    }

    #[test]
    fn an_overlong_extinf_skips_its_entry_with_its_url() {
        let long = "x".repeat(200);
        let p = parse_with(
            &format!(
                "#EXTM3U\n#EXTINF:-1 tvg-id=\"{long}\",A\nhttp://h/a\n#EXTINF:-1,B\nhttp://h/b\n"
            ),
            100,
            1000,
        );
        assert_eq!(p.channels.len(), 1);
        assert_eq!(p.channels[0].name, "B");
        assert_eq!(p.skipped.count(SkipReason::ValueTooLong), 1);
        assert_eq!(p.skipped.total(), 1);
        assert_eq!(p.extinf_entries, 2);
    }

    #[test]
    fn an_overlong_url_or_option_skips_its_entry_once() {
        let long = "y".repeat(200);
        let p = parse_with(
            &format!(
                "#EXTINF:-1,A\nhttp://h/{long}\n#EXTINF:-1,B\n#EXTVLCOPT:k={long}\nhttp://h/b\n\
                 #EXTINF:-1,C\nhttp://h/c\n"
            ),
            100,
            1000,
        );
        assert_eq!(p.channels.len(), 1);
        assert_eq!(p.channels[0].name, "C");
        assert_eq!(p.skipped.count(SkipReason::ValueTooLong), 2);
        assert_eq!(p.skipped.total(), 2);
    }

    #[test]
    fn an_entry_with_too_many_lines_is_skipped_not_kept() {
        let mut text = String::from("#EXTINF:-1,A\n");
        for i in 0..100 {
            text.push_str(&format!("#EXTVLCOPT:k{i}=v\n"));
        }
        text.push_str("http://h/a\n#EXTINF:-1,B\n#EXTVLCOPT:k=v\nhttp://h/b\n");
        let p = parse_with(&text, 100, 1000);
        assert_eq!(p.channels.len(), 1);
        assert_eq!(p.channels[0].name, "B");
        assert_eq!(p.channels[0].extra("k"), Some("v"));
        assert_eq!(p.skipped.count(SkipReason::RecordTooLarge), 1);
    }

    #[test]
    fn bom_and_cr_are_ignored() {
        let p =
            parse("\u{feff}#EXTM3U url-tvg=\"http://g/1.xml\"\r\n#EXTINF:-1,A\r\nhttp://h/a\r\n");
        assert_eq!(p.header.header_lines, 1);
        assert_eq!(p.header.tvg_urls, ["http://g/1.xml"]);
        assert_eq!(p.channels[0].stream_url, "http://h/a");
        assert_eq!(p.channels[0].name, "A");
    }
}
