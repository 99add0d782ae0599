//! Stream delivery in a proxy's mode, and the relay's sessions.
//!
//! A stream request (`/proxy/{proxy_id}/{channel_id}`, the Xtream `/live/...` URLs, the
//! HDHomeRun lineup's URLs, which are the former) is answered by the proxy's `proxy_mode`:
//!
//! - `redirect`: 302 to the channel's URL at its provider. tvarr sees nothing of the stream,
//!   so it cannot count it against a tuner count or an account's `max_streams`.
//! - `proxy`: tvarr reads the stream once per channel and passes its MPEG-TS to every viewer
//!   (`tvarr-relay`). A viewer joins at a keyframe with the PAT/PMT first. The channel's
//!   upstreams are its own URL, then the same `tvg_id` in the proxy's other stream sources,
//!   in their priority order: when one fails or stalls the next takes over inside the same
//!   answer.
//! - `relay`: the same, through FFmpeg with the proxy's relay profile.
//!
//! In `proxy` and `relay` modes, `?transcode=<name>` on a stream URL (what Jellyfin and Plex
//! append for an HDHomeRun that transcodes) plays the channel through the relay profile of that
//! name, when there is one; another name is ignored.
//!
//! A proxy's `tuner_count` bounds the channels it delivers at once and an account's
//! `max_streams` the streams it watches; a viewer over either is answered 503 with a problem
//! naming the limit, as is a channel whose stream cannot be opened (502 when the provider
//! answered but not with a stream). `HEAD` answers the headers of the stream without opening
//! it.
//!
//! `GET /api/v1/relay/sessions` lists what plays; `DELETE /api/v1/relay/sessions/{id}` ends a
//! session (its viewers' answers end).

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use serde::Serialize;
use tvarr_core::{ChannelQuery, LineupChannel, PageRequest, Proxy, ProxyMode, RepoError, User};
use tvarr_relay::{
    Delivery, RelayError, SessionReport, TranscodingStatus, Upstream, ViewerInfo, Watch,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};
use crate::origin::client_address;
use crate::state::AppState;

/// The most failover streams looked up for one channel (besides its own).
const MAX_FAILOVERS: u64 = 4;
/// The most relay profiles searched for a `?transcode=` name.
const MAX_PROFILES: u64 = 1_000;
/// The longest user agent kept for the session list.
const MAX_USER_AGENT: usize = 256;

/// Answers a stream request for `channel` of `proxy`, watched by `account` (none when the
/// server has no viewer accounts), in the proxy's mode.
pub(crate) async fn deliver(
    req: &HttpRequest,
    state: &AppState,
    proxy: &Proxy,
    channel: &LineupChannel,
    account: Option<&User>,
) -> ApiResult<HttpResponse> {
    if proxy.input.proxy_mode == ProxyMode::Redirect {
        return redirect(proxy, channel);
    }
    let delivery = match asked_profile(req, state).await? {
        Some(profile) => state
            .transcoding
            .delivery(&profile)
            .map_err(ApiError::Unavailable)?,
        None if proxy.input.proxy_mode == ProxyMode::Relay => relay_delivery(state, proxy).await?,
        None => Delivery::Proxy,
    };
    if req.method() == Method::HEAD {
        return Ok(stream_response().finish());
    }
    let upstreams = upstreams(state, proxy, channel).await?;
    let viewer = ViewerInfo {
        address: client_address(req, &state.settings),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        account: account.map(|user| user.username.clone()),
    };
    let watch = Watch {
        channel: channel.channel_id,
        channel_name: channel.data.name.clone(),
        proxy: proxy.id,
        delivery,
        upstreams,
        viewer,
        proxy_streams: Some(proxy.input.tuner_count).filter(|n| *n > 0),
        account_streams: account.and_then(|user| user.max_streams),
    };
    let stream = state.relay.watch(watch).await.map_err(refusal)?;
    Ok(stream_response().streaming(stream))
}

fn stream_response() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type("video/mp2t")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    response
}

/// `redirect` mode: a 302 to the provider's URL.
fn redirect(proxy: &Proxy, channel: &LineupChannel) -> ApiResult<HttpResponse> {
    let location = HeaderValue::from_str(channel.data.stream_url.trim()).map_err(|_| {
        ApiError::NotFound(format!(
            "channel {} of proxy {} has no stream URL that can be redirected to",
            channel.channel_id, proxy.id
        ))
    })?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The relay profile a media server asked for by name with `?transcode=<name>` (Jellyfin and
/// Plex append it to an HDHomeRun stream URL: `internet480`, `mobile`, …), when one has that
/// name (without regard to case). A name no profile has is ignored, as a real tuner ignores a
/// profile it lacks.
async fn asked_profile(
    req: &HttpRequest,
    state: &AppState,
) -> ApiResult<Option<tvarr_core::RelayProfile>> {
    let Some(name) = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == "transcode")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|name| {
            !name.is_empty() && name.chars().count() <= tvarr_core::limits::NAME_MAX_CHARS
        })
    else {
        return Ok(None);
    };
    let profiles = state
        .repos
        .relay_profiles
        .list(PageRequest::new(MAX_PROFILES, 0))
        .await?;
    Ok(profiles
        .items
        .into_iter()
        .find(|p| p.input.name.trim().eq_ignore_ascii_case(&name)))
}

/// `relay` mode: FFmpeg with the proxy's relay profile.
async fn relay_delivery(state: &AppState, proxy: &Proxy) -> ApiResult<Delivery> {
    let Some(profile_id) = proxy.input.relay_profile_id else {
        return Err(ApiError::Unavailable(format!(
            "proxy {} is in relay mode but names no relay profile",
            proxy.id
        )));
    };
    let profile = match state.repos.relay_profiles.get(profile_id).await {
        Ok(profile) => profile,
        Err(RepoError::NotFound { .. }) => {
            return Err(ApiError::Unavailable(format!(
                "the relay profile {profile_id} of proxy {} does not exist",
                proxy.id
            )));
        }
        Err(other) => return Err(other.into()),
    };
    state
        .transcoding
        .delivery(&profile)
        .map_err(ApiError::Unavailable)
}

/// The channel's upstreams: its own URL with its source's user agent and headers, then the
/// same `tvg_id` in the proxy's other stream sources, by their priority.
async fn upstreams(
    state: &AppState,
    proxy: &Proxy,
    channel: &LineupChannel,
) -> ApiResult<Vec<Upstream>> {
    let own = upstream(state, channel.source_id, &channel.data.stream_url).await?;
    let mut upstreams = vec![own];
    let tvg_id = channel.data.tvg_id.as_deref().map(str::trim);
    let others: Vec<_> = proxy
        .input
        .stream_source_ids
        .iter()
        .copied()
        .filter(|id| *id != channel.source_id)
        .collect();
    if let Some(tvg_id) = tvg_id.filter(|t| !t.is_empty())
        && !others.is_empty()
    {
        let query = ChannelQuery {
            source_ids: others.clone(),
            tvg_id: Some(tvg_id.to_owned()),
            ..ChannelQuery::default()
        };
        // A failed lookup costs the failover, not the stream.
        let page = state
            .repos
            .channels
            .list(&query, PageRequest::new(MAX_FAILOVERS * 4, 0))
            .await;
        if let Ok(page) = page {
            let mut found = page.items;
            found.sort_by_key(|c| others.iter().position(|id| *id == c.source_id));
            for alternative in found {
                if upstreams.len() as u64 > MAX_FAILOVERS {
                    break;
                }
                let url = alternative.data.stream_url.trim();
                if url.is_empty() || upstreams.iter().any(|u| u.url == url) {
                    continue;
                }
                if let Ok(next) = upstream(state, alternative.source_id, url).await {
                    upstreams.push(next);
                }
            }
        }
    }
    Ok(upstreams)
}

async fn upstream(
    state: &AppState,
    source_id: tvarr_core::StreamSourceId,
    url: &str,
) -> ApiResult<Upstream> {
    let mut upstream = Upstream::new(url.trim());
    upstream.source_id = Some(source_id);
    match state.repos.stream_sources.get(source_id).await {
        Ok(source) => {
            upstream.user_agent = source.user_agent;
            upstream.headers = source.headers;
            upstream.max_connections = source.max_connections;
        }
        // A source deleted since the generation: its channel still plays with no extras.
        Err(RepoError::NotFound { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(upstream)
}

/// What a refused viewer is answered.
fn refusal(error: RelayError) -> ApiError {
    match error {
        RelayError::ProxyFull { .. }
        | RelayError::AccountFull { .. }
        | RelayError::SourceFull { .. } => ApiError::Unavailable(error.to_string()),
        RelayError::NoUpstream => ApiError::NotFound(error.to_string()),
        RelayError::Unavailable(_) => ApiError::BadGateway(error.to_string()),
    }
}

/// FFmpeg as `relay` mode finds it: the binary, its version, and which hardware encoders work
/// here (VAAPI, NVENC, QSV, AMF, each tried with a one-second test encode; software otherwise).
#[utoipa::path(tag = "relay", responses((status = 200, body = TranscodingStatus)))]
#[get("/relay/ffmpeg")]
pub async fn ffmpeg_status(state: web::Data<AppState>) -> web::Json<TranscodingStatus> {
    web::Json(state.transcoding.status())
}

/// The relay's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Every session, oldest first.
    pub items: Vec<SessionReport>,
}

/// The sessions of the relay: channels playing in `proxy` or `relay` mode, with their
/// viewers, upstream, bytes, bitrate and last error.
#[utoipa::path(tag = "relay", responses((status = 200, body = SessionList)))]
#[get("/relay/sessions")]
pub async fn list_sessions(state: web::Data<AppState>) -> web::Json<SessionList> {
    let mut items = state.relay.sessions();
    items.sort_by_key(|s| s.started_at);
    web::Json(SessionList { items })
}

/// Ends a session: its upstream is closed and its viewers' answers end.
#[utoipa::path(tag = "relay", params(("id" = Uuid, Path, description = "session id")),
    responses(
        (status = 204, description = "the session was ended"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such session")))]
#[delete("/relay/sessions/{id}")]
pub async fn end_session(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    if state.relay.end_session(id) {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!("relay session {id} not found")))
    }
}
