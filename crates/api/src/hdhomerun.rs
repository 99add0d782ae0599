//! HDHomeRun emulation, for Plex, Jellyfin and Emby live TV: each proxy is a tuner device at
//! `/hdhr/{proxy_id}` (`discover.json`, `lineup.json`, `lineup_status.json`, `lineup.post`,
//! `device.xml`, `capability`), and a proxy whose lineup is split into devices of
//! `hdhomerun_channels_per_device` channels has device `n` (from 1) at `/hdhr/{proxy_id}/{n}`
//! (`/hdhr/{proxy_id}` is then its first device). The documents are
//! [`tvarr_pipeline::hdhomerun`]'s; this module serves them.
//!
//! A media server is given `<base>/hdhr/{proxy_id}`: it reads `discover.json` there, then the
//! `LineupURL` it names, then plays each channel's `URL`, which is the proxy's own stream URL
//! (`/proxy/{proxy_id}/{channel_id}`, delivered in the proxy's mode). Jellyfin appends
//! `?transcode=<profile>` to it: a relay profile of that name plays the channel through FFmpeg
//! (in `proxy` and `relay` modes), any other name is ignored. The base is the
//! configured base URL, or the origin the request came to (see the `origin` module), so the
//! URLs a media server is told are ones it can reach.
//!
//! `lineup.json` streams the device's channels from the published lineup, 1,000 at a time by
//! number (a keyset read: no `OFFSET`), so 50,000 channels are never one string. Before the
//! proxy's first generation it is a 404 problem, like the playlist. These routes are public,
//! like the playlist: a tuner has no login. Once a viewer account exists they need
//! `?username=&password=` (an output password, see the `access` module) on the URL the media
//! server is given; `LineupURL` then carries the same query, and each channel's `URL` is its
//! Xtream stream URL with the credentials in the path (`/xtream/{proxy_id}/live/…`), because
//! Jellyfin appends `?transcode=…` to it. A media server that builds the lineup URL from
//! `BaseURL` instead of reading `LineupURL` loses the query, and with it access, while a
//! viewer account exists.

use actix_web::body::BodyStream;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, route, web};
use tvarr_core::{Proxy, ProxyId, RepoError};
use tvarr_pipeline::hdhomerun::{Device, Discover, LineupEntry, LineupStatus, device_xml};

use crate::access::Credentials;
use crate::error::{ApiError, ApiResult, Problem};
use crate::lineup_stream::{Commas, lineup_body};
use crate::origin::public_base;
use crate::state::AppState;

/// Channels read from the lineup per query while `lineup.json` streams.
/// The device a request is for.
struct Target {
    proxy: Proxy,
    device: Device,
    /// tvarr's public base URL for this request.
    public: String,
    /// The device's own URL: `<public>/hdhr/{proxy_id}` or `<public>/hdhr/{proxy_id}/{n}`.
    device_url: String,
    /// The credentials the request carried, to hand on in the URLs it is told.
    credentials: Option<Credentials>,
}

async fn target(
    req: &HttpRequest,
    state: &AppState,
    proxy: ProxyId,
    device: Option<u32>,
) -> ApiResult<Target> {
    let record = match state.repos.proxies.get(proxy).await {
        Ok(record) => record,
        Err(RepoError::NotFound { .. }) => {
            return Err(ApiError::NotFound(format!("no proxy {proxy}")));
        }
        Err(other) => return Err(other.into()),
    };
    let per_device = record.input.hdhomerun_channels_per_device;
    let index = device.unwrap_or(1);
    let Some(found) = Device::of(index, per_device) else {
        return Err(ApiError::NotFound(if per_device == 0 {
            format!(
                "proxy {proxy} is one HDHomeRun device, at /hdhr/{proxy} (its lineup is not \
                 split: hdhomerun_channels_per_device is 0)"
            )
        } else {
            format!(
                "proxy {proxy} has HDHomeRun devices 1 to {} only",
                tvarr_pipeline::hdhomerun::MAX_DEVICES
            )
        }));
    };
    let credentials = crate::outputs::admit(req, state, proxy).await?;
    let public = public_base(req, &state.settings).into_owned();
    let device_url = match device {
        Some(n) => format!("{public}/hdhr/{proxy}/{n}"),
        None => format!("{public}/hdhr/{proxy}"),
    };
    Ok(Target {
        proxy: record,
        device: found,
        public,
        device_url,
        credentials,
    })
}

fn discover_of(target: &Target) -> Discover {
    let mut discover = Discover::new(
        target.proxy.id,
        &target.proxy.input,
        target.device,
        &target.device_url,
    );
    if let Some(credentials) = &target.credentials {
        discover.lineup_url.push('?');
        discover.lineup_url.push_str(&credentials.query());
    }
    discover
}

async fn discover(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: ProxyId,
    device: Option<u32>,
) -> ApiResult<HttpResponse> {
    let target = target(&req, &state, proxy, device).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(discover_of(&target)))
}

async fn device_description(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: ProxyId,
    device: Option<u32>,
) -> ApiResult<HttpResponse> {
    let target = target(&req, &state, proxy, device).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("application/xml")
        .body(device_xml(&discover_of(&target))))
}

async fn lineup_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: ProxyId,
    device: Option<u32>,
) -> ApiResult<HttpResponse> {
    target(&req, &state, proxy, device).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(LineupStatus::default()))
}

async fn lineup_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: ProxyId,
    device: Option<u32>,
) -> ApiResult<HttpResponse> {
    // A scan request: the lineup is the proxy's, so there is nothing to scan.
    target(&req, &state, proxy, device).await?;
    Ok(HttpResponse::Ok().finish())
}

/// The next piece of `lineup.json`: `[` and the first page, then `,` and a page, then `]`.
async fn lineup(
    req: HttpRequest,
    state: web::Data<AppState>,
    proxy: ProxyId,
    device: Option<u32>,
) -> ApiResult<HttpResponse> {
    let target = target(&req, &state, proxy, device).await?;
    if target.proxy.last_generated_at.is_none() {
        return Err(ApiError::NotFound(format!(
            "proxy {proxy} has no published lineup: it has not been generated yet \
             (POST /api/v1/proxies/{proxy}/generate)"
        )));
    }
    let credentials = target.credentials;
    let public = target.public;
    let mut commas = Commas::default();
    let body = lineup_body(
        state.repos.lineups.clone(),
        proxy,
        (target.device.first_number, target.device.last_number),
        b"[".to_vec(),
        b"]".to_vec(),
        move |channel, out| {
            commas.next(out);
            let mut entry = LineupEntry::new(proxy, channel, &public);
            if let Some(credentials) = &credentials {
                // In the path, not the query: Jellyfin appends `?transcode=…` to this URL.
                entry.url = tvarr_pipeline::xtream::live_stream_url(
                    &format!("{public}/xtream/{proxy}"),
                    &credentials.username,
                    &credentials.password,
                    channel.number,
                    "ts",
                );
            }
            serde_json::to_writer(out, &entry).map_err(std::io::Error::other)
        },
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("application/json")
        .body(BodyStream::new(body)))
}

/// The path of a device of a split lineup.
type DevicePath = web::Path<(ProxyId, u32)>;

/// One document's two routes, both answered by `$serve`: on the proxy's device
/// (`/hdhr/{proxy_id}/FILE`) and on device `n` of a split lineup
/// (`/hdhr/{proxy_id}/{device}/FILE`).
macro_rules! device_routes {
    (
        $(#[$doc:meta])*
        $method:ident $verb:tt $serve:ident, $ok:tt,
        $one:ident $one_path:tt,
        $each:ident $each_path:tt
    ) => {
        $(#[$doc])*
        #[utoipa::path($method, tag = "hdhomerun",
            params(("proxy_id" = String, Path, description = "proxy id")),
            responses($ok,
                (status = 404, body = Problem, content_type = "application/problem+json",
                    description = "no such proxy (for `lineup.json`: or not generated yet)")))]
        #[route($one_path, method = $verb)]
        pub async fn $one(
            req: HttpRequest,
            state: web::Data<AppState>,
            proxy: web::Path<ProxyId>,
        ) -> ApiResult<HttpResponse> {
            $serve(req, state, proxy.into_inner(), None).await
        }

        /// The same, for device `n` (from 1) of a split lineup.
        #[utoipa::path($method, tag = "hdhomerun",
            params(("proxy_id" = String, Path, description = "proxy id"),
                ("device" = u32, Path, description = "the device, from 1")),
            responses($ok,
                (status = 404, body = Problem, content_type = "application/problem+json",
                    description = "no such proxy or device (for `lineup.json`: or not generated yet)")))]
        #[route($each_path, method = $verb)]
        pub async fn $each(
            req: HttpRequest,
            state: web::Data<AppState>,
            path: DevicePath,
        ) -> ApiResult<HttpResponse> {
            let (proxy, device) = path.into_inner();
            $serve(req, state, proxy, Some(device)).await
        }
    };
}

device_routes! {
    /// Who the device is: `FriendlyName`, `ModelNumber`, `DeviceID` (stable per proxy and
    /// device), `BaseURL`, `LineupURL` and `TunerCount` (an integer).
    get "GET" discover, (status = 200, body = Discover, description = "the device"),
    discover_json "/hdhr/{proxy_id}/discover.json",
    device_discover_json "/hdhr/{proxy_id}/{device}/discover.json"
}

device_routes! {
    /// The device's channels, by number: `GuideNumber` (text), `GuideName`, `URL` and `HD`.
    get "GET" lineup, (status = 200, body = Vec<LineupEntry>, description = "the channels"),
    lineup_json "/hdhr/{proxy_id}/lineup.json",
    device_lineup_json "/hdhr/{proxy_id}/{device}/lineup.json"
}

device_routes! {
    /// No scan runs, and one is possible.
    get "GET" lineup_status, (status = 200, body = LineupStatus, description = "the scan status"),
    lineup_status_json "/hdhr/{proxy_id}/lineup_status.json",
    device_lineup_status_json "/hdhr/{proxy_id}/{device}/lineup_status.json"
}

device_routes! {
    /// A channel scan request (`?scan=start`, `?scan=abort`): accepted, and nothing to do,
    /// since the lineup is the proxy's.
    post "POST" lineup_post, (status = 200, description = "accepted"),
    lineup_post_route "/hdhr/{proxy_id}/lineup.post",
    device_lineup_post_route "/hdhr/{proxy_id}/{device}/lineup.post"
}

device_routes! {
    /// The UPnP root device description.
    get "GET" device_description,
    (status = 200, content_type = "application/xml", body = String, description = "the device description"),
    device_xml_route "/hdhr/{proxy_id}/device.xml",
    device_device_xml_route "/hdhr/{proxy_id}/{device}/device.xml"
}

device_routes! {
    /// The device description again, where some clients look for it.
    get "GET" device_description,
    (status = 200, content_type = "application/xml", body = String, description = "the device description"),
    capability "/hdhr/{proxy_id}/capability",
    device_capability "/hdhr/{proxy_id}/{device}/capability"
}
