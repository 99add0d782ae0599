//! A proxy's HDHomeRun settings: `tuner_count`, the tuners its emulated devices announce
//! (`TunerCount`), and `hdhomerun_channels_per_device`, the most channels one emulated device
//! carries (0: one device carries them all), since Plex stops at about 480 per tuner device.

use sea_orm_migration::prelude::*;

/// Adds `proxies.tuner_count` and `proxies.hdhomerun_channels_per_device`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000002_hdhomerun"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for (column, default) in [("tuner_count", 4), ("hdhomerun_channels_per_device", 0)] {
            manager
                .alter_table(
                    Table::alter()
                        .table("proxies")
                        .add_column(ColumnDef::new(column).integer().not_null().default(default))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["hdhomerun_channels_per_device", "tuner_count"] {
            manager
                .alter_table(Table::alter().table("proxies").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
