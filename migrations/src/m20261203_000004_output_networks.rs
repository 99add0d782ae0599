//! A proxy's `allowed_networks`: the client networks that may load its outputs (NULL: any),
//! as a comma-separated list of networks (`192.168.1.0/24,fd00::/8`).

use sea_orm_migration::prelude::*;

/// Adds `proxies.allowed_networks`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000004_output_networks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("proxies")
                    .add_column(ColumnDef::new("allowed_networks").text().null())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("proxies")
                    .drop_column("allowed_networks")
                    .take(),
            )
            .await
    }
}
