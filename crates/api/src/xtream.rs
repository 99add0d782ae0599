//! The Xtream Codes API, for player apps (TiviMate, IPTV Smarters, XCIPTV…): a published proxy
//! as an Xtream panel. The answers are [`tvarr_pipeline::xtream`]'s; this module serves them.
//!
//! A player is given tvarr's address, an account name and that account's **output password**
//! (see the `access` module). At the root (`/player_api.php`, `/get.php`, `/xmltv.php`,
//! `/live/{username}/{password}/{stream}` and the short `/{username}/{password}/{stream}`) the
//! API serves the account's first granted proxy (an admin without grants: the first proxy by
//! name); under `/xtream/{proxy_id}/` the same set serves that proxy, for an account granted
//! several. Xtream has no anonymous access: even while the outputs are open (no viewer
//! exists), an account with an output password is needed.
//!
//! - `player_api.php` without `action`: the account and the server; `get_live_categories`,
//!   ordered by the lowest number each holds; `get_live_streams` (optionally one
//!   `category_id`), streamed from the lineup a page at a time; `get_short_epg` (`stream_id`,
//!   `limit`, default 4) and `get_simple_data_table` (`stream_id`): the channel's programmes
//!   from its guide source with its `tvg-shift`, from now on and over the proxy's guide window
//!   respectively; the VOD and series actions answer `[]` (tvarr has no VOD yet).
//! - `get.php?type=m3u_plus&output=ts|m3u8`: the lineup as an M3U with Xtream stream URLs.
//! - `xmltv.php`: the proxy's published guide, as `/proxy/{id}.xmltv` serves it.
//! - `/live/…/{stream_id}.ts` (or `.m3u8`, or no extension): the channel numbered
//!   `stream_id`, delivered in the proxy's mode.
//!
//! Refused credentials are answered 401 with `{"user_info":{"auth":0}}`, which every app
//! reads as a failed login; a proxy the account is not granted, 403 with the same body.
//!
//! A channel's `stream_id` and `num` are its lineup number, stable across generations. The
//! categories of a lineup are worked out once per publication and remembered (keyed by the
//! proxy and its generation time) for the next `get_live_categories` and `get_live_streams`.

use std::sync::{Arc, OnceLock};

use actix_web::body::BodyStream;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, route, web};
use chrono::{DateTime, Utc};
use tvarr_core::{OutputKind, PageRequest, ProgrammeQuery, Proxy, ProxyId, RepoError, User};
use tvarr_pipeline::xtream::{
    Account, AccountInput, Categories, CategoryBuilder, JsonArray, LiveUrls, REFUSAL, ShortEpg,
    StreamOptions, output_extension, write_live_stream, write_m3u_plus_entry,
    write_m3u_plus_header,
};

use crate::access::Credentials;
use crate::error::{ApiError, ApiResult, Problem};
use crate::lineup_stream::{PAGE, lineup_body};
use crate::origin::{client_address, public_base};
use crate::outputs::serve_published;
use crate::state::AppState;

/// The most listings `get_short_epg` answers with, whatever `limit` asks.
pub const SHORT_EPG_MAX: u64 = 100;
/// The listings `get_short_epg` answers with when no `limit` is given, as panels do.
const SHORT_EPG_DEFAULT: u64 = 4;
/// The most listings `get_simple_data_table` answers with.
pub const DATA_TABLE_MAX: u64 = 2_000;
/// The actions answered with an empty list until tvarr has VOD.
const VOD_ACTIONS: &[&str] = &[
    "get_vod_categories",
    "get_vod_streams",
    "get_vod_info",
    "get_series_categories",
    "get_series",
    "get_series_info",
];

/// The query parameters the Xtream routes read (others are ignored, as panels do).
#[derive(Default)]
struct XtreamQuery {
    credentials: Option<Credentials>,
    action: Option<String>,
    category_id: Option<String>,
    stream_id: Option<String>,
    limit: Option<String>,
    output: Option<String>,
}

impl XtreamQuery {
    fn of(req: &HttpRequest) -> Self {
        let mut query = Self {
            credentials: Credentials::from_query(req.query_string()),
            ..Self::default()
        };
        for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            let slot = match &*key {
                "action" => &mut query.action,
                "category_id" => &mut query.category_id,
                "stream_id" => &mut query.stream_id,
                "limit" => &mut query.limit,
                "output" => &mut query.output,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        query
    }
}

/// An account admitted to the Xtream API, and the proxy it is served.
struct Panel {
    user: Arc<User>,
    credentials: Credentials,
    /// `None` when the account may watch no proxy (an admin of a server without proxies, a
    /// viewer without grants): the account answer still works, the lists are empty.
    proxy: Option<Proxy>,
    /// tvarr's public base URL for this request.
    public: String,
    /// Where this API is: the public base, or `<public>/xtream/{proxy_id}`.
    base: String,
}

/// The refusal players understand, with `status`.
fn refusal(status: actix_web::http::StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(REFUSAL)
}

/// The account of `credentials` and the proxy it is served under `scope` (`None`: the root),
/// or the answer that refuses it.
async fn open(
    req: &HttpRequest,
    state: &AppState,
    scope: Option<ProxyId>,
    credentials: Option<Credentials>,
) -> ApiResult<Result<Panel, HttpResponse>> {
    let client = client_address(req, &state.settings);
    if let Some(id) = scope {
        // Before the credentials: a network that is not allowed learns nothing of them.
        state
            .auth
            .outputs
            .check_network(&*state.repos.proxies, id, client)
            .await?;
    }
    let Some(credentials) = credentials else {
        return Ok(Err(refusal(actix_web::http::StatusCode::UNAUTHORIZED)));
    };
    let user = match state.auth.outputs.account(&credentials, client).await {
        Ok(user) => user,
        Err(ApiError::Unauthorized(_)) => {
            return Ok(Err(refusal(actix_web::http::StatusCode::UNAUTHORIZED)));
        }
        Err(other) => return Err(other),
    };
    let public = public_base(req, &state.settings).into_owned();
    let (proxy, base) = match scope {
        Some(id) => {
            if !user.may_watch(id) {
                return Ok(Err(refusal(actix_web::http::StatusCode::FORBIDDEN)));
            }
            let proxy = match state.repos.proxies.get(id).await {
                Ok(proxy) => proxy,
                Err(RepoError::NotFound { .. }) => {
                    return Err(ApiError::NotFound(format!("no proxy {id}")));
                }
                Err(other) => return Err(other.into()),
            };
            (Some(proxy), format!("{public}/xtream/{id}"))
        }
        None => (root_proxy(state, &user).await?, public.clone()),
    };
    if scope.is_none()
        && let Some(proxy) = &proxy
    {
        state
            .auth
            .outputs
            .check_network(&*state.repos.proxies, proxy.id, client)
            .await?;
    }
    Ok(Ok(Panel {
        user,
        credentials,
        proxy,
        public,
        base,
    }))
}

/// The proxy the root serves `user`: its first granted proxy that exists; for an admin
/// without grants, the first proxy by name.
async fn root_proxy(state: &AppState, user: &User) -> ApiResult<Option<Proxy>> {
    for id in &user.proxy_ids {
        match state.repos.proxies.get(*id).await {
            Ok(proxy) => return Ok(Some(proxy)),
            Err(RepoError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    if user.role == tvarr_core::Role::Admin && user.proxy_ids.is_empty() {
        let first = state.repos.proxies.list(PageRequest::new(1, 0)).await?;
        return Ok(first.items.into_iter().next());
    }
    Ok(None)
}

/// Opens the panel or returns the refusal.
macro_rules! open_or_refuse {
    ($req:expr, $state:expr, $scope:expr, $credentials:expr) => {
        match open($req, $state, $scope, $credentials).await? {
            Ok(panel) => panel,
            Err(refused) => return Ok(refused),
        }
    };
}

fn json<B: actix_web::body::MessageBody + 'static>(body: B) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The categories of each lineup, by proxy and generation time.
type CategoryCache = moka::future::Cache<(ProxyId, DateTime<Utc>), Arc<Categories>>;

/// The categories of the lineup `proxy` published at `generated`, worked out once.
async fn categories(
    state: &AppState,
    proxy: ProxyId,
    generated: DateTime<Utc>,
) -> ApiResult<Arc<Categories>> {
    static CACHE: OnceLock<CategoryCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        moka::future::Cache::builder()
            .max_capacity(64)
            .time_to_idle(std::time::Duration::from_secs(3600))
            .build()
    });
    if let Some(known) = cache.get(&(proxy, generated)).await {
        return Ok(known);
    }
    let mut builder = CategoryBuilder::new();
    let mut from = 1u32;
    loop {
        let page = state
            .repos
            .lineups
            .numbered(proxy, from, u32::MAX, PAGE)
            .await?;
        for channel in &page {
            builder.add(channel);
        }
        match page.last() {
            Some(last) if page.len() as u64 == PAGE && last.number < u32::MAX => {
                from = last.number + 1;
            }
            _ => break,
        }
    }
    let built = Arc::new(builder.finish());
    cache.insert((proxy, generated), built.clone()).await;
    Ok(built)
}

/// The most streams `user` may watch at once, as announced.
fn max_connections(user: &User) -> Option<u32> {
    user.max_streams
}

async fn player_api(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: Option<ProxyId>,
) -> ApiResult<HttpResponse> {
    let query = XtreamQuery::of(&req);
    let panel = open_or_refuse!(&req, &state, scope, query.credentials.clone());
    let action = query.action.as_deref().map(str::trim).unwrap_or_default();
    if action.is_empty() {
        let public = url::Url::parse(&panel.public)
            .map_err(|e| ApiError::Internal(format!("the public base URL: {e}")))?;
        let account = Account::new(&AccountInput {
            username: &panel.credentials.username,
            password: &panel.credentials.password,
            max_connections: max_connections(&panel.user),
            active_connections: u32::try_from(state.relay.streams_of(&panel.user.username))
                .unwrap_or(u32::MAX),
            created_at: panel.user.created_at,
            public_base: &public,
            now: Utc::now(),
        });
        let body = serde_json::to_vec(&account)
            .map_err(|e| ApiError::Internal(format!("the account answer: {e}")))?;
        return Ok(json(body));
    }
    if VOD_ACTIONS.contains(&action) {
        return Ok(json("[]"));
    }
    let (proxy, generated) = match &panel.proxy {
        Some(proxy) => match proxy.last_generated_at {
            Some(at) => (proxy.id, at),
            None => return Ok(json(empty_answer(action))),
        },
        None => return Ok(json(empty_answer(action))),
    };
    match action {
        "get_live_categories" => {
            let categories = categories(&state, proxy, generated).await?;
            let body = serde_json::to_vec(categories.list())
                .map_err(|e| ApiError::Internal(format!("the categories: {e}")))?;
            Ok(json(body))
        }
        "get_live_streams" => {
            let categories = categories(&state, proxy, generated).await?;
            let options = StreamOptions {
                added: generated,
                catchup: false,
            };
            let wanted = query.category_id.filter(|c| !c.trim().is_empty());
            let mut array: Option<JsonArray> = None;
            let mut head = Vec::new();
            array.replace(JsonArray::open(&mut head));
            let body = lineup_body(
                state.repos.lineups.clone(),
                proxy,
                (1, u32::MAX),
                head,
                b"]".to_vec(),
                move |channel, out| {
                    if let Some(wanted) = &wanted
                        && !categories.in_category(channel, wanted)
                    {
                        return Ok(());
                    }
                    if let Some(array) = array.as_mut() {
                        array.item(out);
                    }
                    write_live_stream(out, channel, &categories, &options);
                    Ok(())
                },
            );
            Ok(json(BodyStream::new(body)))
        }
        "get_short_epg" | "get_simple_data_table" => {
            let full = action == "get_simple_data_table";
            epg(&state, proxy, &query, full).await
        }
        other => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(64).collect();
            Err(ApiError::BadRequest(format!(
                "unknown action `{shown}`; this server answers get_live_categories, \
                 get_live_streams, get_short_epg, get_simple_data_table and the VOD and \
                 series actions"
            )))
        }
    }
}

/// What an action answers before the proxy's first generation (or without a proxy).
fn empty_answer(action: &str) -> &'static str {
    if action == "get_short_epg" || action == "get_simple_data_table" {
        r#"{"epg_listings":[]}"#
    } else {
        "[]"
    }
}

/// `get_short_epg` and `get_simple_data_table` of one channel.
async fn epg(
    state: &AppState,
    proxy: ProxyId,
    query: &XtreamQuery,
    full: bool,
) -> ApiResult<HttpResponse> {
    let Some(number) = query
        .stream_id
        .as_deref()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return Err(ApiError::BadRequest(
            "stream_id must be a channel's stream_id (a number)".into(),
        ));
    };
    let Some(channel) = state
        .repos
        .lineups
        .numbered(proxy, number, number, 1)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(json(empty_answer("get_short_epg")));
    };
    let Some(guide) = &channel.guide else {
        return Ok(json(empty_answer("get_short_epg")));
    };
    let now = Utc::now();
    let shift = chrono::Duration::minutes(tvarr_pipeline::shift_minutes(
        channel.data.tvg_shift.as_deref(),
    ));
    let settings = state.repos.proxies.get(proxy).await?.input;
    let (from, to, limit) = if full {
        (
            now - chrono::Duration::days(i64::from(settings.epg_days_past)),
            now + chrono::Duration::days(i64::from(settings.epg_days_ahead)),
            DATA_TABLE_MAX,
        )
    } else {
        let limit = query
            .limit
            .as_deref()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .unwrap_or(SHORT_EPG_DEFAULT)
            .clamp(1, SHORT_EPG_MAX);
        (
            now,
            now + chrono::Duration::days(i64::from(settings.epg_days_ahead.max(1))),
            limit,
        )
    };
    // The guide is stored in the source's times: the window moves back by the shift, the
    // programmes found move forward by it.
    let page = state
        .repos
        .programmes
        .list(
            &ProgrammeQuery {
                source_ids: vec![guide.epg_source_id],
                channel: Some(guide.epg_channel.clone()),
                from: Some(from - shift),
                to: Some(to - shift),
                q: None,
            },
            PageRequest::new(limit, 0),
        )
        .await?;
    let programmes: Vec<_> = page
        .items
        .into_iter()
        .map(|mut p| {
            p.data.start += shift;
            p.data.stop += shift;
            p.data
        })
        .collect();
    let answer = ShortEpg::new(programmes.iter(), &channel, now, false);
    let mut body = Vec::with_capacity(programmes.len() * 300 + 20);
    answer
        .write_to(&mut body)
        .map_err(|e| ApiError::Internal(format!("the EPG answer: {e}")))?;
    Ok(json(body))
}

async fn playlist(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: Option<ProxyId>,
) -> ApiResult<HttpResponse> {
    let query = XtreamQuery::of(&req);
    let panel = open_or_refuse!(&req, &state, scope, query.credentials.clone());
    let Some(proxy) = panel
        .proxy
        .as_ref()
        .filter(|p| p.last_generated_at.is_some())
    else {
        return Err(ApiError::NotFound(
            "this account's proxy has no published lineup yet".into(),
        ));
    };
    let extension = output_extension(query.output.as_deref());
    let urls = LiveUrls::new(
        &panel.base,
        &panel.credentials.username,
        &panel.credentials.password,
    );
    let mut head = Vec::new();
    write_m3u_plus_header(
        &mut head,
        &format!("{}/xmltv.php?{}", panel.base, panel.credentials.query()),
    );
    let body = lineup_body(
        state.repos.lineups.clone(),
        proxy.id,
        (1, u32::MAX),
        head,
        Vec::new(),
        move |channel, out| {
            write_m3u_plus_entry(out, channel, &urls, extension, false);
            Ok(())
        },
    );
    Ok(HttpResponse::Ok()
        .content_type(OutputKind::M3u.content_type())
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"playlist.m3u\"",
        ))
        .body(BodyStream::new(body)))
}

async fn guide(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: Option<ProxyId>,
) -> ApiResult<HttpResponse> {
    let query = XtreamQuery::of(&req);
    let panel = open_or_refuse!(&req, &state, scope, query.credentials.clone());
    let Some(proxy) = &panel.proxy else {
        return Err(ApiError::NotFound("this account may watch no proxy".into()));
    };
    serve_published(&req, &state, proxy.id, OutputKind::Xmltv, None).await
}

/// The lineup number of a stream path segment: `123`, `123.ts` or `123.m3u8`.
fn stream_number(segment: &str) -> Option<u32> {
    let lower = segment.to_ascii_lowercase();
    let bare = lower
        .strip_suffix(".ts")
        .or_else(|| lower.strip_suffix(".m3u8"))
        .unwrap_or(&lower);
    bare.parse().ok()
}

async fn live(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: Option<ProxyId>,
    (username, password, stream): (String, String, String),
) -> ApiResult<HttpResponse> {
    let credentials = Credentials { username, password };
    let panel = open_or_refuse!(&req, &state, scope, Some(credentials));
    let not_found = || {
        let shown: String = stream
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        ApiError::NotFound(format!("no stream `{shown}` in this account's lineup"))
    };
    let (Some(proxy), Some(number)) = (&panel.proxy, stream_number(&stream)) else {
        return Err(not_found());
    };
    let Some(channel) = state
        .repos
        .lineups
        .numbered(proxy.id, number, number, 1)
        .await?
        .into_iter()
        .next()
    else {
        return Err(not_found());
    };
    crate::streams::deliver(&req, &state, proxy, &channel, Some(&panel.user)).await
}

/// The Xtream routes at the root and under `/xtream/{proxy_id}`, each answered by `$serve`.
macro_rules! xtream_routes {
    (
        $(#[$doc:meta])*
        $serve:ident, $ok:tt,
        $root:ident $root_path:tt,
        $scoped:ident $scoped_path:tt
    ) => {
        $(#[$doc])*
        #[utoipa::path(get, tag = "xtream",
            params(("username" = String, Query, description = "the account name"),
                ("password" = String, Query, description = "the account's output password")),
            responses($ok,
                (status = 400, body = Problem, content_type = "application/problem+json", description = "an unknown action or a bad parameter"),
                (status = 401, description = "refused credentials: `{\"user_info\":{\"auth\":0}}`", content_type = "application/json", body = Object),
                (status = 404, body = Problem, content_type = "application/problem+json", description = "nothing published yet")))]
        #[route($root_path, method = "GET")]
        pub async fn $root(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
            $serve(req, state, None).await
        }

        /// The same, for the proxy `proxy_id` (an account granted several).
        #[utoipa::path(get, tag = "xtream",
            params(("proxy_id" = String, Path, description = "proxy id"),
                ("username" = String, Query, description = "the account name"),
                ("password" = String, Query, description = "the account's output password")),
            responses($ok,
                (status = 400, body = Problem, content_type = "application/problem+json", description = "an unknown action or a bad parameter"),
                (status = 401, description = "refused credentials: `{\"user_info\":{\"auth\":0}}`", content_type = "application/json", body = Object),
                (status = 403, description = "the account is not granted this proxy: `{\"user_info\":{\"auth\":0}}`", content_type = "application/json", body = Object),
                (status = 404, body = Problem, content_type = "application/problem+json", description = "no such proxy, or nothing published yet")))]
        #[route($scoped_path, method = "GET")]
        pub async fn $scoped(
            req: HttpRequest,
            state: web::Data<AppState>,
            proxy: web::Path<ProxyId>,
        ) -> ApiResult<HttpResponse> {
            $serve(req, state, Some(proxy.into_inner())).await
        }
    };
}

xtream_routes! {
    /// `player_api.php`: without `action` the account and the server; with `action`
    /// `get_live_categories`, `get_live_streams` (`category_id` optional),
    /// `get_short_epg` (`stream_id`, `limit`), `get_simple_data_table` (`stream_id`), or a
    /// VOD or series action (`[]`).
    player_api,
    (status = 200, description = "the answer of the action", content_type = "application/json", body = Object),
    player_api_root "/player_api.php",
    player_api_scoped "/xtream/{proxy_id}/player_api.php"
}

xtream_routes! {
    /// `get.php`: the lineup as an M3U (`type=m3u_plus`) with Xtream stream URLs, as
    /// `output=ts` (the default) or `output=m3u8`.
    playlist,
    (status = 200, description = "the M3U playlist", content_type = "audio/x-mpegurl", body = String),
    get_php_root "/get.php",
    get_php_scoped "/xtream/{proxy_id}/get.php"
}

xtream_routes! {
    /// `xmltv.php`: the proxy's published guide.
    guide,
    (status = 200, description = "the XMLTV guide", content_type = "application/xml", body = String),
    xmltv_php_root "/xmltv.php",
    xmltv_php_scoped "/xtream/{proxy_id}/xmltv.php"
}

/// The path of a live stream at the root: account, output password, stream.
type LivePath = web::Path<(String, String, String)>;

/// A live stream: the channel whose `stream_id` (its number) is `stream`, with `.ts`,
/// `.m3u8` or no extension, delivered in the proxy's mode.
#[utoipa::path(get, tag = "xtream",
    params(("username" = String, Path, description = "the account name"),
        ("password" = String, Path, description = "the account's output password"),
        ("stream" = String, Path, description = "the stream id, optionally with `.ts` or `.m3u8`")),
    responses((status = 302, description = "go to the channel's stream"),
        (status = 401, description = "refused credentials", content_type = "application/json", body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such stream")))]
#[route(
    "/live/{username}/{password}/{stream}",
    method = "GET",
    method = "HEAD"
)]
pub async fn live_root(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: LivePath,
) -> ApiResult<HttpResponse> {
    live(req, state, None, path.into_inner()).await
}

/// The same, for the proxy `proxy_id`.
#[utoipa::path(get, tag = "xtream",
    params(("proxy_id" = String, Path, description = "proxy id"),
        ("username" = String, Path, description = "the account name"),
        ("password" = String, Path, description = "the account's output password"),
        ("stream" = String, Path, description = "the stream id, optionally with `.ts` or `.m3u8`")),
    responses((status = 302, description = "go to the channel's stream"),
        (status = 401, description = "refused credentials", content_type = "application/json", body = Object),
        (status = 403, description = "the account is not granted this proxy", content_type = "application/json", body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such proxy or stream")))]
#[route(
    "/xtream/{proxy_id}/live/{username}/{password}/{stream}",
    method = "GET",
    method = "HEAD"
)]
pub async fn live_scoped(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(ProxyId, String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (proxy, username, password, stream) = path.into_inner();
    live(req, state, Some(proxy), (username, password, stream)).await
}

/// The short form of a live stream, `/{username}/{password}/{stream}`, which some apps use.
#[utoipa::path(get, tag = "xtream",
    params(("username" = String, Path, description = "the account name"),
        ("password" = String, Path, description = "the account's output password"),
        ("stream" = String, Path, description = "the stream id, optionally with `.ts` or `.m3u8`")),
    responses((status = 302, description = "go to the channel's stream"),
        (status = 401, description = "refused credentials", content_type = "application/json", body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such stream")))]
#[route("/{username}/{password}/{stream}", method = "GET", method = "HEAD")]
pub async fn live_short(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: LivePath,
) -> ApiResult<HttpResponse> {
    live(req, state, None, path.into_inner()).await
}

/// The short form under `/xtream/{proxy_id}`.
#[utoipa::path(get, tag = "xtream",
    params(("proxy_id" = String, Path, description = "proxy id"),
        ("username" = String, Path, description = "the account name"),
        ("password" = String, Path, description = "the account's output password"),
        ("stream" = String, Path, description = "the stream id, optionally with `.ts` or `.m3u8`")),
    responses((status = 302, description = "go to the channel's stream"),
        (status = 401, description = "refused credentials", content_type = "application/json", body = Object),
        (status = 403, description = "the account is not granted this proxy", content_type = "application/json", body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such proxy or stream")))]
#[route(
    "/xtream/{proxy_id}/{username}/{password}/{stream}",
    method = "GET",
    method = "HEAD"
)]
pub async fn live_short_scoped(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(ProxyId, String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (proxy, username, password, stream) = path.into_inner();
    live(req, state, Some(proxy), (username, password, stream)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_segments_carry_a_number_and_an_optional_extension() {
        assert_eq!(stream_number("12"), Some(12));
        assert_eq!(stream_number("12.ts"), Some(12));
        assert_eq!(stream_number("12.M3U8"), Some(12));
        assert_eq!(stream_number("12.mp4"), None);
        assert_eq!(stream_number("discover.json"), None);
        assert_eq!(stream_number("-1"), None);
    }
}
