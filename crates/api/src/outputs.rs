//! What players load: a proxy's playlist and guide (`/proxy/{id}.m3u`, `/proxy/{id}.xmltv`)
//! and its streams (`/proxy/{proxy_id}/{channel_id}`). A player cannot log in, so these routes
//! are public and check the account name and output password in `?username=&password=`
//! themselves once a viewer account exists (see the `access` module). A playlist loaded with
//! credentials hands them on: its guide and stream URLs carry the same query.
//!
//! # Serving the published files
//!
//! The files come from the [`tvarr_core::OutputStore`] as they were published, streamed from
//! disk in 64 KiB chunks (never read whole into memory), with no database work of the API's
//! own:
//!
//! - `Accept-Encoding: gzip` is answered with the precompressed file and `Content-Encoding:
//!   gzip`; every answer says `Vary: Accept-Encoding`;
//! - `ETag` is the published content's hash, distinct per encoding (`"<hash>"` and
//!   `"<hash>-gzip"`), and `If-None-Match` with it is answered 304; `Last-Modified` is the
//!   publication time and `If-Modified-Since` (without `If-None-Match`) is answered 304 when
//!   nothing was published since;
//! - `Content-Length`, and `HEAD` with the same headers and no body;
//! - before the first generation, and for an unknown proxy, a 404 problem.
//!
//! # Playlists when no base URL is configured
//!
//! A playlist is written with the server's base URL in its stream URLs and its `url-tvg`.
//! When no base URL was configured that is the default `http://<listen>`, which players on
//! other machines cannot reach; so when the request's origin (see the `origin` module) differs
//! from it, the playlist is served with that base replaced by the origin wherever it starts a
//! line or a quoted attribute value, while it streams. That answer is not compressed, has no
//! `Content-Length` (it is sent chunked), and its `ETag` includes the origin; `Vary` then also
//! names `Host` and the forwarding headers. Guides carry no URL of the server's own and are
//! always served as published.
//!
//! # Streams
//!
//! A stream request is answered in the proxy's mode (the `streams` module): a 302 to the
//! channel's upstream URL as published in the lineup (`redirect`), or the stream itself
//! (`proxy`, `relay`); 404 for a channel the published lineup does not have. Some players
//! append the container's extension: a trailing `.ts` or `.m3u8` on the channel id is
//! ignored.

use std::sync::Arc;
use std::time::SystemTime;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, route, web};
use bytes::Bytes;
use futures::StreamExt as _;
use tokio_util::io::ReaderStream;
use tvarr_core::{ChannelId, OutputFiles, OutputKind, ProxyId, RepoError, User};

use crate::access::Credentials;
use crate::error::{ApiError, ApiResult, Problem};
use crate::origin::{client_address, public_base};
use crate::state::AppState;

/// The size of the chunks a file is sent in.
const CHUNK: usize = 64 * 1024;

/// Whether the client accepts gzip: `gzip`, `x-gzip` or `*` in `Accept-Encoding` with a
/// non-zero quality.
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let accepted = name.eq_ignore_ascii_case("gzip")
                || name.eq_ignore_ascii_case("x-gzip")
                || name == "*";
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            accepted && quality > 0.0
        })
}

/// The opaque part of a stored validator, usable inside a quoted entity tag (RFC 9110:
/// `%x21 / %x23-7E`), or a hash of it when it holds anything else.
fn opaque(etag: &str) -> String {
    let bare = etag.trim().trim_start_matches("W/").trim_matches('"');
    if !bare.is_empty()
        && bare
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b))
    {
        bare.to_string()
    } else {
        blake3::hash(etag.as_bytes()).to_hex()[..32].to_string()
    }
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it) or is `*`.
fn none_match(req: &HttpRequest, etag: &str) -> Option<bool> {
    let mut present = false;
    let mut matched = false;
    for value in req.headers().get_all(header::IF_NONE_MATCH) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        for tag in value.split(',') {
            let tag = tag.trim();
            if tag == "*" || tag.trim_start_matches("W/") == etag {
                matched = true;
            }
        }
    }
    present.then_some(matched)
}

/// Whether `If-Modified-Since` is at or after `modified` (to the second).
fn not_modified_since(req: &HttpRequest, modified: SystemTime) -> bool {
    let Some(since) = req
        .headers()
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<header::HttpDate>().ok())
    else {
        return false;
    };
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    seconds(modified) <= seconds(SystemTime::from(since))
}

/// Replaces a base URL by another where it starts the file, a line or a quoted attribute
/// value and is followed by `/`, `"`, a line end or the end of the file, in a stream of
/// chunks cut anywhere; with a suffix, also ends each URL so replaced with it (before the
/// line end or closing quote): how a playlist loaded with credentials hands them on to its
/// stream and guide URLs.
pub(crate) struct BaseRewriter {
    from: Vec<u8>,
    to: Vec<u8>,
    suffix: Vec<u8>,
    /// The end of the previous chunk, when it may be the start of `from`.
    pending: Vec<u8>,
    /// Whether the next byte is at a place where `from` may start.
    at_start: bool,
    /// What opened the place the next `from` may start at: `"` for a quoted value.
    opened_by: u8,
    /// What ends the replaced URL the suffix is owed to, while one is owed.
    owed: Option<u8>,
}

fn ends_base(byte: u8) -> bool {
    matches!(byte, b'/' | b'"' | b'\r' | b'\n')
}

fn starts_value(byte: u8) -> bool {
    matches!(byte, b'\n' | b'"')
}

impl BaseRewriter {
    /// Replaces `from` by `to`.
    #[cfg(test)]
    pub(crate) fn new(from: &str, to: &str) -> Self {
        Self::with_suffix(from, to, "")
    }

    /// Replaces `from` by `to`, and ends each URL so replaced with `suffix`.
    pub(crate) fn with_suffix(from: &str, to: &str, suffix: &str) -> Self {
        Self {
            from: from.as_bytes().to_vec(),
            to: to.as_bytes().to_vec(),
            suffix: suffix.as_bytes().to_vec(),
            pending: Vec::new(),
            at_start: true,
            opened_by: b'\n',
            owed: None,
        }
    }

    /// The rewritten bytes of `chunk` that can be sent now.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let joined;
        let buf: &[u8] = if self.pending.is_empty() {
            chunk
        } else {
            let mut b = std::mem::take(&mut self.pending);
            b.extend_from_slice(chunk);
            joined = b;
            &joined
        };
        let mut out = Vec::with_capacity(buf.len() + 256);
        let mut i = 0;
        let mut at_start = self.at_start;
        while i < buf.len() {
            if let Some(end) = self.owed {
                let found = buf[i..]
                    .iter()
                    .position(|&b| b == end || (end == b'\n' && b == b'\r'));
                match found {
                    Some(offset) => {
                        out.extend_from_slice(&buf[i..i + offset]);
                        out.extend_from_slice(&self.suffix);
                        i += offset;
                        self.owed = None;
                    }
                    None => {
                        out.extend_from_slice(&buf[i..]);
                        i = buf.len();
                    }
                }
                at_start = false;
                continue;
            }
            if at_start {
                let rest = &buf[i..];
                if rest.len() <= self.from.len() {
                    if self.from.starts_with(rest) {
                        // Too short to tell: keep it for the next chunk.
                        self.pending = rest.to_vec();
                        self.at_start = true;
                        return Bytes::from(out);
                    }
                } else if rest.starts_with(&self.from) && ends_base(rest[self.from.len()]) {
                    out.extend_from_slice(&self.to);
                    i += self.from.len();
                    at_start = false;
                    if !self.suffix.is_empty() {
                        self.owed = Some(self.opened_by);
                    }
                    continue;
                }
            }
            match buf[i..].iter().position(|&b| starts_value(b)) {
                Some(offset) => {
                    out.extend_from_slice(&buf[i..=i + offset]);
                    self.opened_by = buf[i + offset];
                    i += offset + 1;
                    at_start = true;
                }
                None => {
                    out.extend_from_slice(&buf[i..]);
                    i = buf.len();
                    at_start = false;
                }
            }
        }
        self.at_start = at_start;
        Bytes::from(out)
    }

    /// What is left at the end of the stream.
    pub(crate) fn finish(self) -> Bytes {
        let mut out = if self.pending == self.from {
            let mut out = self.to;
            if !self.suffix.is_empty() {
                out.extend_from_slice(&self.suffix);
            }
            out
        } else {
            self.pending
        };
        if self.owed.is_some() {
            out.extend_from_slice(&self.suffix);
        }
        Bytes::from(out)
    }
}

/// Which form of a published output an answer carries.
enum Form {
    /// As published.
    Plain,
    /// The precompressed gzip file.
    Gzip,
    /// As published, with the base URL replaced by the request's origin, and each URL of the
    /// server's own ended by the query that carries the request's credentials, when it had
    /// some.
    Rewritten { origin: String, suffix: String },
}

/// Admits `req` to the outputs of `proxy` by the credentials in its query (see the `access`
/// module), and gives them back.
pub(crate) async fn admit(
    req: &HttpRequest,
    state: &AppState,
    proxy: ProxyId,
) -> ApiResult<Option<Credentials>> {
    Ok(admit_viewer(req, state, proxy).await?.0)
}

/// [`admit`], also giving the account the request is made by (none when the server has no
/// viewer accounts).
pub(crate) async fn admit_viewer(
    req: &HttpRequest,
    state: &AppState,
    proxy: ProxyId,
) -> ApiResult<(Option<Credentials>, Option<Arc<User>>)> {
    let credentials = Credentials::from_query(req.query_string());
    let client = client_address(req, &state.settings);
    let access = &state.auth.outputs;
    access
        .check_network(&*state.repos.proxies, proxy, client)
        .await?;
    let account = access.admit(proxy, credentials.as_ref(), client).await?;
    Ok((credentials, account))
}

/// Opens `path` for streaming, with its length.
async fn open(path: &std::path::Path) -> std::io::Result<(tokio::fs::File, u64)> {
    let file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    Ok((file, len))
}

fn not_published(proxy: ProxyId, kind: OutputKind) -> ApiError {
    ApiError::NotFound(format!(
        "proxy {proxy} has no published {}: it does not exist, or has not been generated yet \
         (POST /api/v1/proxies/{proxy}/generate)",
        match kind {
            OutputKind::M3u => "playlist",
            OutputKind::Xmltv => "guide",
        }
    ))
}

async fn serve(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: ProxyId,
    kind: OutputKind,
) -> ApiResult<HttpResponse> {
    let credentials = admit(&req, &state, proxy).await?;
    serve_published(&req, &state, proxy, kind, credentials.as_ref()).await
}

/// Answers `req` with the published output `kind` of `proxy`, for a request already admitted
/// with `credentials` (which a playlist then hands on to its URLs).
pub(crate) async fn serve_published(
    req: &HttpRequest,
    state: &AppState,
    proxy: ProxyId,
    kind: OutputKind,
    credentials: Option<&Credentials>,
) -> ApiResult<HttpResponse> {
    let Some(files) = state.outputs.files(proxy, kind).await? else {
        return Err(not_published(proxy, kind));
    };
    let settings = &state.settings;
    let origin = public_base(req, settings);
    let suffix = match (kind, credentials) {
        (OutputKind::M3u, Some(credentials)) => format!("?{}", credentials.query()),
        _ => String::new(),
    };
    let form = if kind == OutputKind::M3u
        && (!suffix.is_empty() || (!settings.base_url_configured && origin != settings.base_url))
    {
        Form::Rewritten {
            origin: origin.into_owned(),
            suffix,
        }
    } else if accepts_gzip(req) {
        Form::Gzip
    } else {
        Form::Plain
    };
    let tag = opaque(&files.output.etag);
    let etag = match &form {
        Form::Plain => format!("\"{tag}\""),
        Form::Gzip => format!("\"{tag}-gzip\""),
        Form::Rewritten { origin, suffix } => {
            let hash = blake3::hash(format!("{origin} {suffix}").as_bytes()).to_hex();
            format!("\"{tag}-o{}\"", &hash[..12])
        }
    };
    let modified = SystemTime::from(files.output.modified);
    let builder = |status: StatusCode| {
        let mut response = HttpResponse::build(status);
        response
            .insert_header((header::ETAG, etag.clone()))
            .insert_header((header::LAST_MODIFIED, header::HttpDate::from(modified)))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((
                header::VARY,
                if settings.base_url_configured {
                    "Accept-Encoding"
                } else {
                    "Accept-Encoding, Host, X-Forwarded-Host, X-Forwarded-Proto"
                },
            ));
        response
    };
    let unchanged = match none_match(req, &etag) {
        Some(matched) => matched,
        None => not_modified_since(req, modified),
    };
    if unchanged {
        return Ok(builder(StatusCode::NOT_MODIFIED).finish());
    }
    let mut response = builder(StatusCode::OK);
    response.content_type(kind.content_type());
    let head = req.method() == Method::HEAD;
    match form {
        Form::Rewritten { origin, suffix } => {
            if head {
                return Ok(response.body(actix_web::body::None::new()));
            }
            let (file, _) = open_current(state, proxy, kind, &files, false).await?;
            let rewriter = BaseRewriter::with_suffix(&settings.base_url, &origin, &suffix);
            let chunks = ReaderStream::with_capacity(file, CHUNK);
            let body = futures::stream::unfold(
                (chunks, Some(rewriter)),
                |(mut chunks, rewriter)| async move {
                    let mut rewriter = rewriter?;
                    loop {
                        match chunks.next().await {
                            Some(Ok(chunk)) => {
                                let out = rewriter.feed(&chunk);
                                if !out.is_empty() {
                                    return Some((Ok(out), (chunks, Some(rewriter))));
                                }
                            }
                            Some(Err(e)) => return Some((Err(e), (chunks, None))),
                            None => return Some((Ok(rewriter.finish()), (chunks, None))),
                        }
                    }
                },
            );
            Ok(response.body(BodyStream::new(body)))
        }
        Form::Plain | Form::Gzip => {
            let gzip = matches!(form, Form::Gzip);
            if gzip {
                response.insert_header((header::CONTENT_ENCODING, "gzip"));
            }
            if head {
                let len = if gzip {
                    files.output.gzip_len
                } else {
                    files.output.len
                };
                return Ok(sized(&mut response, len, futures::stream::empty()));
            }
            let (file, len) = open_current(state, proxy, kind, &files, gzip).await?;
            Ok(sized(
                &mut response,
                len,
                ReaderStream::with_capacity(file, CHUNK),
            ))
        }
    }
}

/// A response of `len` bytes from `stream`, saying so in `Content-Length`.
fn sized<S>(response: &mut HttpResponseBuilder, len: u64, stream: S) -> HttpResponse
where
    S: futures::Stream<Item = Result<Bytes, std::io::Error>> + 'static,
{
    if let Ok(value) = HeaderValue::from_str(&len.to_string()) {
        response.insert_header((header::CONTENT_LENGTH, value));
    }
    response.body(SizedStream::new(len, stream))
}

/// Opens the file of `files` (its gzip form when `gzip`); when a publication replaced it
/// since `files` was read, the current one.
async fn open_current(
    state: &AppState,
    proxy: ProxyId,
    kind: OutputKind,
    files: &OutputFiles,
    gzip: bool,
) -> ApiResult<(tokio::fs::File, u64)> {
    let path = |f: &OutputFiles| {
        if gzip {
            f.gzip.clone()
        } else {
            f.plain.clone()
        }
    };
    match open(&path(files)).await {
        Ok(opened) => Ok(opened),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let Some(current) = state.outputs.files(proxy, kind).await? else {
                return Err(not_published(proxy, kind));
            };
            open(&path(&current)).await.map_err(|e| {
                ApiError::Internal(format!("opening {}: {e}", path(&current).display()))
            })
        }
        Err(e) => Err(ApiError::Internal(format!(
            "opening {}: {e}",
            path(files).display()
        ))),
    }
}

/// The proxy's playlist, as last published.
#[utoipa::path(get, tag = "outputs", params(("id" = String, Path, description = "proxy id")),
    responses(
        (status = 200, description = "the M3U playlist (gzip when asked for, unless it is rewritten for the request's origin)",
            content_type = "audio/x-mpegurl", body = String,
            headers(("ETag" = String, description = "the content's validator, per encoding"),
                ("Last-Modified" = String, description = "when it was published"))),
        (status = 304, description = "unchanged since the `If-None-Match` or `If-Modified-Since` given"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such proxy, or not generated yet")))]
#[route("/proxy/{id}.m3u", method = "GET", method = "HEAD")]
pub async fn playlist(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
) -> ApiResult<HttpResponse> {
    serve(req, state, id.into_inner(), OutputKind::M3u).await
}

/// The proxy's guide, as last published.
#[utoipa::path(get, tag = "outputs", params(("id" = String, Path, description = "proxy id")),
    responses(
        (status = 200, description = "the XMLTV guide (gzip when asked for)", content_type = "application/xml", body = String,
            headers(("ETag" = String, description = "the content's validator, per encoding"),
                ("Last-Modified" = String, description = "when it was published"))),
        (status = 304, description = "unchanged since the `If-None-Match` or `If-Modified-Since` given"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such proxy, or not generated yet")))]
#[route("/proxy/{id}.xmltv", method = "GET", method = "HEAD")]
pub async fn guide(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<ProxyId>,
) -> ApiResult<HttpResponse> {
    serve(req, state, id.into_inner(), OutputKind::Xmltv).await
}

/// The channel id of a stream path segment: a trailing `.ts` or `.m3u8` is ignored.
fn stream_channel_id(segment: &str) -> ApiResult<ChannelId> {
    let lower = segment.to_ascii_lowercase();
    let bare = [".ts", ".m3u8"]
        .iter()
        .find_map(|ext| {
            lower
                .ends_with(ext)
                .then(|| &segment[..segment.len() - ext.len()])
        })
        .unwrap_or(segment);
    bare.parse().map_err(|_| {
        let shown: String = segment
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        ApiError::BadRequest(format!(
            "invalid path parameter: `{shown}` is not a channel id"
        ))
    })
}

/// A channel's stream, in its proxy's mode (see the `streams` module).
#[utoipa::path(get, tag = "outputs", params(("proxy_id" = String, Path, description = "proxy id"),
        ("channel_id" = String, Path, description = "channel id, optionally followed by `.ts` or `.m3u8`")),
    responses(
        (status = 200, description = "the channel's MPEG-TS (`proxy` and `relay` modes), from a keyframe on, until the viewer leaves", content_type = "video/mp2t"),
        (status = 302, description = "go to the channel's stream at its provider (`redirect` mode)",
            headers(("Location" = String, description = "the provider's stream URL"))),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "the channel is not in the proxy's published lineup"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "no upstream of the channel could be opened or sent a stream"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "the proxy's tuner count, the account's `max_streams` or the provider's connection limit is reached, or the relay profile cannot run")))]
#[route("/proxy/{proxy_id}/{channel_id}", method = "GET", method = "HEAD")]
pub async fn channel_stream(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(ProxyId, String)>,
) -> ApiResult<HttpResponse> {
    let (proxy, segment) = path.into_inner();
    let channel = stream_channel_id(&segment)?;
    let (_, account) = admit_viewer(&req, &state, proxy).await?;
    let published = match state.repos.lineups.get(proxy, channel).await {
        Ok(published) => published,
        Err(RepoError::NotFound { .. }) => {
            return Err(ApiError::NotFound(format!(
                "channel {channel} is not in the published lineup of proxy {proxy}"
            )));
        }
        Err(other) => return Err(other.into()),
    };
    let proxy = state.repos.proxies.get(proxy).await?;
    crate::streams::deliver(&req, &state, &proxy, &published, account.as_deref()).await
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn rewrite(input: &[u8], cuts: &[usize], from: &str, to: &str) -> Vec<u8> {
        let mut rewriter = BaseRewriter::new(from, to);
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            out.extend_from_slice(&rewriter.feed(&input[start..cut]));
            start = cut;
        }
        out.extend_from_slice(&rewriter.finish());
        out
    }

    const FROM: &str = "http://0.0.0.0:8080";
    const TO: &str = "https://tv.example.com";

    fn playlist_text(base: &str) -> String {
        format!(
            "#EXTM3U url-tvg=\"{base}/proxy/p.xmltv\" x-tvg-url=\"{base}/proxy/p.xmltv\"\n\
             #EXTINF:-1 tvg-id=\"a\" tvg-logo=\"{base}/logos/1.png\",One {base}/x\n\
             {base}/proxy/p/1\r\n\
             #EXTINF:-1 tvg-id=\"b\",Two\n\
             {base}8080/not-ours\n\
             http://elsewhere/{base}/x\n\
             {base}/proxy/p/2"
        )
    }

    #[test]
    fn the_base_is_replaced_at_line_and_value_starts_whatever_the_chunk_cuts() {
        let input = playlist_text(FROM);
        let mut expected = playlist_text(TO);
        // Only where the base starts a line or a value, and ends there.
        expected = expected.replace(&format!(",One {TO}/x"), &format!(",One {FROM}/x"));
        expected = expected.replace(
            &format!("{TO}8080/not-ours"),
            &format!("{FROM}8080/not-ours"),
        );
        expected = expected.replace(
            &format!("http://elsewhere/{TO}/x"),
            &format!("http://elsewhere/{FROM}/x"),
        );
        let input = input.as_bytes();
        assert_eq!(
            String::from_utf8(rewrite(input, &[], FROM, TO)).unwrap(),
            expected
        );
        for cut in 0..=input.len() {
            assert_eq!(
                rewrite(input, &[cut], FROM, TO),
                expected.as_bytes(),
                "cut at {cut}"
            );
        }
        // Every chunk one byte.
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(rewrite(input, &cuts, FROM, TO), expected.as_bytes());
        // A file that is the base alone, or ends in a prefix of it.
        assert_eq!(rewrite(FROM.as_bytes(), &[3], FROM, TO), TO.as_bytes());
        assert_eq!(rewrite(b"x\nhttp://0.0", &[5], FROM, TO), b"x\nhttp://0.0");
        // A shorter replacement works the same.
        assert_eq!(
            rewrite(format!("{FROM}/a\n").as_bytes(), &[7], FROM, "http://a"),
            b"http://a/a\n"
        );
    }

    #[test]
    fn a_suffix_ends_every_replaced_url_whatever_the_chunk_cuts() {
        const Q: &str = "?username=a&password=b";
        let input = playlist_text(FROM);
        let expected = format!(
            "#EXTM3U url-tvg=\"{TO}/proxy/p.xmltv{Q}\" x-tvg-url=\"{TO}/proxy/p.xmltv{Q}\"\n\
             #EXTINF:-1 tvg-id=\"a\" tvg-logo=\"{TO}/logos/1.png{Q}\",One {FROM}/x\n\
             {TO}/proxy/p/1{Q}\r\n\
             #EXTINF:-1 tvg-id=\"b\",Two\n\
             {FROM}8080/not-ours\n\
             http://elsewhere/{FROM}/x\n\
             {TO}/proxy/p/2{Q}"
        );
        let run = |cuts: &[usize]| {
            let mut rewriter = BaseRewriter::with_suffix(FROM, TO, Q);
            let mut out = Vec::new();
            let mut start = 0;
            for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
                out.extend_from_slice(&rewriter.feed(&input.as_bytes()[start..cut]));
                start = cut;
            }
            out.extend_from_slice(&rewriter.finish());
            String::from_utf8(out).unwrap()
        };
        assert_eq!(run(&[]), expected);
        for cut in 0..=input.len() {
            assert_eq!(run(&[cut]), expected, "cut at {cut}");
        }
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(&cuts), expected);
        // The same base for both sides still gets the suffix.
        let mut same = BaseRewriter::with_suffix(FROM, FROM, Q);
        let mut out = same.feed(format!("{FROM}/proxy/p/1\n").as_bytes()).to_vec();
        out.extend_from_slice(&same.finish());
        assert_eq!(out, format!("{FROM}/proxy/p/1{Q}\n").as_bytes());
    }

    #[test]
    fn gzip_is_accepted_by_name_and_quality() {
        let accepts = |value: &str| {
            accepts_gzip(
                &TestRequest::get()
                    .insert_header((header::ACCEPT_ENCODING, value))
                    .to_http_request(),
            )
        };
        assert!(accepts("gzip"));
        assert!(accepts("br, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(accepts("x-gzip"));
        assert!(!accepts("br"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.0"));
        assert!(!accepts_gzip(&TestRequest::get().to_http_request()));
    }

    #[test]
    fn etags_are_quoted_safely_and_matched_weakly() {
        assert_eq!(opaque("abc123"), "abc123");
        assert_eq!(opaque("\"abc\""), "abc");
        assert_eq!(opaque("W/\"abc\"").as_str(), "abc");
        assert_eq!(opaque("a b\"c").len(), 32);
        let req = TestRequest::get()
            .insert_header((header::IF_NONE_MATCH, "\"x\", W/\"abc\""))
            .to_http_request();
        assert_eq!(none_match(&req, "\"abc\""), Some(true));
        assert_eq!(none_match(&req, "\"abc-gzip\""), Some(false));
        let star = TestRequest::get()
            .insert_header((header::IF_NONE_MATCH, "*"))
            .to_http_request();
        assert_eq!(none_match(&star, "\"q\""), Some(true));
        assert_eq!(
            none_match(&TestRequest::get().to_http_request(), "\"q\""),
            None
        );
    }

    #[test]
    fn stream_ids_may_carry_a_container_extension() {
        let id = ChannelId::new();
        for segment in [
            id.to_string(),
            format!("{id}.ts"),
            format!("{id}.TS"),
            format!("{id}.m3u8"),
        ] {
            assert_eq!(stream_channel_id(&segment).unwrap(), id, "{segment}");
        }
        assert!(stream_channel_id(&format!("{id}.mp4")).is_err());
        assert!(stream_channel_id("nope").is_err());
    }
}
