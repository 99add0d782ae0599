//! What the generation of a proxy needs besides its lineup: a job's result
//! (`jobs.result`, JSON text), and a proxy's generation settings and state: its per-group
//! starting numbers (JSON text), the grace period of removed numbers, the guide window, the
//! removal guard, its cron schedule, the last generation's summary (JSON text, NULL before the
//! first) and the flag that forces its next generation past the removal guard.
//!
//! On MySQL/MariaDB it also gives `programmes.channel` the binary collation: guide channel ids
//! are compared exactly, and a generation reads programmes by channel through its index, so
//! `a.tv` and `A.tv` must neither be equal nor interleave (the database's default collation
//! ignores case). SQLite compares bytes, and equality is exact on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Adds `jobs.result` and the generation columns of `proxies`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_generation"
    }
}

/// The new columns of `proxies`, with defaults that fill the rows of existing proxies.
fn proxy_columns() -> Vec<ColumnDef> {
    vec![
        // TEXT cannot have a default on MySQL: NULL reads as "no group starts".
        ColumnDef::new("group_starting_numbers")
            .text()
            .null()
            .take(),
        ColumnDef::new("number_grace_days")
            .integer()
            .not_null()
            .default(7)
            .take(),
        ColumnDef::new("epg_days_past")
            .integer()
            .not_null()
            .default(1)
            .take(),
        ColumnDef::new("epg_days_ahead")
            .integer()
            .not_null()
            .default(7)
            .take(),
        ColumnDef::new("max_removed_percent")
            .integer()
            .not_null()
            .default(50)
            .take(),
        ColumnDef::new("update_cron").string_len(255).null().take(),
        ColumnDef::new("last_generation").text().null().take(),
        ColumnDef::new("force_next_generation")
            .boolean()
            .not_null()
            .default(false)
            .take(),
    ]
}

const PROXY_COLUMNS: [&str; 8] = [
    "group_starting_numbers",
    "number_grace_days",
    "epg_days_past",
    "epg_days_ahead",
    "max_removed_percent",
    "update_cron",
    "last_generation",
    "force_next_generation",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .add_column(ColumnDef::new("result").text().null())
                    .take(),
            )
            .await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for mut column in proxy_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table("proxies")
                        .add_column(&mut column)
                        .take(),
                )
                .await?;
        }
        if manager.get_database_backend() == DbBackend::MySql {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE programmes MODIFY channel VARCHAR(255) \
                     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::MySql {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE programmes MODIFY channel VARCHAR(255) NOT NULL")
                .await?;
        }
        for column in PROXY_COLUMNS.iter().rev() {
            manager
                .alter_table(Table::alter().table("proxies").drop_column(*column).take())
                .await?;
        }
        manager
            .alter_table(Table::alter().table("jobs").drop_column("result").take())
            .await
    }
}
