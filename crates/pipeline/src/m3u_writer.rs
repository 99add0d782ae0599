//! The M3U Plus playlist of a proxy: one `#EXTM3U` header, then an `#EXTINF` line and a URL
//! line per channel.
//!
//! What each entry carries, in this order: `tvg-id` (the lineup's guide id, the `<channel id>`
//! of the proxy's guide), `tvg-name` (the channel's `tvg-name`, else its name), `tvg-logo`,
//! `group-title`, `tvg-chno` (the lineup number), `catchup`, `catchup-days` and
//! `catchup-source` when the channel has them, then the channel's other `#EXTINF` attributes
//! kept in [`ChannelData::extra`](tvarr_core::ChannelData::extra), then `,Name`, then the
//! stream URL the caller gives (the proxy's own URL for the channel). An attribute without a
//! value is left out.
//!
//! # What is not written back
//! The ingest parser keeps several kinds of per-entry data in `extra` under their own names:
//! unknown `#EXTINF` attributes (`tvg-country`), `#EXTVLCOPT` options (`http-user-agent`),
//! `#KODIPROP` properties (`inputstream.adaptive.manifest_type`), headers given after `|` in
//! the URL (`User-Agent`, `Referer`), the `#EXTGRP` group beyond the first, and a positive
//! `#EXTINF` duration (`duration`). The stream URL written is the proxy's, not the
//! provider's, so what told a player how to reach the provider does not belong in the
//! playlist: tvarr fetches the upstream itself, and writing the provider's user agent,
//! referrer, cookies or direct URL would hand them to every player (and to anyone the
//! playlist is shared with) while pointing at nothing the player fetches. So an `extra` is
//! written back as an `#EXTINF` attribute only when
//! - its name is an attribute name every mainstream parser reads (`[A-Za-z0-9_-]+`): this
//!   leaves out the dotted `#KODIPROP` properties;
//! - it does not say how to fetch the provider's stream: not `user-agent`, `referer`,
//!   `referrer`, `origin`, `cookie`, `authorization`, `direct-source`, nor a name starting
//!   with `http-` (the `#EXTVLCOPT` HTTP options), nor one of the player options
//!   `inputstream`, `inputstreamaddon`, `inputstreamclass`, `mimetype`, `network-caching`,
//!   `program` (all compared without regard to ASCII case);
//! - it is not one of the attributes written from their own fields, nor `tvg-shift` (the
//!   guide's times are already shifted when the guide is generated, so a player must not
//!   shift them again), nor `EXTGRP` (the entry has its `group-title`), nor `duration`;
//! - no earlier `extra` of the same name was written (a name appears once per entry).
//!
//! No `#EXTVLCOPT`, `#KODIPROP`, `#EXTGRP` line and no `|` header is written. A `duration`
//! that is a plain positive number becomes the `#EXTINF` duration (VOD entries); every other
//! entry has `-1`.
//!
//! # Values that must not break the line
//! M3U has no escaping. Values are made safe so that one entry stays two lines and every
//! attribute stays one `name="value"` token, as Kodi's IPTV Simple, TiviMate, VLC, our own
//! parser and PyPI's `m3u-ipytv` read them:
//! - in attribute values and the name, CR, LF, tab, every other control character and the
//!   Unicode line separators (U+0085, U+2028, U+2029, line ends to some readers) become a
//!   space, and `"` becomes `'` (a `"` would end the value early; in the name it would move
//!   the point where Kodi looks for the name);
//! - in URLs (the stream URL, `tvg-logo`, `catchup-source`, the guide URL) tab, CR and LF are
//!   removed (as the WHATWG URL parser does), and space, `"`, `|`, the other control
//!   characters and the Unicode line separators are percent-encoded, which leaves what the URL means unchanged (a literal `|`
//!   would be read as the start of Kodi-style headers);
//! - the name follows the first comma after the attributes, which always end with a quote
//!   (`tvg-chno` is always written), so a name may contain commas: parsers that look for the
//!   first comma outside quotes and Kodi, which looks for the comma after the last quote,
//!   both find it. The name is trimmed, since every parser trims it.
//!
//! Non-ASCII text is written as UTF-8, unchanged.

use tvarr_core::{ChannelData, LineupChannel};

/// Writes a proxy's playlist in M3U Plus form into a byte buffer.
///
/// ```
/// use tvarr_pipeline::M3uWriter;
/// let mut out = Vec::new();
/// M3uWriter::header(&mut out, "http://tv.local/proxy/1.xmltv");
/// assert_eq!(
///     out,
///     b"#EXTM3U url-tvg=\"http://tv.local/proxy/1.xmltv\" x-tvg-url=\"http://tv.local/proxy/1.xmltv\"\n"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct M3uWriter;

/// Attributes written from their own fields, or deliberately not written (see the module
/// docs): an `extra` of one of these names is never written back.
const RESERVED: &[&str] = &[
    "tvg-id",
    "tvg-name",
    "tvg-logo",
    "group-title",
    "tvg-chno",
    "catchup",
    "catchup-days",
    "catchup-source",
    "tvg-shift",
    "EXTGRP",
    "duration",
];

/// `extra` names that say how to fetch the provider's stream, or that are player options
/// rather than `#EXTINF` attributes: never written (see the module docs).
const PROVIDER_ACCESS: &[&str] = &[
    "user-agent",
    "referer",
    "referrer",
    "origin",
    "cookie",
    "authorization",
    "direct-source",
    "inputstream",
    "inputstreamaddon",
    "inputstreamclass",
    "mimetype",
    "network-caching",
    "program",
];

impl M3uWriter {
    /// `#EXTM3U url-tvg="<guide_url>" x-tvg-url="<guide_url>"` and a newline. Both spellings
    /// of the guide attribute are written, since players read one or the other.
    pub fn header(out: &mut Vec<u8>, guide_url: &str) {
        out.extend_from_slice(b"#EXTM3U");
        write_url_attribute(out, "url-tvg", guide_url);
        write_url_attribute(out, "x-tvg-url", guide_url);
        out.push(b'\n');
    }

    /// One `#EXTINF:-1 tvg-id=.. tvg-name=.. tvg-logo=.. group-title=.. tvg-chno=..
    /// [catchup attributes] [extras],Name` line, then `stream_url` on its own line. Values
    /// are made safe as the module docs say.
    ///
    /// ```
    /// use tvarr_core::{ChannelData, ChannelId, LineupChannel, StreamSourceId};
    /// use tvarr_pipeline::M3uWriter;
    /// let channel = LineupChannel {
    ///     channel_id: ChannelId::new(),
    ///     source_id: StreamSourceId::new(),
    ///     number: 7,
    ///     guide_id: "bbc1.uk".into(),
    ///     data: ChannelData {
    ///         name: "BBC One, HD".into(),
    ///         group_title: Some("UK".into()),
    ///         extra: vec![
    ///             ("tvg-country".into(), "GB".into()),
    ///             ("http-user-agent".into(), "Provider/1.0".into()),
    ///         ],
    ///         ..ChannelData::default()
    ///     },
    ///     guide: None,
    /// };
    /// let mut out = Vec::new();
    /// M3uWriter::channel(&mut out, &channel, "http://tv.local/proxy/1/abc");
    /// assert_eq!(
    ///     String::from_utf8(out).unwrap(),
    ///     "#EXTINF:-1 tvg-id=\"bbc1.uk\" tvg-name=\"BBC One, HD\" group-title=\"UK\" \
    ///      tvg-chno=\"7\" tvg-country=\"GB\",BBC One, HD\nhttp://tv.local/proxy/1/abc\n"
    /// );
    /// ```
    pub fn channel(out: &mut Vec<u8>, channel: &LineupChannel, stream_url: &str) {
        let data: &ChannelData = &channel.data;
        out.extend_from_slice(b"#EXTINF:");
        match data.extra("duration").filter(|d| is_positive_duration(d)) {
            Some(duration) => out.extend_from_slice(duration.as_bytes()),
            None => out.extend_from_slice(b"-1"),
        }
        write_attribute(out, "tvg-id", &channel.guide_id);
        write_attribute(
            out,
            "tvg-name",
            data.tvg_name.as_deref().unwrap_or(&data.name),
        );
        if let Some(logo) = &data.tvg_logo {
            write_url_attribute(out, "tvg-logo", logo);
        }
        if let Some(group) = &data.group_title {
            write_attribute(out, "group-title", group);
        }
        out.extend_from_slice(b" tvg-chno=\"");
        write_decimal(out, channel.number);
        out.push(b'"');
        if let Some(catchup) = &data.catchup {
            write_attribute(out, "catchup", catchup);
        }
        if let Some(days) = &data.catchup_days {
            write_attribute(out, "catchup-days", days);
        }
        if let Some(source) = &data.catchup_source {
            write_url_attribute(out, "catchup-source", source);
        }
        for (index, (name, value)) in data.extra.iter().enumerate() {
            let repeated = data.extra[..index]
                .iter()
                .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name));
            if !repeated && is_extinf_attribute(name) {
                write_attribute(out, name, value);
            }
        }
        out.push(b',');
        write_text(out, data.name.trim());
        out.push(b'\n');
        write_url(out, stream_url);
        out.push(b'\n');
    }
}

/// Whether an `extra` is an `#EXTINF` attribute to write back (see the module docs).
fn is_extinf_attribute(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name
            .get(..5)
            .is_some_and(|head| head.eq_ignore_ascii_case("http-"))
        && !RESERVED
            .iter()
            .chain(PROVIDER_ACCESS)
            .any(|known| known.eq_ignore_ascii_case(name))
}

/// A duration as `m3u-ipytv` and our parser read it: digits, optionally a fraction, above 0.
fn is_positive_duration(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && value.bytes().any(|b| b.is_ascii_digit() && b != b'0')
}

/// ` name="value"`, with a text value made safe; nothing when the value is empty.
fn write_attribute(out: &mut Vec<u8>, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    write_text(out, value);
    out.push(b'"');
}

/// ` name="value"`, with a URL value made safe; nothing when the value is empty.
fn write_url_attribute(out: &mut Vec<u8>, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    write_url(out, value);
    out.push(b'"');
}

/// Text (a name, an attribute value): control characters and the Unicode line separators
/// become spaces, `"` becomes `'`.
fn write_text(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, width) = match bytes[i] {
            b'"' => (b'\'', 1),
            0..=0x1f | 0x7f => (b' ', 1),
            0xc2 | 0xe2 if line_separator_at(bytes, i) > 0 => (b' ', line_separator_at(bytes, i)),
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run..i]);
        out.push(replacement);
        i += width;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
}

/// The length of U+0085 (NEL), U+2028 or U+2029 at `at`, which some readers take for a line
/// end (JavaScript's `.`, Python's `splitlines`); 0 when there is none there.
fn line_separator_at(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at..) {
        Some([0xc2, 0x85, ..]) => 2,
        Some([0xe2, 0x80, 0xa8 | 0xa9, ..]) => 3,
        _ => 0,
    }
}

/// A URL: tab, CR and LF removed, space, `"`, `|`, the other control characters and the
/// Unicode line separators percent-encoded.
fn write_url(out: &mut Vec<u8>, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = value.trim().as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let width = match b {
            0..=0x20 | b'"' | b'|' | 0x7f => 1,
            0xc2 | 0xe2 => line_separator_at(bytes, i),
            _ => 0,
        };
        if width == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        if !matches!(b, b'\t' | b'\r' | b'\n') {
            for &b in &bytes[i..i + width] {
                out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
        i += width;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
}

fn write_decimal(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use tvarr_core::{ChannelId, StreamSourceId};

    use super::*;

    fn lineup(number: u32, guide_id: &str, data: ChannelData) -> LineupChannel {
        LineupChannel {
            channel_id: ChannelId::new(),
            source_id: StreamSourceId::new(),
            number,
            guide_id: guide_id.into(),
            data,
            guide: None,
        }
    }

    fn entry(channel: &LineupChannel, url: &str) -> String {
        let mut out = Vec::new();
        M3uWriter::channel(&mut out, channel, url);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn names_keep_commas_and_lose_quotes_and_line_breaks() {
        let channel = lineup(
            1,
            "a.b",
            ChannelData {
                name: " Movies, \"Classics\"\r\nHD ".into(),
                ..ChannelData::default()
            },
        );
        let text = entry(&channel, "http://t/1");
        assert_eq!(
            text,
            "#EXTINF:-1 tvg-id=\"a.b\" tvg-name=\" Movies, 'Classics'  HD \" tvg-chno=\"1\",\
             Movies, 'Classics'  HD\nhttp://t/1\n"
        );
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn attribute_values_cannot_end_early_or_break_the_line() {
        let channel = lineup(
            12,
            "id\"x\ny",
            ChannelData {
                name: "N".into(),
                group_title: Some("News \"24\"\tSport".into()),
                catchup: Some("default".into()),
                catchup_days: Some("7".into()),
                catchup_source: Some("http://p/c?a=1&b={utc} x\"|\r\n".into()),
                tvg_logo: Some(" http://l/a b.png\n".into()),
                ..ChannelData::default()
            },
        );
        let text = entry(&channel, "http://t/a b\r\n|x");
        assert_eq!(
            text,
            "#EXTINF:-1 tvg-id=\"id'x y\" tvg-name=\"N\" tvg-logo=\"http://l/a%20b.png\" \
             group-title=\"News '24' Sport\" tvg-chno=\"12\" catchup=\"default\" \
             catchup-days=\"7\" catchup-source=\"http://p/c?a=1&b={utc}%20x%22%7C\",N\n\
             http://t/a%20b%7Cx\n"
        );
    }

    #[test]
    fn provider_access_options_and_player_properties_are_not_written() {
        let channel = lineup(
            3,
            "g",
            ChannelData {
                name: "N".into(),
                tvg_shift: Some("2".into()),
                extra: vec![
                    ("tvg-country".into(), "FR".into()),
                    ("http-user-agent".into(), "VLC".into()),
                    ("HTTP-Referrer".into(), "http://p/".into()),
                    ("User-Agent".into(), "Mozilla".into()),
                    ("Referer".into(), "http://p/".into()),
                    ("user-agent".into(), "Mozilla".into()),
                    ("inputstream".into(), "inputstream.adaptive".into()),
                    ("inputstream.adaptive.manifest_type".into(), "hls".into()),
                    ("direct-source".into(), "http://p/s.ts".into()),
                    ("EXTGRP".into(), "Other".into()),
                    ("tvg-shift".into(), "1".into()),
                    ("tvg-ID".into(), "other".into()),
                    ("tvg-rec".into(), "3".into()),
                    ("TVG-COUNTRY".into(), "DE".into()),
                    ("bad name".into(), "x".into()),
                    ("custom-sid".into(), "".into()),
                ],
                ..ChannelData::default()
            },
        );
        assert_eq!(
            entry(&channel, "http://t/3"),
            "#EXTINF:-1 tvg-id=\"g\" tvg-name=\"N\" tvg-chno=\"3\" tvg-country=\"FR\" \
             tvg-rec=\"3\",N\nhttp://t/3\n"
        );
    }

    #[test]
    fn a_positive_duration_is_written_back_and_anything_else_is_live() {
        for (duration, written) in [
            ("16", "16"),
            ("2.5", "2.5"),
            ("0", "-1"),
            ("-1", "-1"),
            ("1e3", "-1"),
            ("5,x", "-1"),
            (".5", "-1"),
            ("0.0", "-1"),
        ] {
            let channel = lineup(
                1,
                "",
                ChannelData {
                    name: "V".into(),
                    extra: vec![("duration".into(), duration.into())],
                    ..ChannelData::default()
                },
            );
            let text = entry(&channel, "http://t/v");
            assert!(
                text.starts_with(&format!(
                    "#EXTINF:{written} tvg-name=\"V\" tvg-chno=\"1\",V\n"
                )),
                "{duration}: {text}"
            );
        }
    }

    #[test]
    fn unicode_line_separators_do_not_end_a_value() {
        let channel = lineup(
            1,
            "a\u{2028}b",
            ChannelData {
                name: "x\u{85}y\u{2029}z \u{e2}\u{80}".into(),
                ..ChannelData::default()
            },
        );
        assert_eq!(
            entry(&channel, "http://t/a\u{2028}b\u{85}c"),
            "#EXTINF:-1 tvg-id=\"a b\" tvg-name=\"x y z \u{e2}\u{80}\" tvg-chno=\"1\",x y z \u{e2}\u{80}\n\
             http://t/a%E2%80%A8b%C2%85c\n"
        );
    }

    #[test]
    fn non_ascii_is_written_unchanged() {
        let channel = lineup(
            4_294_967_295,
            "TokyoMX1.jp",
            ChannelData {
                name: "=>(★ TURKİYE ★)<= 日本".into(),
                tvg_name: Some("Ⓢ Perú".into()),
                ..ChannelData::default()
            },
        );
        assert_eq!(
            entry(&channel, "http://t/Perú"),
            "#EXTINF:-1 tvg-id=\"TokyoMX1.jp\" tvg-name=\"Ⓢ Perú\" tvg-chno=\"4294967295\",\
             =>(★ TURKİYE ★)<= 日本\nhttp://t/Perú\n"
        );
    }

    #[test]
    fn the_header_names_the_guide_twice() {
        let mut out = Vec::new();
        M3uWriter::header(&mut out, "http://h/p/1.xmltv?a=1&b=\"2\"");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#EXTM3U url-tvg=\"http://h/p/1.xmltv?a=1&b=%222%22\" \
             x-tvg-url=\"http://h/p/1.xmltv?a=1&b=%222%22\"\n"
        );
    }
}
