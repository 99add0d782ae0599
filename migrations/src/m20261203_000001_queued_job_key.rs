//! One queued job per kind and subject, and one job per schedule firing, enforced by the
//! database:
//! - `jobs.queued_key` (`<kind>:<subject>` while a deduplicated job is queued, NULL otherwise)
//!   under a unique index, so several processes enqueuing the same job at once create it once;
//! - `jobs.firing_key` (`<kind>:<subject>:<due, ms since the epoch>` for a job a schedule
//!   queued, kept after it ends) under a unique index, so the schedulers of several processes,
//!   whatever their clocks say, queue one job per firing.
//!
//! NULLs do not collide in a unique index on SQLite, PostgreSQL or MariaDB, so only queued jobs
//! take part. Jobs queued before this migration keep a NULL key (they are still found by the
//! check that precedes the insert).

use sea_orm_migration::prelude::*;

/// Adds `jobs.queued_key` and `jobs.firing_key`, each with a unique index.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_queued_job_key"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    // A kind (at most 32 characters), a colon and a 36-character UUID.
                    .add_column(ColumnDef::new("queued_key").string_len(80).null())
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .add_column(ColumnDef::new("firing_key").string_len(100).null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_firing_key")
                    .table("jobs")
                    .col("firing_key")
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_queued_key")
                    .table("jobs")
                    .col("queued_key")
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_jobs_firing_key")
                    .table("jobs")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .drop_column("firing_key")
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_jobs_queued_key")
                    .table("jobs")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .drop_column("queued_key")
                    .take(),
            )
            .await
    }
}
