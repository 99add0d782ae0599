//! A proxy's published lineup and the numbers it holds:
//! - `proxy_lineup_channels` (proxy, channel, number, source, guide id, the published channel
//!   as compact JSON, its guide match as JSON, and a digest of those, by which a publication
//!   rewrites only the rows that changed), keyed by `(proxy_id, channel_id)` and indexed by
//!   `(proxy_id, number)` for listings in number order;
//! - `proxy_held_numbers` (proxy, channel, number, when the channel left), keyed by
//!   `(proxy_id, channel_id)`.
//!
//! Both belong to their proxy (deleted with it). Neither refers to the stream source: a
//! published lineup is what players were given, kept as it is until the next publication even
//! when a source is deleted in between.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `proxy_lineup_channels` and `proxy_held_numbers`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000002_lineups"
    }
}

/// A nullable UTC timestamp column as the first migration defines them (`DATETIME(6)` on
/// MySQL, whose `TIMESTAMP` ends in 2038).
fn ts_null(backend: DbBackend, name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("DATETIME(6)"),
        _ => col.timestamp_with_time_zone(),
    };
    col.null().take()
}

fn id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string_len(36).not_null().take()
}

fn owned_by_proxy(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_proxy"))
        .from(table, "proxy_id")
        .to("proxies", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table("proxy_lineup_channels")
                    .col(id("proxy_id"))
                    .col(id("channel_id"))
                    .col(ColumnDef::new("number").big_integer().not_null())
                    .col(id("source_id"))
                    .col(ColumnDef::new("guide_id").text().not_null())
                    .col(ColumnDef::new("data").text().not_null())
                    .col(ColumnDef::new("guide").text().null())
                    .col(ColumnDef::new("digest").big_integer().not_null())
                    .primary_key(Index::create().col("proxy_id").col("channel_id"))
                    .foreign_key(&mut owned_by_proxy("proxy_lineup_channels"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_proxy_lineup_channels_number")
                    .table("proxy_lineup_channels")
                    .col("proxy_id")
                    .col("number")
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("proxy_held_numbers")
                    .col(id("proxy_id"))
                    .col(id("channel_id"))
                    .col(ColumnDef::new("number").big_integer().not_null())
                    .col(ts_null(backend, "released_at"))
                    .primary_key(Index::create().col("proxy_id").col("channel_id"))
                    .foreign_key(&mut owned_by_proxy("proxy_held_numbers"))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["proxy_held_numbers", "proxy_lineup_channels"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
