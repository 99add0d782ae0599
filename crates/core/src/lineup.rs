//! A proxy's published lineup: its channels with their numbers, the numbers it holds for
//! channels that left, and the summary of the generation that produced it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::ChannelData;
use crate::error::RepoResult;
use crate::id::{ChannelId, EpgSourceId, ProxyId, StreamSourceId};
use crate::repository::{Page, PageRequest};

/// How a channel found its guide data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MatchMethod {
    /// Its `tvg_id` equals a guide channel's id.
    TvgId,
    /// Its `tvg_id` equals a guide channel's id but for ASCII case.
    TvgIdCaseInsensitive,
    /// Its normalised name equals a guide channel's normalised display name.
    Name,
}

/// The guide data a lineup channel was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuideMatch {
    /// The EPG source that supplied it.
    pub epg_source_id: EpgSourceId,
    /// The guide channel's id within that source.
    pub epg_channel: String,
    /// How it was matched.
    pub method: MatchMethod,
    /// How sure the match is, 0–100 (100 for an exact `tvg_id`).
    pub confidence: u8,
}

/// One channel of a proxy's published lineup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineupChannel {
    /// The source channel's stable id; also the channel's id in the proxy's stream URLs.
    pub channel_id: ChannelId,
    /// The source it came from.
    pub source_id: StreamSourceId,
    /// Its channel number in this proxy (stable across generations).
    pub number: u32,
    /// The channel id written into the guide (`tvg-id` in the M3U, `<channel id>` in XMLTV).
    pub guide_id: String,
    /// The channel as published: the provider's data after the proxy's mapping rules.
    pub data: ChannelData,
    /// Where its guide data came from, when it has any.
    pub guide: Option<GuideMatch>,
}

/// A number a proxy holds for a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldNumber {
    /// The channel.
    pub channel_id: ChannelId,
    /// Its number.
    pub number: u32,
    /// When it left the lineup; `None` while it is in it. A number is free again once its
    /// channel has been gone for the proxy's grace period.
    pub released_at: Option<DateTime<Utc>>,
}

/// What one pipeline stage did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageReport {
    /// The stage's name (`stream_mapping`, `stream_filter`, …).
    pub stage: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Records it received.
    pub records_in: u64,
    /// Records it passed on.
    pub records_out: u64,
    /// Records it skipped because of an error (a rule that failed on that record).
    pub errors: u64,
}

/// A channel named in a change report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangedChannel {
    /// The channel.
    pub channel_id: ChannelId,
    /// Its name now (or, when removed, its last name).
    pub name: String,
    /// Its number now (or, when removed, its last number).
    pub number: u32,
    /// Its previous name, when renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_name: Option<String>,
    /// Its previous number, when renumbered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_number: Option<u32>,
}

/// How many channels changed in one way, with the first of them by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeList {
    /// How many.
    pub count: u64,
    /// The first [`CHANGE_SAMPLE`] of them, in number order.
    pub channels: Vec<ChangedChannel>,
}

/// Channels named per kind of change in a [`ChangeReport`], at most.
pub const CHANGE_SAMPLE: usize = 100;

impl ChangeList {
    /// Counts `channel`, and keeps it while fewer than [`CHANGE_SAMPLE`] are kept.
    pub fn push(&mut self, channel: ChangedChannel) {
        self.count += 1;
        if self.channels.len() < CHANGE_SAMPLE {
            self.channels.push(channel);
        }
    }
}

/// What changed since the previous publication.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeReport {
    /// Channels new in the lineup.
    pub added: ChangeList,
    /// Channels no longer in it.
    pub removed: ChangeList,
    /// Channels whose name changed.
    pub renamed: ChangeList,
    /// Channels whose number changed.
    pub renumbered: ChangeList,
}

/// The summary of one generation of a proxy, kept with its lineup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerationSummary {
    /// When it was generated.
    pub generated_at: DateTime<Utc>,
    /// How long the whole generation took, in milliseconds.
    pub duration_ms: u64,
    /// Channels in the lineup.
    pub channels: u64,
    /// Programmes written to the guide.
    pub programmes: u64,
    /// Whether the removal guard was overridden.
    pub forced: bool,
    /// Each stage, in the order they ran.
    pub stages: Vec<StageReport>,
    /// What changed since the previous publication.
    pub changes: ChangeReport,
    /// Matched channels per way of matching.
    pub matched: BTreeMap<MatchMethod, u64>,
    /// Channels left without guide data.
    pub unmatched: ChangeList,
    /// Sources whose data could not be brought up to date in time, so their last good data was used.
    pub stale_sources: Vec<String>,
}

/// A proxy's published lineups and held numbers.
#[async_trait]
pub trait LineupRepository: Send + Sync {
    /// Every number `proxy` holds: its current channels' and those of channels that left and
    /// are still within the grace period.
    async fn held_numbers(&self, proxy: ProxyId) -> RepoResult<Vec<HeldNumber>>;
    /// Replaces the published lineup of `proxy`, its held numbers and its summary, atomically:
    /// readers see the previous lineup or this one, never a mix.
    async fn publish(
        &self,
        proxy: ProxyId,
        lineup: &[LineupChannel],
        held: &[HeldNumber],
        summary: &GenerationSummary,
    ) -> RepoResult<()>;
    /// The published lineup, by number.
    async fn list(&self, proxy: ProxyId, page: PageRequest) -> RepoResult<Page<LineupChannel>>;
    /// Up to `limit` published channels numbered `from` to `to` (both included), by number.
    /// Numbers are unique in a lineup, so the page after one that ends with number `n` starts
    /// `from` `n + 1` (keyset paging, no `OFFSET`).
    async fn numbered(
        &self,
        proxy: ProxyId,
        from: u32,
        to: u32,
        limit: u64,
    ) -> RepoResult<Vec<LineupChannel>>;
    /// One published channel.
    async fn get(&self, proxy: ProxyId, channel: ChannelId) -> RepoResult<LineupChannel>;
    /// The summary of the last publication, if there was one.
    async fn summary(&self, proxy: ProxyId) -> RepoResult<Option<GenerationSummary>>;
}
