//! `relay_profiles`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "relay_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub video_codec: String,
    pub audio_codec: String,
    pub video_bitrate_kbps: Option<i32>,
    pub audio_bitrate_kbps: Option<i32>,
    pub max_height: Option<i32>,
    pub hardware_acceleration: String,
    pub container: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub preset: Option<String>,
    /// JSON list of strings; NULL for none.
    pub extra_args: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
