//! Jobs count the records they handled (channels, programmes) beside the bytes or units of
//! their stage: `jobs.records`, NULL for jobs that count none.

use sea_orm_migration::prelude::*;

/// Adds `jobs.records`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_job_records"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .add_column(ColumnDef::new("records").big_integer().null())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("jobs").drop_column("records").take())
            .await
    }
}
