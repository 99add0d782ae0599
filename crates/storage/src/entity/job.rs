//! `jobs`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub subject_id: Option<String>,
    pub status: String,
    pub stage: String,
    pub done: i64,
    pub total: Option<i64>,
    pub records: Option<i64>,
    pub error: Option<String>,
    /// JSON of what the job produced.
    pub result: Option<String>,
    pub cancel_requested: bool,
    pub attempts: i32,
    pub worker: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub heartbeat_at: Option<DateTimeUtc>,
    /// `<kind>:<subject>` while a deduplicated job is queued (unique), NULL otherwise.
    pub queued_key: Option<String>,
    /// `<kind>:<subject>:<due ms>` for a job a schedule's firing queued (unique), else NULL.
    pub firing_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
