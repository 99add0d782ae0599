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
    /// First numbers of particular groups (by `group_title`, compared without regard to case);
    /// the other groups are numbered from `starting_channel_number`.
    #[serde(default)]
    pub group_starting_numbers: Vec<GroupStart>,
    /// Days a channel that left the lineup keeps its number reserved, so that a channel that
    /// comes back (a provider's outage) gets its number again and no other channel takes it.
    #[serde(default = "default_number_grace_days")]
    pub number_grace_days: u32,
    /// Guide data written from this many days before the generation…
    #[serde(default = "default_epg_days_past")]
    pub epg_days_past: u32,
    /// …to this many days after it.
    #[serde(default = "default_epg_days_ahead")]
    pub epg_days_ahead: u32,
    /// A generation that would remove more than this share of the published lineup (in
    /// percent) keeps the previous output and fails, unless forced (a provider's outage must
    /// not empty a media server's guide). 100 turns the guard off.
    #[serde(default = "default_max_removed_percent")]
    pub max_removed_percent: u32,
    /// Cron schedule of regeneration (besides the one after each ingest of its sources).
    #[serde(default)]
    pub update_cron: Option<String>,
    /// Tuners the proxy's emulated HDHomeRun devices announce (`TunerCount`): how many
    /// channels a media server may watch or record from it at once.
    #[serde(default = "default_tuner_count")]
    pub tuner_count: u32,
    /// The most channels one emulated HDHomeRun device carries; a longer lineup is split into
    /// several devices (Plex stops at about 480 channels per device). 0: one device.
    #[serde(default)]
    pub hdhomerun_channels_per_device: u32,
    /// The client networks that may load the proxy's outputs (playlist, guide, streams,
    /// HDHomeRun devices, Xtream API); empty: any.
    #[serde(default)]
    pub allowed_networks: Vec<crate::IpNetwork>,
}

/// The first number of one group's channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupStart {
    /// The group title, compared without regard to case.
    pub group: String,
    /// The group's first channel number.
    pub start: u32,
}

/// Default of [`ProxyInput::tuner_count`].
pub const DEFAULT_TUNER_COUNT: u32 = 4;

fn default_tuner_count() -> u32 {
    DEFAULT_TUNER_COUNT
}

/// Default of [`ProxyInput::number_grace_days`].
pub const DEFAULT_NUMBER_GRACE_DAYS: u32 = 7;
/// Default of [`ProxyInput::epg_days_past`].
pub const DEFAULT_EPG_DAYS_PAST: u32 = 1;
/// Default of [`ProxyInput::epg_days_ahead`].
pub const DEFAULT_EPG_DAYS_AHEAD: u32 = 7;
/// Default of [`ProxyInput::max_removed_percent`].
pub const DEFAULT_MAX_REMOVED_PERCENT: u32 = 50;

fn default_number_grace_days() -> u32 {
    DEFAULT_NUMBER_GRACE_DAYS
}
fn default_epg_days_past() -> u32 {
    DEFAULT_EPG_DAYS_PAST
}
fn default_epg_days_ahead() -> u32 {
    DEFAULT_EPG_DAYS_AHEAD
}
fn default_max_removed_percent() -> u32 {
    DEFAULT_MAX_REMOVED_PERCENT
}

impl ProxyInput {
    /// A proxy named `name` with no sources and every setting at its default: numbers from 1,
    /// provider numbers preserved, `redirect` mode.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            stream_source_ids: Vec::new(),
            epg_source_ids: Vec::new(),
            filter_ids: Vec::new(),
            mapping_rule_ids: Vec::new(),
            starting_channel_number: 1,
            numbering: Numbering::default(),
            proxy_mode: ProxyMode::default(),
            relay_profile_id: None,
            cache_logos: false,
            group_starting_numbers: Vec::new(),
            number_grace_days: DEFAULT_NUMBER_GRACE_DAYS,
            epg_days_past: DEFAULT_EPG_DAYS_PAST,
            epg_days_ahead: DEFAULT_EPG_DAYS_AHEAD,
            max_removed_percent: DEFAULT_MAX_REMOVED_PERCENT,
            update_cron: None,
            tuner_count: DEFAULT_TUNER_COUNT,
            hdhomerun_channels_per_device: 0,
            allowed_networks: Vec::new(),
        }
    }
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
    /// Encoding speed, in x264's terms (`ultrafast` … `veryslow`), which the relay maps to
    /// each encoder's nearest equivalent; none: the relay's default. Only with a video codec
    /// other than `copy`. Kept as plain text here; the relay checks it.
    #[serde(default)]
    pub preset: Option<String>,
    /// Encoder-tuning FFmpeg options (`["-crf", "23", "-tune", "zerolatency"]`), placed after
    /// the profile's own; the relay accepts only those of its allow-list. Kept as plain text
    /// here.
    #[serde(default)]
    pub extra_args: Vec<String>,
}
