//! The XMLTV guide of a proxy, valid against `xmltv.dtd` and accepted by `tv_validate_file`.
//!
//! A guide is [`XmltvWriter::header`], a [`XmltvWriter::channel`] per channel, a
//! [`XmltvWriter::programme`] per programme, then [`XmltvWriter::footer`]: the DTD wants
//! every `<channel>` before the first `<programme>`. Output is UTF-8, one element per line,
//! indented; the writer appends to a caller's `Vec<u8>` and allocates nothing of its own.
//!
//! # Programmes
//! A programme's children are written in the order the DTD's content model gives, whatever
//! order the source guide had: `title`, `sub-title`, `desc`, `credits`, `date`, `category`,
//! `keyword`, `language`, `orig-language`, `length`, `icon`, `url`, `country`,
//! `episode-num`, `video`, `audio`, `previously-shown`, `premiere`, `last-chance`, `new`,
//! `subtitles`, `rating`, `star-rating`, `review`, `image`. Credits are written in the
//! DTD's order of roles (`director`, `actor`, `writer`, `adapter`, `producer`, `composer`,
//! `editor`, `presenter`, `commentator`, `guest`), in source order within a role; an actor's
//! character is its `role` attribute. Times are `YYYYmmddHHMMSS +0000`.
//!
//! What is left out, so that the guide validates:
//! - a programme without a title that has some text (the DTD wants one, and
//!   `tv_validate_file` refuses an empty one): [`XmltvWriter::programme`] writes nothing and
//!   returns `false`; likewise for a time outside the years 0–9999;
//! - empty (or blank) titles, sub-titles, descriptions, categories, dates, languages,
//!   episode numbers, rating values and credit names; a credit whose role is not a DTD role;
//! - an `xmltv_ns` episode number that does not follow the `xmltv_ns` grammar
//!   (`season.episode.part`, each `n` or `n/total`), and any `xmltv_ns` number after the
//!   first (`tv_validate_file` reads them together as one);
//! - a stop time before the start (the `stop` attribute is optional).
//!
//! # The raw elements kept in `extra_xml`
//! The ingest parser keeps each element it does not model (`length`, `video`, `audio`,
//! `previously-shown`, `premiere`, `new`, `star-rating`, `review`, `image`, `url`,
//! `keyword`, `country`, icons after the first, `x-…` extensions, …) as raw XML in
//! [`ProgrammeData::extra_xml`]. That text came from a provider and may have been stored and
//! read back, so it is not copied: it is read again, and each element the DTD allows in a
//! programme is written anew in its place in the DTD's order, with
//! - only the attributes the DTD declares for it, enumerated ones (`length units`,
//!   `review type`, `image type`, …) only with a declared value, and the element dropped when
//!   a required one (`length units`, `icon src`, `review type`) is missing or invalid;
//! - only the children the DTD allows (`video`: `present`, `colour`, `aspect`, `quality`;
//!   `audio`: `present`, `stereo`; `subtitles`: `language`; `star-rating`: `value` then
//!   icons, dropped without a `value`), once each where the DTD says `?`, in the DTD's order;
//!   text-only elements keep their text and lose any child elements;
//! - text and attribute values unescaped and escaped again, so an unknown entity
//!   (`&nbsp;`) becomes literal text, comments and processing instructions are dropped and
//!   `CDATA` becomes escaped text;
//! - an element the DTD allows once (`length`, `video`, `new`, …) written once, the first
//!   time.
//!
//! Elements the DTD does not allow in a programme (`x-…` extensions, `lcn`) and elements the
//! programme already models (a second `title`, `credits`, `date`, …) are dropped, as is what
//! follows a malformed part of the text and anything beyond the first
//! [`MAX_EXTRA_ELEMENTS`] elements.
//!
//! # Escaping
//! `&`, `<` and `>` are escaped in text, `"` too in attribute values (always double-quoted);
//! tab, LF and CR in attribute values are written as character references, so a parser
//! gives back the value as it was, and CR in text likewise. Characters XML 1.0 forbids (C0
//! controls other than tab, LF and CR, U+FFFE, U+FFFF) are removed, and so are DEL and the
//! C1 controls U+0080–U+009F, which XML 1.0 discourages and `tv_validate_file` refuses as
//! mis-decoded text.

mod extra;

use chrono::{DateTime, Datelike, Timelike, Utc};
use tvarr_core::{Credit, ProgrammeData};

pub use extra::MAX_EXTRA_ELEMENTS;
use extra::{Extras, Slot};

/// Writes a proxy's guide in XMLTV form into a byte buffer.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use tvarr_core::{LangText, ProgrammeData};
/// use tvarr_pipeline::XmltvWriter;
///
/// let programme = ProgrammeData {
///     channel: "bbc1".into(),
///     start: Utc.with_ymd_and_hms(2026, 12, 2, 20, 0, 0).unwrap(),
///     stop: Utc.with_ymd_and_hms(2026, 12, 2, 21, 0, 0).unwrap(),
///     titles: vec![LangText { value: "News & Weather".into(), lang: Some("en".into()) }],
///     extra_xml: Some("<x-custom>1</x-custom><new/>".into()),
///     ..ProgrammeData::default()
/// };
/// let mut out = Vec::new();
/// XmltvWriter::header(&mut out);
/// XmltvWriter::channel(&mut out, "bbc1.uk", &["BBC One"], None);
/// assert!(XmltvWriter::programme(&mut out, "bbc1.uk", &programme));
/// XmltvWriter::footer(&mut out);
/// let xml = String::from_utf8(out).unwrap();
/// assert!(xml.contains(
///     "  <programme start=\"20261202200000 +0000\" stop=\"20261202210000 +0000\" channel=\"bbc1.uk\">\n\
///      \x20   <title lang=\"en\">News &amp; Weather</title>\n\
///      \x20   <new/>\n\
///      \x20 </programme>\n"
/// ));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct XmltvWriter;

/// The generator named in `<tv generator-info-name>`, as the DTD suggests: `name/version`.
pub const GENERATOR: &str = concat!("tvarr/", env!("CARGO_PKG_VERSION"));

/// The roles of `<credits>`, in the order the DTD wants them.
const CREDIT_ROLES: [&str; 10] = [
    "director",
    "actor",
    "writer",
    "adapter",
    "producer",
    "composer",
    "editor",
    "presenter",
    "commentator",
    "guest",
];

impl XmltvWriter {
    /// The XML declaration, `<!DOCTYPE tv SYSTEM "xmltv.dtd">` and
    /// `<tv generator-info-name="tvarr/<version>">`.
    pub fn header(out: &mut Vec<u8>) {
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.extend_from_slice(b"<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n");
        out.extend_from_slice(b"<tv generator-info-name=\"");
        out.extend_from_slice(GENERATOR.as_bytes());
        out.extend_from_slice(b"\">\n");
    }

    /// `<channel id="guide_id">` with a `<display-name>` per non-blank name (the first being
    /// the lineup's name) and an `<icon>` when given. The DTD wants at least one display name:
    /// when none has any text, the id is written as the display name.
    pub fn channel(out: &mut Vec<u8>, guide_id: &str, display_names: &[&str], icon: Option<&str>) {
        out.extend_from_slice(b"  <channel id=\"");
        escape_attribute(out, guide_id);
        out.extend_from_slice(b"\">\n");
        let mut named = false;
        for name in display_names.iter().filter(|name| !is_blank(name)) {
            text_element(out, "display-name", name);
            named = true;
        }
        if !named {
            text_element(out, "display-name", guide_id);
        }
        if let Some(icon) = icon.filter(|icon| !icon.is_empty()) {
            icon_element(out, icon);
        }
        out.extend_from_slice(b"  </channel>\n");
    }

    /// `<programme start=.. stop=.. channel="guide_id">` with every field `programme` carries,
    /// in the DTD's order, and the DTD-valid elements of its `extra_xml` (see the module docs).
    /// Returns `false`, and writes nothing, for a programme the DTD cannot take: one without
    /// a title, or with a time outside the years 0–9999.
    pub fn programme(out: &mut Vec<u8>, guide_id: &str, programme: &ProgrammeData) -> bool {
        if !programme.titles.iter().any(|t| !is_blank(&t.value)) {
            return false;
        }
        let mark = out.len();
        out.extend_from_slice(b"  <programme start=\"");
        if !write_time(out, programme.start) {
            out.truncate(mark);
            return false;
        }
        if programme.stop >= programme.start {
            out.extend_from_slice(b"\" stop=\"");
            if !write_time(out, programme.stop) {
                out.truncate(mark);
                return false;
            }
        }
        out.extend_from_slice(b"\" channel=\"");
        escape_attribute(out, guide_id);
        out.extend_from_slice(b"\">\n");

        let mut extras = Extras::read(programme.extra_xml.as_deref());
        for (name, texts) in [
            ("title", &programme.titles),
            ("sub-title", &programme.sub_titles),
            ("desc", &programme.descriptions),
        ] {
            for text in texts.iter().filter(|t| !is_blank(&t.value)) {
                lang_element(out, name, &text.value, text.lang.as_deref());
            }
        }
        write_credits(out, &programme.credits);
        if let Some(date) = programme.date.as_deref().filter(|d| !is_blank(d)) {
            text_element(out, "date", date);
        }
        for category in programme.categories.iter().filter(|t| !is_blank(&t.value)) {
            lang_element(out, "category", &category.value, category.lang.as_deref());
        }
        extras.write_through(out, Slot::Keyword);
        if let Some(language) = programme.language.as_deref().filter(|l| !is_blank(l)) {
            text_element(out, "language", language);
        }
        extras.write_through(out, Slot::Length);
        if let Some(icon) = programme.icon.as_deref().filter(|i| !i.is_empty()) {
            icon_element(out, icon);
        }
        extras.write_through(out, Slot::Country);
        let mut xmltv_ns_written = false;
        for number in &programme.episode_numbers {
            if is_blank(&number.value) {
                continue;
            }
            if number.system.as_deref() == Some("xmltv_ns") {
                if xmltv_ns_written || !is_xmltv_ns(&number.value) {
                    continue;
                }
                xmltv_ns_written = true;
            }
            out.extend_from_slice(b"    <episode-num");
            if let Some(system) = &number.system {
                out.extend_from_slice(b" system=\"");
                escape_attribute(out, system);
                out.push(b'"');
            }
            out.push(b'>');
            escape_text(out, &number.value);
            out.extend_from_slice(b"</episode-num>\n");
        }
        extras.write_through(out, Slot::Subtitles);
        for rating in programme.ratings.iter().filter(|r| !is_blank(&r.value)) {
            out.extend_from_slice(b"    <rating");
            if let Some(system) = &rating.system {
                out.extend_from_slice(b" system=\"");
                escape_attribute(out, system);
                out.push(b'"');
            }
            out.extend_from_slice(b">\n      <value>");
            escape_text(out, &rating.value);
            out.extend_from_slice(b"</value>\n    </rating>\n");
        }
        extras.write_through(out, Slot::Image);
        out.extend_from_slice(b"  </programme>\n");
        true
    }

    /// `</tv>` and a newline.
    pub fn footer(out: &mut Vec<u8>) {
        out.extend_from_slice(b"</tv>\n");
    }
}

fn write_credits(out: &mut Vec<u8>, credits: &[Credit]) {
    let known = |c: &Credit| !is_blank(&c.name) && CREDIT_ROLES.contains(&c.role.as_str());
    if !credits.iter().any(known) {
        return;
    }
    out.extend_from_slice(b"    <credits>\n");
    for role in CREDIT_ROLES {
        for credit in credits
            .iter()
            .filter(|c| c.role == role && !is_blank(&c.name))
        {
            out.extend_from_slice(b"      <");
            out.extend_from_slice(role.as_bytes());
            if role == "actor"
                && let Some(character) = credit.character.as_deref().filter(|c| !c.is_empty())
            {
                out.extend_from_slice(b" role=\"");
                escape_attribute(out, character);
                out.push(b'"');
            }
            out.push(b'>');
            escape_text(out, &credit.name);
            out.extend_from_slice(b"</");
            out.extend_from_slice(role.as_bytes());
            out.extend_from_slice(b">\n");
        }
    }
    out.extend_from_slice(b"    </credits>\n");
}

/// `    <name>text</name>` and a newline.
fn text_element(out: &mut Vec<u8>, name: &str, text: &str) {
    lang_element(out, name, text, None);
}

/// `    <name lang="..">text</name>` and a newline.
fn lang_element(out: &mut Vec<u8>, name: &str, text: &str, lang: Option<&str>) {
    out.extend_from_slice(b"    <");
    out.extend_from_slice(name.as_bytes());
    if let Some(lang) = lang.filter(|l| !l.is_empty()) {
        out.extend_from_slice(b" lang=\"");
        escape_attribute(out, lang);
        out.push(b'"');
    }
    out.push(b'>');
    escape_text(out, text);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b">\n");
}

fn icon_element(out: &mut Vec<u8>, src: &str) {
    out.extend_from_slice(b"    <icon src=\"");
    escape_attribute(out, src);
    out.extend_from_slice(b"\"/>\n");
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// `YYYYmmddHHMMSS +0000`; `false` (and nothing written) outside the years 0–9999.
fn write_time(out: &mut Vec<u8>, time: DateTime<Utc>) -> bool {
    let time = time.naive_utc();
    let Ok(year) = u32::try_from(time.year()) else {
        return false;
    };
    if year > 9999 {
        return false;
    }
    let mut text = *b"00000000000000 +0000";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(4, 2, time.month());
    put(6, 2, time.day());
    put(8, 2, time.hour());
    put(10, 2, time.minute());
    put(12, 2, time.second());
    out.extend_from_slice(&text);
    true
}

/// Whether an `xmltv_ns` value follows the grammar `tv_validate_file` checks: three parts
/// separated by two dots, each part spaces, optional digits, optionally `/` and digits.
fn is_xmltv_ns(value: &str) -> bool {
    let mut parts = 0;
    for part in value.split('.') {
        parts += 1;
        let part = part.trim();
        let (number, total) = match part.split_once('/') {
            Some((number, total)) => (number.trim_end(), Some(total.trim_start())),
            None => (part, None),
        };
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if let Some(total) = total
            && (total.is_empty() || !total.bytes().all(|b| b.is_ascii_digit()))
        {
            return false;
        }
    }
    parts == 3
}

/// Bytes that escaping looks at: the markup characters, every control byte, and the first
/// bytes of U+0080–U+009F (`C2`) and of U+FFFE/U+FFFF (`EF`).
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = true;
    table[0x7f] = true;
    table[0xc2] = true;
    table[0xef] = true;
    table
};

/// How a text is escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Element content, from a value.
    Text,
    /// An attribute value (double-quoted), from a value.
    Attribute,
    /// Element content read from raw XML: a CR was a line end (dropped).
    RawText,
    /// An attribute value read from raw XML: tab and LF were spaces, a CR a line end.
    RawAttribute,
}

fn escape_text(out: &mut Vec<u8>, text: &str) {
    escape(out, text, Escape::Text);
}

fn escape_attribute(out: &mut Vec<u8>, text: &str) {
    escape(out, text, Escape::Attribute);
}

/// Appends `text` escaped for `mode`, without the characters XML must not carry.
fn escape(out: &mut Vec<u8>, text: &str, mode: Escape) {
    let bytes = text.as_bytes();
    let attribute = matches!(mode, Escape::Attribute | Escape::RawAttribute);
    let raw = matches!(mode, Escape::RawText | Escape::RawAttribute);
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        let (replacement, width): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' if attribute => (b"&quot;", 1),
            b'\t' | b'\n' if attribute && raw => (b" ", 1),
            b'\t' if attribute => (b"&#9;", 1),
            b'\n' if attribute => (b"&#10;", 1),
            b'"' | b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            b'\r' if raw => (b"", 1),
            b'\r' => (b"&#13;", 1),
            0xc2 => match bytes.get(i + 1) {
                Some(0x80..=0x9f) => (b"", 2),
                _ => {
                    i += 1;
                    continue;
                }
            },
            0xef => match bytes.get(i + 1..i + 3) {
                Some([0xbf, 0xbe | 0xbf]) => (b"", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            // The other C0 controls and DEL.
            _ => (b"", 1),
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(replacement);
        i += width;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tvarr_core::{EpisodeNumber, LangText, Rating};

    use super::*;

    fn escaped(text: &str, mode: Escape) -> String {
        let mut out = Vec::new();
        escape(&mut out, text, mode);
        String::from_utf8(out).unwrap()
    }

    fn lang(value: &str) -> LangText {
        LangText {
            value: value.into(),
            lang: None,
        }
    }

    fn programme() -> ProgrammeData {
        ProgrammeData {
            channel: "c".into(),
            start: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            stop: Utc.with_ymd_and_hms(2026, 1, 2, 4, 0, 0).unwrap(),
            titles: vec![lang("T")],
            ..ProgrammeData::default()
        }
    }

    fn written(programme: &ProgrammeData) -> String {
        let mut out = Vec::new();
        assert!(XmltvWriter::programme(&mut out, "c.tv", programme));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn markup_and_quotes_are_escaped_where_they_matter() {
        assert_eq!(
            escaped("a & b <c> \"d\" 'e'", Escape::Text),
            "a &amp; b &lt;c&gt; \"d\" 'e'"
        );
        assert_eq!(
            escaped("http://h/?a=1&b=\"2\"<", Escape::Attribute),
            "http://h/?a=1&amp;b=&quot;2&quot;&lt;"
        );
    }

    #[test]
    fn line_breaks_survive_a_parser_in_values_and_are_whitespace_in_raw_xml() {
        assert_eq!(escaped("a\r\nb\tc", Escape::Text), "a&#13;\nb\tc");
        assert_eq!(escaped("a\r\nb\tc", Escape::Attribute), "a&#13;&#10;b&#9;c");
        assert_eq!(escaped("a\r\nb\tc", Escape::RawText), "a\nb\tc");
        assert_eq!(escaped("a\r\nb\tc", Escape::RawAttribute), "a b c");
    }

    #[test]
    fn characters_xml_forbids_or_discourages_are_removed() {
        let text = "a\u{0}b\u{8}c\u{b}\u{c}d\u{1f}e\u{7f}f\u{80}g\u{9f}h\u{fffe}i\u{ffff}j";
        assert_eq!(escaped(text, Escape::Text), "abcdefghij");
        assert_eq!(escaped(text, Escape::Attribute), "abcdefghij");
        // Their neighbours in UTF-8 stay.
        let kept = "\u{a0}\u{bf}\u{c2}\u{ff}\u{fffd}\u{fdd0}\u{feff}日本 Perú";
        assert_eq!(escaped(kept, Escape::Text), kept);
    }

    #[test]
    fn times_are_utc_with_an_explicit_offset() {
        let text = written(&programme());
        assert!(
            text.starts_with(
                "  <programme start=\"20260102030405 +0000\" stop=\"20260102040000 +0000\" channel=\"c.tv\">\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_stop_before_the_start_is_left_out() {
        let mut p = programme();
        p.stop = p.start - chrono::Duration::seconds(1);
        assert!(written(&p).starts_with("  <programme start=\"20260102030405 +0000\" channel="));
    }

    #[test]
    fn a_programme_without_a_title_or_out_of_range_is_not_written() {
        let mut out = b"x".to_vec();
        let mut p = programme();
        p.titles = vec![lang("  "), lang("")];
        assert!(!XmltvWriter::programme(&mut out, "c", &p));
        let mut p = programme();
        p.stop = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert!(!XmltvWriter::programme(&mut out, "c", &p));
        assert_eq!(out, b"x");
    }

    #[test]
    fn only_the_first_valid_xmltv_ns_number_is_written() {
        let ns = |value: &str| EpisodeNumber {
            system: Some("xmltv_ns".into()),
            value: value.into(),
        };
        let mut p = programme();
        p.episode_numbers = vec![
            ns("S01E02"),
            ns("1.2"),
            ns(" 2 . 9 . 0/1 "),
            ns("3.4."),
            EpisodeNumber {
                system: None,
                value: "S03E09".into(),
            },
        ];
        let text = written(&p);
        assert!(text.contains(
            "    <episode-num system=\"xmltv_ns\"> 2 . 9 . 0/1 </episode-num>\n    <episode-num>S03E09</episode-num>\n"
        ));
        assert_eq!(text.matches("<episode-num").count(), 2, "{text}");
    }

    #[test]
    fn the_xmltv_ns_grammar() {
        for good in [
            "0.4.0/2",
            "..",
            " 2 . 9 . 0/1 ",
            "1/10.2/4.",
            ". 0 .",
            "0 / 3.1.0",
        ] {
            assert!(is_xmltv_ns(good), "{good}");
        }
        for bad in ["S01E01", "1.2", "1.2.3.4", "1/.2.", "a.b.c", "1 2.3.4", ""] {
            assert!(!is_xmltv_ns(bad), "{bad}");
        }
    }

    #[test]
    fn credits_follow_the_dtd_order_of_roles() {
        let credit = |role: &str, name: &str, character: Option<&str>| Credit {
            role: role.into(),
            name: name.into(),
            character: character.map(Into::into),
        };
        let mut p = programme();
        p.credits = vec![
            credit("guest", "G", None),
            credit("actor", "A1", Some("Hero \"X\"")),
            credit("director", "D", Some("ignored")),
            credit("stuntman", "S", None),
            credit("actor", "A2", None),
            credit("presenter", " ", None),
        ];
        let text = written(&p);
        assert!(text.contains(
            "    <credits>\n      <director>D</director>\n      <actor role=\"Hero &quot;X&quot;\">A1</actor>\n      <actor>A2</actor>\n      <guest>G</guest>\n    </credits>\n"
        ), "{text}");
    }

    #[test]
    fn ratings_carry_their_value_and_system() {
        let mut p = programme();
        p.ratings = vec![
            Rating {
                system: Some("VCHIP".into()),
                value: "TV-PG".into(),
            },
            Rating {
                system: None,
                value: "".into(),
            },
        ];
        assert!(written(&p).contains(
            "    <rating system=\"VCHIP\">\n      <value>TV-PG</value>\n    </rating>\n"
        ));
    }

    #[test]
    fn a_channel_has_a_display_name_even_without_names() {
        let mut out = Vec::new();
        XmltvWriter::channel(&mut out, "a&b.tv", &["", " "], Some("http://i/1.png?a&b"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  <channel id=\"a&amp;b.tv\">\n    <display-name>a&amp;b.tv</display-name>\n    <icon src=\"http://i/1.png?a&amp;b\"/>\n  </channel>\n"
        );
    }
}
