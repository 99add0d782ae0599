//! Keeping provider credentials out of logs, errors and API answers: the user info of URLs,
//! credential query parameters, the `user/pass` segments of Xtream stream paths, and the
//! values of headers that carry credentials.

/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: &[&str] = &[
    "username",
    "user",
    "password",
    "pass",
    "passwd",
    "pwd",
    "token",
    "key",
    "auth",
    "apikey",
    "api_key",
    "access_token",
    "auth_token",
    "sig",
    "signature",
    "hash",
    "session",
    "sid",
];

/// Path segments after which Xtream panels put `user/pass`.
const XTREAM_PATHS: &[&str] = &["live", "movie", "series", "timeshift"];

/// What a credential is replaced with.
pub const REDACTED: &str = "***";

const MASK: &str = REDACTED;

/// A URL with its credentials replaced by `***`: the user info (`user:pass@`), the values of
/// `username=`, `password=`, `token=`, `key=`, `auth=`, `hash=`, `session=`, `sid=` (and
/// similar) query parameters, and the user and password segments of Xtream stream paths:
/// `/live/user/pass/1.ts`, and the bare form `http://host:port/user/pass/1.ts`, recognised
/// only as an http(s) path of exactly three segments whose last is a numeric stream id with an
/// optional extension. Text that is not a URL is returned with the same rules applied as far as
/// they fit.
///
/// ```
/// use tvarr_core::redact_url;
/// assert_eq!(
///     redact_url("http://bob:secret@h:8080/live/bob/secret/1.ts?token=abc&x=1"),
///     "http://***@h:8080/live/***/***/1.ts?token=***&x=1"
/// );
/// assert_eq!(redact_url("http://h:8080/bob/secret/1234"), "http://h:8080/***/***/1234");
/// ```
pub fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(at) => (&url[..at], Some(&url[at..])),
        None => (url, None),
    };
    let (before_query, query) = match before_fragment.find('?') {
        Some(at) => (&before_fragment[..at], Some(&before_fragment[at + 1..])),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    // scheme://userinfo@host/path
    let (scheme, rest) = match before_query.find("://") {
        Some(at) => (&before_query[..at + 3], &before_query[at + 3..]),
        None => ("", before_query),
    };
    out.push_str(scheme);
    let (authority, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        }
    };
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let segments: Vec<&str> = path.split('/').collect();
    let mut masked = vec![false; segments.len()];
    for (i, segment) in segments.iter().enumerate() {
        if is_xtream_keyword(segment) && i + 3 < segments.len() {
            masked[i + 1] = true;
            masked[i + 2] = true;
        }
    }
    if is_http(scheme) && is_bare_xtream_path(&segments) {
        masked[1] = true;
        masked[2] = true;
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if masked[i] { MASK } else { segment });
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(MASK);
                }
                _ => out.push_str(pair),
            }
        }
    }
    if let Some(fragment) = fragment {
        out.push_str(fragment);
    }
    out
}

/// Free text (an error message) with [`redact_url`] applied to every word that looks like a
/// URL (contains `://`), so a provider's address in a message loses its credentials.
///
/// ```
/// use tvarr_core::redact_text;
/// assert_eq!(
///     redact_text("GET http://h/get.php?username=u&password=p failed: 404"),
///     "GET http://h/get.php?username=***&password=*** failed: 404"
/// );
/// ```
pub fn redact_text(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        if word.contains("://") {
            // Keep quotes, brackets and a trailing comma or colon out of the URL.
            let start = word.len() - word.trim_start_matches(['"', '\'', '(', '[', '<']).len();
            let end = word
                .trim_end_matches(['"', '\'', ')', ']', '>', ',', ';', ':', '.'])
                .len()
                .max(start);
            out.push_str(&word[..start]);
            out.push_str(&redact_url(&word[start..end]));
            out.push_str(&word[end..]);
        } else {
            out.push_str(word);
        }
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..space_end]);
        rest = &after[space_end..];
    }
    out
}

/// Whether an HTTP header's value is a credential: `Authorization`, `Proxy-Authorization`,
/// `Cookie`, and any name that mentions a token, key, secret, password, session or auth.
pub fn is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "cookie"
        || ["auth", "token", "key", "secret", "pass", "session"]
            .iter()
            .any(|word| lower.contains(word))
}

fn is_xtream_keyword(segment: &str) -> bool {
    XTREAM_PATHS
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(segment))
}

fn is_http(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("http://") || scheme.eq_ignore_ascii_case("https://")
}

/// `/user/pass/1234` or `/user/pass/1234.ts`: exactly three segments, the last a stream id.
/// Anything looser (two or four segments, a word for the id, a keyword first) is an ordinary
/// path and stays readable.
fn is_bare_xtream_path(segments: &[&str]) -> bool {
    let [leading, user, pass, id] = segments else {
        return false;
    };
    leading.is_empty()
        && !user.is_empty()
        && !pass.is_empty()
        && !is_xtream_keyword(user)
        && is_stream_id(id)
}

/// Digits, then an optional short alphanumeric extension (`1234`, `1234.ts`, `1234.m3u8`).
fn is_stream_id(segment: &str) -> bool {
    let (id, extension) = match segment.split_once('.') {
        Some((id, extension)) => (id, Some(extension)),
        None => (segment, None),
    };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && extension.is_none_or(|e| {
            (1..=5).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn is_secret_parameter(name: &str) -> bool {
    SECRET_PARAMETERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_kind_of_credential() {
        assert_eq!(
            redact_url(
                "http://panel:8080/player_api.php?username=u&password=p&action=get_live_streams"
            ),
            "http://panel:8080/player_api.php?username=***&password=***&action=get_live_streams"
        );
        assert_eq!(
            redact_url("https://user@host/a.m3u?Key=1&AUTH=2&t=3"),
            "https://***@host/a.m3u?Key=***&AUTH=***&t=3"
        );
        assert_eq!(
            redact_url("http://h/series/u/p/12.mkv"),
            "http://h/series/***/***/12.mkv"
        );
        assert_eq!(
            redact_url("http://h/live/stream.m3u8"),
            "http://h/live/stream.m3u8"
        );
        assert_eq!(redact_url("/srv/guide.xml"), "/srv/guide.xml");
        assert_eq!(
            redact_url("http://h/get.php?token=abc#frag"),
            "http://h/get.php?token=***#frag"
        );
    }

    #[test]
    fn masks_the_bare_xtream_user_pass_id_form() {
        assert_eq!(
            redact_url("http://panel.example:8080/bob/s3cret/12345"),
            "http://panel.example:8080/***/***/12345"
        );
        assert_eq!(
            redact_url("https://panel.example/bob/s3cret/12345.m3u8?x=1"),
            "https://panel.example/***/***/12345.m3u8?x=1"
        );
        assert_eq!(
            redact_url("HTTP://p:80/123456/654321/7.ts"),
            "HTTP://p:80/***/***/7.ts"
        );
    }

    #[test]
    fn leaves_ordinary_three_segment_paths_readable() {
        for url in [
            // The last segment is not a stream id.
            "http://192.54.104.122:8080/d/abcdef/video.mp4",
            "http://cdn.example/hls/live/index.m3u8",
            "http://cdn.example/a/b/12ab.ts",
            "http://cdn.example/a/b/12.toolongext",
            // Two or four segments.
            "http://cdn.example/channel/1234.ts",
            "http://cdn.example/a/b/c/1234.ts",
            // A keyword first: not the bare form (and too short for the keyword form).
            "http://cdn.example/live/news/1234.ts",
            // Not http(s), or not a URL at all.
            "file:///srv/guides/1.xml",
            "/srv/guides/1.xml",
            "rtmp://cdn.example/app/key/1234",
            // A trailing slash or an empty segment.
            "http://cdn.example/a/b/1234/",
            "http://cdn.example//b/1234",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn masks_session_and_hash_tokens_but_not_ordinary_parameters() {
        assert_eq!(
            redact_url("http://h/a.m3u8?hash=ab12&session=s1&SID=9&auth_token=z&access_token=y"),
            "http://h/a.m3u8?hash=***&session=***&SID=***&auth_token=***&access_token=***"
        );
        assert_eq!(
            redact_url("http://h/search?q=news&t=3&m=aa:bb&page=2"),
            "http://h/search?q=news&t=3&m=aa:bb&page=2"
        );
    }

    #[test]
    fn masks_urls_inside_text_and_secret_headers() {
        assert_eq!(
            redact_text("cannot fetch 'http://bob:pw@h/live/bob/pw/1.ts': refused"),
            "cannot fetch 'http://***@h/live/***/***/1.ts': refused"
        );
        assert_eq!(redact_text("no url here: a/b"), "no url here: a/b");
        assert_eq!(
            redact_text("(http://h/a?token=x), then"),
            "(http://h/a?token=***), then"
        );
        for name in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "X-Auth-Token",
            "Proxy-Authorization",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in ["Referer", "Accept", "X-Forwarded-For", "Origin"] {
            assert!(!is_secret_header(name), "{name}");
        }
    }
}
