//! `tvarr-pipeline` owns what turns ingested channels and programmes into a proxy's output:
//!
//! - **generation**: [`generate`] runs one generation of a proxy as a sequence of stages
//!   (ingestion guard, stream mapping, stream filtering, de-duplication, numbering, logos, guide
//!   matching, change report and removal guard, EPG mapping and filtering, XMLTV and M3U
//!   writing, publish), each a [`Stage`] over batches that reports progress to a
//!   [`GenerationProgress`] and ends with a [`StageReport`](tvarr_core::StageReport) ([`generate`]
//!   has the table of stages and the rules they follow);
//! - **its building blocks**, usable alone: stable channel numbers ([`ChannelNumberer`]),
//!   guide matching ([`GuideMatcher`]), de-duplication across sources ([`Deduplicator`]), the
//!   change report ([`ChangeTracker`], [`removal_exceeds`]);
//! - **serialisation**: the [`M3uWriter`] and [`XmltvWriter`] that the generation streams the
//!   playlist and the guide through;
//! - **expressions over records**: the adapters that let compiled expressions read and change
//!   [`ChannelData`](tvarr_core::ChannelData) and [`ProgrammeData`](tvarr_core::ProgrammeData)
//!   ([`ChannelRecord`], [`ProgrammeRecord`]), the ordered include/exclude [`FilterChain`], and
//!   the [`MappingPipeline`] of data-mapping rules (the API's rule and filter previews use them
//!   too, over every record of some sources: [`scan_channels`], [`scan_programmes`]);
//! - **rule exchange** ([`rule_exchange`]): the documents filters and rules are shared in, and
//!   what importing one does;
//! - **the HDHomeRun dialect** ([`hdhomerun`]): device ids, the split of a lineup into
//!   devices, and the documents Plex, Jellyfin and Emby read;
//! - **the Xtream Codes dialect** ([`xtream`]): the `player_api.php` answers, the `m3u_plus`
//!   playlist and the stream URLs that IPTV player apps read;
//! - **the generation job** ([`GenerateJobHandler`]): `tvarr-core`'s `JobHandler` for
//!   `generate-proxy` jobs, which the binaries register with the job runtime.
//!
//! It depends on `tvarr-core` and `tvarr-expr` only (and `tracing` for its logs): no web
//! framework (utoipa's derive for the rule documents only behind the optional `openapi`
//! feature), no ORM, no job runtime, no async runtime and no I/O of its own. Storage, output
//! files, job progress and even sleeping reach it through `tvarr-core` traits and the small
//! traits here ([`Timer`], [`LogoRewriter`]), implemented by the callers (`tvarr-app`'s wiring,
//! tests' in-memory stores).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod changes;
mod channel_record;
mod dedup;
mod error;
mod filter_chain;
mod generation;
mod guide_match;
pub mod hdhomerun;
mod inline_text;
mod job;
mod m3u_writer;
mod mapping;
mod numbering;
mod programme_record;
mod record_scan;
pub mod rule_exchange;
mod stage;
mod stages;
mod xmltv_writer;
pub mod xtream;

pub use changes::{ChangeTracker, Changes, removal_exceeds};
pub use channel_record::{ChannelContext, ChannelRecord, stream_source_type_name};
pub use dedup::Deduplicator;
pub use error::{InvalidExpression, PipelineError};
pub use filter_chain::FilterChain;
pub use generation::{
    GenerationOptions, GenerationPorts, ProxyDefinition, generate, shift_minutes,
};
pub use guide_match::{
    CONFIDENCE_NAME_CASE, CONFIDENCE_NAME_FOLDED, CONFIDENCE_NAME_TAGS, CONFIDENCE_NAME_TIMESHIFT,
    CONFIDENCE_TVG_ID, CONFIDENCE_TVG_ID_CASE, GuideFound, GuideMatcher,
};
pub use job::GenerateJobHandler;
pub use m3u_writer::M3uWriter;
pub use mapping::MappingPipeline;
pub use numbering::{AssignedNumbers, ChannelNumberer, NumberCandidate, NumberingSettings};
pub use programme_record::{ProgrammeContext, ProgrammeRecord, epg_source_type_name};
pub use record_scan::{scan_channels, scan_programmes};
pub use stage::{
    GenerationProgress, LogoRewriter, NoProgress, ProviderLogos, Stage, StageProgress, Timer,
};
pub use xmltv_writer::{GENERATOR, MAX_EXTRA_ELEMENTS, XmltvWriter};

/// The expression engine's name for a domain (the two crates spell the same two domains).
pub fn expr_domain(domain: tvarr_core::Domain) -> tvarr_expr::Domain {
    match domain {
        tvarr_core::Domain::Stream => tvarr_expr::Domain::Stream,
        tvarr_core::Domain::Epg => tvarr_expr::Domain::Epg,
    }
}

/// The name of a field as people write it: the canonical name of a registry field
/// (`channel_name`), or the attribute name of an extra (`tvg-rec`).
pub fn field_name(domain: tvarr_core::Domain, field: &tvarr_expr::FieldRef) -> &str {
    match field {
        tvarr_expr::FieldRef::Extra(name) => name,
        builtin => tvarr_expr::FieldRegistry::for_domain(expr_domain(domain))
            .fields()
            .iter()
            .find(|def| def.field_ref() == *builtin)
            .map_or("unknown", |def| def.name),
    }
}

#[cfg(test)]
mod tests {
    use tvarr_expr::{FieldId, FieldRef};

    use super::*;

    #[test]
    fn field_names_are_canonical_or_attribute_names() {
        let d = tvarr_core::Domain::Stream;
        assert_eq!(
            field_name(d, &FieldRef::Builtin(FieldId::GroupTitle)),
            "group_title"
        );
        assert_eq!(field_name(d, &FieldRef::Extra("tvg-rec".into())), "tvg-rec");
        assert_eq!(
            field_name(
                tvarr_core::Domain::Epg,
                &FieldRef::Builtin(FieldId::ProgrammeTitle)
            ),
            "programme_title"
        );
    }
}
