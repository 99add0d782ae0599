//! The record stages of a generation: mapping, filtering and de-duplication of channels, and
//! selection, mapping and filtering of programmes. The orchestrator feeds them batches.

use std::collections::HashMap;

use async_trait::async_trait;
use tvarr_core::{ChannelId, EpgSource, LineupChannel, ProgrammeData, StreamSource, redact_url};

use crate::channel_record::{ChannelContext, ChannelRecord};
use crate::dedup::Deduplicator;
use crate::error::PipelineError;
use crate::filter_chain::FilterChain;
use crate::mapping::MappingPipeline;
use crate::programme_record::{ProgrammeContext, ProgrammeRecord};
use crate::stage::Stage;

/// The stream source a batch of channels comes from, as expressions see it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceView {
    name: String,
    kind: Option<tvarr_core::StreamSourceType>,
    url: String,
}

impl SourceView {
    pub(crate) fn new(source: &StreamSource) -> Self {
        Self {
            name: source.name.clone(),
            kind: Some(source.source_type),
            url: redact_url(&source.url),
        }
    }

    fn context(&self) -> ChannelContext<'_> {
        ChannelContext {
            source_name: Some(&self.name),
            source_type: self.kind,
            source_url: Some(&self.url),
            channel_number: None,
        }
    }
}

/// Whether a channel a rule changed can still be published: it needs a name and a stream URL
/// without spaces or control characters (the M3U puts it on a line of its own, and redirect
/// mode sends players to it).
fn usable_channel(channel: &LineupChannel) -> bool {
    let url = channel.data.stream_url.as_str();
    !channel.data.name.trim().is_empty()
        && !url.is_empty()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The proxy's stream mapping rules over each channel; notes the numbers rules set.
pub(crate) struct StreamMapping {
    pub(crate) rules: MappingPipeline,
    pub(crate) source: SourceView,
    /// Numbers rules asked for (`SET channel_number = …`), for numbering.
    pub(crate) requested: HashMap<ChannelId, u32>,
}

#[async_trait]
impl Stage<LineupChannel> for StreamMapping {
    fn name(&self) -> &'static str {
        "stream_mapping"
    }

    async fn process(
        &mut self,
        batch: &mut Vec<LineupChannel>,
        errors: &mut u64,
    ) -> Result<(), PipelineError> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let context = self.source.context();
        let requested = &mut self.requested;
        let rules = &self.rules;
        batch.retain_mut(|channel| {
            let mut record = ChannelRecord::new(&mut channel.data, context);
            rules.apply(&mut record, rules.helpers());
            if let Some(number) = record.channel_number() {
                requested.insert(channel.channel_id, number);
            }
            let usable = usable_channel(channel);
            if !usable {
                *errors += 1;
                requested.remove(&channel.channel_id);
            }
            usable
        });
        Ok(())
    }
}

/// The proxy's stream filters, in order (see [`FilterChain`] for the include/exclude rule).
pub(crate) struct StreamFilter {
    pub(crate) chain: FilterChain,
    pub(crate) source: SourceView,
}

#[async_trait]
impl Stage<LineupChannel> for StreamFilter {
    fn name(&self) -> &'static str {
        "stream_filter"
    }

    async fn process(
        &mut self,
        batch: &mut Vec<LineupChannel>,
        _errors: &mut u64,
    ) -> Result<(), PipelineError> {
        if self.chain.is_empty() {
            return Ok(());
        }
        let context = self.source.context();
        let chain = &self.chain;
        batch.retain(|channel| chain.keeps(&ChannelRecord::new(&channel.data, context)));
        Ok(())
    }
}

/// Drops channels an earlier source already gave (see [`Deduplicator`]).
pub(crate) struct Dedup {
    pub(crate) dedup: Deduplicator,
    pub(crate) source_index: usize,
}

#[async_trait]
impl Stage<LineupChannel> for Dedup {
    fn name(&self) -> &'static str {
        "dedup"
    }

    async fn process(
        &mut self,
        batch: &mut Vec<LineupChannel>,
        _errors: &mut u64,
    ) -> Result<(), PipelineError> {
        let source = self.source_index;
        let dedup = &mut self.dedup;
        batch.retain(|channel| dedup.keep(source, &channel.data));
        Ok(())
    }
}

/// A programme on its way to the guide, with the route (the lineup channels it is written
/// for) it was selected for. Routes are decided by the guide channel a programme was listed
/// under, before any rule runs: a rule that changes `programme_channel` does not move it.
#[derive(Debug)]
pub(crate) struct RoutedProgramme {
    pub(crate) route: u32,
    pub(crate) data: ProgrammeData,
}

/// Keeps the programmes of guide channels some lineup channel was matched to.
pub(crate) struct ProgrammeSelect<'a> {
    /// Guide channel id → route, for the current EPG source.
    pub(crate) routes: Option<&'a HashMap<String, u32>>,
}

#[async_trait]
impl Stage<RoutedProgramme> for ProgrammeSelect<'_> {
    fn name(&self) -> &'static str {
        "epg_select"
    }

    async fn process(
        &mut self,
        batch: &mut Vec<RoutedProgramme>,
        _errors: &mut u64,
    ) -> Result<(), PipelineError> {
        let Some(routes) = self.routes else {
            batch.clear();
            return Ok(());
        };
        batch.retain_mut(|p| match routes.get(p.data.channel.as_str()) {
            Some(&route) => {
                p.route = route;
                true
            }
            None => false,
        });
        Ok(())
    }
}

/// The EPG source a batch of programmes comes from, as expressions see it.
#[derive(Clone, Debug, Default)]
pub(crate) struct EpgSourceView {
    name: String,
    kind: Option<tvarr_core::EpgSourceType>,
}

impl EpgSourceView {
    pub(crate) fn new(source: &EpgSource) -> Self {
        Self {
            name: source.name.clone(),
            kind: Some(source.source_type),
        }
    }

    fn context(&self) -> ProgrammeContext<'_> {
        ProgrammeContext {
            source_name: Some(&self.name),
            source_type: self.kind,
        }
    }
}

/// The proxy's EPG mapping rules over each programme. A programme a rule leaves without a
/// title is dropped and counted (XMLTV requires one).
pub(crate) struct ProgrammeMapping {
    pub(crate) rules: MappingPipeline,
    pub(crate) source: EpgSourceView,
}

#[async_trait]
impl Stage<RoutedProgramme> for ProgrammeMapping {
    fn name(&self) -> &'static str {
        "epg_mapping"
    }

    async fn process(
        &mut self,
        batch: &mut Vec<RoutedProgramme>,
        errors: &mut u64,
    ) -> Result<(), PipelineError> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let context = self.source.context();
        let rules = &self.rules;
        batch.retain_mut(|p| {
            let report = rules.apply(
                &mut ProgrammeRecord::new(&mut p.data, context),
                rules.helpers(),
            );
            if report.changed() && p.data.titles.iter().all(|t| t.value.trim().is_empty()) {
                *errors += 1;
                return false;
            }
            true
        });
        Ok(())
    }
}

/// The proxy's EPG filters, in order.
pub(crate) struct ProgrammeFilter {
    pub(crate) chain: FilterChain,
    pub(crate) source: EpgSourceView,
}

#[async_trait]
impl Stage<RoutedProgramme> for ProgrammeFilter {
    fn name(&self) -> &'static str {
        "epg_filter"
    }

    async fn process(
        &mut self,
        batch: &mut Vec<RoutedProgramme>,
        _errors: &mut u64,
    ) -> Result<(), PipelineError> {
        if self.chain.is_empty() {
            return Ok(());
        }
        let context = self.source.context();
        let chain = &self.chain;
        batch.retain(|p| chain.keeps(&ProgrammeRecord::new(&p.data, context)));
        Ok(())
    }
}
