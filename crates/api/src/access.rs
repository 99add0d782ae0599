//! Who may load a proxy's outputs: its playlist, guide, streams, HDHomeRun devices and Xtream
//! API.
//!
//! A player cannot log in, so an output request carries an account's name and its **output
//! password** (never the login password): as `?username=&password=` on the playlist, guide,
//! stream and HDHomeRun URLs, or in the path of the Xtream API's. The rule:
//!
//! - credentials given: they must be right (else 401), and the account must be an admin or a
//!   viewer granted the proxy (else 403);
//! - no credentials: allowed while no viewer account exists (the single-user home default,
//!   where a playlist URL is all a player needs), refused with 401 once one does.
//!
//! Checking a password costs an argon2 hash, so an account whose credentials verified is
//! remembered for [`VERIFIED_FOR`] by a blake3 digest of its name and password: a player app
//! that polls costs no database work and no argon2. Any change of an account in this process
//! (an edit, a new or revoked output password, a deletion) forgets them all at once; another
//! server process sharing the database may accept the old credentials for up to that long.
//! Whether a viewer exists is likewise remembered for [`VIEWERS_CHECKED_EVERY`].
//!
//! Wrong output passwords count as failed logins of the account name and the client address,
//! with the login's limits (see the `auth` module): guessing one is as slow as guessing a
//! login password.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tvarr_core::{IpNetwork, ProxyId, ProxyRepository, RepoError, Role, User, UserRepository};

use crate::auth::{LoginThrottle, unknown_user_hash, verify_secret};
use crate::error::ApiError;

/// How long verified output credentials are remembered.
pub const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// How long the answer to "does a viewer account exist" is remembered.
pub const VIEWERS_CHECKED_EVERY: Duration = Duration::from_secs(10);

/// An account's name and output password, as a player sent them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Credentials {
    /// The account name.
    pub username: String,
    /// Its output password.
    pub password: String,
}

impl Credentials {
    /// The credentials of a query string (`username` and `password`, both needed), if it has
    /// them. Other parameters are ignored.
    pub fn from_query(query: &str) -> Option<Self> {
        let mut username = None;
        let mut password = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "username" => username = Some(value.into_owned()),
                "password" => password = Some(value.into_owned()),
                _ => {}
            }
        }
        Some(Self {
            username: username?,
            password: password?,
        })
    }

    /// The query string that carries these credentials: `username=…&password=…`.
    pub fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("username", &self.username)
            .append_pair("password", &self.password)
            .finish()
    }

    fn digest(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"tvarr output credentials v1:");
        hasher.update(&(self.username.len() as u64).to_le_bytes());
        hasher.update(self.username.as_bytes());
        hasher.update(self.password.as_bytes());
        *hasher.finalize().as_bytes()
    }
}

/// Decides who may load outputs (see the module docs).
pub(crate) struct OutputAccess {
    users: Arc<dyn UserRepository>,
    throttle: LoginThrottle,
    verified: moka::future::Cache<[u8; 32], Arc<User>>,
    viewers: moka::future::Cache<(), bool>,
    networks: moka::future::Cache<ProxyId, Arc<Vec<IpNetwork>>>,
}

impl OutputAccess {
    pub(crate) fn new(users: Arc<dyn UserRepository>) -> Self {
        Self {
            throttle: LoginThrottle {
                users: users.clone(),
            },
            users,
            verified: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(VERIFIED_FOR)
                .build(),
            viewers: moka::future::Cache::builder()
                .max_capacity(1)
                .time_to_live(VIEWERS_CHECKED_EVERY)
                .build(),
            networks: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(VIEWERS_CHECKED_EVERY)
                .build(),
        }
    }

    /// Forgets every verified credential and the viewer count: an account changed.
    pub(crate) fn forget(&self) {
        self.verified.invalidate_all();
        self.viewers.invalidate_all();
    }

    /// Forgets what this process remembers of `proxy`'s allowed networks: it changed.
    pub(crate) async fn forget_proxy(&self, proxy: ProxyId) {
        self.networks.invalidate(&proxy).await;
    }

    /// Refuses `client` (403) when `proxy` allows only other networks. A proxy that does not
    /// exist allows every network (its outputs are a 404 then).
    pub(crate) async fn check_network(
        &self,
        proxies: &dyn ProxyRepository,
        proxy: ProxyId,
        client: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let networks = match self.networks.get(&proxy).await {
            Some(known) => known,
            None => {
                let networks = match proxies.get(proxy).await {
                    Ok(found) => found.input.allowed_networks,
                    Err(RepoError::NotFound { .. }) => Vec::new(),
                    Err(other) => return Err(other.into()),
                };
                let networks = Arc::new(networks);
                self.networks.insert(proxy, networks.clone()).await;
                networks
            }
        };
        if networks.is_empty() || client.is_some_and(|ip| networks.iter().any(|n| n.contains(ip))) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "proxy {proxy}'s outputs may be loaded only from its allowed networks"
        )))
    }

    /// Whether a viewer account exists.
    async fn viewers_exist(&self) -> Result<bool, ApiError> {
        if let Some(known) = self.viewers.get(&()).await {
            return Ok(known);
        }
        let exist = self.users.count_role(Role::Viewer).await? > 0;
        self.viewers.insert((), exist).await;
        Ok(exist)
    }

    /// The account whose name and output password these are, or 401 (429 after too many
    /// failures).
    pub(crate) async fn account(
        &self,
        credentials: &Credentials,
        client: Option<IpAddr>,
    ) -> Result<Arc<User>, ApiError> {
        let digest = credentials.digest();
        if let Some(user) = self.verified.get(&digest).await {
            return Ok(user);
        }
        if !crate::users::plausible_username(&credentials.username)
            || credentials.password.len() > crate::users::PASSWORD_MAX_BYTES
        {
            return Err(ApiError::Unauthorized(
                "wrong user name or output password".into(),
            ));
        }
        let attempt = self.throttle.admit(&credentials.username, client).await?;
        let user = self.users.find_by_username(&credentials.username).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.output_password_hash.as_deref())
            .unwrap_or_else(|| unknown_user_hash());
        // The same argon2 work whether the account exists, has an output password or not.
        let right = verify_secret(&credentials.password, hash);
        match user {
            Some(user) if right && user.output_password_hash.is_some() => {
                self.throttle.succeeded(&attempt).await?;
                let user = Arc::new(user);
                self.verified.insert(digest, user.clone()).await;
                Ok(user)
            }
            _ => Err(ApiError::Unauthorized(
                "wrong user name or output password".into(),
            )),
        }
    }

    /// Whether a request with `credentials` (or none) from `client` may load the outputs of
    /// `proxy`: the account it is made by, `None` when it needs none (no viewer exists).
    pub(crate) async fn admit(
        &self,
        proxy: ProxyId,
        credentials: Option<&Credentials>,
        client: Option<IpAddr>,
    ) -> Result<Option<Arc<User>>, ApiError> {
        let Some(credentials) = credentials else {
            if self.viewers_exist().await? {
                return Err(ApiError::Unauthorized(
                    "this output needs an account: add ?username=<name>&password=<output \
                     password> to its URL"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let user = self.account(credentials, client).await?;
        if !user.may_watch(proxy) {
            return Err(ApiError::Forbidden(format!(
                "account {} is not granted proxy {proxy}",
                user.username
            )));
        }
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_query_and_go_back_into_one() {
        let c = Credentials::from_query("transcode=x&username=ann%20b&password=p%26q").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("ann b", "p&q"));
        assert_eq!(c.query(), "username=ann+b&password=p%26q");
        assert_eq!(Credentials::from_query(&c.query()).unwrap().password, "p&q");
        assert!(Credentials::from_query("username=ann").is_none());
        assert!(Credentials::from_query("").is_none());
    }

    #[test]
    fn the_digest_separates_name_from_password() {
        let a = Credentials {
            username: "ab".into(),
            password: "c".into(),
        };
        let b = Credentials {
            username: "a".into(),
            password: "bc".into(),
        };
        assert_ne!(a.digest(), b.digest());
    }
}
