//! Cached logos' records.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, QuerySelect};
use tvarr_core::{Logo, LogoId, LogoRepository, Page, PageRequest, RepoResult};

use crate::db::{Db, micros, not_found, parse_id, to_i64, to_u64};
use crate::entity::logo;
use crate::error::repo_err;

/// Logos on the database: implements [`LogoRepository`].
#[derive(Clone, Debug)]
pub struct Logos {
    db: Db,
}

impl Logos {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn logo_from_model(m: logo::Model) -> RepoResult<Logo> {
    Ok(Logo {
        id: parse_id("logo id", &m.id)?,
        source_url: m.source_url,
        width: u32::try_from(m.width).unwrap_or(0),
        height: u32::try_from(m.height).unwrap_or(0),
        byte_size: to_u64(m.byte_size),
        cached_at: m.cached_at,
    })
}

#[async_trait]
impl LogoRepository for Logos {
    async fn upsert(&self, l: &Logo) -> RepoResult<()> {
        let model = logo::Model {
            id: l.id.to_string(),
            source_url: l.source_url.clone(),
            width: i32::try_from(l.width).unwrap_or(i32::MAX),
            height: i32::try_from(l.height).unwrap_or(i32::MAX),
            byte_size: to_i64(l.byte_size),
            cached_at: micros(l.cached_at),
        };
        logo::Entity::insert(logo::ActiveModel::from(model))
            .on_conflict(
                OnConflict::column(logo::Column::Id)
                    .update_columns([
                        logo::Column::SourceUrl,
                        logo::Column::Width,
                        logo::Column::Height,
                        logo::Column::ByteSize,
                        logo::Column::CachedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn get(&self, id: LogoId) -> RepoResult<Logo> {
        let model = logo::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("logo", id))?;
        logo_from_model(model)
    }

    async fn list(&self, page: PageRequest) -> RepoResult<Page<Logo>> {
        let total = logo::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = logo::Entity::find()
            .order_by_desc(logo::Column::CachedAt)
            .order_by_asc(logo::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(logo_from_model)
            .collect::<RepoResult<Vec<_>>>()?;
        Ok(Page { items, total })
    }

    async fn delete(&self, id: LogoId) -> RepoResult<()> {
        let result = logo::Entity::delete_by_id(id.to_string())
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("logo", id));
        }
        Ok(())
    }
}
