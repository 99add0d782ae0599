//! A relay profile's encoder tuning: `preset`, the encoding speed (`ultrafast` … `veryslow`;
//! NULL: the relay's default), and `extra_args`, the encoder-tuning FFmpeg options a person
//! adds, as a JSON list of strings (NULL: none, since TEXT cannot have a default on MySQL).

use sea_orm_migration::prelude::*;

/// Adds `relay_profiles.preset` and `relay_profiles.extra_args`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_relay_profile_tuning"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            ColumnDef::new("preset").string_len(32).null().take(),
            ColumnDef::new("extra_args").text().null().take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("relay_profiles")
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["extra_args", "preset"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("relay_profiles")
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
