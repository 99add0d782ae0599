//! `proxies` (its ordered lists live in link tables, see `crate::proxies`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proxies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub starting_channel_number: i64,
    pub numbering: String,
    pub proxy_mode: String,
    pub relay_profile_id: Option<String>,
    pub cache_logos: bool,
    pub last_generated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// JSON list of `{group, start}`; NULL for none.
    pub group_starting_numbers: Option<String>,
    pub number_grace_days: i32,
    pub epg_days_past: i32,
    pub epg_days_ahead: i32,
    pub max_removed_percent: i32,
    pub update_cron: Option<String>,
    /// JSON of the last published generation's summary (see `crate::lineups`).
    pub last_generation: Option<String>,
    pub force_next_generation: bool,
    pub tuner_count: i32,
    pub hdhomerun_channels_per_device: i32,
    pub allowed_networks: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
