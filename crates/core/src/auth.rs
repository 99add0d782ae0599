//! Accounts and API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::RepoResult;

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
    /// Stores a new account; a taken username is a conflict.
    async fn create(&self, username: &str, password_hash: &str, role: Role) -> RepoResult<User>;
    /// The account with this login name.
    async fn find_by_username(&self, username: &str) -> RepoResult<Option<User>>;
    /// How many accounts exist.
    async fn count(&self) -> RepoResult<u64>;
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
