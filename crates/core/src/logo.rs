//! Cached logos.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::LogoId;

/// A logo cached on disk, converted to PNG.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logo {
    /// Derived from the normalised URL.
    pub id: LogoId,
    /// The URL the logo was fetched from (empty for uploads).
    pub source_url: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the PNG in bytes.
    pub byte_size: u64,
    /// When it was fetched or uploaded.
    pub cached_at: DateTime<Utc>,
}

/// Cached logos' records (the images themselves live on disk, owned by the logo cache).
#[async_trait::async_trait]
pub trait LogoRepository: Send + Sync {
    /// Stores or replaces the record of a logo.
    async fn upsert(&self, logo: &Logo) -> crate::error::RepoResult<()>;
    /// One logo.
    async fn get(&self, id: LogoId) -> crate::error::RepoResult<Logo>;
    /// Logos, newest first.
    async fn list(
        &self,
        page: crate::repository::PageRequest,
    ) -> crate::error::RepoResult<crate::repository::Page<Logo>>;
    /// Forgets a logo.
    async fn delete(&self, id: LogoId) -> crate::error::RepoResult<()>;
}
