//! Repository traits: what the domain needs from storage. `tvarr-storage` implements them on
//! SQLite, PostgreSQL and MySQL/MariaDB; tests may implement them in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::RepoResult;
use crate::id::{
    ChannelId, EpgSourceId, FilterId, JobId, MappingRuleId, ProxyId, RelayProfileId, StreamSourceId,
};
use crate::job::{Job, JobKind, JobProgress, JobStatus, NewJob};
use crate::programme::{EpgChannel, Programme, ProgrammeData};
use crate::proxy::{Proxy, ProxyInput, RelayProfile, RelayProfileInput};
use crate::rule::{Domain, Filter, FilterInput, MappingRule, MappingRuleInput};
use crate::source::{EpgSource, EpgSourceInput, IngestOutcome, StreamSource, StreamSourceInput};

/// Which page of a list to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// At most this many items.
    pub limit: u64,
    /// Skip this many.
    pub offset: u64,
}

impl PageRequest {
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: u64 = 10_000;

    /// The largest offset: what every database takes in `OFFSET` (a signed 64-bit number).
    pub const MAX_OFFSET: u64 = i64::MAX as u64;

    /// A page, with `limit` capped at [`PageRequest::MAX_LIMIT`] and `offset` at
    /// [`PageRequest::MAX_OFFSET`].
    pub fn new(limit: u64, offset: u64) -> Self {
        Self {
            limit: limit.min(Self::MAX_LIMIT),
            offset: offset.min(Self::MAX_OFFSET),
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new(100, 0)
    }
}

/// One page of a list and the size of the whole list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: u64,
}

/// Stream sources.
#[async_trait]
pub trait StreamSourceRepository: Send + Sync {
    /// Stores a new source.
    async fn create(&self, input: StreamSourceInput) -> RepoResult<StreamSource>;
    /// One source.
    async fn get(&self, id: StreamSourceId) -> RepoResult<StreamSource>;
    /// Sources by name.
    async fn list(&self, page: PageRequest) -> RepoResult<Page<StreamSource>>;
    /// Replaces the fields a person sets. A `None` password keeps the stored one.
    async fn update(
        &self,
        id: StreamSourceId,
        input: StreamSourceInput,
    ) -> RepoResult<StreamSource>;
    /// Deletes a source and its channels.
    async fn delete(&self, id: StreamSourceId) -> RepoResult<()>;
    /// Records how an ingest went.
    async fn record_ingest(&self, id: StreamSourceId, outcome: IngestOutcome) -> RepoResult<()>;
}

/// EPG sources.
#[async_trait]
pub trait EpgSourceRepository: Send + Sync {
    /// Stores a new source.
    async fn create(&self, input: EpgSourceInput) -> RepoResult<EpgSource>;
    /// One source.
    async fn get(&self, id: EpgSourceId) -> RepoResult<EpgSource>;
    /// Sources by name.
    async fn list(&self, page: PageRequest) -> RepoResult<Page<EpgSource>>;
    /// Replaces the fields a person sets. A `None` password keeps the stored one.
    async fn update(&self, id: EpgSourceId, input: EpgSourceInput) -> RepoResult<EpgSource>;
    /// Deletes a source and its guide data.
    async fn delete(&self, id: EpgSourceId) -> RepoResult<()>;
    /// Records how an ingest went.
    async fn record_ingest(&self, id: EpgSourceId, outcome: IngestOutcome) -> RepoResult<()>;
}

/// Receives the new data of one source in batches; nothing is visible to readers until
/// [`ChannelReplacement::commit`], which swaps the whole source at once. Dropping it without
/// commit, or calling [`ChannelReplacement::abort`], leaves the previous data in place.
#[async_trait]
pub trait ChannelReplacement: Send {
    /// Adds a batch of channels.
    async fn write(&mut self, batch: &[Channel]) -> RepoResult<()>;
    /// Makes the new channels current, atomically, and removes the previous ones.
    /// Returns how many channels the source now has.
    async fn commit(self: Box<Self>) -> RepoResult<u64>;
    /// Throws the new channels away.
    async fn abort(self: Box<Self>) -> RepoResult<()>;
}

/// Filters for listing channels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelQuery {
    /// Only these sources (all when empty).
    pub source_ids: Vec<StreamSourceId>,
    /// Only this group.
    pub group: Option<String>,
    /// Name contains this text (case-insensitive).
    pub q: Option<String>,
    /// Only channels with this `tvg_id`, exactly.
    pub tvg_id: Option<String>,
}

/// Channels.
#[async_trait]
pub trait ChannelRepository: Send + Sync {
    /// Starts replacing every channel of `source`.
    async fn begin_replace(
        &self,
        source: StreamSourceId,
    ) -> RepoResult<Box<dyn ChannelReplacement>>;
    /// One current channel.
    async fn get(&self, id: ChannelId) -> RepoResult<Channel>;
    /// Current channels, in source order.
    async fn list(&self, query: &ChannelQuery, page: PageRequest) -> RepoResult<Page<Channel>>;
    /// Group names with their channel counts.
    async fn groups(&self, query: &ChannelQuery) -> RepoResult<Vec<(String, u64)>>;
    /// How many current channels `source` has.
    async fn count(&self, source: StreamSourceId) -> RepoResult<u64>;
}

/// Receives the new guide of one source; see [`ChannelReplacement`] for the visibility rules.
#[async_trait]
pub trait GuideReplacement: Send {
    /// Adds guide channels.
    async fn write_channels(&mut self, batch: &[EpgChannel]) -> RepoResult<()>;
    /// Adds programmes.
    async fn write_programmes(&mut self, batch: &[ProgrammeData]) -> RepoResult<()>;
    /// Makes the new guide current, atomically. Returns the programme count.
    async fn commit(self: Box<Self>) -> RepoResult<u64>;
    /// Throws the new guide away.
    async fn abort(self: Box<Self>) -> RepoResult<()>;
}

/// Filters for programme queries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeQuery {
    /// Only these sources (all when empty).
    pub source_ids: Vec<EpgSourceId>,
    /// Only this guide channel.
    pub channel: Option<String>,
    /// Programmes that end after this.
    pub from: Option<DateTime<Utc>>,
    /// Programmes that start before this.
    pub to: Option<DateTime<Utc>>,
    /// Title contains this text (case-insensitive).
    pub q: Option<String>,
}

/// Guide data.
#[async_trait]
pub trait ProgrammeRepository: Send + Sync {
    /// Starts replacing the guide of `source`.
    async fn begin_replace(&self, source: EpgSourceId) -> RepoResult<Box<dyn GuideReplacement>>;
    /// Current programmes, by channel and start.
    async fn list(&self, query: &ProgrammeQuery, page: PageRequest) -> RepoResult<Page<Programme>>;
    /// Current guide channels of the given sources (all when empty).
    async fn channels(&self, source_ids: &[EpgSourceId]) -> RepoResult<Vec<EpgChannel>>;
    /// How many current programmes `source` has.
    async fn count(&self, source: EpgSourceId) -> RepoResult<u64>;
    /// Reads the current programmes of one source that end after `from` and start before `to`,
    /// by guide channel then start, `limit` at a time: the first batch with `after: None`, each
    /// next one with the previous batch's [`ProgrammeBatch::next`], until that is `None`. Each
    /// batch costs the same however far the reader has come (no `OFFSET`).
    async fn scan(
        &self,
        source: EpgSourceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> RepoResult<ProgrammeBatch>;
}

/// One batch of [`ProgrammeRepository::scan`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgrammeBatch {
    /// The programmes, by guide channel then start.
    pub items: Vec<ProgrammeData>,
    /// Where the next batch starts (an opaque cursor), or `None` after the last one.
    pub next: Option<String>,
}

/// Filters.
#[async_trait]
pub trait FilterRepository: Send + Sync {
    /// Stores a new filter.
    async fn create(&self, input: FilterInput) -> RepoResult<Filter>;
    /// One filter.
    async fn get(&self, id: FilterId) -> RepoResult<Filter>;
    /// Filters, optionally of one domain.
    async fn list(&self, domain: Option<Domain>, page: PageRequest) -> RepoResult<Page<Filter>>;
    /// Replaces a filter's fields.
    async fn update(&self, id: FilterId, input: FilterInput) -> RepoResult<Filter>;
    /// Deletes a filter.
    async fn delete(&self, id: FilterId) -> RepoResult<()>;
}

/// Data-mapping rules.
#[async_trait]
pub trait MappingRuleRepository: Send + Sync {
    /// Stores a new rule.
    async fn create(&self, input: MappingRuleInput) -> RepoResult<MappingRule>;
    /// One rule.
    async fn get(&self, id: MappingRuleId) -> RepoResult<MappingRule>;
    /// Rules by priority, optionally of one domain.
    async fn list(
        &self,
        domain: Option<Domain>,
        page: PageRequest,
    ) -> RepoResult<Page<MappingRule>>;
    /// Replaces a rule's fields.
    async fn update(&self, id: MappingRuleId, input: MappingRuleInput) -> RepoResult<MappingRule>;
    /// Deletes a rule.
    async fn delete(&self, id: MappingRuleId) -> RepoResult<()>;
    /// Gives the listed rules priorities 0, 1, 2… in the order given, in one transaction.
    async fn reorder(&self, ids: &[MappingRuleId]) -> RepoResult<()>;
}

/// Proxies.
#[async_trait]
pub trait ProxyRepository: Send + Sync {
    /// Stores a new proxy.
    async fn create(&self, input: ProxyInput) -> RepoResult<Proxy>;
    /// One proxy.
    async fn get(&self, id: ProxyId) -> RepoResult<Proxy>;
    /// Proxies by name.
    async fn list(&self, page: PageRequest) -> RepoResult<Page<Proxy>>;
    /// Replaces a proxy's fields.
    async fn update(&self, id: ProxyId, input: ProxyInput) -> RepoResult<Proxy>;
    /// Deletes a proxy.
    async fn delete(&self, id: ProxyId) -> RepoResult<()>;
    /// Records a generation.
    async fn record_generated(&self, id: ProxyId, at: DateTime<Utc>) -> RepoResult<()>;
    /// Asks that the next generation of proxy `id` publish even when the removal guard would
    /// refuse it (a person confirmed that the channels are meant to go).
    async fn request_forced_generation(&self, id: ProxyId) -> RepoResult<()>;
    /// Whether a forced generation of proxy `id` was asked for, clearing the request in the
    /// same step: of two generations taking it at once, exactly one gets `true`.
    async fn take_forced_generation(&self, id: ProxyId) -> RepoResult<bool>;
}

/// Relay profiles.
#[async_trait]
pub trait RelayProfileRepository: Send + Sync {
    /// Stores a new profile.
    async fn create(&self, input: RelayProfileInput) -> RepoResult<RelayProfile>;
    /// One profile.
    async fn get(&self, id: RelayProfileId) -> RepoResult<RelayProfile>;
    /// Profiles by name.
    async fn list(&self, page: PageRequest) -> RepoResult<Page<RelayProfile>>;
    /// Replaces a profile's fields.
    async fn update(
        &self,
        id: RelayProfileId,
        input: RelayProfileInput,
    ) -> RepoResult<RelayProfile>;
    /// Deletes a profile.
    async fn delete(&self, id: RelayProfileId) -> RepoResult<()>;
}

/// Filters for listing jobs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobQuery {
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this status.
    pub status: Option<JobStatus>,
}

/// The record of background jobs (the queue itself is apalis; this is what people see).
#[async_trait]
pub trait JobRepository: Send + Sync {
    /// Records a new queued job.
    async fn create(&self, job: NewJob) -> RepoResult<Job>;
    /// Records a new queued job unless a job of the same kind and subject is already queued;
    /// returns the job and whether it was created (`false`: the queued one was returned).
    ///
    /// Several processes enqueue the same scheduled job at the same moment, so storage should
    /// override this to make the check and the insert atomic (a transaction, or a unique index
    /// over queued jobs). This default checks, then creates: correct within one process only.
    async fn create_deduplicated(&self, job: NewJob) -> RepoResult<(Job, bool)> {
        let query = JobQuery {
            kind: Some(job.kind),
            status: Some(JobStatus::Queued),
        };
        let queued = self
            .list(&query, PageRequest::new(PageRequest::MAX_LIMIT, 0))
            .await?;
        if let Some(existing) = queued
            .items
            .into_iter()
            .find(|j| j.subject_id == job.subject_id)
        {
            return Ok((existing, false));
        }
        Ok((self.create(job).await?, true))
    }
    /// Records the job that a schedule's firing at `due` asks for, once per firing: returns
    /// `None` when this firing was recorded already (by another process's scheduler) or a job
    /// of the same kind and subject is queued.
    ///
    /// Several processes run schedulers, and their clocks differ, so storage should override
    /// this to decide by the firing itself, atomically (a unique key of kind, subject and due
    /// time). This default only deduplicates queued jobs: correct within one process only.
    async fn create_for_firing(&self, job: NewJob, due: DateTime<Utc>) -> RepoResult<Option<Job>> {
        let _ = due;
        let (job, created) = self.create_deduplicated(job).await?;
        Ok(created.then_some(job))
    }
    /// One job.
    async fn get(&self, id: JobId) -> RepoResult<Job>;
    /// Jobs, newest first.
    async fn list(&self, query: &JobQuery, page: PageRequest) -> RepoResult<Page<Job>>;
    /// Claims a queued (or stale running) job for `worker`: sets it running, counts the attempt.
    /// Returns `None` when the job has ended, was cancelled, or another live worker holds it.
    async fn claim(
        &self,
        id: JobId,
        worker: &str,
        stale_after: chrono::Duration,
    ) -> RepoResult<Option<Job>>;
    /// Records progress and a heartbeat; returns whether cancellation was requested.
    async fn report_progress(&self, id: JobId, progress: &JobProgress) -> RepoResult<bool>;
    /// Records what a job produced (its counts, durations, findings), shown with the job.
    async fn record_result(&self, id: JobId, result: &serde_json::Value) -> RepoResult<()>;
    /// Ends a job with `status` (a terminal one) and an optional error.
    async fn finish(&self, id: JobId, status: JobStatus, error: Option<String>) -> RepoResult<Job>;
    /// Asks a job to stop: a queued job is cancelled at once, a running one is flagged.
    async fn request_cancel(&self, id: JobId) -> RepoResult<Job>;
    /// Running jobs whose heartbeat is older than `before` (their worker died).
    async fn stale(&self, before: DateTime<Utc>) -> RepoResult<Vec<Job>>;
}

/// Every repository, as trait objects: what a storage implementation hands to the services.
#[derive(Clone)]
pub struct Repositories {
    /// Stream sources.
    pub stream_sources: std::sync::Arc<dyn StreamSourceRepository>,
    /// EPG sources.
    pub epg_sources: std::sync::Arc<dyn EpgSourceRepository>,
    /// Channels.
    pub channels: std::sync::Arc<dyn ChannelRepository>,
    /// Guide data.
    pub programmes: std::sync::Arc<dyn ProgrammeRepository>,
    /// Filters.
    pub filters: std::sync::Arc<dyn FilterRepository>,
    /// Mapping rules.
    pub mapping_rules: std::sync::Arc<dyn MappingRuleRepository>,
    /// Proxies.
    pub proxies: std::sync::Arc<dyn ProxyRepository>,
    /// Relay profiles.
    pub relay_profiles: std::sync::Arc<dyn RelayProfileRepository>,
    /// Jobs.
    pub jobs: std::sync::Arc<dyn JobRepository>,
    /// Accounts.
    pub users: std::sync::Arc<dyn crate::auth::UserRepository>,
    /// API keys.
    pub api_keys: std::sync::Arc<dyn crate::auth::ApiKeyRepository>,
    /// Cached logos' records.
    pub logos: std::sync::Arc<dyn crate::logo::LogoRepository>,
    /// Proxies' published lineups, held numbers and generation summaries.
    pub lineups: std::sync::Arc<dyn crate::lineup::LineupRepository>,
}
