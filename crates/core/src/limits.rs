//! The limits every text a person sends is held to, defined once: names, locations (URLs and
//! paths), HTTP header names and values (user agents among them), credentials, schedules and
//! expressions. Each check adds a [`FieldError`] naming the field, so a caller reports every
//! problem of an input at once (the API answers 422 with them).

use crate::error::FieldError;

/// The longest name (of a source, filter, rule, proxy, API key), in characters.
pub const NAME_MAX_CHARS: usize = 200;
/// The longest URL or path, in bytes.
pub const URL_MAX_BYTES: usize = 8 * 1024;
/// The longest HTTP header value (a user agent too), in bytes.
pub const HEADER_VALUE_MAX_BYTES: usize = 1024;
/// The longest HTTP header name, in bytes.
pub const HEADER_NAME_MAX_BYTES: usize = 128;
/// The most extra headers one source sends.
pub const MAX_HEADERS: usize = 64;
/// The longest user name or password given for a provider, in bytes.
pub const CREDENTIAL_MAX_BYTES: usize = 1024;
/// The longest cron schedule, in bytes.
pub const CRON_MAX_BYTES: usize = 255;
/// The longest expression (filter condition or mapping rule), in bytes.
pub const EXPRESSION_MAX_BYTES: usize = 64 * 1024;
/// The longest text a query parameter (a search text, a group) may carry, in bytes.
pub const QUERY_TEXT_MAX_BYTES: usize = 1024;

/// A name: not blank, at most [`NAME_MAX_CHARS`] characters, no control characters
/// (line breaks, tabs, NUL).
pub fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if name.chars().count() > NAME_MAX_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters"),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters (line breaks, tabs, NUL)",
        ));
    }
}

/// Optional single-line text (a user name, a password, a time zone): at most `max` bytes, no
/// control characters.
pub fn check_line(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.len() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} bytes"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters (line breaks, tabs, NUL)",
        ));
    }
}

/// Where a source is read from: an `http(s)://` URL with a host, or (when `allow_path`) a
/// `file://` URL or an absolute path; at most [`URL_MAX_BYTES`], no control characters or
/// spaces.
pub fn check_location(field: &str, location: &str, allow_path: bool, errors: &mut Vec<FieldError>) {
    let location = location.trim();
    if location.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
        return;
    }
    if location.len() > URL_MAX_BYTES {
        errors.push(FieldError::new(
            field,
            format!("must be at most {URL_MAX_BYTES} bytes"),
        ));
        return;
    }
    if location.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters (line breaks, tabs, NUL)",
        ));
        return;
    }
    if allow_path && location.starts_with('/') {
        return;
    }
    let lower = location.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("http://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("https://") {
        rest
    } else if allow_path && lower.starts_with("file://") {
        return;
    } else {
        let expected = if allow_path {
            "an http:// or https:// URL, a file:// URL, or an absolute path"
        } else {
            "an http:// or https:// URL"
        };
        errors.push(FieldError::new(field, format!("must be {expected}")));
        return;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || host.contains(char::is_whitespace) {
        errors.push(FieldError::new(field, "has no valid host"));
    }
}

/// An HTTP header value sent to a provider (a user agent too): at most
/// [`HEADER_VALUE_MAX_BYTES`], and no CR, LF, NUL or other control character but tab, so it
/// cannot end the header early or smuggle another.
pub fn check_header_value(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if value.len() > HEADER_VALUE_MAX_BYTES {
        errors.push(FieldError::new(
            field,
            format!("must be at most {HEADER_VALUE_MAX_BYTES} bytes"),
        ));
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        errors.push(FieldError::new(
            field,
            "must not contain line breaks, NUL or other control characters",
        ));
    }
}

/// Extra HTTP headers: at most [`MAX_HEADERS`], each name an RFC 9110 token of at most
/// [`HEADER_NAME_MAX_BYTES`], each value as [`check_header_value`] says. Errors are reported
/// under `field`, with the header's name in the message.
pub fn check_headers(field: &str, headers: &[(String, String)], errors: &mut Vec<FieldError>) {
    if headers.len() > MAX_HEADERS {
        errors.push(FieldError::new(
            field,
            format!("must have at most {MAX_HEADERS} headers"),
        ));
        return;
    }
    for (name, value) in headers {
        let valid_name = !name.is_empty()
            && name.len() <= HEADER_NAME_MAX_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            let shown: String = name.chars().take(40).filter(|c| !c.is_control()).collect();
            errors.push(FieldError::new(
                field,
                format!(
                    "`{shown}` is not a valid header name (letters, digits and !#$%&'*+-.^_`|~, at most {HEADER_NAME_MAX_BYTES} bytes)"
                ),
            ));
            continue;
        }
        let mut value_errors = Vec::new();
        check_header_value(field, value, &mut value_errors);
        errors.extend(
            value_errors
                .into_iter()
                .map(|e| FieldError::new(field, format!("the value of `{name}` {}", e.message))),
        );
    }
}

/// An expression: at most [`EXPRESSION_MAX_BYTES`] and no NUL (line breaks and tabs are
/// fine in an expression).
pub fn check_expression(field: &str, expression: &str, errors: &mut Vec<FieldError>) {
    if expression.len() > EXPRESSION_MAX_BYTES {
        errors.push(FieldError::new(
            field,
            format!("must be at most {EXPRESSION_MAX_BYTES} bytes"),
        ));
    } else if expression.contains('\0') {
        errors.push(FieldError::new(field, "must not contain NUL characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(check: impl FnOnce(&mut Vec<FieldError>)) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check(&mut errors);
        errors
    }

    #[test]
    fn names_are_single_line_and_bounded() {
        assert!(errors(|e| check_name("name", "News HD ★", e)).is_empty());
        assert!(errors(|e| check_name("name", &"é".repeat(200), e)).is_empty());
        for bad in ["", "  ", "a\0b", "a\r\nb", "tab\there", &"x".repeat(201)] {
            let found = errors(|e| check_name("name", bad, e));
            assert_eq!(found.len(), 1, "{bad:?}");
            assert_eq!(found[0].field, "name");
        }
    }

    #[test]
    fn locations_are_bounded_and_have_a_scheme() {
        let ok = |url: &str, path| errors(|e| check_location("url", url, path, e)).is_empty();
        assert!(ok("http://example.com/a.m3u", false));
        assert!(ok("/srv/a.m3u", true));
        assert!(ok("file:///srv/a.m3u", true));
        assert!(!ok("/srv/a.m3u", false));
        assert!(!ok("ftp://x/a", true));
        assert!(!ok("http://h/a\r\nX: y", false));
        assert!(!ok(
            &format!("http://h/{}", "a".repeat(URL_MAX_BYTES)),
            false
        ));
    }

    #[test]
    fn header_values_refuse_line_breaks_nul_and_length() {
        assert!(errors(|e| check_header_value("user_agent", "VLC/3.0 (x)\tok", e)).is_empty());
        for bad in ["a\r\nX-Evil: 1", "a\nb", "a\0b", &"x".repeat(1025)] {
            assert_eq!(
                errors(|e| check_header_value("user_agent", bad, e)).len(),
                1,
                "{bad:?}"
            );
        }
        let headers = vec![
            ("X-Ok".to_string(), "a\r\nEvil: 1".to_string()),
            ("bad name".to_string(), "v".to_string()),
        ];
        let found = errors(|e| check_headers("headers", &headers, e));
        assert_eq!(found.len(), 2);
        assert!(found[0].message.contains("X-Ok"));
        let many: Vec<_> = (0..=MAX_HEADERS)
            .map(|i| (format!("X-{i}"), "v".to_string()))
            .collect();
        assert_eq!(errors(|e| check_headers("headers", &many, e)).len(), 1);
    }

    #[test]
    fn expressions_are_bounded_and_free_of_nul() {
        assert!(errors(|e| check_expression("expression", "a == \"b\"\nAND c", e)).is_empty());
        assert_eq!(
            errors(|e| check_expression("expression", "a\0", e)).len(),
            1
        );
        let long = "x".repeat(EXPRESSION_MAX_BYTES + 1);
        assert_eq!(
            errors(|e| check_expression("expression", &long, e)).len(),
            1
        );
    }

    #[test]
    fn lines_refuse_control_characters_and_length() {
        assert!(errors(|e| check_line("username", "bob", 10, e)).is_empty());
        assert_eq!(errors(|e| check_line("username", "bo\nb", 10, e)).len(), 1);
        assert_eq!(
            errors(|e| check_line("username", "bobbobbobbob", 10, e)).len(),
            1
        );
    }
}
