//! Keeping credentials out of logs and errors.

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
    "sig",
    "signature",
];

/// Path segments after which Xtream panels put `user/pass`.
const XTREAM_PATHS: &[&str] = &["live", "movie", "series", "timeshift"];

const MASK: &str = "***";

/// A URL with its credentials replaced by `***`: the user info (`user:pass@`), the values of
/// `username=`, `password=`, `token=`, `key=`, `auth=` (and similar) query parameters, and the
/// user and password segments of Xtream stream paths (`/live/user/pass/1.ts`).
/// Text that is not a URL is returned with the same rules applied as far as they fit.
///
/// ```
/// use tvarr_ingest::redact_url;
/// assert_eq!(
///     redact_url("http://bob:secret@h:8080/live/bob/secret/1.ts?token=abc&x=1"),
///     "http://***@h:8080/live/***/***/1.ts?token=***&x=1"
/// );
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
        if XTREAM_PATHS.contains(&segment.to_ascii_lowercase().as_str()) && i + 3 < segments.len() {
            masked[i + 1] = true;
            masked[i + 2] = true;
        }
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
}
