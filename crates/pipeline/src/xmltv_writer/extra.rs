//! The raw elements of [`ProgrammeData::extra_xml`](tvarr_core::ProgrammeData::extra_xml),
//! read again and written anew where and as the DTD allows them (see the parent module's
//! docs for the rules).
//!
//! The text is read with a small scanner of its own (start and end tags, attributes, text,
//! references, `CDATA`, comments and processing instructions), which stops at the first
//! thing it cannot read: what follows is dropped. The scanner borrows from the text; the
//! elements found are kept as byte ranges in a fixed array, so nothing is allocated.

use super::{Escape, escape};

/// The most elements of one programme's `extra_xml` that are written; later ones are dropped.
pub const MAX_EXTRA_ELEMENTS: usize = 64;

/// Elements nest at most this deep in `extra_xml`; the text is not read beyond a deeper one.
const MAX_DEPTH: u32 = 16;

/// A programme child that may come from `extra_xml`, numbered by its place in the DTD's
/// content model of `<programme>` (`title` being 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(super) enum Slot {
    Keyword = 6,
    OrigLanguage = 8,
    Length = 9,
    Icon = 10,
    Url = 11,
    Country = 12,
    Video = 14,
    Audio = 15,
    PreviouslyShown = 16,
    Premiere = 17,
    LastChance = 18,
    New = 19,
    Subtitles = 20,
    StarRating = 22,
    Review = 23,
    Image = 24,
}

/// An attribute the DTD declares.
struct AttrSpec {
    name: &'static str,
    required: bool,
    /// The values of an enumerated attribute; empty for `CDATA`.
    values: &'static [&'static str],
}

const fn cdata(name: &'static str) -> AttrSpec {
    AttrSpec {
        name,
        required: false,
        values: &[],
    }
}

const fn one_of(name: &'static str, values: &'static [&'static str]) -> AttrSpec {
    AttrSpec {
        name,
        required: false,
        values,
    }
}

const fn required(spec: AttrSpec) -> AttrSpec {
    AttrSpec {
        required: true,
        ..spec
    }
}

/// A child of an element with element content.
struct ChildSpec {
    name: &'static str,
    attrs: &'static [AttrSpec],
    /// `EMPTY` rather than `(#PCDATA)`.
    empty: bool,
    /// `*` rather than `?` (or exactly one).
    many: bool,
    /// Exactly one, rather than `?` or `*`.
    required: bool,
}

const fn text_child(name: &'static str, attrs: &'static [AttrSpec]) -> ChildSpec {
    ChildSpec {
        name,
        attrs,
        empty: false,
        many: false,
        required: false,
    }
}

enum Content {
    Empty,
    Text,
    Children(&'static [ChildSpec]),
}

struct ElementSpec {
    name: &'static str,
    slot: Slot,
    /// `?` in the programme's content model, rather than `*`.
    once: bool,
    attrs: &'static [AttrSpec],
    content: Content,
}

const LANG: &[AttrSpec] = &[cdata("lang")];
const ICON: &[AttrSpec] = &[required(cdata("src")), cdata("width"), cdata("height")];

/// Every programme child the DTD allows that the writer does not write from its own field.
static ELEMENTS: [ElementSpec; 16] = [
    ElementSpec {
        name: "keyword",
        slot: Slot::Keyword,
        once: false,
        attrs: LANG,
        content: Content::Text,
    },
    ElementSpec {
        name: "orig-language",
        slot: Slot::OrigLanguage,
        once: true,
        attrs: LANG,
        content: Content::Text,
    },
    ElementSpec {
        name: "length",
        slot: Slot::Length,
        once: true,
        attrs: &[required(one_of("units", &["seconds", "minutes", "hours"]))],
        content: Content::Text,
    },
    ElementSpec {
        name: "icon",
        slot: Slot::Icon,
        once: false,
        attrs: ICON,
        content: Content::Empty,
    },
    ElementSpec {
        name: "url",
        slot: Slot::Url,
        once: false,
        attrs: &[cdata("system")],
        content: Content::Text,
    },
    ElementSpec {
        name: "country",
        slot: Slot::Country,
        once: false,
        attrs: LANG,
        content: Content::Text,
    },
    ElementSpec {
        name: "video",
        slot: Slot::Video,
        once: true,
        attrs: &[],
        content: Content::Children(&[
            text_child("present", &[]),
            text_child("colour", &[]),
            text_child("aspect", &[]),
            text_child("quality", &[]),
        ]),
    },
    ElementSpec {
        name: "audio",
        slot: Slot::Audio,
        once: true,
        attrs: &[],
        content: Content::Children(&[text_child("present", &[]), text_child("stereo", &[])]),
    },
    ElementSpec {
        name: "previously-shown",
        slot: Slot::PreviouslyShown,
        once: true,
        attrs: &[cdata("start"), cdata("channel")],
        content: Content::Empty,
    },
    ElementSpec {
        name: "premiere",
        slot: Slot::Premiere,
        once: true,
        attrs: LANG,
        content: Content::Text,
    },
    ElementSpec {
        name: "last-chance",
        slot: Slot::LastChance,
        once: true,
        attrs: LANG,
        content: Content::Text,
    },
    ElementSpec {
        name: "new",
        slot: Slot::New,
        once: true,
        attrs: &[],
        content: Content::Empty,
    },
    ElementSpec {
        name: "subtitles",
        slot: Slot::Subtitles,
        once: false,
        attrs: &[one_of("type", &["teletext", "onscreen", "deaf-signed"])],
        content: Content::Children(&[text_child("language", LANG)]),
    },
    ElementSpec {
        name: "star-rating",
        slot: Slot::StarRating,
        once: false,
        attrs: &[cdata("system")],
        content: Content::Children(&[
            ChildSpec {
                name: "value",
                attrs: &[],
                empty: false,
                many: false,
                required: true,
            },
            ChildSpec {
                name: "icon",
                attrs: ICON,
                empty: true,
                many: true,
                required: false,
            },
        ]),
    },
    ElementSpec {
        name: "review",
        slot: Slot::Review,
        once: false,
        attrs: &[
            required(one_of("type", &["text", "url"])),
            cdata("source"),
            cdata("reviewer"),
            cdata("lang"),
        ],
        content: Content::Text,
    },
    ElementSpec {
        name: "image",
        slot: Slot::Image,
        once: false,
        attrs: &[
            one_of(
                "type",
                &["poster", "backdrop", "still", "person", "character"],
            ),
            one_of("size", &["1", "2", "3"]),
            one_of("orient", &["P", "L"]),
            cdata("system"),
        ],
        content: Content::Text,
    },
];

/// One element found in `extra_xml`: its spec and where it is.
#[derive(Clone, Copy, Default)]
struct Entry {
    spec: u8,
    start: u32,
    end: u32,
}

/// The writable elements of one programme's `extra_xml`, in the DTD's order (source order
/// within a kind), and how far writing has got.
pub(super) struct Extras<'a> {
    text: &'a str,
    entries: [Entry; MAX_EXTRA_ELEMENTS],
    len: usize,
    next: usize,
    /// Slots of `once` elements already written, as bits.
    written: u32,
}

impl<'a> Extras<'a> {
    /// Finds the top-level elements of `extra_xml` that the DTD allows in a programme.
    pub(super) fn read(extra_xml: Option<&'a str>) -> Self {
        let mut extras = Extras {
            text: "",
            entries: [Entry::default(); MAX_EXTRA_ELEMENTS],
            len: 0,
            next: 0,
            written: 0,
        };
        let Some(text) = extra_xml.filter(|t| u32::try_from(t.len()).is_ok()) else {
            return extras;
        };
        extras.text = text;
        let mut tokens = Tokens::new(text);
        let mut depth = 0u32;
        let mut open: Option<(Option<u8>, usize)> = None;
        loop {
            let before = tokens.pos;
            let Some(token) = tokens.next() else { break };
            match token {
                Token::Start { name, empty, .. } => {
                    if depth == 0 {
                        let spec = spec_index(name);
                        if empty {
                            extras.push(spec, before, tokens.pos);
                        } else {
                            open = Some((spec, before));
                            depth = 1;
                        }
                    } else if !empty {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            break;
                        }
                    }
                }
                Token::End => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                    if depth == 0
                        && let Some((spec, start)) = open.take()
                    {
                        extras.push(spec, start, tokens.pos);
                    }
                }
                Token::Text(_) | Token::CData(_) | Token::Other => {}
            }
        }
        extras
    }

    /// Keeps an element of a known kind, sorted by slot after those of its slot already kept.
    fn push(&mut self, spec: Option<u8>, start: usize, end: usize) {
        let Some(spec) = spec else { return };
        if self.len == MAX_EXTRA_ELEMENTS {
            return;
        }
        let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) else {
            return;
        };
        let slot = ELEMENTS[usize::from(spec)].slot;
        let mut at = self.len;
        while at > 0 && ELEMENTS[usize::from(self.entries[at - 1].spec)].slot > slot {
            self.entries[at] = self.entries[at - 1];
            at -= 1;
        }
        self.entries[at] = Entry { spec, start, end };
        self.len += 1;
    }

    /// Writes the elements not yet written whose slot comes no later than `last`.
    pub(super) fn write_through(&mut self, out: &mut Vec<u8>, last: Slot) {
        while self.next < self.len {
            let entry = self.entries[self.next];
            let spec = &ELEMENTS[usize::from(entry.spec)];
            if spec.slot > last {
                return;
            }
            self.next += 1;
            let bit = 1u32 << (spec.slot as u8);
            if spec.once && self.written & bit != 0 {
                continue;
            }
            let Some(fragment) = self.text.get(entry.start as usize..entry.end as usize) else {
                continue;
            };
            if write_element(out, spec, fragment) && spec.once {
                self.written |= bit;
            }
        }
    }
}

fn spec_index(name: &str) -> Option<u8> {
    ELEMENTS
        .iter()
        .position(|spec| spec.name == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// Writes one element anew from its raw text; `false`, with nothing written, when the DTD
/// cannot take it.
fn write_element(out: &mut Vec<u8>, spec: &ElementSpec, fragment: &str) -> bool {
    let mark = out.len();
    let mut tokens = Tokens::new(fragment);
    let Some(Token::Start {
        attributes, empty, ..
    }) = tokens.next()
    else {
        return false;
    };
    out.extend_from_slice(b"    <");
    out.extend_from_slice(spec.name.as_bytes());
    if !write_attributes(out, spec.attrs, attributes) {
        out.truncate(mark);
        return false;
    }
    match spec.content {
        Content::Empty => out.extend_from_slice(b"/>\n"),
        Content::Text => {
            out.push(b'>');
            if !empty {
                write_inner_text(out, tokens);
            }
            close(out, spec.name);
        }
        Content::Children(children) => {
            out.extend_from_slice(b">\n");
            for child in children {
                let found = if empty {
                    false
                } else {
                    write_children(out, child, tokens)
                };
                if child.required && !found {
                    out.truncate(mark);
                    return false;
                }
            }
            out.extend_from_slice(b"    ");
            close(out, spec.name);
        }
    }
    true
}

/// Writes the direct children named `child.name` among what `tokens` has left (the content
/// of their parent): the first, or all of them for a `*` child. Whether one was written.
fn write_children(out: &mut Vec<u8>, child: &ChildSpec, mut tokens: Tokens<'_>) -> bool {
    let mut found = false;
    let mut depth = 0u32;
    while let Some(token) = tokens.next() {
        match token {
            Token::Start {
                name,
                attributes,
                empty,
            } => {
                if depth == 0 && name == child.name && (child.many || !found) {
                    let mark = out.len();
                    out.extend_from_slice(b"      <");
                    out.extend_from_slice(child.name.as_bytes());
                    if !write_attributes(out, child.attrs, attributes) {
                        out.truncate(mark);
                    } else if child.empty {
                        out.extend_from_slice(b"/>\n");
                        found = true;
                    } else {
                        out.push(b'>');
                        if !empty {
                            write_inner_text(out, tokens);
                        }
                        close(out, child.name);
                        found = true;
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Token::End => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            Token::Text(_) | Token::CData(_) | Token::Other => {}
        }
    }
    found
}

/// `</name>` and a newline.
fn close(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b">\n");
}

/// Writes the text directly inside an element (what `tokens` has left up to the element's
/// end), without the text of any child element.
fn write_inner_text(out: &mut Vec<u8>, mut tokens: Tokens<'_>) {
    let mut depth = 0u32;
    while let Some(token) = tokens.next() {
        match token {
            Token::Text(raw) if depth == 0 => write_raw(out, raw, Escape::RawText),
            Token::CData(text) if depth == 0 => escape(out, text, Escape::RawText),
            Token::Start { empty: false, .. } => depth += 1,
            Token::End => {
                if depth == 0 {
                    return;
                }
                depth -= 1;
            }
            Token::Start { .. } | Token::Text(_) | Token::CData(_) | Token::Other => {}
        }
    }
}

/// Writes the declared attributes among the raw ones, each once; `false` when a required
/// one is missing (or has no declared value).
fn write_attributes(out: &mut Vec<u8>, specs: &[AttrSpec], raw: &str) -> bool {
    let mut seen = 0u32;
    let mut at = 0;
    while let Some((name, value, next)) = scan_attribute(raw, at) {
        at = next;
        let Some(index) = specs.iter().position(|spec| spec.name == name) else {
            continue;
        };
        let bit = 1u32 << index;
        if seen & bit != 0 {
            continue;
        }
        let spec = &specs[index];
        if spec.values.is_empty() {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            write_raw(out, value, Escape::RawAttribute);
            out.push(b'"');
        } else {
            let value = value.trim_matches(is_xml_space);
            let Some(known) = spec.values.iter().find(|known| **known == value) else {
                continue;
            };
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(known.as_bytes());
            out.push(b'"');
        }
        seen |= bit;
    }
    specs
        .iter()
        .enumerate()
        .all(|(index, spec)| !spec.required || seen & (1 << index) != 0)
}

/// Writes raw XML text (text content or an attribute value as written): references are
/// resolved (an unknown one becomes literal text) and the result escaped again.
fn write_raw(out: &mut Vec<u8>, raw: &str, mode: Escape) {
    // A character given by a reference is the character itself: a tab, LF or CR written as
    // a reference was not a line end and is kept.
    let referenced = match mode {
        Escape::RawAttribute | Escape::Attribute => Escape::Attribute,
        Escape::RawText | Escape::Text => Escape::Text,
    };
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        escape(out, &rest[..at], mode);
        let tail = &rest[at..];
        match resolve_reference(tail) {
            Some((ch, len)) => {
                let mut utf8 = [0; 4];
                escape(out, ch.encode_utf8(&mut utf8), referenced);
                rest = &tail[len..];
            }
            None => {
                out.extend_from_slice(b"&amp;");
                rest = &tail[1..];
            }
        }
    }
    escape(out, rest, mode);
}

/// The character of a predefined entity or character reference at the start of `text`
/// (which starts with `&`), and the reference's length.
fn resolve_reference(text: &str) -> Option<(char, usize)> {
    // Byte-wise: the twelve bytes may end inside a character.
    let end = text.bytes().take(12).position(|b| b == b';')?;
    let name = &text[1..end];
    let ch = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((ch, end + 1))
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// One piece of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// `<name attributes>` or `<name attributes/>`; `attributes` is the raw text between the
    /// name and the end of the tag.
    Start {
        name: &'a str,
        attributes: &'a str,
        empty: bool,
    },
    /// `</name>`.
    End,
    /// Text as written, with its references.
    Text(&'a str),
    /// The content of a `CDATA` section.
    CData(&'a str),
    /// A comment or a processing instruction.
    Other,
}

/// A scanner over an XML fragment; it ends at the end of the text or at the first thing it
/// cannot read.
#[derive(Clone, Copy, Debug)]
struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.scan();
        if token.is_none() {
            self.pos = self.text.len();
        }
        token
    }

    fn scan(&mut self) -> Option<Token<'a>> {
        let text = self.text;
        let bytes = text.as_bytes();
        let start = self.pos;
        let rest = bytes.get(start..).filter(|rest| !rest.is_empty())?;
        if rest[0] != b'<' {
            let end = rest
                .iter()
                .position(|&b| b == b'<')
                .map_or(bytes.len(), |len| start + len);
            self.pos = end;
            return Some(Token::Text(&text[start..end]));
        }
        let body = &text[start..];
        let (token, len) = if let Some(inner) = body.strip_prefix("<!--") {
            (Token::Other, 4 + inner.find("-->")? + 3)
        } else if let Some(inner) = body.strip_prefix("<![CDATA[") {
            let end = inner.find("]]>")?;
            (Token::CData(&inner[..end]), 9 + end + 3)
        } else if let Some(inner) = body.strip_prefix("<?") {
            (Token::Other, 2 + inner.find("?>")? + 2)
        } else if rest.starts_with(b"<!") {
            return None;
        } else if rest.starts_with(b"</") {
            let end = rest.iter().position(|&b| b == b'>')?;
            let name = body[2..end].trim_end_matches(is_xml_space);
            if !is_name(name) {
                return None;
            }
            (Token::End, end + 1)
        } else {
            let name_len = rest[1..]
                .iter()
                .position(|&b| is_space(b) || b == b'/' || b == b'>')
                .unwrap_or(rest.len() - 1);
            let name = &body[1..1 + name_len];
            if !is_name(name) {
                return None;
            }
            let after = &body[1 + name_len..];
            let mut at = 0;
            while let Some((_, _, next)) = scan_attribute(after, at) {
                at = next;
            }
            let tail = skip_spaces(after.as_bytes(), at);
            let (empty, close) = match &after.as_bytes()[tail..] {
                [b'/', b'>', ..] => (true, 2),
                [b'>', ..] => (false, 1),
                _ => return None,
            };
            let token = Token::Start {
                name,
                attributes: &after[..at],
                empty,
            };
            (token, 1 + name_len + tail + close)
        };
        self.pos += len;
        Some(token)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The first position from `at` that is not a space.
fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).copied().is_some_and(is_space) {
        at += 1;
    }
    at
}

/// A name as XML allows it (ASCII letters, digits, `_:.-`, and any non-ASCII character; not
/// starting with a digit, `-` or `.`).
fn is_name(name: &str) -> bool {
    let name_char =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-') || b >= 0x80;
    match name.as_bytes() {
        [first, rest @ ..] => {
            (first.is_ascii_alphabetic() || matches!(first, b'_' | b':') || *first >= 0x80)
                && rest.iter().all(|&b| name_char(b))
        }
        [] => false,
    }
}

/// The attribute `name="value"` (or with `'`) after optional spaces at `at` in a tag's
/// attribute text: its name, its raw value and where it ends. `None` when there is none
/// there (the end of the tag, or text that is not an attribute).
fn scan_attribute(raw: &str, at: usize) -> Option<(&str, &str, usize)> {
    let bytes = raw.as_bytes();
    let name_start = skip_spaces(bytes, at);
    if name_start == at && at > 0 {
        // Attributes are separated by spaces.
        return None;
    }
    let name_len = bytes
        .get(name_start..)?
        .iter()
        .position(|&b| is_space(b) || matches!(b, b'=' | b'/' | b'>'))
        .unwrap_or(bytes.len() - name_start);
    let name = &raw[name_start..name_start + name_len];
    if !is_name(name) {
        return None;
    }
    let eq = skip_spaces(bytes, name_start + name_len);
    if bytes.get(eq) != Some(&b'=') {
        return None;
    }
    let open = skip_spaces(bytes, eq + 1);
    let quote = *bytes.get(open).filter(|q| matches!(q, b'"' | b'\''))?;
    let value_len = bytes[open + 1..].iter().position(|&b| b == quote)?;
    let value = &raw[open + 1..open + 1 + value_len];
    if value.as_bytes().contains(&b'<') {
        return None;
    }
    Some((name, value, open + 1 + value_len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token<'_>> {
        let mut tokens = Tokens::new(text);
        std::iter::from_fn(|| tokens.next()).collect()
    }

    fn written(extra: &str) -> String {
        let mut extras = Extras::read(Some(extra));
        let mut out = Vec::new();
        extras.write_through(&mut out, Slot::Image);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_scanner_reads_tags_attributes_text_and_sections() {
        assert_eq!(
            tokens("<a x=\"1\" y='>'/>t&amp;<b >c</b ><!-- n --><![CDATA[<&>]]><?p q?></a>"),
            [
                Token::Start {
                    name: "a",
                    attributes: " x=\"1\" y='>'",
                    empty: true
                },
                Token::Text("t&amp;"),
                Token::Start {
                    name: "b",
                    attributes: "",
                    empty: false
                },
                Token::Text("c"),
                Token::End,
                Token::Other,
                Token::CData("<&>"),
                Token::Other,
                Token::End,
            ]
        );
    }

    #[test]
    fn the_scanner_stops_at_what_it_cannot_read() {
        for bad in [
            "<a x=1>",
            "<a x=\"1\"y=\"2\">",
            "<a x=\"<\">",
            "<a",
            "<!DOCTYPE x>",
            "<!-- open",
            "<1a/>",
            "</>",
        ] {
            assert_eq!(tokens(&format!("{bad}<new/>")), [], "{bad}");
        }
        assert_eq!(tokens("<new/><a x=1>").len(), 1);
    }

    #[test]
    fn elements_are_written_in_the_dtds_order_and_x_elements_dropped() {
        assert_eq!(
            written(
                "<image type=\"poster\">http://i/p.jpg</image><x-foo a=\"1\"><b/></x-foo>\
                 <new/><review type=\"text\">Good</review><length units=\"minutes\">60</length>\
                 <previously-shown start=\"20200101000000 +0000\"/><url>http://u/</url>"
            ),
            "    <length units=\"minutes\">60</length>\n\
             \x20   <url>http://u/</url>\n\
             \x20   <previously-shown start=\"20200101000000 +0000\"/>\n\
             \x20   <new/>\n\
             \x20   <review type=\"text\">Good</review>\n\
             \x20   <image type=\"poster\">http://i/p.jpg</image>\n"
        );
    }

    #[test]
    fn undeclared_attributes_and_values_are_dropped_and_required_ones_enforced() {
        assert_eq!(
            written(
                "<length units=\"days\">2</length><review source=\"s\">r</review>\
                 <icon width=\"1\"/><image type=\"banner\" size=\" 2 \" x=\"y\" system=\"a\" system=\"b\">i</image>\
                 <subtitles type=\"teletext\" lang=\"en\"/>"
            ),
            "    <subtitles type=\"teletext\">\n    </subtitles>\n\
             \x20   <image size=\"2\" system=\"a\">i</image>\n"
        );
    }

    #[test]
    fn children_are_kept_once_in_order_and_only_where_allowed() {
        assert_eq!(
            written(
                "<video><quality>HDTV</quality><x-q>1</x-q><present>yes</present>\
                 <present>no</present></video><video><aspect>4:3</aspect></video>\
                 <star-rating><icon src=\"s.png\"/><value>3/5</value><icon src=\"t.png\"/></star-rating>\
                 <star-rating><icon src=\"u.png\"/></star-rating>"
            ),
            "    <video>\n      <present>yes</present>\n      <quality>HDTV</quality>\n    </video>\n\
             \x20   <star-rating>\n      <value>3/5</value>\n      <icon src=\"s.png\"/>\n      <icon src=\"t.png\"/>\n    </star-rating>\n"
        );
    }

    #[test]
    fn text_and_attributes_are_unescaped_and_escaped_again() {
        assert_eq!(
            written(
                "<url system=\"a&amp;b &nbsp; &#34;\">http://h/?a=1&amp;b=2&nbsp;<b>x</b>&#10;&#1;</url>\
                 <keyword><![CDATA[a<b&c]]> &lt;d&gt;<!-- c --></keyword>"
            ),
            "    <keyword>a&lt;b&amp;c &lt;d&gt;</keyword>\n\
             \x20   <url system=\"a&amp;b &amp;nbsp; &quot;\">http://h/?a=1&amp;b=2&amp;nbsp;\n</url>\n"
        );
    }

    #[test]
    fn a_reference_before_multibyte_text_is_resolved() {
        assert_eq!(
            written("<keyword>&amp;日本語</keyword><country>&#x65E5;&#26412;&#xZZ;</country>"),
            "    <keyword>&amp;日本語</keyword>\n    <country>日本&amp;#xZZ;</country>\n"
        );
    }

    #[test]
    fn modelled_and_unknown_elements_are_dropped_and_a_malformed_tail_too() {
        assert_eq!(
            written("<title>T</title><credits/><lcn>4</lcn><new/><country>FR</country><premiere"),
            "    <country>FR</country>\n    <new/>\n"
        );
        assert_eq!(written("<new></new><new/>"), "    <new/>\n");
    }

    #[test]
    fn at_most_the_first_elements_are_kept() {
        let many = "<keyword>k</keyword>".repeat(MAX_EXTRA_ELEMENTS + 5);
        assert_eq!(
            written(&many).matches("<keyword>").count(),
            MAX_EXTRA_ELEMENTS
        );
    }
}
