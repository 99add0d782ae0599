//! A stream source's `max_connections`: how many connections its provider account allows at
//! once (NULL: no limit). The relay refuses a channel of a source that has that many open.

use sea_orm_migration::prelude::*;

/// Adds `stream_sources.max_connections`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000002_source_max_connections"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("stream_sources")
                    .add_column(ColumnDef::new("max_connections").integer().null().take())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("stream_sources")
                    .drop_column("max_connections")
                    .take(),
            )
            .await
    }
}
