//! Published outputs kept in the database, for processes that share no directory (workers on
//! other machines): `published_outputs` (per proxy and kind, the current version with its
//! etag, time and lengths) and `published_output_chunks` (the bytes of each version, plain and
//! gzip, in chunks of at most 1 MiB, far below MySQL/MariaDB's `max_allowed_packet`).
//!
//! Both belong to their proxy (deleted with it). Chunks are written before the output row
//! names their version, so the row is the commit point.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `published_outputs` and `published_output_chunks`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000003_published_outputs"
    }
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
        let mut modified = ColumnDef::new("modified_at");
        match backend {
            DbBackend::MySql => modified.custom("DATETIME(6)"),
            _ => modified.timestamp_with_time_zone(),
        };
        modified.not_null();
        manager
            .create_table(
                Table::create()
                    .table("published_outputs")
                    .col(ColumnDef::new("proxy_id").string_len(36).not_null())
                    .col(ColumnDef::new("kind").string_len(16).not_null())
                    .col(ColumnDef::new("version").string_len(36).not_null())
                    .col(ColumnDef::new("etag").string_len(64).not_null())
                    .col(&mut modified)
                    .col(ColumnDef::new("len").big_integer().not_null())
                    .col(ColumnDef::new("gzip_len").big_integer().not_null())
                    .primary_key(Index::create().col("proxy_id").col("kind"))
                    .foreign_key(&mut owned_by_proxy("published_outputs"))
                    .take(),
            )
            .await?;
        let mut data = ColumnDef::new("data");
        match backend {
            // MySQL's BLOB holds 64 KiB; MEDIUMBLOB 16 MiB.
            DbBackend::MySql => data.custom("MEDIUMBLOB"),
            _ => data.blob(),
        };
        data.not_null();
        manager
            .create_table(
                Table::create()
                    .table("published_output_chunks")
                    .col(ColumnDef::new("version").string_len(36).not_null())
                    .col(ColumnDef::new("encoding").string_len(8).not_null())
                    .col(ColumnDef::new("seq").integer().not_null())
                    .col(ColumnDef::new("proxy_id").string_len(36).not_null())
                    .col(ColumnDef::new("kind").string_len(16).not_null())
                    .col(&mut data)
                    .primary_key(Index::create().col("version").col("encoding").col("seq"))
                    .foreign_key(&mut owned_by_proxy("published_output_chunks"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_published_output_chunks_proxy")
                    .table("published_output_chunks")
                    .col("proxy_id")
                    .col("kind")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["published_output_chunks", "published_outputs"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
