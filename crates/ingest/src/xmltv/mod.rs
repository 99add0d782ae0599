//! A streaming, tolerant XMLTV parser on quick-xml.
//!
//! [`XmltvReader`] is a pull reader: each call yields the next guide channel or programme,
//! built from the XML events as they arrive, so a caller can store batches while the document
//! is still downloading. No DOM is built; the event buffer and the text buffer are reused.
//!
//! Entities: the five predefined entities and character references are resolved; any other
//! reference (`&lol9;` of a billion-laughs DTD, `&nbsp;`) is kept literally and never expanded,
//! because DTD entity declarations are ignored. An external DTD (`<!DOCTYPE tv SYSTEM
//! "xmltv.dtd">`) is never opened nor fetched.
//!
//! What is kept: the modelled elements in [`ProgrammeData`] and [`EpgChannel`]; the first
//! `<icon>` as the icon and later ones, like every other element, as raw XML in `extra_xml`,
//! text as written (leading spaces included); text of modelled elements trimmed. Attributes
//! of `<programme>` other than `channel`, `start` and `stop` (`clumpidx`, `pdc-start`,
//! `vps-start`, `showview`, `videoplus`, `x-…`) are dropped; the programmes of a clump are
//! kept as separate programmes, in order.
//!
//! Memory is bounded whatever the document ([`ParserLimits`]): an event (a text, a tag with its
//! attributes, a comment) is never buffered beyond `max_value_bytes` (see `bound.rs`), a
//! channel or programme never holds more than `max_record_bytes`, elements nest at most
//! [`MAX_DEPTH`] deep, and programmes waiting for their stop time hold at most
//! [`MAX_WAITING_BYTES`]. A record with a value too long or too much in all is skipped and
//! counted ([`SkipReason::ValueTooLong`], [`SkipReason::RecordTooLarge`]).
//!
//! The parser needs no runtime and no network: with `tvarr-ingest = { default-features = false }`
//! an embedder reads a guide from any [`BufRead`], and a malformed document ends in a
//! [`ParseError`].
//!
//! ```
//! use tvarr_ingest::ParseError;
//! use tvarr_ingest::xmltv::{XmltvItem, XmltvOptions, XmltvReader};
//!
//! # fn main() -> Result<(), ParseError> {
//! let guide = r#"<?xml version="1.0" encoding="UTF-8"?>
//! <tv generator-info-name="example">
//!   <channel id="news.uk"><display-name lang="en">News</display-name></channel>
//!   <programme start="20250301180000 +0000" stop="20250301183000 +0000" channel="news.uk">
//!     <title lang="en">Evening News</title>
//!   </programme>
//! </tv>"#;
//! let mut reader = XmltvReader::new(guide.as_bytes(), XmltvOptions::default())?;
//! let mut titles = Vec::new();
//! while let Some(item) = reader.next_item()? {
//!     match item {
//!         XmltvItem::Channel(channel) => assert_eq!(channel.id, "news.uk"),
//!         XmltvItem::Programme(programme) => {
//!             assert_eq!(programme.stop - programme.start, chrono::Duration::minutes(30));
//!             titles.push(programme.titles[0].value.clone());
//!         }
//!     }
//! }
//! assert_eq!(titles, ["Evening News"]);
//! assert_eq!(reader.stats().programmes, 1);
//! # Ok(())
//! # }
//! ```

mod bound;
mod decode;
mod time;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use chrono::{DateTime, Duration, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use tvarr_core::{Credit, EpgChannel, EpisodeNumber, LangText, ProgrammeData, Rating};

use crate::error::ParseError;
use crate::limits::ParserLimits;
use crate::skip::{SkipReason, SkipReport};
use bound::{BoundedEvents, Cut};
use decode::Utf8Input;
pub(crate) use time::TimeRules;
use time::{parse_onscreen, parse_xmltv_ns};

/// The default longest text of one element (a title, a description), as
/// [`ParserLimits::max_value_bytes`]: a programme or channel with a longer one is skipped.
pub const MAX_TEXT_BYTES: usize = ParserLimits::DEFAULT_MAX_VALUE_BYTES;
/// The default largest unmodelled element kept as raw XML (`max_value_bytes`); a larger one is
/// dropped whole, and its record kept.
pub const MAX_CAPTURE_BYTES: usize = ParserLimits::DEFAULT_MAX_VALUE_BYTES;
/// The deepest nesting of elements read; a deeper document is an error. XMLTV needs five.
pub const MAX_DEPTH: u32 = 32;
/// The most the programmes waiting for their stop time (those without `stop`, until the next
/// programme on their channel) may hold; beyond it, they are given their default stop at once.
pub const MAX_WAITING_BYTES: usize = 64 << 20;
/// What a value kept in a record costs besides its text, counted against
/// [`ParserLimits::max_record_bytes`].
const VALUE_OVERHEAD: usize = 64;

/// How a guide's times are read.
#[derive(Clone, Debug)]
pub struct XmltvOptions {
    /// Minutes added to every programme time (a provider whose clock is off).
    pub time_offset_minutes: i32,
    /// The zone of times that carry no offset (default UTC).
    pub timezone: Option<chrono_tz::Tz>,
    /// Length given to a programme with no `stop`, no `<length>` and no next programme on its
    /// channel.
    pub default_duration: Duration,
    /// How much of one value and one record is held.
    pub limits: ParserLimits,
}

impl Default for XmltvOptions {
    fn default() -> Self {
        Self {
            time_offset_minutes: 0,
            timezone: None,
            default_duration: Duration::hours(1),
            limits: ParserLimits::default(),
        }
    }
}

impl XmltvOptions {
    /// Options from an EPG source's offset and IANA timezone name. An unknown timezone name is
    /// an error, not silently UTC.
    pub fn for_source(
        time_offset_minutes: i32,
        timezone: Option<&str>,
    ) -> Result<Self, ParseError> {
        let timezone =
            match timezone.map(str::trim).filter(|t| !t.is_empty()) {
                Some(name) => Some(name.parse::<chrono_tz::Tz>().map_err(|_| {
                    ParseError::InvalidLocation(format!("unknown timezone `{name}`"))
                })?),
                None => None,
            };
        Ok(Self {
            time_offset_minutes,
            timezone,
            ..Self::default()
        })
    }
}

/// One record of a guide.
// Programmes are the common case; boxing them would add an allocation per programme.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XmltvItem {
    /// A `<channel>`.
    Channel(EpgChannel),
    /// A `<programme>`.
    Programme(ProgrammeData),
}

/// What a parse found besides the records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XmltvStats {
    /// Channels yielded.
    pub channels: u64,
    /// Programmes yielded.
    pub programmes: u64,
    /// Programmes without `stop` that ended at the next programme on their channel.
    pub stops_derived: u64,
    /// Programmes without `stop` and without a next programme: given `<length>` or the default.
    pub stops_defaulted: u64,
    /// Skipped elements.
    pub skipped: SkipReport,
    /// Invalid byte sequences replaced with U+FFFD.
    pub replaced_sequences: u64,
    /// Bytes decoded through a declared single-byte encoding because they were not UTF-8.
    pub transcoded_bytes: u64,
    /// The encoding the bytes were read in.
    pub encoding: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    DisplayName,
    Title,
    SubTitle,
    Desc,
    Category,
    EpisodeNum,
    Language,
    Date,
    RatingValue,
    Credit,
}

#[derive(Debug)]
struct TextTarget {
    kind: TextKind,
    depth: u32,
    /// Only text directly inside the element (credits: not the nested `<image>`/`<url>`).
    direct_only: bool,
    /// `lang`, `system` or the actor's `role` attribute.
    attribute: Option<String>,
    /// The credit's role element name.
    role: Option<String>,
}

// The programme being built lives inline: boxing it would cost an allocation per programme.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Record {
    None,
    Channel(EpgChannel, u32),
    Programme(PendingProgramme, u32),
    Skip(u32),
}

#[derive(Debug)]
struct PendingProgramme {
    data: ProgrammeData,
    has_stop: bool,
    length: Option<Duration>,
    /// What it holds, as counted against the record limit.
    bytes: usize,
}

#[derive(Debug)]
struct Capture {
    depth: u32,
    /// Where the captured element starts in the raw buffer.
    start: usize,
    /// The element grew past `max_value_bytes`: it is dropped.
    overflow: bool,
    is_length: bool,
    length_units: Option<String>,
}

/// Reads guide channels and programmes from an XMLTV document, one at a time.
///
/// ```
/// use tvarr_ingest::xmltv::{XmltvItem, XmltvOptions, XmltvReader};
/// let xml = r#"<tv><channel id="a"><display-name>A</display-name></channel>
///   <programme channel="a" start="20240101120000 +0100" stop="20240101130000 +0100">
///   <title lang="en">News &amp; Weather</title></programme></tv>"#;
/// let mut reader = XmltvReader::new(xml.as_bytes(), XmltvOptions::default()).unwrap();
/// assert!(matches!(reader.next_item().unwrap(), Some(XmltvItem::Channel(_))));
/// let Some(XmltvItem::Programme(p)) = reader.next_item().unwrap() else { panic!() };
/// assert_eq!(p.title(), "News & Weather");
/// assert_eq!(p.start.to_rfc3339(), "2024-01-01T11:00:00+00:00");
/// assert!(reader.next_item().unwrap().is_none());
/// ```
pub struct XmltvReader<R: BufRead> {
    reader: Reader<BoundedEvents<Utf8Input<R>>>,
    buf: Vec<u8>,
    text: String,
    raw: String,
    open_names: Vec<(usize, usize)>,
    scratch: String,
    depth: u32,
    record: Record,
    target: Option<TextTarget>,
    capture: Option<Capture>,
    rating: Option<(u32, Option<String>, Option<String>)>,
    credits_depth: Option<u32>,
    waiting: HashMap<String, PendingProgramme>,
    waiting_bytes: usize,
    ready: VecDeque<XmltvItem>,
    limits: ParserLimits,
    /// Why the open record will be skipped, if it will.
    doomed: Option<SkipReason>,
    /// What the open record holds so far, as counted against the record limit.
    record_bytes: usize,
    rules: TimeRules,
    default_duration: Duration,
    stats: XmltvStats,
    elements: u64,
    seen_root: bool,
    state: ReaderState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Reading,
    Draining,
    Done,
}

impl<R: BufRead> XmltvReader<R> {
    /// A reader over `input` (any encoding, see the module docs of the decoder).
    pub fn new(input: R, options: XmltvOptions) -> Result<Self, ParseError> {
        let limits = options.limits.sane();
        let input = BoundedEvents::new(Utf8Input::new(input)?, limits.max_value_bytes);
        let mut reader = Reader::from_reader(input);
        let config = reader.config_mut();
        config.allow_dangling_amp = true;
        config.expand_empty_elements = false;
        config.check_end_names = true;
        config.trim_text_start = false;
        config.trim_text_end = false;
        let encoding = reader.get_ref().get_ref().label();
        Ok(Self {
            reader,
            buf: Vec::with_capacity(8 * 1024),
            text: String::with_capacity(1024),
            raw: String::new(),
            open_names: Vec::new(),
            scratch: String::new(),
            depth: 0,
            record: Record::None,
            target: None,
            capture: None,
            rating: None,
            credits_depth: None,
            waiting: HashMap::new(),
            waiting_bytes: 0,
            ready: VecDeque::new(),
            limits,
            doomed: None,
            record_bytes: 0,
            rules: TimeRules {
                timezone: options.timezone,
                offset: Duration::minutes(i64::from(options.time_offset_minutes)),
            },
            default_duration: options.default_duration,
            stats: XmltvStats {
                encoding,
                ..XmltvStats::default()
            },
            elements: 0,
            seen_root: false,
            state: ReaderState::Reading,
        })
    }

    /// Counts so far (complete after the last item).
    pub fn stats(&self) -> XmltvStats {
        let input = self.reader.get_ref().get_ref();
        XmltvStats {
            replaced_sequences: input.replaced(),
            transcoded_bytes: input.transcoded(),
            ..self.stats.clone()
        }
    }

    /// Decoded bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.reader.get_ref().position()
    }

    /// The next channel or programme; `Ok(None)` at the end. After an error (a document that
    /// is not well-formed), the programmes still waiting for a stop time are yielded, then
    /// `None`: what was read before the error is kept.
    pub fn next_item(&mut self) -> Result<Option<XmltvItem>, ParseError> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                self.count(&item);
                return Ok(Some(item));
            }
            match self.state {
                ReaderState::Done => return Ok(None),
                ReaderState::Draining => {
                    self.drain_waiting();
                    self.state = ReaderState::Done;
                    continue;
                }
                ReaderState::Reading => {}
            }
            if let Err(e) = self.step() {
                self.state = ReaderState::Draining;
                return Err(e);
            }
        }
    }

    fn count(&mut self, item: &XmltvItem) {
        match item {
            XmltvItem::Channel(_) => self.stats.channels += 1,
            XmltvItem::Programme(_) => self.stats.programmes += 1,
        }
    }

    /// Reads one XML event.
    fn step(&mut self) -> Result<(), ParseError> {
        self.buf.clear();
        self.reader.get_mut().begin_event();
        let event = match self.reader.read_event_into(&mut self.buf) {
            Ok(event) => event,
            Err(e) => {
                return Err(ParseError::Xml {
                    position: self.reader.error_position(),
                    message: e.to_string(),
                });
            }
        };
        let cut = self.reader.get_mut().take_cut();
        if matches!(event, Event::Start(_)) && self.depth >= MAX_DEPTH {
            return Err(ParseError::Xml {
                position: self.reader.buffer_position(),
                message: format!("elements nested deeper than {MAX_DEPTH}"),
            });
        }
        // The event borrows `self.buf`; handlers take the fields they need explicitly.
        let mut handler = Handler {
            text: &mut self.text,
            raw: &mut self.raw,
            open_names: &mut self.open_names,
            scratch: &mut self.scratch,
            depth: &mut self.depth,
            record: &mut self.record,
            target: &mut self.target,
            capture: &mut self.capture,
            rating: &mut self.rating,
            credits_depth: &mut self.credits_depth,
            rules: &self.rules,
            stats: &mut self.stats,
            elements: &mut self.elements,
            seen_root: &mut self.seen_root,
            limits: self.limits,
            doomed: &mut self.doomed,
            record_bytes: &mut self.record_bytes,
            finished: None,
        };
        match event {
            Event::Start(e) => handler.start(&e, false)?,
            Event::Empty(e) => {
                handler.start(&e, true)?;
                handler.end(true);
            }
            Event::End(_) => handler.end(false),
            Event::Text(e) => {
                // Indentation between elements is the most common event: skip it cheaply.
                if handler.capture.is_some() || handler.wants_text() {
                    let content = e.xml10_content();
                    handler.text(&content, &e);
                }
            }
            Event::CData(e) => {
                let content = e.into_inner();
                handler.cdata(&content);
            }
            Event::GeneralRef(r) => handler.reference(&r),
            Event::Eof => {
                self.state = ReaderState::Draining;
                return Ok(());
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        if cut == Some(Cut::Value) {
            // A comment or PI cut short is dropped like any other: only data counts.
            handler.value_too_long();
        }
        if let Some(finished) = handler.finished.take() {
            self.finish_record(finished);
        }
        Ok(())
    }

    fn finish_record(&mut self, finished: Finished) {
        match finished {
            Finished::Channel(channel) => self.ready.push_back(XmltvItem::Channel(channel)),
            Finished::Programme(programme) => self.place_programme(programme),
        }
    }

    /// Programmes without stop wait for the next programme on their channel.
    fn place_programme(&mut self, programme: PendingProgramme) {
        let previous = if self.waiting.is_empty() {
            None
        } else {
            self.waiting.remove(&programme.data.channel)
        };
        if let Some(mut previous) = previous {
            self.waiting_bytes = self.waiting_bytes.saturating_sub(previous.bytes);
            if programme.data.start > previous.data.start {
                previous.data.stop = programme.data.start;
                self.stats.stops_derived += 1;
            } else {
                self.default_stop(&mut previous);
            }
            self.ready.push_back(XmltvItem::Programme(previous.data));
        }
        if programme.has_stop {
            self.ready.push_back(XmltvItem::Programme(programme.data));
        } else {
            self.waiting_bytes += programme.bytes;
            self.waiting
                .insert(programme.data.channel.clone(), programme);
            if self.waiting_bytes > MAX_WAITING_BYTES {
                self.drain_waiting();
            }
        }
    }

    fn default_stop(&mut self, programme: &mut PendingProgramme) {
        let start = programme.data.start;
        // A length that would carry the stop past the last representable time is ignored.
        programme.data.stop = programme
            .length
            .filter(|l| *l > Duration::zero())
            .and_then(|l| start.checked_add_signed(l))
            .unwrap_or(start + self.default_duration);
        self.stats.stops_defaulted += 1;
    }

    fn drain_waiting(&mut self) {
        self.waiting_bytes = 0;
        let mut rest: Vec<PendingProgramme> = self.waiting.drain().map(|(_, p)| p).collect();
        rest.sort_by(|a, b| {
            (a.data.channel.as_str(), a.data.start).cmp(&(b.data.channel.as_str(), b.data.start))
        });
        for mut programme in rest {
            self.default_stop(&mut programme);
            self.ready.push_back(XmltvItem::Programme(programme.data));
        }
    }
}

impl<R: BufRead> Iterator for XmltvReader<R> {
    type Item = Result<XmltvItem, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

#[allow(clippy::large_enum_variant)]
enum Finished {
    Channel(EpgChannel),
    Programme(PendingProgramme),
}

/// The reader's state, borrowed apart from the event buffer.
struct Handler<'a> {
    text: &'a mut String,
    raw: &'a mut String,
    open_names: &'a mut Vec<(usize, usize)>,
    scratch: &'a mut String,
    depth: &'a mut u32,
    record: &'a mut Record,
    target: &'a mut Option<TextTarget>,
    capture: &'a mut Option<Capture>,
    rating: &'a mut Option<(u32, Option<String>, Option<String>)>,
    credits_depth: &'a mut Option<u32>,
    rules: &'a TimeRules,
    stats: &'a mut XmltvStats,
    elements: &'a mut u64,
    seen_root: &'a mut bool,
    limits: ParserLimits,
    doomed: &'a mut Option<SkipReason>,
    record_bytes: &'a mut usize,
    finished: Option<Finished>,
}

/// Calls `on_attribute(name, value)` for each attribute of a start tag, scanning its raw text
/// (cheaper than quick-xml's checked iterator); values are unescaped only when they hold a
/// reference or a line break. Scanning stops at the first malformed attribute.
fn for_each_attribute<'e>(
    e: &'e BytesStart<'_>,
    mut on_attribute: impl FnMut(&'e str, Cow<'e, str>),
) {
    let raw: &'e str = e.attributes_raw();
    let bytes = raw.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let name = &raw[name_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if name.is_empty() || bytes.get(i) != Some(&b'=') {
            return;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let Some(&quote) = bytes.get(i).filter(|q| **q == b'"' || **q == b'\'') else {
            return;
        };
        let value_start = i + 1;
        let Some(len) = memchr::memchr(quote, &bytes[value_start..]) else {
            return;
        };
        i = value_start + len + 1;
        on_attribute(
            name,
            unescape_attribute(&raw[value_start..value_start + len]),
        );
    }
}

/// The value of one attribute, if present.
fn attribute<'e>(e: &'e BytesStart<'_>, name: &str) -> Option<Cow<'e, str>> {
    let mut found = None;
    for_each_attribute(e, |key, value| {
        if found.is_none() && key == name {
            found = Some(value);
        }
    });
    found
}

/// Resolves the predefined entities and character references of an attribute value and turns
/// line breaks and tabs into spaces; unknown entities are kept as written.
fn unescape_attribute(value: &str) -> Cow<'_, str> {
    let bytes = value.as_bytes();
    if memchr::memchr3(b'&', b'\n', b'\r', bytes).is_none()
        && memchr::memchr(b'\t', bytes).is_none()
    {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(['&', '\n', '\r', '\t']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if !tail.starts_with('&') {
            out.push(' ');
            let skip = if tail.starts_with("\r\n") { 2 } else { 1 };
            rest = &tail[skip..];
            continue;
        }
        let resolved = tail.find(';').and_then(|end| {
            let entity = &tail[1..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "apos" => Some('\''),
                "quot" => Some('"'),
                _ => entity.strip_prefix('#').and_then(|number| {
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => number.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            ch.map(|ch| (ch, end))
        });
        match resolved {
            Some((ch, end)) => {
                out.push(ch);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn owned_nonempty(value: Option<Cow<'_, str>>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Handler<'_> {
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), ParseError> {
        *self.depth += 1;
        let depth = *self.depth;
        let name = e.name();
        let name = name.as_ref();
        if !*self.seen_root {
            *self.seen_root = true;
            if name.eq_ignore_ascii_case("html") {
                return Err(ParseError::HtmlPage { expected: "guide" });
            }
        }
        if self.doomed.is_some() {
            // The record is skipped: nothing more of it is kept.
            return Ok(());
        }
        if self.capture.is_some() {
            if !self.capture_full() {
                self.push_raw_start(e, empty);
            }
            return Ok(());
        }
        match self.record {
            Record::None => match name {
                "programme" => self.begin_programme(e, depth),
                "channel" => self.begin_channel(e, depth),
                _ => {}
            },
            Record::Skip(_) => {}
            Record::Channel(channel, record_depth) => {
                if depth != *record_depth + 1 || self.target.is_some() {
                    return Ok(());
                }
                match name {
                    "display-name" => self.begin_text(TextKind::DisplayName, e, "lang", false),
                    "icon" if channel.icon.is_none() => {
                        channel.icon = owned_nonempty(attribute(e, "src"));
                    }
                    _ => self.begin_capture(e, empty, false),
                }
            }
            Record::Programme(programme, record_depth) => {
                let record_depth = *record_depth;
                if self.target.is_some() {
                    return Ok(());
                }
                if depth == record_depth + 1 {
                    match name {
                        "title" => self.begin_text(TextKind::Title, e, "lang", false),
                        "sub-title" => self.begin_text(TextKind::SubTitle, e, "lang", false),
                        "desc" => self.begin_text(TextKind::Desc, e, "lang", false),
                        "category" => self.begin_text(TextKind::Category, e, "lang", false),
                        "episode-num" => {
                            self.begin_text(TextKind::EpisodeNum, e, "system", false);
                        }
                        "language" => self.begin_text(TextKind::Language, e, "lang", false),
                        "date" => self.begin_text(TextKind::Date, e, "lang", false),
                        "icon" if programme.data.icon.is_none() => {
                            programme.data.icon = owned_nonempty(attribute(e, "src"));
                        }
                        "rating" => {
                            let system = owned_nonempty(attribute(e, "system"));
                            if self.charge(system.as_ref().map_or(0, String::len)) {
                                *self.rating = Some((depth, system, None));
                            }
                        }
                        "credits" => *self.credits_depth = Some(depth),
                        "length" => self.begin_capture(e, empty, true),
                        _ => self.begin_capture(e, empty, false),
                    }
                } else if depth == record_depth + 2 {
                    if self.rating.is_some() && name == "value" {
                        self.begin_text(TextKind::RatingValue, e, "", false);
                    } else if self.credits_depth.is_some() {
                        self.begin_text(TextKind::Credit, e, "role", true);
                        if let Some(target) = self.target.as_mut() {
                            target.role = Some(name.to_owned());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn begin_programme(&mut self, e: &BytesStart<'_>, depth: u32) {
        *self.elements += 1;
        self.begin_record(e);
        let mut channel = None;
        let mut start = None;
        let mut stop = None;
        let rules = self.rules;
        for_each_attribute(e, |name, value| match name {
            "channel" => channel = Some(value),
            "start" => start = Some(rules.parse(&value)),
            "stop" => stop = Some(rules.parse(&value)),
            _ => {}
        });
        let channel = channel
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let Some(channel) = channel else {
            self.stats.skipped.record(
                SkipReason::ProgrammeWithoutChannel,
                *self.elements,
                &format!("<{}>", &**e),
            );
            *self.record = Record::Skip(depth);
            return;
        };
        let Some(Some(start)) = start else {
            self.stats.skipped.record(
                SkipReason::UnparsableStart,
                *self.elements,
                &format!("<{}>", &**e),
            );
            *self.record = Record::Skip(depth);
            return;
        };
        let stop: Option<DateTime<Utc>> = stop.flatten().filter(|s| *s >= start);
        let programme = PendingProgramme {
            data: ProgrammeData {
                channel,
                start,
                stop: stop.unwrap_or(start),
                ..ProgrammeData::default()
            },
            has_stop: stop.is_some(),
            length: None,
            bytes: 0,
        };
        *self.record = Record::Programme(programme, depth);
    }

    /// A channel or programme starts: nothing counted against it yet but its start tag.
    fn begin_record(&mut self, e: &BytesStart<'_>) {
        *self.doomed = None;
        *self.record_bytes = e.len() + VALUE_OVERHEAD;
    }

    /// The open record will be skipped, for `reason` (the first reason given stands); what it
    /// kept so far is dropped.
    fn doom(&mut self, reason: SkipReason) {
        if !matches!(self.record, Record::Channel(..) | Record::Programme(..)) {
            return;
        }
        if self.doomed.is_none() {
            *self.doomed = Some(reason);
            self.text.clear();
            *self.target = None;
            *self.capture = None;
            *self.rating = None;
            self.open_names.clear();
            self.raw.clear();
            match self.record {
                Record::Channel(channel, _) => {
                    let id = std::mem::take(&mut channel.id);
                    *channel = EpgChannel {
                        id,
                        ..EpgChannel::default()
                    };
                }
                Record::Programme(programme, _) => {
                    let data = &mut programme.data;
                    *data = ProgrammeData {
                        channel: std::mem::take(&mut data.channel),
                        start: data.start,
                        stop: data.stop,
                        ..ProgrammeData::default()
                    };
                }
                Record::None | Record::Skip(_) => {}
            }
        }
    }

    /// The event just read was cut to `max_value_bytes`: the record it belongs to is skipped,
    /// or, outside any record, the event is counted by itself.
    fn value_too_long(&mut self) {
        if let Some(finished) = self.finished.take() {
            let at = match &finished {
                Finished::Channel(channel) => format!("<channel id=\"{}\">", channel.id),
                Finished::Programme(p) => format!("<programme channel=\"{}\">", p.data.channel),
            };
            self.stats
                .skipped
                .record(SkipReason::ValueTooLong, *self.elements, &at);
            return;
        }
        if let Some(capture) = self.capture.as_mut() {
            // Inside an unmodelled element: that element is dropped whole, as any too large.
            capture.overflow = true;
            self.raw.truncate(capture.start);
            return;
        }
        match self.record {
            Record::Channel(..) | Record::Programme(..) => self.doom(SkipReason::ValueTooLong),
            // Already counted.
            Record::Skip(_) => {}
            Record::None => {
                *self.elements += 1;
                self.stats.skipped.record(
                    SkipReason::ValueTooLong,
                    *self.elements,
                    "(a text or tag outside any channel or programme)",
                );
            }
        }
    }

    /// Counts `bytes` more against the open record; dooms it when that is too much.
    fn charge(&mut self, bytes: usize) -> bool {
        *self.record_bytes = self
            .record_bytes
            .saturating_add(bytes.saturating_add(VALUE_OVERHEAD));
        if self.record_bytes.saturating_add(self.raw.len()) > self.limits.max_record_bytes {
            self.doom(SkipReason::RecordTooLarge);
            return false;
        }
        true
    }

    fn begin_channel(&mut self, e: &BytesStart<'_>, depth: u32) {
        *self.elements += 1;
        self.begin_record(e);
        match owned_nonempty(attribute(e, "id")) {
            Some(id) => {
                let channel = EpgChannel {
                    id,
                    ..EpgChannel::default()
                };
                *self.record = Record::Channel(channel, depth);
            }
            None => {
                self.stats.skipped.record(
                    SkipReason::ChannelWithoutId,
                    *self.elements,
                    &format!("<{}>", &**e),
                );
                *self.record = Record::Skip(depth);
            }
        }
    }

    fn begin_text(&mut self, kind: TextKind, e: &BytesStart<'_>, attr: &str, direct_only: bool) {
        self.text.clear();
        let attribute = if attr.is_empty() {
            None
        } else {
            owned_nonempty(attribute(e, attr))
        };
        if let Some(attribute) = &attribute
            && !self.charge(attribute.len())
        {
            return;
        }
        *self.target = Some(TextTarget {
            kind,
            depth: *self.depth,
            direct_only,
            attribute,
            role: None,
        });
    }

    fn begin_capture(&mut self, e: &BytesStart<'_>, empty: bool, is_length: bool) {
        let length_units = if is_length {
            owned_nonempty(attribute(e, "units"))
        } else {
            None
        };
        let start = self.raw.len();
        self.push_raw_start(e, empty);
        if is_length {
            self.text.clear();
        }
        *self.capture = Some(Capture {
            depth: *self.depth,
            start,
            overflow: false,
            is_length,
            length_units,
        });
    }

    fn push_raw_start(&mut self, e: &BytesStart<'_>, empty: bool) {
        self.raw.push('<');
        let name_start = self.raw.len();
        self.raw.push_str(e);
        if empty {
            self.raw.push_str("/>");
        } else {
            self.open_names
                .push((name_start, name_start + e.name().as_ref().len()));
            self.raw.push('>');
        }
    }

    fn wants_text(&self) -> bool {
        match self.target.as_ref() {
            Some(target) => {
                *self.depth == target.depth || (!target.direct_only && *self.depth > target.depth)
            }
            None => false,
        }
    }

    fn text(&mut self, content: &str, raw: &str) {
        if self.capture_full() {
            return;
        }
        if let Some(capture) = self.capture.as_ref() {
            if raw.contains('&') {
                // A dangling ampersand: escape it so the fragment stays well-formed.
                self.raw.push_str(&raw.replace('&', "&amp;"));
            } else {
                self.raw.push_str(raw);
            }
            let is_length = capture.is_length && *self.depth == capture.depth;
            // A large text marks the capture as too large (it is then dropped).
            self.capture_full();
            if is_length {
                push_bounded(self.text, content, self.limits.max_value_bytes);
            }
        } else if self.wants_text() {
            self.push_text(content);
        }
    }

    /// Appends to the text of a modelled element; a text too long dooms the record.
    fn push_text(&mut self, content: &str) {
        if !push_bounded(self.text, content, self.limits.max_value_bytes) {
            self.doom(SkipReason::ValueTooLong);
        }
    }

    /// Whether the element being captured grew too large (it is then dropped whole).
    fn capture_full(&mut self) -> bool {
        let Some(capture) = self.capture.as_mut() else {
            return false;
        };
        if capture.overflow {
            return true;
        }
        if self.raw.len() - capture.start > self.limits.max_value_bytes {
            capture.overflow = true;
            // Dropped now: the record's other captures count against its limit.
            self.raw.truncate(capture.start);
            return true;
        }
        if self.raw.len().saturating_add(*self.record_bytes) > self.limits.max_record_bytes {
            self.doom(SkipReason::RecordTooLarge);
            return true;
        }
        false
    }

    fn cdata(&mut self, content: &str) {
        if self.capture_full() {
            return;
        }
        if self.capture.is_some() {
            self.raw.push_str("<![CDATA[");
            self.raw.push_str(content);
            self.raw.push_str("]]>");
            self.capture_full();
        } else if self.wants_text() {
            self.push_text(content);
        }
    }

    fn reference(&mut self, reference: &BytesRef<'_>) {
        let name: &str = reference.as_ref();
        let resolved = if reference.is_char_ref() {
            reference.resolve_char_ref().ok().flatten()
        } else {
            match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "apos" => Some('\''),
                "quot" => Some('"'),
                _ => None,
            }
        };
        if self.capture.is_some() {
            if self.capture_full() {
                return;
            }
            // Raw XML must stay well-formed: unknown entities are escaped.
            if resolved.is_some() {
                self.raw.push('&');
            } else {
                self.raw.push_str("&amp;");
            }
            self.raw.push_str(name);
            self.raw.push(';');
            return;
        }
        if !self.wants_text() {
            return;
        }
        match resolved {
            Some(ch) => {
                let mut utf8 = [0; 4];
                self.push_text(ch.encode_utf8(&mut utf8));
            }
            None => {
                // Never expanded: kept as written.
                self.push_text("&");
                self.push_text(name);
                self.push_text(";");
            }
        }
    }

    fn end(&mut self, empty: bool) {
        let depth = *self.depth;
        *self.depth = depth.saturating_sub(1);
        if let Some(capture) = self.capture.as_ref() {
            let capture_depth = capture.depth;
            if !empty
                && !capture.overflow
                && let Some((from, to)) = self.open_names.pop()
            {
                self.scratch.clear();
                self.scratch.push_str(&self.raw[from..to]);
                self.raw.push_str("</");
                self.raw.push_str(self.scratch);
                self.raw.push('>');
            }
            if depth == capture_depth {
                self.finish_capture();
            }
            return;
        }
        if self.target.as_ref().is_some_and(|t| t.depth == depth) {
            self.finish_text();
            return;
        }
        if let Some((rating_depth, _, _)) = self.rating.as_ref()
            && *rating_depth == depth
        {
            if let Some((_, system, Some(value))) = self.rating.take()
                && let Record::Programme(programme, _) = self.record
            {
                programme.data.ratings.push(Rating { system, value });
            }
            *self.rating = None;
            return;
        }
        if *self.credits_depth == Some(depth) {
            *self.credits_depth = None;
            return;
        }
        let record_depth = match self.record {
            Record::None => return,
            Record::Skip(d) | Record::Channel(_, d) | Record::Programme(_, d) => *d,
        };
        if record_depth != depth {
            return;
        }
        let record = std::mem::replace(self.record, Record::None);
        if let Some(reason) = self.doomed.take() {
            let at = match &record {
                Record::Channel(channel, _) => format!("<channel id=\"{}\">", channel.id),
                Record::Programme(p, _) => format!("<programme channel=\"{}\">", p.data.channel),
                Record::Skip(_) | Record::None => String::new(),
            };
            self.stats.skipped.record(reason, *self.elements, &at);
            self.raw.clear();
            return;
        }
        match record {
            Record::Channel(mut channel, _) => {
                channel.extra_xml = take_nonempty(self.raw);
                self.finished = Some(Finished::Channel(channel));
            }
            Record::Programme(mut programme, _) => {
                programme.data.extra_xml = take_nonempty(self.raw);
                programme.bytes = self
                    .record_bytes
                    .saturating_add(programme.data.extra_xml.as_ref().map_or(0, String::len));
                self.finished = Some(Finished::Programme(programme));
            }
            Record::Skip(_) | Record::None => {}
        }
        self.raw.clear();
    }

    fn finish_capture(&mut self) {
        self.open_names.clear();
        let Some(capture) = self.capture.take() else {
            return;
        };
        if capture.overflow {
            self.raw.truncate(capture.start);
        }
        if capture.is_length {
            if let Record::Programme(programme, _) = self.record {
                programme.length = parse_length(self.text.trim(), capture.length_units.as_deref());
            }
            self.text.clear();
        }
    }

    fn finish_text(&mut self) {
        let Some(target) = self.target.take() else {
            return;
        };
        let value = self.text.trim();
        if value.is_empty() && target.kind != TextKind::Credit {
            self.text.clear();
            return;
        }
        let value = value.to_owned();
        self.text.clear();
        if !self.charge(value.len()) {
            return;
        }
        match self.record {
            Record::Channel(channel, _) => {
                if target.kind == TextKind::DisplayName {
                    channel.display_names.push(LangText {
                        value,
                        lang: target.attribute,
                    });
                }
            }
            Record::Programme(programme, _) => {
                let data = &mut programme.data;
                match target.kind {
                    TextKind::Title | TextKind::SubTitle | TextKind::Desc | TextKind::Category => {
                        let text = LangText {
                            value,
                            lang: target.attribute,
                        };
                        match target.kind {
                            TextKind::Title => data.titles.push(text),
                            TextKind::SubTitle => data.sub_titles.push(text),
                            TextKind::Desc => data.descriptions.push(text),
                            _ => data.categories.push(text),
                        }
                    }
                    TextKind::Language => {
                        data.language.get_or_insert(value);
                    }
                    TextKind::Date => {
                        data.date.get_or_insert(value);
                    }
                    TextKind::EpisodeNum => {
                        let system = target.attribute;
                        let (season, episode) = match system.as_deref() {
                            Some("xmltv_ns") => parse_xmltv_ns(&value),
                            Some("onscreen") => parse_onscreen(&value),
                            _ => (None, None),
                        };
                        // xmltv_ns wins over onscreen when both are given.
                        let from_ns = system.as_deref() == Some("xmltv_ns");
                        if season.is_some() && (from_ns || data.season.is_none()) {
                            data.season = season;
                        }
                        if episode.is_some() && (from_ns || data.episode.is_none()) {
                            data.episode = episode;
                        }
                        data.episode_numbers.push(EpisodeNumber { system, value });
                    }
                    TextKind::RatingValue => {
                        if let Some(rating) = self.rating.as_mut() {
                            rating.2.get_or_insert(value);
                        }
                    }
                    TextKind::Credit => {
                        if !value.is_empty() {
                            data.credits.push(Credit {
                                role: target.role.unwrap_or_default(),
                                name: value,
                                character: target.attribute,
                            });
                        }
                    }
                    TextKind::DisplayName => {}
                }
            }
            Record::None | Record::Skip(_) => {}
        }
    }
}

/// Appends `content` if the text stays within `max` bytes; `false` (and nothing appended)
/// when it would not.
fn push_bounded(text: &mut String, content: &str, max: usize) -> bool {
    if text.len().saturating_add(content.len()) <= max {
        text.push_str(content);
        true
    } else {
        false
    }
}

fn take_nonempty(raw: &mut String) -> Option<String> {
    if raw.is_empty() {
        None
    } else {
        Some(std::mem::take(raw))
    }
}

fn parse_length(value: &str, units: Option<&str>) -> Option<Duration> {
    let amount: i64 = value.parse().ok()?;
    let seconds = match units.unwrap_or("minutes") {
        "seconds" => amount,
        "hours" => amount.checked_mul(3600)?,
        _ => amount.checked_mul(60)?,
    };
    Duration::try_seconds(seconds)
}

/// A whole guide in memory: for small guides, tests and tools.
#[derive(Debug, Default)]
pub struct Guide {
    /// Channels in source order.
    pub channels: Vec<EpgChannel>,
    /// Programmes (those without stop come after their channel's next programme).
    pub programmes: Vec<ProgrammeData>,
    /// Counts.
    pub stats: XmltvStats,
    /// The error that stopped reading, if the document is not well-formed.
    pub error: Option<ParseError>,
}

/// Reads a whole guide into memory, keeping what was read before an error.
pub fn parse_xmltv<R: BufRead>(input: R, options: XmltvOptions) -> Result<Guide, ParseError> {
    let mut reader = XmltvReader::new(input, options)?;
    let mut guide = Guide::default();
    loop {
        match reader.next_item() {
            Ok(Some(XmltvItem::Channel(c))) => guide.channels.push(c),
            Ok(Some(XmltvItem::Programme(p))) => guide.programmes.push(p),
            Ok(None) => break,
            Err(e) => {
                if guide.error.is_none() {
                    guide.error = Some(e);
                }
            }
        }
    }
    guide.stats = reader.stats();
    Ok(guide)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_are_unescaped_only_when_needed() {
        assert!(matches!(
            unescape_attribute("plain"),
            Cow::Borrowed("plain")
        ));
        assert_eq!(
            unescape_attribute("a&amp;b &#233;&#x41; &lol;"),
            "a&b éA &lol;"
        );
        assert_eq!(unescape_attribute("two\r\nlines\tand &"), "two lines and &");
    }

    #[test]
    fn a_length_too_large_for_a_time_falls_back_to_the_default_duration() {
        // Each of these made the xmltv fuzz target panic in chrono (out of range, overflow).
        for length in [
            "<length>1000000000000000</length>",
            "<length units=\"seconds\">1000000000000000</length>",
            "<length units=\"hours\">1000000000000000</length>",
        ] {
            let xml = format!(
                "<tv><programme channel=\"a\" start=\"20240101000000\">{length}</programme></tv>"
            );
            let guide = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
            let programme = &guide.programmes[0];
            assert_eq!(
                programme.stop - programme.start,
                Duration::hours(1),
                "{length}"
            );
        }
    }

    #[test]
    fn attributes_are_scanned_with_either_quote_and_spaces() {
        let xml = "<programme channel = 'c&amp;d' start=\"20240101000000 +0000\" x-y=\"1\">\
                   <title>t</title></programme>";
        let guide = parse_xmltv(xml.as_bytes(), XmltvOptions::default()).unwrap();
        assert_eq!(guide.programmes[0].channel, "c&d");
        assert_eq!(
            guide.programmes[0].start.to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
    }
}
