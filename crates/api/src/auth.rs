//! Access control: an admin account, login sessions, and bearer API keys.
//!
//! Until an account exists the API is open (and `/health` and the log say so loudly). Once one
//! exists, every `/api/v1/*` route except login and setup needs either the session cookie from
//! `POST /api/v1/auth/login` or `Authorization: Bearer <api key>`.
//!
//! Passwords and API keys are stored as argon2 hashes and checked in constant time by argon2.
//! Sessions are stateless tokens (user id, expiry) signed with a keyed blake3 MAC, so several
//! server processes sharing the key accept each other's sessions. A key that verified recently
//! is remembered (by its blake3 digest) for a minute, so API clients do not pay argon2 on every
//! request; revoking a key forgets them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpMessage, HttpResponse, delete, get, post, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{ApiKey, ApiKeyRepository, Role, UserRepository};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tvarr_session";
const SESSION_LIFETIME: chrono::Duration = chrono::Duration::days(7);

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

/// The authentication state shared by handlers and the middleware.
pub struct Authenticator {
    users: Arc<dyn UserRepository>,
    keys: Arc<dyn ApiKeyRepository>,
    session_key: [u8; 32],
    required: AtomicBool,
    verified_keys: moka::future::Cache<[u8; 32], Uuid>,
}

fn random_bytes() -> [u8; 32] {
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

impl Authenticator {
    /// A new authenticator. `session_key` signs session tokens; keep it stable across restarts
    /// (and shared between server processes) so sessions survive them.
    pub async fn new(
        users: Arc<dyn UserRepository>,
        keys: Arc<dyn ApiKeyRepository>,
        session_key: [u8; 32],
    ) -> Result<Self, ApiError> {
        let required = users.count().await? > 0;
        Ok(Self {
            users,
            keys,
            session_key,
            required: AtomicBool::new(required),
            verified_keys: moka::future::Cache::builder()
                .max_capacity(1024)
                .time_to_live(Duration::from_secs(60))
                .build(),
        })
    }

    /// Whether access control is on (an account exists).
    pub fn is_required(&self) -> bool {
        self.required.load(Ordering::Relaxed)
    }

    /// Makes sure the `admin` account exists with `password` (from `TVARR_ADMIN_PASSWORD`).
    pub async fn ensure_admin(&self, password: &str) -> Result<(), ApiError> {
        match self.users.find_by_username("admin").await? {
            Some(user) if verify_secret(password, &user.password_hash) => {}
            Some(user) => {
                self.users
                    .set_password_hash(user.id, &hash_secret(password)?)
                    .await?;
                tracing::info!("admin password updated from the configuration");
            }
            None => {
                self.users
                    .create("admin", &hash_secret(password)?, Role::Admin)
                    .await?;
                tracing::info!("admin account created from the configuration");
            }
        }
        self.required.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn sign(&self, user: Uuid, expires: i64) -> String {
        let payload = format!("{}.{expires}", user.simple());
        let mac = blake3::keyed_hash(&self.session_key, payload.as_bytes());
        format!("{payload}.{}", mac.to_hex())
    }

    fn verify_session(&self, token: &str) -> Option<Uuid> {
        let mut parts = token.split('.');
        let (user, expires, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected =
            blake3::keyed_hash(&self.session_key, format!("{user}.{expires}").as_bytes());
        let given: [u8; 32] = unhex(mac)?.try_into().ok()?;
        // blake3::Hash compares in constant time.
        if expected != blake3::Hash::from(given) {
            return None;
        }
        if expires.parse::<i64>().ok()? < Utc::now().timestamp() {
            return None;
        }
        Uuid::parse_str(user).ok()
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
        if !self.is_required() {
            return Ok(Principal::Open);
        }
        if let Some(header) = req.headers().get("authorization")
            && let Ok(value) = header.to_str()
            && let Some(token) = value.strip_prefix("Bearer ").map(str::trim)
        {
            return match self.verify_key(token).await? {
                Some(id) => Ok(Principal::ApiKey { id }),
                None => Err(ApiError::Unauthorized(
                    "the API key is invalid or revoked".into(),
                )),
            };
        }
        if let Some(cookie) = req.cookie(SESSION_COOKIE)
            && let Some(user) = self.verify_session(cookie.value())
        {
            return Ok(Principal::User {
                id: user,
                role: Role::Admin,
            });
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

/// Paths that never need credentials under `/api/v1`.
pub(crate) fn is_public_api_path(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/auth/login"
            | "/api/v1/auth/setup"
            | "/api/v1/auth/status"
            | "/api/v1/openapi.json"
    )
}

/// Middleware body: checks credentials on `/api/v1/*`.
pub(crate) async fn guard(req: &ServiceRequest) -> Result<(), ApiError> {
    let path = req.path();
    if !path.starts_with("/api/v1/") || is_public_api_path(path) {
        return Ok(());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(());
    };
    let principal = state.auth.authenticate(req).await?;
    req.extensions_mut().insert(principal);
    Ok(())
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
pub async fn status(state: web::Data<AppState>) -> web::Json<AuthStatus> {
    web::Json(AuthStatus {
        required: state.auth.is_required(),
    })
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
            body.username.trim(),
            &hash_secret(&body.password)?,
            Role::Admin,
        )
        .await?;
    state.auth.required.store(true, Ordering::Relaxed);
    tracing::info!(username = %body.username.trim(), "admin account created by first-run setup");
    Ok(HttpResponse::Created().finish())
}

/// An argon2 hash of a password nobody has, verified against when the user name is unknown.
fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_secret("no such user: equalises login timing").unwrap_or_default())
}

/// Logs in and sets the session cookie.
#[utoipa::path(tag = "auth", request_body = LoginBody, responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    let user = state
        .repos
        .users
        .find_by_username(body.username.trim())
        .await?;
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
    let expires = Utc::now() + SESSION_LIFETIME;
    let token = state.auth.sign(user.id, expires.timestamp());
    let cookie = Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(7))
        .finish();
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

/// Logs out (clears the session cookie).
#[utoipa::path(tag = "auth", responses((status = 204)))]
#[post("/auth/logout")]
pub async fn logout() -> HttpResponse {
    let mut cookie = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    cookie.make_removal();
    HttpResponse::NoContent().cookie(cookie).finish()
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

/// API keys, newest first.
#[utoipa::path(tag = "auth", responses((status = 200, body = Vec<ApiKeyView>)))]
#[get("/auth/api-keys")]
pub async fn list_api_keys(state: web::Data<AppState>) -> ApiResult<web::Json<Vec<ApiKeyView>>> {
    let keys = state.repos.api_keys.list().await?;
    Ok(web::Json(keys.into_iter().map(ApiKeyView::from).collect()))
}

/// Creates an API key.
#[utoipa::path(tag = "auth", request_body = NewApiKeyBody, responses((status = 201, body = CreatedApiKey)))]
#[post("/auth/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    body: web::Json<NewApiKeyBody>,
) -> ApiResult<HttpResponse> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
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
    fn hex_round_trips() {
        assert_eq!(
            unhex(&hex(&[0, 1, 254, 255])).unwrap(),
            vec![0, 1, 254, 255]
        );
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }
}
