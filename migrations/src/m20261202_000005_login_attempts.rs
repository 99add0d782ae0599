//! Failed login attempts counted in the database, so every server process throttles the same
//! count: `login_attempts` (key, window_started_ms, attempts).

use sea_orm_migration::prelude::*;

/// Creates `login_attempts`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000005_login_attempts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("login_attempts")
                    // `account:<name>` or `address:<ip>`; names are at most 200 characters.
                    .col(
                        ColumnDef::new("attempt_key")
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    // Milliseconds since the epoch: one integer type on every database.
                    .col(ColumnDef::new("window_started_ms").big_integer().not_null())
                    .col(ColumnDef::new("attempts").big_integer().not_null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_attempts_window")
                    .table("login_attempts")
                    .col("window_started_ms")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("login_attempts").if_exists().take())
            .await
    }
}
