//! tvarr-api: the HTTP face of tvarr.
//!
//! This crate owns the actix-web handlers of the public contract (`/api/v1/...`, health
//! probes, outputs), the OpenAPI document generated from them, the docs page, and the one
//! mapping from domain errors to `application/problem+json` answers.
//!
//! It talks to the rest of tvarr only through `tvarr-core` traits (repositories, the job
//! queue); the binaries hand it concrete implementations in an [`AppState`]. No crate below
//! this one may import actix-web.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod access;
mod auth;
mod channels;
mod contract;
mod epg;
mod error;
mod expressions;
mod filters;
mod hdhomerun;
mod health;
mod jobs;
mod lineup_stream;
mod mapping;
mod metrics;
mod origin;
mod outputs;
mod pagination;
mod proxies;
mod relay_profiles;
mod rule_exchange;
mod sources;
mod state;
mod streams;
mod users;
mod xtream;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{self, Next};
use actix_web::{App, ResponseError as _, get, web};
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

pub use auth::{Authenticator, Principal, hash_secret, verify_secret};
pub use error::{ApiError, ExpressionDiagnostic, Problem};
pub use metrics::Metrics;
pub use state::{ApiSettings, AppState, Readiness};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tvarr",
        description = "Self-hosted IPTV management: sources, guides, filters, proxies and streams."
    ),
    tags(
        (name = "health", description = "Liveness, readiness and health"),
        (name = "auth", description = "Login, first-run setup and API keys"),
        (name = "users", description = "Accounts: admins, and viewers who watch the proxies granted to them"),
        (name = "sources", description = "Stream and EPG sources"),
        (name = "channels", description = "Ingested channels"),
        (name = "epg", description = "Programme guide"),
        (name = "jobs", description = "Background jobs"),
        (name = "filters", description = "Filters, trying them on ingested data, and sharing filters and rules"),
        (name = "data-mapping", description = "Data-mapping rules and trying them on ingested data"),
        (name = "expressions", description = "Expression validation and the fields expressions can use"),
        (name = "proxies", description = "Proxies: what is published, generating it, and its lineup"),
        (name = "relay-profiles", description = "How relay mode transcodes"),
        (name = "relay", description = "Channels playing in proxy and relay modes: sessions, viewers, upstreams"),
        (name = "outputs", description = "What players load: playlists, guides and streams (public)"),
        (name = "hdhomerun", description = "Each proxy as an HDHomeRun tuner, for Plex, Jellyfin and Emby (public)"),
        (name = "xtream", description = "The Xtream Codes API, for player apps: an account name and its output password (public routes)"),
    )
)]
struct ApiDoc;

/// The routes outside `/api/v1` that answer without credentials: with [`public_api_routes`],
/// the one list of public routes (see the `auth` module).
fn public_routes(cfg: &mut ServiceConfig) {
    cfg.service(health::livez)
        .service(health::readyz)
        .service(health::health)
        .service(outputs::playlist)
        .service(outputs::guide)
        .service(outputs::channel_stream)
        .service(hdhomerun::discover_json)
        .service(hdhomerun::lineup_json)
        .service(hdhomerun::lineup_status_json)
        .service(hdhomerun::lineup_post_route)
        .service(hdhomerun::device_xml_route)
        .service(hdhomerun::capability)
        .service(hdhomerun::device_discover_json)
        .service(hdhomerun::device_lineup_json)
        .service(hdhomerun::device_lineup_status_json)
        .service(hdhomerun::device_lineup_post_route)
        .service(hdhomerun::device_device_xml_route)
        .service(hdhomerun::device_capability)
        .service(xtream::player_api_root)
        .service(xtream::player_api_scoped)
        .service(xtream::get_php_root)
        .service(xtream::get_php_scoped)
        .service(xtream::xmltv_php_root)
        .service(xtream::xmltv_php_scoped)
        .service(xtream::live_root)
        .service(xtream::live_scoped)
        .service(xtream::live_short_scoped)
        .map(|cfg| {
            cfg.service(web::redirect("/", "/docs/"))
                .service(web::redirect("/docs", "/docs/"))
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"])),
                )
        });
}

/// The public route that must come after `/api/v1`, whose paths it would match: the short
/// Xtream stream URL `/{username}/{password}/{stream}` (which checks its own credentials).
fn public_fallback_routes(cfg: &mut ServiceConfig) {
    cfg.service(xtream::live_short);
}

/// The `/api/v1` routes that answer without credentials.
fn public_api_routes(cfg: &mut ServiceConfig) {
    cfg.service(openapi_json)
        .service(auth::status)
        .service(auth::setup)
        .service(auth::login)
        .service(auth::logout);
}

/// Every route, in the order the router tries them. Access control is structural (see the
/// `auth` module): the public routes come first, each its own resource, and everything else sits
/// in scopes wrapped by [`require_credentials`], down to the catch-all that answers unknown paths.
/// A route added anywhere but the public lists needs credentials once an account exists.
fn configure_routes(cfg: &mut ServiceConfig) {
    public_routes(cfg);
    cfg.service(
        utoipa_actix_web::scope("/api/v1")
            .configure(public_api_routes)
            // Every other `/api/v1` path, known or not, needs credentials.
            .service(
                utoipa_actix_web::scope("")
                    .wrap(middleware::from_fn(require_credentials))
                    .configure(protected_api_routes),
            ),
    );
    public_fallback_routes(cfg);
    // Every other path, known or not: `/metrics`, and the 404 of unknown paths.
    cfg.service(
        utoipa_actix_web::scope("")
            .wrap(middleware::from_fn(require_credentials))
            .service(metrics::metrics),
    );
}

/// Documents access control in `api`: two security schemes (the API key as a bearer token, the
/// session cookie), and on every operation the public lists do not hold, that it needs one of
/// them and may answer 401.
fn document_access_control(api: &mut OpenApi) {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let (_, public) = App::new()
        .into_utoipa_app()
        .configure(public_routes)
        .service(utoipa_actix_web::scope("/api/v1").configure(public_api_routes))
        .configure(public_fallback_routes)
        .split_for_parts();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("an API key from POST /api/v1/auth/api-keys"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            auth::SESSION_COOKIE,
            "the session cookie set by POST /api/v1/auth/login",
        ))),
    );
    let refused = ResponseBuilder::new()
        .description("no valid credentials (once an account exists)")
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    let security = vec![
        SecurityRequirement::new("api_key", Vec::<String>::new()),
        SecurityRequirement::new("session", Vec::<String>::new()),
    ];
    for (path, item) in api.paths.paths.iter_mut() {
        let public_item = public.paths.paths.get(path);
        let operations = [
            (&mut item.get, public_item.and_then(|p| p.get.as_ref())),
            (&mut item.put, public_item.and_then(|p| p.put.as_ref())),
            (&mut item.post, public_item.and_then(|p| p.post.as_ref())),
            (
                &mut item.delete,
                public_item.and_then(|p| p.delete.as_ref()),
            ),
            (&mut item.patch, public_item.and_then(|p| p.patch.as_ref())),
        ];
        for (operation, public_operation) in operations {
            if let Some(operation) = operation
                && public_operation.is_none()
            {
                operation
                    .responses
                    .responses
                    .entry("401".to_string())
                    .or_insert_with(|| refused.clone().into());
                operation.security = Some(security.clone());
            }
        }
    }
}

/// The `/api/v1` routes that need credentials once an account exists.
fn protected_api_routes(cfg: &mut ServiceConfig) {
    cfg.service(auth::list_api_keys)
        .service(auth::create_api_key)
        .service(auth::revoke_api_key)
        // `me` before `{id}`, so it is not an id.
        .service(users::me)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::update_user)
        .service(users::delete_user)
        .service(users::set_output_password)
        .service(users::revoke_output_password)
        .service(sources::list_stream_sources)
        .service(sources::create_stream_source)
        .service(sources::get_stream_source)
        .service(sources::update_stream_source)
        .service(sources::delete_stream_source)
        .service(sources::ingest_stream_source)
        .service(sources::stream_source_channels)
        .service(sources::list_epg_sources)
        .service(sources::create_epg_source)
        .service(sources::get_epg_source)
        .service(sources::update_epg_source)
        .service(sources::delete_epg_source)
        .service(sources::ingest_epg_source)
        .service(channels::list_channels)
        .service(channels::channel_groups)
        .service(channels::get_channel)
        .service(epg::list_programmes)
        .service(epg::now_playing)
        .service(epg::search_programmes)
        .service(jobs::list_jobs)
        .service(jobs::get_job)
        .service(jobs::cancel_job)
        .service(jobs::progress_events)
        // Fixed paths before `{id}` paths, so `fields`, `test` and `reorder` are not ids.
        .service(expressions::validate_expression)
        .service(expressions::list_fields)
        .service(filters::test_filter)
        .service(filters::list_filters)
        .service(filters::create_filter)
        .service(filters::get_filter)
        .service(filters::update_filter)
        .service(filters::delete_filter)
        .service(mapping::test_mapping_rule)
        .service(mapping::reorder_mapping_rules)
        .service(mapping::list_mapping_rules)
        .service(mapping::create_mapping_rule)
        .service(mapping::get_mapping_rule)
        .service(mapping::update_mapping_rule)
        .service(mapping::delete_mapping_rule)
        .service(rule_exchange::export_rules)
        .service(rule_exchange::import_rules)
        .service(proxies::list_proxies)
        .service(proxies::create_proxy)
        .service(proxies::get_proxy)
        .service(proxies::update_proxy)
        .service(proxies::delete_proxy)
        .service(proxies::generate_proxy)
        .service(proxies::proxy_channels)
        .service(relay_profiles::list_relay_profiles)
        .service(relay_profiles::create_relay_profile)
        .service(relay_profiles::get_relay_profile)
        .service(relay_profiles::update_relay_profile)
        .service(relay_profiles::delete_relay_profile)
        .service(streams::list_sessions)
        .service(streams::end_session)
        .service(streams::ffmpeg_status);
}

/// The OpenAPI document of every route, as served at `/api/v1/openapi.json`.
pub fn openapi() -> OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure_routes)
        .split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    document_access_control(&mut api);
    contract::document_common_refusals(&mut api);
    contract::document_output_refusals(&mut api);
    api
}

static OPENAPI_JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The OpenAPI 3.1 document of this API, generated from the code.
#[utoipa::path(tag = "health", responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
async fn openapi_json() -> actix_web::HttpResponse {
    let body = OPENAPI_JSON.get_or_init(|| openapi().to_json().unwrap_or_default());
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

/// The whole application: routes, access control, OpenAPI document and docs page, extractor
/// error handling, and request logging. The binaries serve it; tests call it with `actix_web::test`.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(error::extractors::json_config())
        .app_data(error::extractors::path_config())
        .app_data(error::extractors::query_config())
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure_routes)
        .into_app()
        .default_service(web::to(contract::no_route))
        .wrap(middleware::from_fn(log_request))
}

async fn require_credentials<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    if let Err(refusal) = auth::guard(&req).await {
        let response = refusal.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// `path` as the log shows it: the segment the route names `{password}` (an Xtream stream
/// URL's output password) is `***`. Queries are never logged.
fn logged_path(path: &str, route: &str) -> String {
    let Some(at) = route.split('/').position(|s| s == "{password}") else {
        return path.to_string();
    };
    path.split('/')
        .enumerate()
        .map(|(i, segment)| if i == at { "***" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    // The route pattern, not the path, labels the metrics: ids in paths would make one series
    // per id. Paths no route knows share one label.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| tvarr_metrics::OTHER.to_string());
    let path = logged_path(req.path(), &route);
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let result = next.call(req).await;
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    let status = match &result {
        Ok(res) => {
            let status = res.status().as_u16();
            tracing::info!(%method, %path, status, elapsed_ms, "request");
            status
        }
        Err(e) => {
            tracing::warn!(%method, %path, error = %e, elapsed_ms, "request failed");
            e.as_response_error().status_code().as_u16()
        }
    };
    if let Some(metrics) = metrics {
        metrics.observe_request(method.as_str(), &route, status, elapsed);
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_passwords_in_paths_are_not_logged() {
        assert_eq!(
            super::logged_path(
                "/live/ann/s3cret/5.ts",
                "/live/{username}/{password}/{stream}"
            ),
            "/live/ann/***/5.ts"
        );
        assert_eq!(
            super::logged_path(
                "/xtream/p/ann/s3cret/5",
                "/xtream/{proxy_id}/{username}/{password}/{stream}"
            ),
            "/xtream/p/ann/***/5"
        );
        assert_eq!(
            super::logged_path("/proxy/a.m3u", "/proxy/{id}.m3u"),
            "/proxy/a.m3u"
        );
    }

    #[test]
    fn the_openapi_document_lists_the_expression_routes() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/api/v1/filters",
            "/api/v1/filters/{id}",
            "/api/v1/filters/test",
            "/api/v1/filters/fields/{domain}",
            "/api/v1/data-mapping",
            "/api/v1/data-mapping/{id}",
            "/api/v1/data-mapping/reorder",
            "/api/v1/data-mapping/test",
            "/api/v1/expressions/validate",
            "/api/v1/export/filters",
            "/api/v1/import/filters",
            "/api/v1/proxies",
            "/api/v1/proxies/{id}",
            "/api/v1/proxies/{id}/generate",
            "/api/v1/proxies/{id}/channels",
            "/api/v1/relay-profiles",
            "/api/v1/relay-profiles/{id}",
            "/proxy/{id}.m3u",
            "/proxy/{id}.xmltv",
            "/proxy/{proxy_id}/{channel_id}",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} missing from the OpenAPI document"
            );
        }
        let problem = &doc["components"]["schemas"]["Problem"]["properties"];
        assert!(problem.get("diagnostics").is_some());
        // The outputs are public and documented once, as GET (HEAD answers alike).
        for path in ["/proxy/{id}.m3u", "/proxy/{proxy_id}/{channel_id}"] {
            let item = paths[path].as_object().unwrap();
            assert!(item["get"].get("security").is_none(), "{path}");
            assert!(item.get("head").is_none(), "{path}");
        }
        assert!(paths["/api/v1/proxies"]["post"]["security"].is_array());
    }
}
