//! Access control: an admin account, login sessions, and bearer API keys.
//!
//! Until an account exists the API is open (and `/health` and the log say so loudly). Once one
//! exists, every route needs either the session cookie from `POST /api/v1/auth/login` or
//! `Authorization: Bearer <api key>` (the scheme in any case), except the public ones. An
//! admin's session and an API key may do everything; a viewer's session only what
//! [`VIEWER_ROUTES`] lists (reading the proxies granted to it), decided by the route the
//! router matched.
//!
//! # What is public, and why that cannot be bypassed by spelling a path differently
//!
//! Protection is decided by the router, not by comparing strings: `configure_routes` in this
//! crate's `lib.rs` registers the public routes first, each as its own resource, and then every
//! other route inside a scope wrapped by the credentials middleware; a last catch-all scope,
//! wrapped the same way, holds `/metrics` and answers every path no route knows. The router
//! matches the percent-decoded path, so whatever spelling reaches a protected handler has passed
//! through its scope's middleware first; an unknown path, or one with `//`, dot segments or other
//! case, matches no public route and is refused with 401 before it can be a 404. Paths are not
//! rewritten (no `NormalizePath`): a request means exactly the path the router saw. The public
//! routes, the one list of them:
//!
//! - `GET /livez`, `GET /readyz`, `GET /health`: probes;
//! - `GET` and `HEAD` of `/proxy/{id}.m3u`, `/proxy/{id}.xmltv` and `/proxy/{proxy_id}/{channel_id}`:
//!   the outputs players load. A player cannot log in: these check an account's output
//!   password in `?username=&password=` themselves once a viewer account exists (see the
//!   `access` module), and need the proxy's id, a random UUID;
//! - `GET` of `/hdhr/{proxy_id}/` and `/hdhr/{proxy_id}/{device}/` `discover.json`,
//!   `lineup.json`, `lineup_status.json`, `device.xml` and `capability`, and `POST` of their
//!   `lineup.post`: the HDHomeRun devices media servers add (a tuner has no login; the same
//!   output check);
//! - the Xtream Codes API at the root and under `/xtream/{proxy_id}/` (`player_api.php`,
//!   `get.php`, `xmltv.php`, `live/{username}/{password}/{stream}` and the short
//!   `/{username}/{password}/{stream}`): each checks the account name and output password
//!   it is given, always. The short form is matched after `/api/v1` and answers any other
//!   path of three segments (with a refusal, without an account);
//! - `GET /`, `GET /docs` (redirects to `/docs/`) and `GET /docs/...` (the API docs page);
//! - `GET /api/v1/openapi.json`, `GET /api/v1/auth/status`, `POST /api/v1/auth/setup`
//!   (refused once an account exists), `POST /api/v1/auth/login` and `POST /api/v1/auth/logout`.
//!
//! `/metrics` needs credentials once an account exists (an API key as a Prometheus bearer
//! token): it tells job counts and request rates per route, and each scrape runs a count query
//! per job kind and status, which nobody outside should be able to trigger at will.
//!
//! # Sessions
//!
//! A login stores a session row (`sessions`: user, created, expires after 7 days, revoked) and
//! sets a cookie holding the session id and a keyed blake3 MAC of it, so forged or guessed ids
//! are refused without a database query. Every request with a cookie looks its session up in
//! the database, with no cache: logging out (which revokes the cookie's session) and changing a
//! password (which revokes every session of the account, in the same transaction) take effect at
//! once in every server process sharing the database.
//!
//! # Failed logins
//!
//! Login attempts are counted per account name (whether or not it exists, so the answer never
//! tells) and per client address (IPv6 by /64): more than [`ACCOUNT_ATTEMPTS`] failed attempts
//! on one name, or more than [`ADDRESS_ATTEMPTS`] from one address, within [`LOGIN_WINDOW`]
//! (counted from the first) are answered 429 with `Retry-After` until the window ends, without
//! checking the password. A successful login clears its account's count. The counts are kept in
//! the database (`login_attempts`, through [`UserRepository::count_login_attempt`]), so
//! several server processes sharing it allow an attacker the same attempts as one, and a
//! restart forgets nothing.
//!
//! Passwords and API keys are stored as argon2 hashes and checked in constant time by argon2.
//! A key that verified recently is remembered (by its blake3 digest) for a minute, so API
//! clients do not pay argon2 on every request; revoking a key forgets them all in this process,
//! while other processes sharing the database may accept a revoked key for up to that minute.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, post, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{ApiKey, ApiKeyRepository, Role, UserRepository};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tvarr_session";
const SESSION_LIFETIME: chrono::Duration = chrono::Duration::days(7);
/// Failed login attempts allowed per account name within [`LOGIN_WINDOW`].
pub const ACCOUNT_ATTEMPTS: u32 = 5;
/// Failed login attempts allowed per client address within [`LOGIN_WINDOW`].
pub const ADDRESS_ATTEMPTS: u32 = 20;
/// How long failed login attempts are counted, from the first one.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// What the MAC of a session id is computed over, before the id: a token of another kind
/// signed with the same key never passes for a session.
const SESSION_MAC_CONTEXT: &str = "tvarr session v2:";

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Nobody has set up access control: everyone is admin.
    Open,
    /// A logged-in account.
    User {
        /// Account id.
        id: Uuid,
        /// Its role.
        role: Role,
    },
    /// An API key (admin rights).
    ApiKey {
        /// Key id.
        id: Uuid,
    },
}

/// Counts login attempts per account name and per client address (see the module docs), in
/// the database, so every server process counts the same attempts.
pub(crate) struct LoginThrottle {
    pub(crate) users: Arc<dyn UserRepository>,
}

/// One admitted login attempt, to report its outcome with.
pub(crate) struct LoginAttempt {
    account: String,
    address: Option<String>,
}

/// The key an address is counted under: IPv6 clients get a /64 each, so one client cannot
/// rotate through its own prefix.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

impl LoginThrottle {
    /// Counts an attempt on `account` from `address`, or refuses it with how long to wait.
    pub(crate) async fn admit(
        &self,
        account: &str,
        address: Option<IpAddr>,
    ) -> Result<LoginAttempt, ApiError> {
        let now = Utc::now();
        let account = format!("account:{}", account.trim().to_lowercase());
        let address = address.map(|ip| format!("address:{}", address_key(ip)));
        let mut wait = Duration::ZERO;
        let left = |window: tvarr_core::LoginWindow| {
            let ends =
                window.started + chrono::Duration::from_std(LOGIN_WINDOW).unwrap_or_default();
            (ends - now).to_std().unwrap_or_default()
        };
        let by_account = self
            .users
            .count_login_attempt(&account, now, LOGIN_WINDOW)
            .await?;
        if by_account.attempts > ACCOUNT_ATTEMPTS {
            wait = wait.max(left(by_account));
        }
        if let Some(key) = &address {
            let by_address = self
                .users
                .count_login_attempt(key, now, LOGIN_WINDOW)
                .await?;
            if by_address.attempts > ADDRESS_ATTEMPTS {
                wait = wait.max(left(by_address));
            }
        }
        if wait > Duration::ZERO {
            tracing::warn!(client = ?address, "login refused: too many failed attempts");
            return Err(ApiError::TooManyRequests {
                detail: "too many failed login attempts; try again later".into(),
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(LoginAttempt { account, address })
    }

    /// The attempt logged in: its account starts afresh, and it does not count for its address.
    pub(crate) async fn succeeded(&self, attempt: &LoginAttempt) -> Result<(), ApiError> {
        self.users.clear_login_attempts(&attempt.account).await?;
        if let Some(key) = &attempt.address {
            self.users.take_back_login_attempt(key).await?;
        }
        Ok(())
    }
}

/// The authentication state shared by handlers and the middleware.
pub struct Authenticator {
    users: Arc<dyn UserRepository>,
    keys: Arc<dyn ApiKeyRepository>,
    session_key: [u8; 32],
    required: AtomicBool,
    verified_keys: moka::future::Cache<[u8; 32], Uuid>,
    throttle: LoginThrottle,
    /// Who may load the outputs.
    pub(crate) outputs: crate::access::OutputAccess,
}

pub(crate) fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Hashes a password or key with argon2 (PHC string).
pub fn hash_secret(secret: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&random_bytes()[..16])
        .map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// Whether `secret` matches the argon2 `hash`.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The credential in an `Authorization` header value if its scheme is `Bearer`, in any case
/// (RFC 9110 §11.1: schemes are case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl Authenticator {
    /// A new authenticator. `session_key` signs session cookies; keep it stable across restarts
    /// (and shared between server processes) so sessions survive them. Sessions themselves
    /// live in the database `users` reaches.
    pub async fn new(
        users: Arc<dyn UserRepository>,
        keys: Arc<dyn ApiKeyRepository>,
        session_key: [u8; 32],
    ) -> Result<Self, ApiError> {
        let required = users.count().await? > 0;
        let throttle = LoginThrottle {
            users: users.clone(),
        };
        let outputs = crate::access::OutputAccess::new(users.clone());
        Ok(Self {
            outputs,
            users,
            keys,
            session_key,
            required: AtomicBool::new(required),
            verified_keys: moka::future::Cache::builder()
                .max_capacity(1024)
                .time_to_live(Duration::from_secs(60))
                .build(),
            throttle,
        })
    }

    /// Whether access control is on (an account exists), as this process last saw it.
    pub fn is_required(&self) -> bool {
        self.required.load(Ordering::Relaxed)
    }

    /// Whether access control is on, asking the database while this process has seen no
    /// account yet: another server process may have run the first-run setup.
    async fn check_required(&self) -> Result<bool, ApiError> {
        if self.is_required() {
            return Ok(true);
        }
        let required = self.users.count().await? > 0;
        if required {
            self.required.store(true, Ordering::Relaxed);
        }
        Ok(required)
    }

    /// Makes sure the `admin` account exists with `password` (from `TVARR_ADMIN_PASSWORD`).
    /// A changed password revokes every session of the account.
    pub async fn ensure_admin(&self, password: &str) -> Result<(), ApiError> {
        match self.users.find_by_username("admin").await? {
            Some(user) if verify_secret(password, &user.password_hash) => {}
            Some(user) => {
                self.users
                    .set_password_hash(user.id, &hash_secret(password)?)
                    .await?;
                tracing::info!(
                    "admin password updated from the configuration; its sessions are revoked"
                );
            }
            None => {
                self.users
                    .create(&admin_input("admin"), &hash_secret(password)?, None)
                    .await?;
                tracing::info!("admin account created from the configuration");
            }
        }
        self.required.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn session_mac(&self, session: Uuid) -> blake3::Hash {
        let message = format!("{SESSION_MAC_CONTEXT}{}", session.simple());
        blake3::keyed_hash(&self.session_key, message.as_bytes())
    }

    /// The cookie value naming `session`: its id and the MAC of it.
    fn sign(&self, session: Uuid) -> String {
        format!(
            "{}.{}",
            session.simple(),
            self.session_mac(session).to_hex()
        )
    }

    /// The session id a cookie value names, if its MAC is right.
    fn session_id(&self, token: &str) -> Option<Uuid> {
        let (id, mac) = token.split_once('.')?;
        let id = Uuid::try_parse(id).ok()?;
        let given: [u8; 32] = unhex(mac)?.try_into().ok()?;
        // blake3::Hash compares in constant time.
        (self.session_mac(id) == blake3::Hash::from(given)).then_some(id)
    }

    /// Starts a session of `user`: the cookie value and when it expires.
    async fn start_session(&self, user: Uuid) -> Result<String, ApiError> {
        let session = self
            .users
            .create_session(user, Utc::now() + SESSION_LIFETIME)
            .await?;
        Ok(self.sign(session.id))
    }

    /// The account a cookie value logs in, with its role as stored now, if its session is
    /// active and the account still exists.
    async fn session_user(&self, token: &str) -> Result<Option<(Uuid, Role)>, ApiError> {
        let Some(id) = self.session_id(token) else {
            return Ok(None);
        };
        let Some(session) = self.users.active_session(id, Utc::now()).await? else {
            return Ok(None);
        };
        match self.users.get(session.user_id).await {
            Ok(user) => Ok(Some((user.id, user.role))),
            Err(tvarr_core::RepoError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends the session a cookie value names (nothing when it names none).
    async fn end_session(&self, token: &str) -> Result<(), ApiError> {
        if let Some(id) = self.session_id(token) {
            self.users.revoke_session(id).await?;
        }
        Ok(())
    }

    /// The id of the active key `key`, `None` when no active key matches, or an error when the
    /// database cannot say (a 503, not a misleading 401 that would make clients drop the key).
    async fn verify_key(&self, key: &str) -> Result<Option<Uuid>, ApiError> {
        let digest = *blake3::hash(key.as_bytes()).as_bytes();
        if let Some(id) = self.verified_keys.get(&digest).await {
            return Ok(Some(id));
        }
        let Some(prefix) = key_prefix(key) else {
            return Ok(None);
        };
        let candidates = self.keys.active_with_prefix(prefix).await?;
        for candidate in candidates {
            if verify_secret(key, &candidate.key_hash) {
                self.verified_keys.insert(digest, candidate.id).await;
                let _ = self.keys.touch(candidate.id, Utc::now()).await;
                return Ok(Some(candidate.id));
            }
        }
        Ok(None)
    }

    /// Who made `req`, or why it is refused.
    pub async fn authenticate(&self, req: &ServiceRequest) -> Result<Principal, ApiError> {
        if !self.check_required().await? {
            return Ok(Principal::Open);
        }
        if let Some(token) = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(bearer_token)
        {
            return match self.verify_key(token).await? {
                Some(id) => Ok(Principal::ApiKey { id }),
                None => Err(ApiError::Unauthorized(
                    "the API key is invalid or revoked".into(),
                )),
            };
        }
        if let Some(cookie) = req.cookie(SESSION_COOKIE)
            && let Some((id, role)) = self.session_user(cookie.value()).await?
        {
            return Ok(Principal::User { id, role });
        }
        Err(ApiError::Unauthorized(
            "log in at POST /api/v1/auth/login or send Authorization: Bearer <api key>".into(),
        ))
    }
}

/// `tvarr_<8 hex>_<secret>`: the prefix is the 8 hex characters.
fn key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("tvarr_")?;
    let prefix = rest.get(..8)?;
    (rest.as_bytes().get(8) == Some(&b'_')).then_some(prefix)
}

/// Middleware body of the protected scopes: every request in them needs credentials once an
/// account exists. Which requests reach it is decided by the router (see the module docs).
pub(crate) async fn guard(req: &ServiceRequest) -> Result<(), ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::Internal(
            "the application state is missing".into(),
        ));
    };
    let principal = state.auth.authenticate(req).await?;
    if let Principal::User {
        role: Role::Viewer, ..
    } = principal
    {
        viewer_may(req)?;
    }
    req.extensions_mut().insert(principal);
    Ok(())
}

/// The routes a viewer may use, by method and route pattern: reading the proxies granted to
/// it (the handlers show it only those) and its own account. Everything else is for admins.
pub(crate) const VIEWER_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/proxies"),
    ("GET", "/api/v1/proxies/{id}"),
    ("GET", "/api/v1/proxies/{id}/channels"),
    ("GET", "/api/v1/users/me"),
];

/// Refuses a viewer's request for anything but [`VIEWER_ROUTES`]. The route is the pattern the
/// router matched, not the path as spelt.
fn viewer_may(req: &ServiceRequest) -> Result<(), ApiError> {
    let method = req.method().as_str();
    let allowed = req.match_pattern().is_some_and(|pattern| {
        VIEWER_ROUTES
            .iter()
            .any(|(m, p)| *m == method && *p == pattern)
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a viewer account may only read the proxies granted to it".into(),
        ))
    }
}

/// The proxies the request may see: `None` for all (an admin, an API key, open access), else
/// those granted to its viewer account.
pub(crate) async fn visible_proxies(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<Vec<tvarr_core::ProxyId>>, ApiError> {
    let principal = req.extensions().get::<Principal>().cloned();
    match principal {
        Some(Principal::User {
            id,
            role: Role::Viewer,
        }) => Ok(Some(state.repos.users.get(id).await?.proxy_ids)),
        _ => Ok(None),
    }
}

/// Login credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Whether access control is on.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthStatus {
    /// Whether `/api/v1` needs credentials.
    pub required: bool,
}

/// Whether the API needs credentials.
#[utoipa::path(tag = "auth", responses((status = 200, body = AuthStatus)))]
#[get("/auth/status")]
pub async fn status(state: web::Data<AppState>) -> ApiResult<web::Json<AuthStatus>> {
    Ok(web::Json(AuthStatus {
        required: state.auth.check_required().await?,
    }))
}

/// First-run setup: creates the admin account. Refused once any account exists.
#[utoipa::path(tag = "auth", request_body = LoginBody, responses((status = 201), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/auth/setup")]
pub async fn setup(
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    if state.auth.is_required() || state.repos.users.count().await? > 0 {
        return Err(ApiError::Conflict(
            "an account already exists; log in instead".into(),
        ));
    }
    let body = body.into_inner();
    if body.username.trim().is_empty() {
        return Err(ApiError::field("username", "must not be empty"));
    }
    if body.password.chars().count() < 8 {
        return Err(ApiError::field("password", "must be at least 8 characters"));
    }
    state
        .repos
        .users
        .create(
            &admin_input(body.username.trim()),
            &hash_secret(&body.password)?,
            None,
        )
        .await?;
    state.auth.required.store(true, Ordering::Relaxed);
    tracing::info!(username = %body.username.trim(), "admin account created by first-run setup");
    Ok(HttpResponse::Created().finish())
}

/// An admin account named `username`, with no grants (an admin watches every proxy) and no
/// stream limit.
fn admin_input(username: &str) -> tvarr_core::UserInput {
    tvarr_core::UserInput {
        username: username.to_owned(),
        role: Role::Admin,
        proxy_ids: Vec::new(),
        max_streams: None,
    }
}

/// An argon2 hash of a password nobody has, verified against when the user name is unknown.
pub(crate) fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_secret("no such user: equalises login timing").unwrap_or_default())
}

/// Logs in and sets the session cookie. After too many failed attempts on one account name or
/// from one address the answer is 429 with `Retry-After`, whatever the password.
#[utoipa::path(tag = "auth", request_body = LoginBody, responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds to wait")))))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    let username = body.username.trim();
    if !crate::users::plausible_username(username) {
        // No account has this name, and the database need not see it (PostgreSQL refuses
        // NUL in text).
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    }
    let attempt = state
        .auth
        .throttle
        .admit(username, req.peer_addr().map(|a| a.ip()))
        .await?;
    let user = state.repos.users.find_by_username(username).await?;
    let user = match user {
        Some(user) => Some(user).filter(|u| verify_secret(&body.password, &u.password_hash)),
        None => {
            // Spend the same argon2 time on an unknown name as on a wrong password, so the
            // answer's timing does not tell which user names exist.
            let _ = verify_secret(&body.password, unknown_user_hash());
            None
        }
    };
    let Some(user) = user else {
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    };
    state.auth.throttle.succeeded(&attempt).await?;
    let token = state.auth.start_session(user.id).await?;
    let cookie = Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            SESSION_LIFETIME.num_seconds(),
        ))
        .finish();
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

/// Logs out: revokes the session the cookie names, everywhere at once, and clears the cookie.
/// Public, so an expired or revoked session can still clear its cookie.
#[utoipa::path(tag = "auth", responses((status = 204)))]
#[post("/auth/logout")]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        state.auth.end_session(cookie.value()).await?;
    }
    let mut cookie = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    cookie.make_removal();
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

/// The body that creates an API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyBody {
    /// A name to recognise the key by.
    pub name: String,
}

/// An API key as listed (without the key).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The key's first characters (`tvarr_<prefix>_…`).
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new API key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key, to send as `Authorization: Bearer <key>`.
    pub key: String,
    /// The stored record.
    #[serde(flatten)]
    pub record: ApiKeyView,
}

/// API keys, newest first, revoked ones included.
#[utoipa::path(tag = "auth", params(PageParams), responses((status = 200, body = ListResponse<ApiKeyView>)))]
#[get("/auth/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<ApiKeyView>>> {
    let page = page.request()?;
    let keys = state.repos.api_keys.list().await?;
    let total = u64::try_from(keys.len()).unwrap_or(u64::MAX);
    let items = keys
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .map(ApiKeyView::from)
        .collect();
    Ok(web::Json(ListResponse { items, total }))
}

/// Creates an API key.
#[utoipa::path(tag = "auth", request_body = NewApiKeyBody, responses((status = 201, body = CreatedApiKey)))]
#[post("/auth/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    body: web::Json<NewApiKeyBody>,
) -> ApiResult<HttpResponse> {
    let name = body.name.trim();
    // The limits every name is held to (1 to 200 characters, no control characters).
    let mut errors = Vec::new();
    tvarr_core::limits::check_name("name", name, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let bytes = random_bytes();
    let prefix = hex(&bytes[..4]);
    let key = format!("tvarr_{prefix}_{}", hex(&bytes[4..]));
    let record = state
        .repos
        .api_keys
        .create(name, &prefix, &hash_secret(&key)?)
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiKey {
        key,
        record: record.into(),
    }))
}

/// Revokes an API key.
#[utoipa::path(tag = "auth", params(("id" = String, Path, description = "key id")), responses((status = 200, body = ApiKeyView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/auth/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ApiKeyView>> {
    let key = state.repos.api_keys.revoke(id.into_inner()).await?;
    state.auth.verified_keys.invalidate_all();
    Ok(web::Json(key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_secret("correct horse").unwrap();
        let b = hash_secret("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(verify_secret("correct horse", &a));
        assert!(!verify_secret("wrong horse", &a));
        assert!(!verify_secret("x", "not a phc string"));
    }

    #[test]
    fn key_prefix_needs_the_shape() {
        assert_eq!(key_prefix("tvarr_0123abcd_ffff"), Some("0123abcd"));
        assert_eq!(key_prefix("tvarr_0123abcdffff"), None);
        assert_eq!(key_prefix("other_0123abcd_ffff"), None);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            unhex(&hex(&[0, 1, 254, 255])).unwrap(),
            vec![0, 1, 254, 255]
        );
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }
}
