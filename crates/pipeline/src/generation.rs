//! The orchestrator: one generation of a proxy, from its sources' stored channels and guides to
//! a published lineup, M3U playlist and XMLTV guide.
//! See [`generate`] for the stages and the rules they follow.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tvarr_core::{
    ChangeList, ChangedChannel, ChannelId, ChannelQuery, ChannelRepository, Domain, EpgSource,
    Filter, GenerationSummary, JobKind, JobQuery, JobRepository, JobStatus, LineupChannel,
    LineupRepository, MappingRule, OutputKind, OutputStore, OutputWriter, PageRequest,
    ProgrammeData, ProgrammeRepository, Proxy, StageReport, StreamSource,
};
use tvarr_expr::RunHelpers;

use crate::changes::{ChangeTracker, removal_exceeds};
use crate::dedup::Deduplicator;
use crate::error::PipelineError;
use crate::filter_chain::FilterChain;
use crate::guide_match::GuideMatcher;
use crate::mapping::MappingPipeline;
use crate::numbering::{ChannelNumberer, NumberCandidate, NumberingSettings};
use crate::stage::{GenerationProgress, LogoRewriter, StageMeter, Timer};
use crate::stages::{
    Dedup, EpgSourceView, ProgrammeFilter, ProgrammeMapping, ProgrammeSelect, RoutedProgramme,
    SourceView, StreamFilter, StreamMapping,
};
use crate::{M3uWriter, XmltvWriter};

/// What a generation reads from and writes to: `tvarr-core` ports, so the pipeline does no
/// I/O of its own.
#[derive(Clone, Copy)]
pub struct GenerationPorts<'a> {
    /// The sources' stored channels.
    pub channels: &'a dyn ChannelRepository,
    /// The sources' stored guides.
    pub programmes: &'a dyn ProgrammeRepository,
    /// Published lineups and held numbers.
    pub lineups: &'a dyn LineupRepository,
    /// Where the outputs go.
    pub outputs: &'a dyn OutputStore,
    /// Jobs, for the ingestion guard.
    pub jobs: &'a dyn JobRepository,
    /// The logo stage's hook ([`ProviderLogos`](crate::ProviderLogos) keeps providers' URLs).
    pub logos: &'a dyn LogoRewriter,
    /// Sleeping, for the ingestion guard.
    pub timer: &'a dyn Timer,
    /// Progress and cancellation.
    pub progress: &'a dyn GenerationProgress,
}

/// The proxy to generate and the records it refers to.
///
/// The lists may hold more than the proxy uses (the caller can pass every source, filter and
/// rule): the generation picks what the proxy names, in the proxy's order. A source the proxy
/// names that is not in the list (deleted) is skipped: it has no channels. A filter or rule the
/// proxy names that is not in the list fails the generation with
/// [`PipelineError::MissingReference`], since publishing without it would publish what the
/// user excluded.
#[derive(Clone, Copy, Debug)]
pub struct ProxyDefinition<'a> {
    /// The proxy.
    pub proxy: &'a Proxy,
    /// Stream sources (at least the proxy's).
    pub stream_sources: &'a [StreamSource],
    /// EPG sources (at least the proxy's).
    pub epg_sources: &'a [EpgSource],
    /// Filters (at least the proxy's).
    pub filters: &'a [Filter],
    /// Mapping rules: every rule when the proxy names none (then every enabled rule applies),
    /// else at least the proxy's.
    pub mapping_rules: &'a [MappingRule],
}

/// How a generation runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationOptions {
    /// The server's base URL without a trailing slash: stream URLs are
    /// `<base>/proxy/{proxy_id}/{channel_id}`, the guide `<base>/proxy/{proxy_id}.xmltv`.
    pub base_url: String,
    /// Publish even when the removal guard trips.
    pub force: bool,
    /// The generation's instant: `@time:now`, the guide window, number releases.
    pub now: DateTime<Utc>,
    /// How long the ingestion guard waits for running ingests (5 minutes).
    pub ingest_wait: Duration,
    /// How often it looks again (2 seconds).
    pub ingest_poll: Duration,
    /// Channels read per page (5,000).
    pub channel_page: u32,
    /// Programmes read per batch (2,000).
    pub programme_batch: u32,
    /// Bytes handed to an output writer at a time (256 KiB).
    pub chunk_bytes: usize,
    /// Least time between two progress reports of a stage (250 ms); a stage's first and last
    /// reports are always sent.
    pub progress_interval: Duration,
}

impl GenerationOptions {
    /// The defaults, for `base_url` at `now`.
    pub fn new(base_url: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            force: false,
            now,
            ingest_wait: Duration::from_secs(300),
            ingest_poll: Duration::from_secs(2),
            channel_page: 5_000,
            programme_batch: 2_000,
            chunk_bytes: 256 * 1024,
            progress_interval: Duration::from_millis(250),
        }
    }
}

/// Lineup channels written per logo-rewriter call, and per M3U progress report.
const LINEUP_CHUNK: usize = 5_000;
/// Previous-lineup channels read per page for the change report.
const PREVIOUS_PAGE: u64 = 5_000;
/// The largest `tvg-shift` applied, in hours either way; larger values are ignored.
const MAX_SHIFT_HOURS: f64 = 48.0;

/// Generates `definition`'s proxy, through `ports`.
///
/// Returns the summary of what was published (the stored summary lacks only the `publish`
/// stage's own report and time), or why nothing was.
///
/// It runs these stages in order (each one's name is how progress and the
/// [`StageReport`]s call it):
///
/// | stage | what it does |
/// |---|---|
/// | `ingestion_guard` | waits (up to [`GenerationOptions::ingest_wait`]) while an ingest of one of the proxy's sources runs; after that it goes on with the last good data and names the source in [`GenerationSummary::stale_sources`] |
/// | `stream_read` | reads each stream source's channels, in the proxy's order, a page at a time |
/// | `stream_mapping` | the proxy's stream mapping rules (`mapping_rule_ids`, or every enabled stream rule when empty), by priority |
/// | `stream_filter` | the proxy's stream filters (`filter_ids`) in order: see below |
/// | `dedup` | drops channels an earlier source already gives (see [`Deduplicator`]) |
/// | `numbering` | stable numbers (see [`ChannelNumberer`]); the lineup is then in number order |
/// | `logos` | the [`LogoRewriter`] hook |
/// | `epg_matching` | finds each channel's guide (see [`GuideMatcher`]) |
/// | `changes` | compares with the published lineup; the removal guard |
/// | `epg_read` | reads each EPG source's programmes in the window, a batch at a time |
/// | `epg_select` | keeps programmes of guide channels the lineup uses |
/// | `epg_mapping` | the proxy's EPG mapping rules |
/// | `epg_filter` | the proxy's EPG filters |
/// | `xmltv` | writes the guide: a `<channel>` per guide id, then the programmes of each matched guide channel under the guide ids of the lineup channels matched to it, time-shifted by their `tvg-shift` and bounded by the window (channels sharing a guide id share one guide: that of the first of them with a match) |
/// | `m3u` | writes the playlist in number order |
/// | `publish` | publishes the lineup, held numbers and summary, then commits both outputs |
///
/// **Filters.** A proxy's filters of one domain form one ordered chain ([`FilterChain`]): a
/// channel starts kept when the chain has no include filter and dropped when it has one; each
/// filter that matches it then keeps it (include) or drops it (exclude), the last matching
/// filter deciding. So an exclude-only chain drops what it matches, an include-only chain keeps
/// only what it matches, and an include after an exclude brings back what the exclude dropped.
///
/// **Records flow in batches.** Channels are read per source in pages and each page goes
/// through mapping, filtering and de-duplication before the next is read; the lineup is the only
/// full data set held. Programmes are read per EPG source in batches and each batch is selected,
/// mapped, filtered and written before the next is read. A rule that leaves a record unusable
/// (a channel without name or stream URL, a programme without title) skips that record and
/// counts it in the stage's `errors`.
///
/// **Time.** Ingest already converts guide times to UTC with the EPG source's
/// `time_offset_minutes` and `timezone`, so generation applies only each channel's `tvg-shift`
/// (hours, fractions allowed) to the programmes written for it.
///
/// **Nothing half-done is visible.** Outputs are written to the [`OutputStore`]'s writers and
/// committed only after the lineup was published; a failure or cancellation before that aborts
/// both writers, so the previous lineup and outputs stay. (Should a commit fail after the lineup
/// was published, the new lineup and numbers are kept while the previous files stay served;
/// the lineup goes first so that no published file ever shows numbers that are not held.)
/// A proxy without sources publishes an
/// empty lineup, an M3U with only its header and a guide without channels: players pointed at
/// it find valid, empty files rather than an error, and adding sources fills them.
pub async fn generate(
    ports: &GenerationPorts<'_>,
    definition: &ProxyDefinition<'_>,
    options: &GenerationOptions,
) -> Result<GenerationSummary, PipelineError> {
    let started = Instant::now();
    let plan = Plan::resolve(definition, options)?;
    let mut run = Run {
        ports,
        options,
        proxy: definition.proxy,
        stages: Vec::new(),
    };

    let stale_sources = run.ingestion_guard(&plan).await?;
    let read = run.read_channels(&plan).await?;
    let mut lineup = read.lineup;
    let held = run.number(&mut lineup, &read.requested).await?;
    run.rewrite_logos(&mut lineup).await?;
    let guides = run.match_guides(&plan, &mut lineup).await?;
    let (changes, forced) = run.compare(&lineup).await?;

    let mut writers = Writers::default();
    let outcome = run
        .write_outputs(&plan, &lineup, &guides, &mut writers)
        .await;
    let programmes = match outcome {
        Ok(programmes) => programmes,
        Err(e) => {
            writers.abort().await;
            return Err(e);
        }
    };

    let mut summary = GenerationSummary {
        generated_at: options.now,
        duration_ms: millis(started.elapsed()),
        channels: lineup.len() as u64,
        programmes,
        forced,
        stages: std::mem::take(&mut run.stages),
        changes,
        matched: guides.matched,
        unmatched: guides.unmatched,
        stale_sources,
    };
    let publish = run.publish(&lineup, &held, &summary, writers).await?;
    summary.stages.push(publish);
    summary.duration_ms = millis(started.elapsed());
    Ok(summary)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the proxy uses, resolved and compiled.
struct Plan<'a> {
    stream_sources: Vec<&'a StreamSource>,
    epg_sources: Vec<&'a EpgSource>,
    stream_rules: MappingPipeline,
    epg_rules: MappingPipeline,
    stream_filter: FilterChain,
    epg_filter: FilterChain,
}

impl<'a> Plan<'a> {
    fn resolve(
        definition: &ProxyDefinition<'a>,
        options: &GenerationOptions,
    ) -> Result<Self, PipelineError> {
        let input = &definition.proxy.input;
        let mut seen = HashSet::new();
        let stream_sources = input
            .stream_source_ids
            .iter()
            .filter(|id| seen.insert(id.as_uuid()))
            .filter_map(|id| definition.stream_sources.iter().find(|s| s.id == *id))
            .collect();
        let epg_sources = input
            .epg_source_ids
            .iter()
            .filter(|id| seen.insert(id.as_uuid()))
            .filter_map(|id| definition.epg_sources.iter().find(|s| s.id == *id))
            .collect();

        let mut filters = Vec::with_capacity(input.filter_ids.len());
        for id in &input.filter_ids {
            match definition.filters.iter().find(|f| f.id == *id) {
                Some(f) => filters.push(f.clone()),
                None => {
                    return Err(PipelineError::MissingReference {
                        kind: "filter",
                        id: id.to_string(),
                    });
                }
            }
        }
        let rules: Vec<MappingRule> = if input.mapping_rule_ids.is_empty() {
            definition.mapping_rules.to_vec()
        } else {
            let mut rules = Vec::with_capacity(input.mapping_rule_ids.len());
            for id in &input.mapping_rule_ids {
                match definition.mapping_rules.iter().find(|r| r.id == *id) {
                    Some(r) => rules.push(r.clone()),
                    None => {
                        return Err(PipelineError::MissingReference {
                            kind: "mapping rule",
                            id: id.to_string(),
                        });
                    }
                }
            }
            rules
        };
        let helpers = || RunHelpers::at(&options.base_url, options.now);
        Ok(Self {
            stream_sources,
            epg_sources,
            stream_rules: MappingPipeline::from_rules(Domain::Stream, &rules)?
                .with_helpers(helpers()),
            epg_rules: MappingPipeline::from_rules(Domain::Epg, &rules)?.with_helpers(helpers()),
            stream_filter: FilterChain::for_domain(Domain::Stream, &filters)?.with_now(options.now),
            epg_filter: FilterChain::for_domain(Domain::Epg, &filters)?.with_now(options.now),
        })
    }
}

/// The channels read, mapped, filtered and de-duplicated.
struct ReadChannels {
    lineup: Vec<LineupChannel>,
    requested: HashMap<ChannelId, u32>,
}

/// The outcome of guide matching.
struct Guides {
    matched: std::collections::BTreeMap<tvarr_core::MatchMethod, u64>,
    unmatched: ChangeList,
    /// Per EPG source (by position): guide channel id → route.
    routes: Vec<HashMap<String, u32>>,
    /// Per route: the lineup positions of the guide ids it is written under, each with its
    /// shift in minutes.
    targets: Vec<Vec<(usize, i64)>>,
    /// The largest shift, in minutes either way.
    max_shift_minutes: i64,
    /// The matcher, for guide channels' display names and icons.
    matcher: GuideMatcher,
    /// Lineup positions of the first channel of each guide id, in lineup order.
    guide_channels: Vec<usize>,
}

/// Both output writers while they are open.
#[derive(Default)]
struct Writers {
    xmltv: Option<Box<dyn OutputWriter>>,
    m3u: Option<Box<dyn OutputWriter>>,
}

impl Writers {
    /// Throws away what was written; the previous outputs stay. Abort errors are ignored: the
    /// store cleans up what a dropped writer left.
    async fn abort(&mut self) {
        if let Some(w) = self.xmltv.take() {
            let _ = w.abort().await;
        }
        if let Some(w) = self.m3u.take() {
            let _ = w.abort().await;
        }
    }
}

/// A buffer handed to an output writer every `chunk` bytes.
struct Chunked {
    kind: OutputKind,
    buf: Vec<u8>,
    chunk: usize,
}

impl Chunked {
    fn new(kind: OutputKind, chunk: usize) -> Self {
        let chunk = chunk.max(1);
        Self {
            kind,
            buf: Vec::with_capacity(chunk + 16 * 1024),
            chunk,
        }
    }

    async fn maybe_flush(&mut self, writer: &mut dyn OutputWriter) -> Result<(), PipelineError> {
        if self.buf.len() >= self.chunk {
            self.flush(writer).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, writer: &mut dyn OutputWriter) -> Result<(), PipelineError> {
        if !self.buf.is_empty() {
            writer
                .write(&self.buf)
                .await
                .map_err(|e| PipelineError::output(self.kind, &e))?;
            self.buf.clear();
        }
        Ok(())
    }
}

struct Run<'p, 'a> {
    ports: &'p GenerationPorts<'a>,
    options: &'p GenerationOptions,
    proxy: &'p Proxy,
    stages: Vec<StageReport>,
}

impl Run<'_, '_> {
    fn meter(&self, name: &'static str, total: Option<u64>) -> StageMeter {
        StageMeter::new(name, total, self.options.progress_interval)
    }

    async fn end(&mut self, mut meter: StageMeter) -> Result<(), PipelineError> {
        meter.report_now(self.ports.progress).await?;
        self.stages.push(meter.finish());
        Ok(())
    }

    /// Waits while ingests of the proxy's sources run, up to the bound; returns the names of
    /// the sources still ingesting after it.
    async fn ingestion_guard(&mut self, plan: &Plan<'_>) -> Result<Vec<String>, PipelineError> {
        let sources = plan.stream_sources.len() + plan.epg_sources.len();
        let mut meter = self.meter("ingestion_guard", Some(sources as u64));
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        let stale = loop {
            let running = self.running_ingests(plan).await?;
            if running.is_empty() {
                break Vec::new();
            }
            if waited >= self.options.ingest_wait {
                break running;
            }
            meter.report_now(self.ports.progress).await?;
            let step = self
                .options
                .ingest_poll
                .min(self.options.ingest_wait - waited)
                .max(Duration::from_millis(1));
            self.ports.timer.sleep(step).await;
            waited += step;
        };
        meter.count(sources as u64, (sources - stale.len()) as u64, 0);
        meter.add_time(started.elapsed());
        self.end(meter).await?;
        Ok(stale)
    }

    async fn running_ingests(&self, plan: &Plan<'_>) -> Result<Vec<String>, PipelineError> {
        let mut names = Vec::new();
        for (kind, subjects) in [
            (
                JobKind::IngestStream,
                plan.stream_sources
                    .iter()
                    .map(|s| (s.id.as_uuid(), s.name.as_str()))
                    .collect::<Vec<_>>(),
            ),
            (
                JobKind::IngestEpg,
                plan.epg_sources
                    .iter()
                    .map(|s| (s.id.as_uuid(), s.name.as_str()))
                    .collect(),
            ),
        ] {
            if subjects.is_empty() {
                continue;
            }
            let query = JobQuery {
                kind: Some(kind),
                status: Some(JobStatus::Running),
            };
            let jobs = self
                .ports
                .jobs
                .list(&query, PageRequest::new(PageRequest::MAX_LIMIT, 0))
                .await
                .map_err(|e| PipelineError::repository("listing running ingests", &e))?;
            for (id, name) in subjects {
                if jobs.items.iter().any(|j| j.subject_id == Some(id)) {
                    names.push(name.to_string());
                }
            }
        }
        Ok(names)
    }

    async fn read_channels(&mut self, plan: &Plan<'_>) -> Result<ReadChannels, PipelineError> {
        let mut total = 0;
        for source in &plan.stream_sources {
            total += self.ports.channels.count(source.id).await.map_err(|e| {
                PipelineError::repository(format!("counting channels of {}", source.name), &e)
            })?;
        }
        let mut read = self.meter("stream_read", Some(total));
        let mut mapping_meter = self.meter("stream_mapping", None);
        let mut filter_meter = self.meter("stream_filter", None);
        let mut dedup_meter = self.meter("dedup", None);
        let mut mapping = StreamMapping {
            rules: plan.stream_rules.clone(),
            source: SourceView::default(),
            requested: HashMap::new(),
        };
        let mut filter = StreamFilter {
            chain: plan.stream_filter.clone(),
            source: SourceView::default(),
        };
        let mut dedup = Dedup {
            dedup: Deduplicator::new(),
            source_index: 0,
        };
        // Without filters the lineup is every channel read, less duplicates: reserved at once,
        // it is not grown by doubling, which held the old and the new buffer together (42 MB
        // for 50,000 channels, profiled). With filters the total is only an upper bound.
        let mut lineup: Vec<LineupChannel> = if plan.stream_filter.is_empty() {
            Vec::with_capacity(usize::try_from(total).unwrap_or(0))
        } else {
            Vec::new()
        };
        let mut ids: HashSet<ChannelId> = HashSet::new();
        let page_size = self.options.channel_page.max(1);
        for (index, source) in plan.stream_sources.iter().enumerate() {
            let view = SourceView::new(source);
            mapping.source = view.clone();
            filter.source = view;
            dedup.source_index = index;
            let query = ChannelQuery {
                source_ids: vec![source.id],
                ..ChannelQuery::default()
            };
            let mut offset = 0u64;
            loop {
                let t = Instant::now();
                let page = self
                    .ports
                    .channels
                    .list(&query, PageRequest::new(u64::from(page_size), offset))
                    .await
                    .map_err(|e| {
                        PipelineError::repository(
                            format!("reading channels of {}", source.name),
                            &e,
                        )
                    })?;
                read.add_time(t.elapsed());
                let n = page.items.len() as u64;
                offset += n;
                read.count(n, n, 0);
                let mut batch: Vec<LineupChannel> = page
                    .items
                    .into_iter()
                    .map(|c| LineupChannel {
                        channel_id: c.id,
                        source_id: c.source_id,
                        number: 0,
                        guide_id: String::new(),
                        data: c.data,
                        guide: None,
                    })
                    .collect();
                mapping_meter.run(&mut mapping, &mut batch).await?;
                filter_meter.run(&mut filter, &mut batch).await?;
                dedup_meter.run(&mut dedup, &mut batch).await?;
                // A page read while the source's data was replaced may repeat a channel.
                lineup.extend(batch.into_iter().filter(|c| ids.insert(c.channel_id)));
                read.tick(self.ports.progress).await?;
                mapping_meter.tick(self.ports.progress).await?;
                filter_meter.tick(self.ports.progress).await?;
                dedup_meter.tick(self.ports.progress).await?;
                if n < u64::from(page_size) || offset >= page.total {
                    break;
                }
            }
        }
        self.end(read).await?;
        self.end(mapping_meter).await?;
        self.end(filter_meter).await?;
        self.end(dedup_meter).await?;
        Ok(ReadChannels {
            lineup,
            requested: mapping.requested,
        })
    }

    /// Numbers the lineup, then puts it in number order; returns the numbers to hold.
    async fn number(
        &mut self,
        lineup: &mut [LineupChannel],
        requested: &HashMap<ChannelId, u32>,
    ) -> Result<Vec<tvarr_core::HeldNumber>, PipelineError> {
        let mut meter = self.meter("numbering", Some(lineup.len() as u64));
        meter.report_now(self.ports.progress).await?;
        let t = Instant::now();
        let held = self
            .ports
            .lineups
            .held_numbers(self.proxy.id)
            .await
            .map_err(|e| PipelineError::repository("reading held channel numbers", &e))?;
        let numberer = ChannelNumberer::new(NumberingSettings::for_proxy(
            &self.proxy.input,
            self.options.now,
        ));
        let numbering = self.proxy.input.numbering;
        let candidates: Vec<NumberCandidate<'_>> = lineup
            .iter()
            .map(|c| NumberCandidate {
                channel_id: c.channel_id,
                group: c.data.group_title.as_deref(),
                provider_number: match numbering {
                    tvarr_core::Numbering::Preserve => c.data.tvg_chno.as_deref(),
                    tvarr_core::Numbering::Sequential => None,
                },
                requested: requested.get(&c.channel_id).copied(),
            })
            .collect();
        let assigned = numberer.assign(&candidates, &held);
        drop(candidates);
        for (channel, number) in lineup.iter_mut().zip(&assigned.numbers) {
            channel.number = *number;
        }
        lineup.sort_unstable_by_key(|c| c.number);
        meter.add_time(t.elapsed());
        let n = lineup.len() as u64;
        meter.count(n, n, 0);
        self.end(meter).await?;
        Ok(assigned.held)
    }

    async fn rewrite_logos(&mut self, lineup: &mut [LineupChannel]) -> Result<(), PipelineError> {
        let mut meter = self.meter("logos", Some(lineup.len() as u64));
        for chunk in lineup.chunks_mut(LINEUP_CHUNK) {
            let t = Instant::now();
            let errors = self
                .ports
                .logos
                .rewrite(chunk)
                .await
                .map_err(|e| PipelineError::repository("rewriting logos", &e))?;
            meter.add_time(t.elapsed());
            let n = chunk.len() as u64;
            meter.count(n, n, errors);
            meter.tick(self.ports.progress).await?;
        }
        self.end(meter).await
    }

    async fn match_guides(
        &mut self,
        plan: &Plan<'_>,
        lineup: &mut [LineupChannel],
    ) -> Result<Guides, PipelineError> {
        let mut meter = self.meter("epg_matching", Some(lineup.len() as u64));
        meter.report_now(self.ports.progress).await?;
        let t = Instant::now();
        let mut matcher = GuideMatcher::new();
        for source in &plan.epg_sources {
            let channels = self
                .ports
                .programmes
                .channels(&[source.id])
                .await
                .map_err(|e| {
                    PipelineError::repository(
                        format!("reading guide channels of {}", source.name),
                        &e,
                    )
                })?;
            matcher.add_source(source.id, channels);
        }
        // Each channel's own match, and its guide id.
        for channel in lineup.iter_mut() {
            let d = &channel.data;
            let mut names: Vec<&str> = vec![d.name.as_str()];
            if let Some(n) = d.tvg_name.as_deref() {
                names.push(n);
            }
            let tvg_id = d.tvg_id.as_deref().map(str::trim).filter(|t| !t.is_empty());
            let found = matcher.find(tvg_id, &names);
            channel.guide_id = match (tvg_id, &found) {
                (Some(id), _) => id.to_string(),
                (None, Some(f)) => f.channel.id.clone(),
                (None, None) => channel.channel_id.to_string(),
            };
            channel.guide = found.map(|f| f.to_match());
        }
        // Channels sharing a guide id share one guide: that of the first of them with a match
        // (its representative), else the first of them.
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        let mut representatives: Vec<usize> = Vec::new();
        let mut member_of: Vec<usize> = Vec::with_capacity(lineup.len());
        for (i, channel) in lineup.iter().enumerate() {
            let group = *group_of
                .entry(channel.guide_id.as_str())
                .or_insert_with(|| {
                    representatives.push(i);
                    representatives.len() - 1
                });
            if lineup[representatives[group]].guide.is_none() && channel.guide.is_some() {
                representatives[group] = i;
            }
            member_of.push(group);
        }
        drop(group_of);
        for (i, group) in member_of.into_iter().enumerate() {
            let rep = representatives[group];
            if rep != i {
                lineup[i].guide = lineup[rep].guide.clone();
            }
        }
        let guide_channels = representatives;

        // Routes: which guide channel of which source is written under which guide ids.
        let mut routes: Vec<HashMap<String, u32>> = vec![HashMap::new(); plan.epg_sources.len()];
        let mut targets: Vec<Vec<(usize, i64)>> = Vec::new();
        let mut max_shift_minutes = 0i64;
        for &i in &guide_channels {
            let channel = &lineup[i];
            let Some(guide) = &channel.guide else {
                continue;
            };
            let Some(source_index) = matcher.source_index(guide.epg_source_id) else {
                continue;
            };
            let shift = shift_minutes(channel.data.tvg_shift.as_deref());
            max_shift_minutes = max_shift_minutes.max(shift.abs());
            let route = routes[source_index]
                .entry(guide.epg_channel.clone())
                .or_insert_with(|| {
                    targets.push(Vec::new());
                    u32::try_from(targets.len() - 1).unwrap_or(u32::MAX)
                });
            if let Some(t) = targets.get_mut(*route as usize) {
                t.push((i, shift));
            }
        }

        let mut matched = std::collections::BTreeMap::new();
        let mut unmatched = ChangeList::default();
        for channel in lineup.iter() {
            match &channel.guide {
                Some(g) => *matched.entry(g.method).or_insert(0u64) += 1,
                None => unmatched.push(ChangedChannel {
                    channel_id: channel.channel_id,
                    name: channel.data.name.clone(),
                    number: channel.number,
                    previous_name: None,
                    previous_number: None,
                }),
            }
        }
        meter.add_time(t.elapsed());
        let n = lineup.len() as u64;
        meter.count(n, n - unmatched.count, 0);
        self.end(meter).await?;
        Ok(Guides {
            matched,
            unmatched,
            routes,
            targets,
            max_shift_minutes,
            matcher,
            guide_channels,
        })
    }

    /// The change report against the published lineup, and the removal guard; returns the
    /// report and whether the guard was overridden.
    async fn compare(
        &mut self,
        lineup: &[LineupChannel],
    ) -> Result<(tvarr_core::ChangeReport, bool), PipelineError> {
        let mut meter = self.meter("changes", Some(lineup.len() as u64));
        let t = Instant::now();
        let mut tracker = ChangeTracker::new(lineup);
        let mut offset = 0u64;
        loop {
            let page = self
                .ports
                .lineups
                .list(self.proxy.id, PageRequest::new(PREVIOUS_PAGE, offset))
                .await
                .map_err(|e| PipelineError::repository("reading the published lineup", &e))?;
            let n = page.items.len() as u64;
            tracker.previous(&page.items);
            offset += n;
            meter.count(n, 0, 0);
            meter.tick(self.ports.progress).await?;
            if n < PREVIOUS_PAGE || offset >= page.total {
                break;
            }
        }
        let changes = tracker.finish();
        meter.add_time(t.elapsed());
        let removed = changes.report.removed.count;
        let exceeds = removal_exceeds(
            removed,
            changes.previous_total,
            self.proxy.input.max_removed_percent,
        );
        meter.count(0, lineup.len() as u64, 0);
        self.end(meter).await?;
        if exceeds && !self.options.force {
            return Err(PipelineError::RemovalGuard {
                removed,
                previous: changes.previous_total,
                max_percent: self.proxy.input.max_removed_percent,
            });
        }
        Ok((changes.report, exceeds))
    }

    /// Writes the guide, then the playlist; returns how many programmes were written.
    async fn write_outputs(
        &mut self,
        plan: &Plan<'_>,
        lineup: &[LineupChannel],
        guides: &Guides,
        writers: &mut Writers,
    ) -> Result<u64, PipelineError> {
        let programmes = self.write_xmltv(plan, lineup, guides, writers).await?;
        self.write_m3u(lineup, writers).await?;
        Ok(programmes)
    }

    async fn write_xmltv(
        &mut self,
        plan: &Plan<'_>,
        lineup: &[LineupChannel],
        guides: &Guides,
        writers: &mut Writers,
    ) -> Result<u64, PipelineError> {
        let kind = OutputKind::Xmltv;
        let writer = writers.xmltv.insert(
            self.ports
                .outputs
                .begin(self.proxy.id, kind)
                .await
                .map_err(|e| PipelineError::output(kind, &e))?,
        );
        let mut out = Chunked::new(kind, self.options.chunk_bytes);
        let mut meter = self.meter("xmltv", None);
        let t = Instant::now();
        XmltvWriter::header(&mut out.buf);
        for &i in &guides.guide_channels {
            let channel = &lineup[i];
            let guide_channel = channel.guide.as_ref().and_then(|g| {
                let source = guides.matcher.source_index(g.epg_source_id)?;
                guides.matcher.channel(source, &g.epg_channel)
            });
            let mut names: Vec<&str> = vec![channel.data.name.as_str()];
            if let Some(gc) = guide_channel {
                for n in &gc.display_names {
                    if !names.contains(&n.value.as_str()) {
                        names.push(&n.value);
                    }
                }
            }
            let icon = channel
                .data
                .tvg_logo
                .as_deref()
                .or_else(|| guide_channel.and_then(|gc| gc.icon.as_deref()));
            XmltvWriter::channel(&mut out.buf, &channel.guide_id, &names, icon);
            out.maybe_flush(writer.as_mut()).await?;
        }
        meter.add_time(t.elapsed());

        let programmes = self
            .write_programmes(plan, lineup, guides, writer.as_mut(), &mut out, &mut meter)
            .await?;

        let t = Instant::now();
        XmltvWriter::footer(&mut out.buf);
        out.flush(writer.as_mut()).await?;
        meter.add_time(t.elapsed());
        self.end(meter).await?;
        Ok(programmes)
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_programmes(
        &mut self,
        plan: &Plan<'_>,
        lineup: &[LineupChannel],
        guides: &Guides,
        writer: &mut dyn OutputWriter,
        out: &mut Chunked,
        xmltv_meter: &mut StageMeter,
    ) -> Result<u64, PipelineError> {
        let window_from =
            self.options.now - chrono::Duration::days(i64::from(self.proxy.input.epg_days_past));
        let window_to =
            self.options.now + chrono::Duration::days(i64::from(self.proxy.input.epg_days_ahead));
        let widen = chrono::Duration::minutes(guides.max_shift_minutes);
        let routed_sources: Vec<(usize, &EpgSource)> = plan
            .epg_sources
            .iter()
            .enumerate()
            .filter(|(i, _)| guides.routes.get(*i).is_some_and(|r| !r.is_empty()))
            .map(|(i, s)| (i, *s))
            .collect();
        let mut total = 0u64;
        for (_, source) in &routed_sources {
            total += self.ports.programmes.count(source.id).await.map_err(|e| {
                PipelineError::repository(format!("counting programmes of {}", source.name), &e)
            })?;
        }
        let mut read = self.meter("epg_read", Some(total));
        let mut select_meter = self.meter("epg_select", None);
        let mut mapping_meter = self.meter("epg_mapping", None);
        let mut filter_meter = self.meter("epg_filter", None);
        let mut mapping = ProgrammeMapping {
            rules: plan.epg_rules.clone(),
            source: EpgSourceView::default(),
        };
        let mut filter = ProgrammeFilter {
            chain: plan.epg_filter.clone(),
            source: EpgSourceView::default(),
        };
        let batch_size = self.options.programme_batch.max(1);
        let mut written = 0u64;
        let mut guide = GuideWriter {
            lineup,
            targets: &guides.targets,
            from: window_from,
            to: window_to,
            run: Vec::new(),
            run_route: None,
        };
        for (index, source) in routed_sources {
            let mut select = ProgrammeSelect {
                routes: guides.routes.get(index),
            };
            let view = EpgSourceView::new(source);
            mapping.source = view.clone();
            filter.source = view;
            let programmes = self.ports.programmes;
            let (from, to) = (window_from - widen, window_to + widen);
            let (source_id, source_name) = (source.id, &source.name);
            let read_batch = |after: Option<String>| async move {
                let t = Instant::now();
                let scanned = programmes
                    .scan(source_id, from, to, after.as_deref(), batch_size)
                    .await
                    .map_err(|e| {
                        PipelineError::repository(
                            format!("reading programmes of {source_name}"),
                            &e,
                        )
                    });
                (scanned, t.elapsed())
            };
            // Each batch is read while the one before it goes through the stages and the
            // writer: the database (on SQLite, sqlx's own thread) works beside them.
            let mut reading = read_batch(None).await;
            loop {
                let (scanned, took) = reading;
                let scanned = scanned?;
                read.add_time(took);
                let n = scanned.items.len() as u64;
                read.count(n, n, 0);
                let next = scanned.next.filter(|_| n > 0);
                let items = scanned.items;
                let process = async {
                    let mut batch: Vec<RoutedProgramme> = items
                        .into_iter()
                        .map(|data| RoutedProgramme { route: 0, data })
                        .collect();
                    select_meter.run(&mut select, &mut batch).await?;
                    mapping_meter.run(&mut mapping, &mut batch).await?;
                    filter_meter.run(&mut filter, &mut batch).await?;
                    let t = Instant::now();
                    let before = batch.len() as u64;
                    for p in batch {
                        written += guide.push(p, out, writer).await?;
                    }
                    xmltv_meter.add_time(t.elapsed());
                    xmltv_meter.count(before, 0, 0);
                    Ok::<(), PipelineError>(())
                };
                let following = match next {
                    Some(next) => {
                        let (following, processed) =
                            futures::join!(read_batch(Some(next)), process);
                        processed?;
                        Some(following)
                    }
                    None => {
                        process.await?;
                        None
                    }
                };
                read.tick(self.ports.progress).await?;
                select_meter.tick(self.ports.progress).await?;
                mapping_meter.tick(self.ports.progress).await?;
                filter_meter.tick(self.ports.progress).await?;
                xmltv_meter.tick(self.ports.progress).await?;
                match following {
                    Some(following) => reading = following,
                    None => break,
                }
            }
            let t = Instant::now();
            written += guide.flush(out, writer).await?;
            xmltv_meter.add_time(t.elapsed());
        }
        xmltv_meter.count(0, written, 0);
        self.end(read).await?;
        self.end(select_meter).await?;
        self.end(mapping_meter).await?;
        self.end(filter_meter).await?;
        Ok(written)
    }

    async fn write_m3u(
        &mut self,
        lineup: &[LineupChannel],
        writers: &mut Writers,
    ) -> Result<(), PipelineError> {
        let kind = OutputKind::M3u;
        let writer = writers.m3u.insert(
            self.ports
                .outputs
                .begin(self.proxy.id, kind)
                .await
                .map_err(|e| PipelineError::output(kind, &e))?,
        );
        let mut meter = self.meter("m3u", Some(lineup.len() as u64));
        let mut out = Chunked::new(kind, self.options.chunk_bytes);
        let base = &self.options.base_url;
        let proxy_id = self.proxy.id;
        let t = Instant::now();
        M3uWriter::header(&mut out.buf, &format!("{base}/proxy/{proxy_id}.xmltv"));
        let mut url = String::new();
        for chunk in lineup.chunks(LINEUP_CHUNK) {
            for channel in chunk {
                url.clear();
                let _ = write!(url, "{base}/proxy/{proxy_id}/{}", channel.channel_id);
                M3uWriter::channel(&mut out.buf, channel, &url);
                out.maybe_flush(writer.as_mut()).await?;
            }
            let n = chunk.len() as u64;
            meter.count(n, n, 0);
            meter.tick(self.ports.progress).await?;
        }
        out.flush(writer.as_mut()).await?;
        meter.add_time(t.elapsed());
        self.end(meter).await
    }

    /// Publishes the lineup, then commits the guide and the playlist.
    async fn publish(
        &mut self,
        lineup: &[LineupChannel],
        held: &[tvarr_core::HeldNumber],
        summary: &GenerationSummary,
        mut writers: Writers,
    ) -> Result<StageReport, PipelineError> {
        let mut meter = self.meter("publish", Some(lineup.len() as u64));
        if let Err(e) = meter.report_now(self.ports.progress).await {
            writers.abort().await;
            return Err(e);
        }
        let t = Instant::now();
        if let Err(e) = self
            .ports
            .lineups
            .publish(self.proxy.id, lineup, held, summary)
            .await
        {
            writers.abort().await;
            return Err(PipelineError::repository("publishing the lineup", &e));
        }
        for kind in [OutputKind::Xmltv, OutputKind::M3u] {
            let writer = match kind {
                OutputKind::Xmltv => writers.xmltv.take(),
                OutputKind::M3u => writers.m3u.take(),
            };
            if let Some(writer) = writer
                && let Err(e) = writer.commit().await
            {
                writers.abort().await;
                return Err(PipelineError::output(kind, &e));
            }
        }
        meter.add_time(t.elapsed());
        let n = lineup.len() as u64;
        meter.count(n, n, 0);
        let _ = meter.report_now(self.ports.progress).await;
        Ok(meter.finish())
    }
}

/// Writes programmes under the guide ids of their route, a guide channel's run at a time.
struct GuideWriter<'a> {
    lineup: &'a [LineupChannel],
    targets: &'a [Vec<(usize, i64)>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// The programmes of the current route (one guide channel), in time order.
    run: Vec<ProgrammeData>,
    run_route: Option<u32>,
}

impl GuideWriter<'_> {
    /// Adds a programme; returns how many programmes were written (a route's run is written
    /// when the next route begins).
    async fn push(
        &mut self,
        p: RoutedProgramme,
        out: &mut Chunked,
        writer: &mut dyn OutputWriter,
    ) -> Result<u64, PipelineError> {
        let mut written = 0;
        if self.run_route != Some(p.route) {
            written = self.flush(out, writer).await?;
            self.run_route = Some(p.route);
        }
        self.run.push(p.data);
        Ok(written)
    }

    /// Writes the current run under each of its route's guide ids, shifted and within the
    /// window.
    async fn flush(
        &mut self,
        out: &mut Chunked,
        writer: &mut dyn OutputWriter,
    ) -> Result<u64, PipelineError> {
        let Some(route) = self.run_route.take() else {
            return Ok(0);
        };
        let mut written = 0;
        let targets = self
            .targets
            .get(route as usize)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for &(i, shift) in targets {
            let guide_id = self.lineup[i].guide_id.as_str();
            let shift = chrono::Duration::minutes(shift);
            for p in &mut self.run {
                let (start, stop) = (p.start, p.stop);
                p.start = start + shift;
                p.stop = stop + shift;
                if p.stop > self.from
                    && p.start < self.to
                    && XmltvWriter::programme(&mut out.buf, guide_id, p)
                {
                    written += 1;
                }
                p.start = start;
                p.stop = stop;
                out.maybe_flush(writer).await?;
            }
        }
        self.run.clear();
        Ok(written)
    }
}

/// A `tvg-shift` in minutes: hours, fractions allowed (`-1.5`, `+2`); anything else, or more
/// than 48 hours either way, is no shift.
pub fn shift_minutes(text: Option<&str>) -> i64 {
    let Some(hours) = text
        .map(str::trim)
        .map(|t| t.strip_prefix('+').unwrap_or(t))
        .and_then(|t| t.parse::<f64>().ok())
    else {
        return 0;
    };
    if !hours.is_finite() || hours.abs() > MAX_SHIFT_HOURS {
        return 0;
    }
    (hours * 60.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tvg_shift_reads_hours_with_fractions_and_ignores_the_rest() {
        assert_eq!(shift_minutes(Some("+2")), 120);
        assert_eq!(shift_minutes(Some(" -1.5 ")), -90);
        assert_eq!(shift_minutes(Some("0")), 0);
        assert_eq!(shift_minutes(Some("two")), 0);
        assert_eq!(shift_minutes(Some("49")), 0);
        assert_eq!(shift_minutes(Some("NaN")), 0);
        assert_eq!(shift_minutes(None), 0);
    }

    #[test]
    fn options_drop_a_trailing_slash_of_the_base_url() {
        let o = GenerationOptions::new("http://tv.example:8080/", Utc::now());
        assert_eq!(o.base_url, "http://tv.example:8080");
        assert_eq!(o.ingest_wait, Duration::from_secs(300));
    }

    #[test]
    fn definitions_name_missing_filters_and_rules() {
        let now = Utc::now();
        let mut input = tvarr_core::ProxyInput::named("p");
        let filter_id = tvarr_core::FilterId::new();
        input.filter_ids = vec![filter_id];
        let proxy = Proxy {
            id: tvarr_core::ProxyId::new(),
            input,
            last_generated_at: None,
            created_at: now,
            updated_at: now,
        };
        let definition = ProxyDefinition {
            proxy: &proxy,
            stream_sources: &[],
            epg_sources: &[],
            filters: &[],
            mapping_rules: &[],
        };
        let err = Plan::resolve(&definition, &GenerationOptions::new("", now))
            .err()
            .unwrap();
        assert_eq!(
            err,
            PipelineError::MissingReference {
                kind: "filter",
                id: filter_id.to_string()
            }
        );
    }
}
