//! Content sniffing: telling an error page (HTML, a JSON error object) from the playlist,
//! guide or JSON answer that was expected, by the first bytes and the content type. Pure: it
//! judges bytes already received.

use crate::error::IngestError;

/// What a download should hold, to tell it from an error page.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expected {
    /// An M3U playlist.
    Playlist,
    /// An XMLTV guide.
    Guide,
    /// A JSON answer of an Xtream panel, named for messages.
    Json(&'static str),
}

impl Expected {
    fn name(self) -> &'static str {
        match self {
            Expected::Playlist => "playlist",
            Expected::Guide => "guide",
            Expected::Json(name) => name,
        }
    }

    /// Whether the first bytes clearly are the expected document, whatever the content type.
    fn starts_like(self, head: &[u8]) -> bool {
        match self {
            // A directive or comment, or a bare stream URL (playlists without a header).
            Expected::Playlist => {
                head.starts_with(b"#")
                    || head
                        .iter()
                        .take(16)
                        .position(|b| *b == b':')
                        .is_some_and(|colon| {
                            colon > 0
                                && head[..colon].iter().all(u8::is_ascii_alphanumeric)
                                && head[colon + 1..].starts_with(b"//")
                        })
            }
            Expected::Guide => {
                starts_with_ignore_case(head, b"<?xml")
                    || starts_with_ignore_case(head, b"<tv")
                    || starts_with_ignore_case(head, b"<!doctype tv")
            }
            Expected::Json(_) => head.starts_with(b"{") || head.starts_with(b"["),
        }
    }
}

pub(super) fn check_head(
    head: &[u8],
    content_type: Option<&str>,
    expected: Expected,
) -> Result<(), IngestError> {
    let html = IngestError::HtmlPage {
        expected: expected.name(),
    };
    if looks_like_html(head) {
        return Err(html);
    }
    // A comment longer than the head leaves nothing to judge by.
    let Some(start) = skip_comments(trim_start(head)) else {
        return Ok(());
    };
    // PHP panels label everything text/html, playlists and JSON included: the content type
    // only decides when the bytes are not clearly what was expected.
    let html_type = content_type.is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("text/html")
            || essence.eq_ignore_ascii_case("application/xhtml+xml")
    });
    if html_type && !start.is_empty() && !expected.starts_like(start) {
        return Err(html);
    }
    if matches!(expected, Expected::Playlist | Expected::Guide) && looks_like_json(start) {
        return Err(IngestError::JsonAnswer {
            expected: expected.name(),
        });
    }
    Ok(())
}

/// Whether the first bytes of a body are an HTML page: an `<!DOCTYPE html>`, `<html>`,
/// `<head>` or `<body>` tag at the start, after a BOM, whitespace and any `<!-- … -->`
/// comments; any case.
pub fn looks_like_html(head: &[u8]) -> bool {
    let Some(rest) = skip_comments(trim_start(head)) else {
        return false;
    };
    // The tag name must end there: `<header-less text` is no `<head`.
    [&b"<!doctype html"[..], b"<html", b"<head", b"<body"]
        .iter()
        .any(|tag| {
            starts_with_ignore_case(rest, tag)
                && rest
                    .get(tag.len())
                    .is_none_or(|b| matches!(b, b'>' | b'/') || b.is_ascii_whitespace())
        })
}

/// The bytes after leading `<!-- … -->` comments (a generator's banner) and the whitespace
/// around them; `None` when a comment does not end within `start`.
fn skip_comments(mut start: &[u8]) -> Option<&[u8]> {
    while let Some(comment) = start.strip_prefix(b"<!--") {
        let end = memchr::memmem::find(comment, b"-->")?;
        start = comment[end + 3..].trim_ascii_start();
    }
    Some(start)
}

/// A JSON object or array at the start: `{` then `"` or `}`, or `[` then a value or `]`
/// (`[NO PUBLIC STREAM]` and other bracketed text are not JSON).
fn looks_like_json(start: &[u8]) -> bool {
    let after = |open: usize| start.get(open..).map(<[u8]>::trim_ascii_start);
    match start.first() {
        Some(b'{') => after(1).is_some_and(|a| a.is_empty() || matches!(a[0], b'"' | b'}')),
        Some(b'[') => after(1).is_some_and(|a| {
            a.is_empty() || matches!(a[0], b'{' | b'[' | b'"' | b']' | b'-' | b'0'..=b'9')
        }),
        _ => false,
    }
}

/// The bytes after a UTF-8 BOM and leading whitespace.
fn trim_start(head: &[u8]) -> &[u8] {
    head.strip_prefix(&[0xEF, 0xBB, 0xBF])
        .unwrap_or(head)
        .trim_ascii_start()
}

fn starts_with_ignore_case(head: &[u8], prefix: &[u8]) -> bool {
    head.len() >= prefix.len() && head[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(head: &str, content_type: Option<&str>, expected: Expected) -> Option<String> {
        check_head(head.as_bytes(), content_type, expected)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn html_is_recognised_after_a_bom_whitespace_and_comments() {
        for head in [
            "<!DOCTYPE html><html>",
            "\u{feff} \r\n<HTML lang=en>",
            "<head><title>x</title></head>",
            "<body>Suspended</body>",
            "<!-- banner -->\n<!doctype HTML>",
            "<!----><!-- a --> <html>",
        ] {
            assert!(looks_like_html(head.as_bytes()), "{head}");
        }
        for head in [
            "#EXTM3U\n",
            "<?xml version=\"1.0\"?><tv>",
            "<!-- generated --><tv>",
            "<!-- a comment that never ends <html>",
            "<header-less text",
            "<htmlish>",
            "",
        ] {
            assert!(!looks_like_html(head.as_bytes()), "{head}");
        }
    }

    #[test]
    fn json_is_recognised_but_bracketed_text_is_not() {
        for head in [
            "{\"a\":1}",
            "{ }",
            "[]",
            "[ {\"a\":1}]",
            "[1,2]",
            "[\"x\"]",
            "{",
        ] {
            assert!(looks_like_json(head.as_bytes()), "{head}");
        }
        for head in ["[NO PUBLIC STREAM]", "[ Channel ]", "{name}", "#EXTM3U", ""] {
            assert!(!looks_like_json(head.as_bytes()), "{head}");
        }
    }

    #[test]
    fn a_text_html_content_type_refuses_only_what_does_not_look_expected() {
        let html = Some("text/html; charset=UTF-8");
        assert_eq!(
            refused("#EXTM3U\n#EXTINF:-1,A\n", html, Expected::Playlist),
            None
        );
        assert_eq!(refused("http://h/a.ts\n", html, Expected::Playlist), None);
        assert_eq!(
            refused("<?xml version=\"1.0\"?>", html, Expected::Guide),
            None
        );
        assert_eq!(refused("<!-- grabber --><tv>", html, Expected::Guide), None);
        assert_eq!(
            refused("[{\"num\":1}]", html, Expected::Json("stream list")),
            None
        );
        assert_eq!(refused("", html, Expected::Playlist), None);
        let message = refused("Access denied", html, Expected::Playlist).unwrap();
        assert!(
            message.contains("HTML page instead of a playlist"),
            "{message}"
        );
        assert!(refused("Forbidden", html, Expected::Json("JSON answer")).is_some());
        assert!(refused("Access denied", Some("text/plain"), Expected::Playlist).is_none());
    }

    #[test]
    fn json_is_refused_only_where_a_playlist_or_guide_was_expected() {
        let message = refused("{\"error\":1}", None, Expected::Playlist).unwrap();
        assert!(message.contains("JSON, not a playlist"), "{message}");
        let message = refused("[]", Some("application/json"), Expected::Guide).unwrap();
        assert!(message.contains("JSON, not a guide"), "{message}");
        assert_eq!(
            refused("{\"user_info\":{}}", None, Expected::Json("JSON answer")),
            None
        );
    }
}
