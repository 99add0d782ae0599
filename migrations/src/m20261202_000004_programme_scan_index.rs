//! The programme index a generation reads by gains its tie-breaker: `idx_programmes_channel_start`
//! becomes `(source_id, generation, channel, start_at, position)`. A scan reads a source's guide
//! in `(channel, start_at, position)` order; without `position` in the index, SQLite and
//! PostgreSQL sorted each batch's ties in a temporary B-tree (MySQL/MariaDB append the primary
//! key to every secondary index, so there it changes nothing). Rebuilding the index on an
//! upgrade reads the programmes once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Recreates `idx_programmes_channel_start` with `position` last.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000004_programme_scan_index"
    }
}

const INDEX: &str = "idx_programmes_channel_start";

async fn create(manager: &SchemaManager<'_>, cols: &[&'static str]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(INDEX).table("programmes");
    for col in cols {
        stmt.col(*col);
    }
    manager.create_index(stmt).await
}

async fn drop(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let sql = if manager.get_database_backend() == DbBackend::MySql {
        format!("DROP INDEX {INDEX} ON programmes")
    } else {
        format!("DROP INDEX IF EXISTS {INDEX}")
    };
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager).await?;
        create(
            manager,
            &["source_id", "generation", "channel", "start_at", "position"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager).await?;
        create(manager, &["source_id", "generation", "channel", "start_at"]).await
    }
}
