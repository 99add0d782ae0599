//! `stream_sources`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_sources")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub source_type: String,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub update_cron: Option<String>,
    pub enabled: bool,
    pub user_agent: Option<String>,
    pub headers: String,
    pub max_connections: Option<i32>,
    pub state: String,
    pub last_ingested_at: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub channel_count: i64,
    pub skipped_count: i64,
    pub last_error: Option<String>,
    pub current_generation: i64,
    pub last_generation: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
