//! Users beyond the single admin: `users.output_password_hash` (the argon2 hash of what a
//! player app is given, never the login password), `users.max_streams`, and
//! `user_proxy_grants`, the ordered proxies a viewer may watch.

use sea_orm_migration::prelude::*;

/// Adds the output password and stream limit of users, and their proxy grants.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000003_user_access"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            ColumnDef::new("output_password_hash").text().null().take(),
            ColumnDef::new("max_streams").integer().null().take(),
        ] {
            manager
                .alter_table(Table::alter().table("users").add_column(column).take())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("user_proxy_grants")
                    .col(ColumnDef::new("user_id").string_len(36).not_null())
                    .col(ColumnDef::new("position").integer().not_null())
                    .col(ColumnDef::new("proxy_id").string_len(36).not_null())
                    .primary_key(Index::create().col("user_id").col("position"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("user_proxy_grants", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("user_proxy_grants", "proxy_id")
                            .to("proxies", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_user_proxy_grants")
                    .table("user_proxy_grants")
                    .col("user_id")
                    .col("proxy_id")
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_proxy_grants_proxy")
                    .table("user_proxy_grants")
                    .col("proxy_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("user_proxy_grants").take())
            .await?;
        for column in ["max_streams", "output_password_hash"] {
            manager
                .alter_table(Table::alter().table("users").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
