//! Proxies (published outputs) and relay profiles (how `relay` mode transcodes).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{EpgSourceId, FilterId, MappingRuleId, ProxyId, RelayProfileId, StreamSourceId};

/// How channel numbers are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Numbering {
    /// Keep a provider's numeric `tvg-chno`; number the rest from the starting number.
    #[default]
    Preserve,
    /// Number every channel from the starting number, in order.
    Sequential,
}

/// How a proxy delivers streams to players.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProxyMode {
    /// Answer with a redirect to the provider's URL.
    #[default]
    Redirect,
    /// Relay the provider's bytes through tvarr, sharing one upstream among players.
    Proxy,
    /// Transcode with FFmpeg using a relay profile.
    Relay,
}

/// A published output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proxy {
    /// Id.
    pub id: ProxyId,
    /// The fields a person sets.
    #[serde(flatten)]
    pub input: ProxyInput,
    /// When the proxy was last generated.
    pub last_generated_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields a person sets on a proxy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyInput {
    /// Name.
    pub name: String,
    /// Stream sources, in priority order.
    pub stream_source_ids: Vec<StreamSourceId>,
    /// EPG sources, in priority order.
    pub epg_source_ids: Vec<EpgSourceId>,
    /// Filters, applied in order.
    pub filter_ids: Vec<FilterId>,
    /// Mapping rules (applied by priority); empty means every enabled rule.
    pub mapping_rule_ids: Vec<MappingRuleId>,
    /// The first channel number given out.
    pub starting_channel_number: u32,
    /// How numbers are chosen.
    pub numbering: Numbering,
    /// How streams are delivered.
    pub proxy_mode: ProxyMode,
    /// The relay profile, for `relay` mode.
    pub relay_profile_id: Option<RelayProfileId>,
    /// Whether logos are cached and served by tvarr.
    pub cache_logos: bool,
}

/// Output container of a relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VideoContainer {
    /// MPEG transport stream over HTTP.
    #[default]
    MpegTs,
    /// HLS with MPEG-TS segments.
    HlsTs,
    /// HLS with fragmented MP4 segments.
    HlsFmp4,
}

/// How `relay` mode transcodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayProfile {
    /// Id.
    pub id: RelayProfileId,
    /// The fields a person sets.
    #[serde(flatten)]
    pub input: RelayProfileInput,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields a person sets on a relay profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayProfileInput {
    /// Name.
    pub name: String,
    /// Video codec (`copy`, `h264`, `hevc`, `av1`).
    pub video_codec: String,
    /// Audio codec (`copy`, `aac`, `ac3`, `opus`).
    pub audio_codec: String,
    /// Video bitrate in kbit/s.
    pub video_bitrate_kbps: Option<u32>,
    /// Audio bitrate in kbit/s.
    pub audio_bitrate_kbps: Option<u32>,
    /// Output height in pixels (width follows the aspect ratio).
    pub max_height: Option<u32>,
    /// Hardware acceleration preference (`auto`, `none`, `vaapi`, `nvenc`, `qsv`, `amf`).
    pub hardware_acceleration: String,
    /// Output container.
    pub container: VideoContainer,
}
