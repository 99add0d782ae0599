//! The public base URL of an answer: the configured one, or the origin the request came to.
//!
//! When a base URL is configured (`--base-url`, `TVARR_BASE_URL`) every absolute URL the API
//! writes (output URLs in proxy views, stream URLs in a lineup, the URLs inside a served
//! playlist) starts with it, whatever the request says. When none is configured, the default
//! `http://<listen>` (often `http://0.0.0.0:8080`) is no address a player can use, so each
//! answer uses the origin the request was sent to instead:
//!
//! - the scheme is `https` when this server terminated TLS, else `http`;
//! - the host is the `Host` header (HTTP/2: the `:authority`), when it is a valid `host[:port]`
//!   (a DNS name, an IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535);
//! - `X-Forwarded-Proto` (`http` or `https`) and `X-Forwarded-Host` (the first, client-facing
//!   entry) replace them only when the connection comes from one of the trusted proxies
//!   ([`crate::ApiSettings::trusted_proxies`]); by default nobody is trusted, so a client
//!   cannot make the server write another host into the answers of a shared cache;
//! - anything that does not validate falls back to the configured default base URL.
//!
//! `Forwarded` (RFC 7239) is not read: the reverse proxies people put in front of tvarr
//! (nginx, Caddy, Traefik) send the `X-Forwarded-*` pair by default.

use std::borrow::Cow;
use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::state::ApiSettings;

/// Whether `value` is a `host[:port]` fit to put into a URL: a DNS name (letters, digits,
/// `-`, `.`), an IPv4 address or a bracketed IPv6 address, with an optional port 1–65535.
pub(crate) fn valid_authority(value: &str) -> bool {
    if value.is_empty() || value.len() > 255 {
        return false;
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    if let Some(port) = port
        && !(port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return false;
    }
    if value.starts_with('[') {
        return true;
    }
    // A fully qualified name may end with one dot.
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The first entry of a comma-separated forwarding header, trimmed.
fn first_forwarded(req: &HttpRequest, name: &str) -> Option<String> {
    let value = req.headers().get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

/// The address of the client that made `req`: the connection's peer, or, when the peer is
/// one of `settings`' trusted proxies, the last address in `X-Forwarded-For` that is not
/// one of them (the first one a trusted proxy was told by someone it does not trust).
pub(crate) fn client_address(req: &HttpRequest, settings: &ApiSettings) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = |ip: IpAddr| settings.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted(**ip))
        .or_else(|| forwarded.first())
        .copied()
        .or(Some(peer))
}

/// Whether the connection of `req` comes from one of `settings`' trusted proxies.
fn from_trusted_proxy(req: &HttpRequest, settings: &ApiSettings) -> bool {
    req.peer_addr().is_some_and(|peer| {
        settings
            .trusted_proxies
            .iter()
            .any(|network| network.contains(peer.ip()))
    })
}

/// The base URL absolute URLs in the answer to `req` start with, without a trailing slash:
/// the configured base URL, or the request's origin when none was configured (see the module
/// documentation).
pub(crate) fn public_base<'a>(req: &HttpRequest, settings: &'a ApiSettings) -> Cow<'a, str> {
    if settings.base_url_configured {
        return Cow::Borrowed(&settings.base_url);
    }
    let trusted = from_trusted_proxy(req, settings);
    let forwarded_host = trusted
        .then(|| first_forwarded(req, "x-forwarded-host"))
        .flatten()
        .filter(|host| valid_authority(host));
    let host = forwarded_host.or_else(|| {
        let host = match req.headers().get(header::HOST) {
            Some(value) => value.to_str().ok().map(str::to_string),
            None => req.uri().authority().map(|a| a.as_str().to_string()),
        };
        host.filter(|host| valid_authority(host))
    });
    let Some(host) = host else {
        return Cow::Borrowed(&settings.base_url);
    };
    let forwarded_proto = trusted
        .then(|| first_forwarded(req, "x-forwarded-proto"))
        .flatten()
        .map(|proto| proto.to_ascii_lowercase())
        .filter(|proto| proto == "http" || proto == "https");
    let scheme = forwarded_proto.unwrap_or_else(|| {
        if req.app_config().secure() {
            "https".to_string()
        } else {
            "http".to_string()
        }
    });
    Cow::Owned(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn settings(configured: bool, trusted: &[&str]) -> ApiSettings {
        ApiSettings {
            base_url: "http://0.0.0.0:8080".into(),
            base_url_configured: configured,
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            version: "test".into(),
            cron_min_interval: std::time::Duration::ZERO,
            import_dir: None,
        }
    }

    #[test]
    fn authorities_are_host_and_optional_port() {
        for ok in [
            "tv.example.com",
            "tv.example.com:8080",
            "localhost",
            "192.168.1.5:8080",
            "[::1]",
            "[fd00::1]:8080",
            "example.com.",
        ] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "evil.com/path",
            "evil.com\"",
            "host:0",
            "host:65536",
            "host:",
            ":80",
            "[::1",
            "[zz::1]",
            "[::1]x",
            "user@host",
            "-bad.com",
            "a..b",
            "a..",
            ".",
            &"a".repeat(256),
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
    }

    #[test]
    fn the_configured_base_wins_over_every_header() {
        let settings = settings(true, &["0.0.0.0/0"]);
        let req = TestRequest::get()
            .insert_header(("Host", "other.example"))
            .insert_header(("X-Forwarded-Host", "evil.example"))
            .to_http_request();
        assert_eq!(public_base(&req, &settings), "http://0.0.0.0:8080");
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_it() {
        let req = |xff: &str| {
            TestRequest::get()
                .insert_header(("X-Forwarded-For", xff.to_string()))
                .peer_addr("10.0.0.1:5000".parse().unwrap())
                .to_http_request()
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer's header is not believed.
        let untrusted = settings(false, &[]);
        assert_eq!(
            client_address(&req("203.0.113.5"), &untrusted),
            Some(ip("10.0.0.1"))
        );
        // Behind trusted proxies: the last address they did not add themselves.
        let trusted = settings(false, &["10.0.0.0/8"]);
        assert_eq!(
            client_address(&req("198.51.100.9, 203.0.113.5, 10.0.0.2"), &trusted),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            client_address(&req("10.0.0.3"), &trusted),
            Some(ip("10.0.0.3"))
        );
        assert_eq!(client_address(&req("junk"), &trusted), Some(ip("10.0.0.1")));
    }

    #[test]
    fn the_host_header_gives_the_origin_and_forwarding_needs_a_trusted_peer() {
        let untrusted = settings(false, &[]);
        let req = TestRequest::get()
            .insert_header(("Host", "TV.Local:8080"))
            .insert_header(("X-Forwarded-Host", "evil.example"))
            .insert_header(("X-Forwarded-Proto", "https"))
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(public_base(&req, &untrusted), "http://tv.local:8080");
        let trusted = settings(false, &["192.0.2.0/24"]);
        assert_eq!(public_base(&req, &trusted), "https://evil.example");
        // An invalid Host falls back to the default.
        let req = TestRequest::get()
            .insert_header(("Host", "bad host\"/x"))
            .to_http_request();
        assert_eq!(public_base(&req, &untrusted), "http://0.0.0.0:8080");
        // Invalid forwarding values are ignored, the Host still counts.
        let req = TestRequest::get()
            .insert_header(("Host", "tv.local"))
            .insert_header(("X-Forwarded-Host", "a b"))
            .insert_header(("X-Forwarded-Proto", "gopher"))
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(public_base(&req, &trusted), "http://tv.local");
        // The first, client-facing entry of a chain.
        let req = TestRequest::get()
            .insert_header(("Host", "internal:8080"))
            .insert_header(("X-Forwarded-Host", "tv.example.com, internal:8080"))
            .insert_header(("X-Forwarded-Proto", "https,http"))
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(public_base(&req, &trusted), "https://tv.example.com");
    }
}
