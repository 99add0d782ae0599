//! In-memory implementations of the ports a generation uses, with faults to switch on, and a
//! `World` that holds a proxy, its sources and every store.
#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use tvarr_core::{
    Channel, ChannelData, ChannelId, ChannelQuery, ChannelReplacement, ChannelRepository, Domain,
    EpgChannel, EpgSource, EpgSourceId, EpgSourceType, Filter, FilterAction, FilterId,
    GenerationSummary, GuideReplacement, HeldNumber, IngestState, Job, JobId, JobKind, JobProgress,
    JobQuery, JobRepository, JobStatus, LangText, LineupChannel, LineupRepository, MappingRule,
    MappingRuleId, NewJob, OutputKind, OutputStore, OutputWriter, Page, PageRequest, Programme,
    ProgrammeBatch, ProgrammeData, ProgrammeQuery, ProgrammeRepository, Proxy, ProxyId, ProxyInput,
    PublishedOutput, RepoError, RepoResult, StreamSource, StreamSourceId, StreamSourceType,
};
use tvarr_pipeline::{
    GenerationOptions, GenerationPorts, GenerationProgress, LogoRewriter, PipelineError,
    ProviderLogos, ProxyDefinition, StageProgress, Timer, generate,
};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()
}

fn unused<T>(what: &str) -> RepoResult<T> {
    Err(RepoError::Unavailable(format!(
        "{what} is not used by generation"
    )))
}

// ---------------------------------------------------------------- channels

#[derive(Default)]
pub struct MemoryChannels {
    pub by_source: Mutex<HashMap<StreamSourceId, Vec<Channel>>>,
    /// Pages served, to check that reads are paged.
    pub pages: Mutex<u64>,
}

impl MemoryChannels {
    /// Replaces `source`'s channels, as an ingest would: positions from the order given.
    pub fn replace(&self, source: StreamSourceId, data: Vec<ChannelData>) {
        let channels = data
            .into_iter()
            .enumerate()
            .map(|(i, d)| Channel::new(source, d.identity_key(), i as u32, d))
            .collect();
        self.by_source.lock().unwrap().insert(source, channels);
    }
}

#[async_trait]
impl ChannelRepository for MemoryChannels {
    async fn begin_replace(&self, _: StreamSourceId) -> RepoResult<Box<dyn ChannelReplacement>> {
        unused("begin_replace")
    }
    async fn get(&self, id: ChannelId) -> RepoResult<Channel> {
        self.by_source
            .lock()
            .unwrap()
            .values()
            .flatten()
            .find(|c| c.id == id)
            .cloned()
            .ok_or(RepoError::NotFound {
                entity: "channel",
                id: id.to_string(),
            })
    }
    async fn list(&self, query: &ChannelQuery, page: PageRequest) -> RepoResult<Page<Channel>> {
        *self.pages.lock().unwrap() += 1;
        let map = self.by_source.lock().unwrap();
        let all: Vec<&Channel> = query
            .source_ids
            .iter()
            .filter_map(|s| map.get(s))
            .flatten()
            .collect();
        Ok(Page {
            total: all.len() as u64,
            items: all
                .into_iter()
                .skip(page.offset as usize)
                .take(page.limit as usize)
                .cloned()
                .collect(),
        })
    }
    async fn groups(&self, _: &ChannelQuery) -> RepoResult<Vec<(String, u64)>> {
        unused("groups")
    }
    async fn count(&self, source: StreamSourceId) -> RepoResult<u64> {
        Ok(self
            .by_source
            .lock()
            .unwrap()
            .get(&source)
            .map_or(0, |c| c.len() as u64))
    }
}

// ---------------------------------------------------------------- programmes

/// One source's guide channels and programmes (by channel, then start).
pub type Guide = (Vec<EpgChannel>, Vec<ProgrammeData>);

#[derive(Default)]
pub struct MemoryProgrammes {
    pub guides: Mutex<HashMap<EpgSourceId, Guide>>,
    pub scans: Mutex<u64>,
}

impl MemoryProgrammes {
    pub fn replace(
        &self,
        source: EpgSourceId,
        channels: Vec<EpgChannel>,
        mut programmes: Vec<ProgrammeData>,
    ) {
        programmes.sort_by(|a, b| (&a.channel, a.start).cmp(&(&b.channel, b.start)));
        self.guides
            .lock()
            .unwrap()
            .insert(source, (channels, programmes));
    }
}

#[async_trait]
impl ProgrammeRepository for MemoryProgrammes {
    async fn begin_replace(&self, _: EpgSourceId) -> RepoResult<Box<dyn GuideReplacement>> {
        unused("begin_replace")
    }
    async fn list(&self, _: &ProgrammeQuery, _: PageRequest) -> RepoResult<Page<Programme>> {
        unused("list")
    }
    async fn channels(&self, source_ids: &[EpgSourceId]) -> RepoResult<Vec<EpgChannel>> {
        let guides = self.guides.lock().unwrap();
        Ok(source_ids
            .iter()
            .filter_map(|s| guides.get(s))
            .flat_map(|(c, _)| c.iter().cloned())
            .collect())
    }
    async fn count(&self, source: EpgSourceId) -> RepoResult<u64> {
        Ok(self
            .guides
            .lock()
            .unwrap()
            .get(&source)
            .map_or(0, |(_, p)| p.len() as u64))
    }
    async fn scan(
        &self,
        source: EpgSourceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> RepoResult<ProgrammeBatch> {
        *self.scans.lock().unwrap() += 1;
        let guides = self.guides.lock().unwrap();
        let Some((_, programmes)) = guides.get(&source) else {
            return Ok(ProgrammeBatch::default());
        };
        let start: usize = after.map_or(0, |a| a.parse().unwrap());
        let mut items = Vec::new();
        let mut next = None;
        for (i, p) in programmes.iter().enumerate().skip(start) {
            if items.len() == limit as usize {
                next = Some(i.to_string());
                break;
            }
            if p.stop > from && p.start < to {
                items.push(p.clone());
            }
        }
        Ok(ProgrammeBatch { items, next })
    }
}

// ---------------------------------------------------------------- lineups

#[derive(Clone, Debug, Default)]
pub struct Published {
    pub lineup: Vec<LineupChannel>,
    pub held: Vec<HeldNumber>,
    pub summary: GenerationSummary,
}

#[derive(Default)]
pub struct MemoryLineups {
    pub published: Mutex<HashMap<ProxyId, Published>>,
    pub fail_publish: Mutex<bool>,
    pub publishes: Mutex<u64>,
}

impl MemoryLineups {
    pub fn get(&self, proxy: ProxyId) -> Option<Published> {
        self.published.lock().unwrap().get(&proxy).cloned()
    }
}

#[async_trait]
impl LineupRepository for MemoryLineups {
    async fn held_numbers(&self, proxy: ProxyId) -> RepoResult<Vec<HeldNumber>> {
        Ok(self.get(proxy).map(|p| p.held).unwrap_or_default())
    }
    async fn publish(
        &self,
        proxy: ProxyId,
        lineup: &[LineupChannel],
        held: &[HeldNumber],
        summary: &GenerationSummary,
    ) -> RepoResult<()> {
        if *self.fail_publish.lock().unwrap() {
            return Err(RepoError::Unavailable("database is locked".into()));
        }
        *self.publishes.lock().unwrap() += 1;
        let mut lineup = lineup.to_vec();
        lineup.sort_by_key(|c| c.number);
        self.published.lock().unwrap().insert(
            proxy,
            Published {
                lineup,
                held: held.to_vec(),
                summary: summary.clone(),
            },
        );
        Ok(())
    }
    async fn list(&self, proxy: ProxyId, page: PageRequest) -> RepoResult<Page<LineupChannel>> {
        let lineup = self.get(proxy).map(|p| p.lineup).unwrap_or_default();
        Ok(Page {
            total: lineup.len() as u64,
            items: lineup
                .into_iter()
                .skip(page.offset as usize)
                .take(page.limit as usize)
                .collect(),
        })
    }
    async fn numbered(
        &self,
        proxy: ProxyId,
        from: u32,
        to: u32,
        limit: u64,
    ) -> RepoResult<Vec<LineupChannel>> {
        let lineup = self.get(proxy).map(|p| p.lineup).unwrap_or_default();
        Ok(lineup
            .into_iter()
            .filter(|c| (from..=to).contains(&c.number))
            .take(limit as usize)
            .collect())
    }
    async fn get(&self, proxy: ProxyId, channel: ChannelId) -> RepoResult<LineupChannel> {
        self.get(proxy)
            .and_then(|p| p.lineup.into_iter().find(|c| c.channel_id == channel))
            .ok_or(RepoError::NotFound {
                entity: "lineup channel",
                id: channel.to_string(),
            })
    }
    async fn summary(&self, proxy: ProxyId) -> RepoResult<Option<GenerationSummary>> {
        Ok(self.get(proxy).map(|p| p.summary))
    }
}

// ---------------------------------------------------------------- outputs

#[derive(Default)]
pub struct OutputState {
    pub published: HashMap<(ProxyId, OutputKind), Vec<u8>>,
    pub fail_commit: Option<OutputKind>,
    /// Fails a write once this many bytes of that kind were written.
    pub fail_write_after: Option<(OutputKind, usize)>,
    pub open: u32,
    pub aborted: Vec<OutputKind>,
    pub committed: Vec<OutputKind>,
    pub largest_write: usize,
    pub writes: u64,
}

#[derive(Default)]
pub struct MemoryOutputs {
    pub state: std::sync::Arc<Mutex<OutputState>>,
}

impl MemoryOutputs {
    pub fn text(&self, proxy: ProxyId, kind: OutputKind) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .published
            .get(&(proxy, kind))
            .map(|b| String::from_utf8(b.clone()).unwrap())
    }
}

struct MemoryWriter {
    state: std::sync::Arc<Mutex<OutputState>>,
    proxy: ProxyId,
    kind: OutputKind,
    buf: Vec<u8>,
    done: bool,
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        if !self.done {
            self.state.lock().unwrap().open -= 1;
        }
    }
}

#[async_trait]
impl OutputWriter for MemoryWriter {
    async fn write(&mut self, chunk: &[u8]) -> RepoResult<()> {
        let mut state = self.state.lock().unwrap();
        if let Some((kind, after)) = state.fail_write_after
            && kind == self.kind
            && self.buf.len() + chunk.len() > after
        {
            return Err(RepoError::Unavailable(
                "No space left on device (os error 28)".into(),
            ));
        }
        state.largest_write = state.largest_write.max(chunk.len());
        state.writes += 1;
        self.buf.extend_from_slice(chunk);
        Ok(())
    }
    async fn commit(mut self: Box<Self>) -> RepoResult<PublishedOutput> {
        let mut state = self.state.lock().unwrap();
        self.done = true;
        state.open -= 1;
        if state.fail_commit == Some(self.kind) {
            state.aborted.push(self.kind);
            return Err(RepoError::Unavailable(
                "rename data/outputs/x.tmp: permission denied".into(),
            ));
        }
        let len = self.buf.len() as u64;
        state.committed.push(self.kind);
        state
            .published
            .insert((self.proxy, self.kind), std::mem::take(&mut self.buf));
        Ok(PublishedOutput {
            etag: format!("\"{len}\""),
            modified: now(),
            len,
            gzip_len: len,
        })
    }
    async fn abort(mut self: Box<Self>) -> RepoResult<()> {
        let mut state = self.state.lock().unwrap();
        self.done = true;
        state.open -= 1;
        state.aborted.push(self.kind);
        Ok(())
    }
}

#[async_trait]
impl OutputStore for MemoryOutputs {
    async fn begin(&self, proxy: ProxyId, kind: OutputKind) -> RepoResult<Box<dyn OutputWriter>> {
        self.state.lock().unwrap().open += 1;
        Ok(Box::new(MemoryWriter {
            state: self.state.clone(),
            proxy,
            kind,
            buf: Vec::new(),
            done: false,
        }))
    }
    async fn current(
        &self,
        proxy: ProxyId,
        kind: OutputKind,
    ) -> RepoResult<Option<PublishedOutput>> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .published
            .get(&(proxy, kind))
            .map(|b| PublishedOutput {
                etag: format!("\"{}\"", b.len()),
                modified: now(),
                len: b.len() as u64,
                gzip_len: b.len() as u64,
            }))
    }
    async fn files(
        &self,
        _: ProxyId,
        _: OutputKind,
    ) -> RepoResult<Option<tvarr_core::OutputFiles>> {
        unused("files")
    }
    async fn remove(&self, proxy: ProxyId) -> RepoResult<()> {
        self.state
            .lock()
            .unwrap()
            .published
            .retain(|(p, _), _| *p != proxy);
        Ok(())
    }
}

// ---------------------------------------------------------------- jobs

#[derive(Default)]
pub struct MemoryJobs {
    pub jobs: Mutex<Vec<Job>>,
    /// Running jobs finish after this many `list` calls.
    pub finish_after_lists: Mutex<Option<u32>>,
    pub lists: Mutex<u32>,
}

impl MemoryJobs {
    pub fn running(&self, kind: JobKind, subject: uuid::Uuid) {
        self.jobs.lock().unwrap().push(Job {
            id: JobId::new(),
            kind,
            subject_id: Some(subject),
            status: JobStatus::Running,
            progress: JobProgress::default(),
            error: None,
            result: None,
            cancel_requested: false,
            attempts: 1,
            worker: Some("w".into()),
            created_at: now(),
            started_at: Some(now()),
            finished_at: None,
            heartbeat_at: Some(now()),
        });
    }
}

#[async_trait]
impl JobRepository for MemoryJobs {
    async fn create(&self, _: NewJob) -> RepoResult<Job> {
        unused("create")
    }
    async fn get(&self, _: JobId) -> RepoResult<Job> {
        unused("get")
    }
    async fn list(&self, query: &JobQuery, page: PageRequest) -> RepoResult<Page<Job>> {
        *self.lists.lock().unwrap() += 1;
        let mut jobs = self.jobs.lock().unwrap();
        let mut finish = self.finish_after_lists.lock().unwrap();
        if let Some(left) = finish.as_mut() {
            if *left == 0 {
                for j in jobs.iter_mut() {
                    j.status = JobStatus::Succeeded;
                }
            } else {
                *left -= 1;
            }
        }
        let items: Vec<Job> = jobs
            .iter()
            .filter(|j| query.kind.is_none_or(|k| k == j.kind))
            .filter(|j| query.status.is_none_or(|s| s == j.status))
            .take(page.limit as usize)
            .cloned()
            .collect();
        Ok(Page {
            total: items.len() as u64,
            items,
        })
    }
    async fn claim(&self, _: JobId, _: &str, _: chrono::Duration) -> RepoResult<Option<Job>> {
        unused("claim")
    }
    async fn report_progress(&self, _: JobId, _: &JobProgress) -> RepoResult<bool> {
        unused("report_progress")
    }
    async fn record_result(&self, _: JobId, _: &serde_json::Value) -> RepoResult<()> {
        unused("record_result")
    }
    async fn finish(&self, _: JobId, _: JobStatus, _: Option<String>) -> RepoResult<Job> {
        unused("finish")
    }
    async fn request_cancel(&self, _: JobId) -> RepoResult<Job> {
        unused("request_cancel")
    }
    async fn stale(&self, _: DateTime<Utc>) -> RepoResult<Vec<Job>> {
        unused("stale")
    }
}

// ---------------------------------------------------------------- timer, progress

#[derive(Default)]
pub struct FakeTimer {
    pub slept: Mutex<Duration>,
}

#[async_trait]
impl Timer for FakeTimer {
    async fn sleep(&self, duration: Duration) {
        *self.slept.lock().unwrap() += duration;
    }
}

/// A progress report: stage, done, total, records.
pub type Report = (String, u64, Option<u64>, u64);

#[derive(Default)]
pub struct RecordingProgress {
    pub reports: Mutex<Vec<Report>>,
    /// Answers "stop" on the report of this stage (the first one whose `done` is at least the
    /// second value).
    pub cancel_at: Mutex<Option<(String, u64)>>,
}

#[async_trait]
impl GenerationProgress for RecordingProgress {
    async fn report(&self, p: StageProgress<'_>) -> bool {
        self.reports
            .lock()
            .unwrap()
            .push((p.stage.to_string(), p.done, p.total, p.records));
        match &*self.cancel_at.lock().unwrap() {
            Some((stage, done)) => !(p.stage == stage && p.done >= *done),
            None => true,
        }
    }
}

// ---------------------------------------------------------------- the world

/// A proxy with its sources, filters and rules, and every store.
pub struct World {
    pub proxy: Proxy,
    pub stream_sources: Vec<StreamSource>,
    pub epg_sources: Vec<EpgSource>,
    pub filters: Vec<Filter>,
    pub rules: Vec<MappingRule>,
    pub channels: MemoryChannels,
    pub programmes: MemoryProgrammes,
    pub lineups: MemoryLineups,
    pub outputs: MemoryOutputs,
    pub jobs: MemoryJobs,
    pub timer: FakeTimer,
    pub progress: RecordingProgress,
}

impl World {
    pub fn new() -> Self {
        Self {
            proxy: Proxy {
                id: ProxyId::new(),
                input: ProxyInput::named("living room"),
                last_generated_at: None,
                created_at: now(),
                updated_at: now(),
            },
            stream_sources: Vec::new(),
            epg_sources: Vec::new(),
            filters: Vec::new(),
            rules: Vec::new(),
            channels: MemoryChannels::default(),
            programmes: MemoryProgrammes::default(),
            lineups: MemoryLineups::default(),
            outputs: MemoryOutputs::default(),
            jobs: MemoryJobs::default(),
            timer: FakeTimer::default(),
            progress: RecordingProgress::default(),
        }
    }

    /// Adds a stream source (last in priority) with `channels`.
    pub fn stream_source(&mut self, name: &str, channels: Vec<ChannelData>) -> StreamSourceId {
        let source = stream_source(name);
        let id = source.id;
        self.channels.replace(id, channels);
        self.stream_sources.push(source);
        self.proxy.input.stream_source_ids.push(id);
        id
    }

    /// Adds an EPG source (last in priority).
    pub fn epg_source(
        &mut self,
        name: &str,
        channels: Vec<EpgChannel>,
        programmes: Vec<ProgrammeData>,
    ) -> EpgSourceId {
        let source = epg_source(name);
        let id = source.id;
        self.programmes.replace(id, channels, programmes);
        self.epg_sources.push(source);
        self.proxy.input.epg_source_ids.push(id);
        id
    }

    pub fn filter(&mut self, domain: Domain, action: FilterAction, expression: &str) {
        let filter = Filter {
            id: FilterId::new(),
            name: format!("filter {}", self.filters.len() + 1),
            domain,
            action,
            expression: expression.into(),
            created_at: now(),
            updated_at: now(),
        };
        self.proxy.input.filter_ids.push(filter.id);
        self.filters.push(filter);
    }

    /// Adds an enabled rule; the proxy names no rules, so every enabled rule applies.
    pub fn rule(&mut self, domain: Domain, expression: &str) {
        self.rules.push(MappingRule {
            id: MappingRuleId::new(),
            name: format!("rule {}", self.rules.len() + 1),
            domain,
            expression: expression.into(),
            priority: self.rules.len() as i32,
            enabled: true,
            created_at: now(),
            updated_at: now(),
        });
    }

    pub fn options(&self) -> GenerationOptions {
        let mut options = GenerationOptions::new("http://tv.example:8080", now());
        options.progress_interval = Duration::ZERO;
        options.channel_page = 3;
        options.programme_batch = 4;
        options.chunk_bytes = 512;
        options
    }

    pub async fn generate(&self) -> Result<GenerationSummary, PipelineError> {
        self.generate_with(&self.options()).await
    }

    pub async fn generate_with(
        &self,
        options: &GenerationOptions,
    ) -> Result<GenerationSummary, PipelineError> {
        self.generate_with_logos(options, &ProviderLogos).await
    }

    pub async fn generate_with_logos(
        &self,
        options: &GenerationOptions,
        logos: &dyn LogoRewriter,
    ) -> Result<GenerationSummary, PipelineError> {
        let ports = GenerationPorts {
            channels: &self.channels,
            programmes: &self.programmes,
            lineups: &self.lineups,
            outputs: &self.outputs,
            jobs: &self.jobs,
            logos,
            timer: &self.timer,
            progress: &self.progress,
        };
        let definition = ProxyDefinition {
            proxy: &self.proxy,
            stream_sources: &self.stream_sources,
            epg_sources: &self.epg_sources,
            filters: &self.filters,
            mapping_rules: &self.rules,
        };
        generate(&ports, &definition, options).await
    }

    /// The published lineup as `(number, name, guide_id)`.
    pub fn lineup(&self) -> Vec<(u32, String, String)> {
        self.lineups
            .get(self.proxy.id)
            .map(|p| {
                p.lineup
                    .into_iter()
                    .map(|c| (c.number, c.data.name, c.guide_id))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn m3u(&self) -> Option<String> {
        self.outputs.text(self.proxy.id, OutputKind::M3u)
    }

    pub fn xmltv(&self) -> Option<String> {
        self.outputs.text(self.proxy.id, OutputKind::Xmltv)
    }

    /// Programmes in the published guide per `channel` attribute, in order of appearance.
    pub fn programme_counts(&self) -> Vec<(String, usize)> {
        let xml = self.xmltv().unwrap_or_default();
        let mut counts: Vec<(String, usize)> = Vec::new();
        for line in xml
            .lines()
            .filter(|l| l.trim_start().starts_with("<programme "))
        {
            let channel = attribute(line, "channel").unwrap();
            match counts.last_mut() {
                Some((c, n)) if *c == channel => *n += 1,
                _ => counts.push((channel, 1)),
            }
        }
        counts
    }

    /// `(start, stop)` attributes of the published programmes of `channel`.
    pub fn programme_times(&self, channel: &str) -> Vec<(String, String)> {
        let xml = self.xmltv().unwrap_or_default();
        xml.lines()
            .filter(|l| l.trim_start().starts_with("<programme "))
            .filter(|l| attribute(l, "channel").as_deref() == Some(channel))
            .map(|l| {
                (
                    attribute(l, "start").unwrap(),
                    attribute(l, "stop").unwrap(),
                )
            })
            .collect()
    }

    /// The names of the stages in the summary, in order.
    pub fn stage_names(summary: &GenerationSummary) -> Vec<&str> {
        summary.stages.iter().map(|s| s.stage.as_str()).collect()
    }
}

pub fn stage<'a>(summary: &'a GenerationSummary, name: &str) -> &'a tvarr_core::StageReport {
    summary
        .stages
        .iter()
        .find(|s| s.stage == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

pub fn attribute(line: &str, name: &str) -> Option<String> {
    let at = line.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = line[at..].find('"')? + at;
    Some(line[at..end].to_string())
}

pub fn stream_source(name: &str) -> StreamSource {
    StreamSource {
        id: StreamSourceId::new(),
        name: name.into(),
        source_type: StreamSourceType::M3u,
        url: format!("http://{name}.example/playlist.m3u"),
        username: None,
        password: None,
        update_cron: None,
        enabled: true,
        user_agent: None,
        headers: Vec::new(),
        max_connections: None,
        state: IngestState::Ok,
        last_ingested_at: Some(now()),
        last_success_at: Some(now()),
        channel_count: 0,
        skipped_count: 0,
        last_error: None,
        created_at: now(),
        updated_at: now(),
    }
}

pub fn epg_source(name: &str) -> EpgSource {
    EpgSource {
        id: EpgSourceId::new(),
        name: name.into(),
        source_type: EpgSourceType::Xmltv,
        url: format!("http://{name}.example/guide.xml"),
        username: None,
        password: None,
        update_cron: None,
        enabled: true,
        user_agent: None,
        headers: Vec::new(),
        time_offset_minutes: 0,
        timezone: None,
        state: IngestState::Ok,
        last_ingested_at: Some(now()),
        last_success_at: Some(now()),
        programme_count: 0,
        skipped_count: 0,
        last_error: None,
        created_at: now(),
        updated_at: now(),
    }
}

/// A channel named `name` with stream URL `url`.
pub fn ch(name: &str, url: &str) -> ChannelData {
    ChannelData {
        name: name.into(),
        stream_url: url.into(),
        ..Default::default()
    }
}

pub trait ChannelExt {
    fn tvg_id(self, id: &str) -> Self;
    fn group(self, group: &str) -> Self;
    fn chno(self, chno: &str) -> Self;
    fn shift(self, hours: &str) -> Self;
}

impl ChannelExt for ChannelData {
    fn tvg_id(mut self, id: &str) -> Self {
        self.tvg_id = Some(id.into());
        self
    }
    fn group(mut self, group: &str) -> Self {
        self.group_title = Some(group.into());
        self
    }
    fn chno(mut self, chno: &str) -> Self {
        self.tvg_chno = Some(chno.into());
        self
    }
    fn shift(mut self, hours: &str) -> Self {
        self.tvg_shift = Some(hours.into());
        self
    }
}

pub fn guide_channel(id: &str, names: &[&str]) -> EpgChannel {
    EpgChannel {
        id: id.into(),
        display_names: names
            .iter()
            .map(|n| LangText {
                value: (*n).into(),
                lang: None,
            })
            .collect(),
        icon: Some(format!("http://logos.example/{id}.png")),
        extra_xml: None,
    }
}

/// `count` hour-long programmes on `channel`, the first starting `first_hour` hours from
/// [`now`] (negative: in the past).
pub fn hourly(channel: &str, first_hour: i64, count: i64) -> Vec<ProgrammeData> {
    (0..count)
        .map(|i| {
            let start = now() + chrono::Duration::hours(first_hour + i);
            ProgrammeData {
                channel: channel.into(),
                start,
                stop: start + chrono::Duration::hours(1),
                titles: vec![LangText {
                    value: format!("{channel} show {i}"),
                    lang: None,
                }],
                ..Default::default()
            }
        })
        .collect()
}
