//! Login sessions kept in the database, so logging out and changing a password end them at once
//! in every server process: `sessions` (id, user, created, expires, revoked).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `sessions`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000101_sessions"
    }
}

/// A UTC timestamp column as the first migration defines them (`DATETIME(6)` on MySQL, whose
/// `TIMESTAMP` ends in 2038).
fn ts(backend: DbBackend, name: &'static str, null: bool) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("DATETIME(6)"),
        _ => col.timestamp_with_time_zone(),
    };
    if null {
        col.null();
    } else {
        col.not_null();
    }
    col.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(ColumnDef::new("id").string_len(36).not_null().primary_key())
                    .col(ColumnDef::new("user_id").string_len(36).not_null())
                    .col(ts(backend, "created_at", false))
                    .col(ts(backend, "expires_at", false))
                    .col(ts(backend, "revoked_at", true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from("sessions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        for (name, col) in [
            ("idx_sessions_user", "user_id"),
            ("idx_sessions_expires", "expires_at"),
        ] {
            manager
                .create_index(Index::create().name(name).table("sessions").col(col).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sessions").if_exists().take())
            .await
    }
}
