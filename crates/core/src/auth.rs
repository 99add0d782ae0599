//! Accounts and API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::RepoResult;
use crate::id::ProxyId;
use crate::repository::{Page, PageRequest};

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Everything.
    Admin,
    /// Watch the proxies granted to it.
    Viewer,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An account. The password is kept only as an argon2 hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// PHC-format argon2 hash of the password.
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// What the account may do.
    pub role: Role,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The proxies a viewer may watch, in order: the first is the one the Xtream API at the
    /// root serves. An admin may watch every proxy whatever this holds.
    pub proxy_ids: Vec<ProxyId>,
    /// argon2 hash of the output password, what a player app is given (never the login
    /// password); `None` when none is set or it was revoked.
    #[serde(skip_serializing)]
    pub output_password_hash: Option<String>,
    /// The most streams the account may watch at once; `None`: no limit of its own.
    pub max_streams: Option<u32>,
}

impl User {
    /// Whether the account may watch `proxy`: an admin every proxy, a viewer those granted.
    pub fn may_watch(&self, proxy: ProxyId) -> bool {
        self.role == Role::Admin || self.proxy_ids.contains(&proxy)
    }
}

/// What a caller sets of an account, besides its secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInput {
    /// Login name, unique.
    pub username: String,
    /// What the account may do.
    pub role: Role,
    /// The proxies granted, in order (see [`User::proxy_ids`]).
    pub proxy_ids: Vec<ProxyId>,
    /// The most streams at once; `None`: no limit of its own.
    pub max_streams: Option<u32>,
}

/// An API key. The key itself is shown once at creation; only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Id.
    pub id: Uuid,
    /// A name for people.
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    /// argon2 hash of the key.
    #[serde(skip_serializing)]
    pub key_hash: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used to authenticate.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A login session. The session cookie names it; it authenticates only while it is neither
/// revoked nor expired, so logging out or changing the password ends it at once, in every
/// server process sharing the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Id (carried, signed, in the session cookie).
    pub id: Uuid,
    /// The account it logs in.
    pub user_id: Uuid,
    /// Created (at login).
    pub created_at: DateTime<Utc>,
    /// It authenticates nothing after this.
    pub expires_at: DateTime<Utc>,
    /// Revoked (logout, password change); a revoked session authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Accounts and their login sessions.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account with its password hash and, when given, its output password's
    /// hash; a taken username is a conflict, a granted proxy that does not exist is not found.
    async fn create(
        &self,
        input: &UserInput,
        password_hash: &str,
        output_password_hash: Option<&str>,
    ) -> RepoResult<User>;
    /// One account.
    async fn get(&self, id: Uuid) -> RepoResult<User>;
    /// The account with this login name.
    async fn find_by_username(&self, username: &str) -> RepoResult<Option<User>>;
    /// Accounts by login name.
    async fn list(&self, page: PageRequest) -> RepoResult<Page<User>>;
    /// Replaces what `input` holds of an account (its grants in the given order), keeping its
    /// secrets and sessions.
    async fn update(&self, id: Uuid, input: &UserInput) -> RepoResult<User>;
    /// Deletes an account with its sessions and grants.
    async fn delete(&self, id: Uuid) -> RepoResult<()>;
    /// How many accounts exist.
    async fn count(&self) -> RepoResult<u64>;
    /// How many accounts have `role`.
    async fn count_role(&self, role: Role) -> RepoResult<u64>;
    /// Sets or (with `None`) revokes an account's output password hash.
    async fn set_output_password_hash(&self, id: Uuid, hash: Option<&str>) -> RepoResult<()>;
    /// Replaces an account's password hash and revokes every session of the account, in one
    /// transaction.
    async fn set_password_hash(&self, id: Uuid, password_hash: &str) -> RepoResult<()>;
    /// Starts a session of `user_id` that ends at `expires_at`; sessions expired before now
    /// are deleted on the way.
    async fn create_session(&self, user_id: Uuid, expires_at: DateTime<Utc>)
    -> RepoResult<Session>;
    /// The session `id` if it is neither revoked nor expired at `now`.
    async fn active_session(&self, id: Uuid, now: DateTime<Utc>) -> RepoResult<Option<Session>>;
    /// Revokes the session `id` (no error when it is unknown or already revoked).
    async fn revoke_session(&self, id: Uuid) -> RepoResult<()>;
    /// Revokes every session of `user_id`; returns how many were active.
    async fn revoke_sessions_of(&self, user_id: Uuid) -> RepoResult<u64>;
    /// Counts a login attempt under `key` (an account name, a client address) at `now`, in
    /// the same count for every process: returns the window it falls in, this attempt
    /// included. A window lasts `window` from its first attempt; the first attempt after it
    /// ends starts a new one. Windows that ended are deleted on the way.
    async fn count_login_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> RepoResult<LoginWindow>;
    /// Forgets the attempts counted under `key` (an account that logged in).
    async fn clear_login_attempts(&self, key: &str) -> RepoResult<()>;
    /// Takes one attempt back from `key`'s count, if it has any (an address whose attempt
    /// logged in).
    async fn take_back_login_attempt(&self, key: &str) -> RepoResult<()>;
}

/// The login attempts counted under one key since its window started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginWindow {
    /// Attempts in this window, the last one counted included.
    pub attempts: u32,
    /// When the window's first attempt came.
    pub started: DateTime<Utc>,
}

/// API keys.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a new key.
    async fn create(&self, name: &str, prefix: &str, key_hash: &str) -> RepoResult<ApiKey>;
    /// Keys, newest first, revoked ones included.
    async fn list(&self) -> RepoResult<Vec<ApiKey>>;
    /// Keys that are not revoked and start with `prefix`.
    async fn active_with_prefix(&self, prefix: &str) -> RepoResult<Vec<ApiKey>>;
    /// Records a use.
    async fn touch(&self, id: Uuid, at: DateTime<Utc>) -> RepoResult<()>;
    /// Revokes a key.
    async fn revoke(&self, id: Uuid) -> RepoResult<ApiKey>;
}
