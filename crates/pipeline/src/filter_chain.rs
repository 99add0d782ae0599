//! Deciding which records a proxy keeps, from its ordered include and exclude filters.

use chrono::{DateTime, Utc};
use tvarr_core::{Domain, Filter, FilterAction};
use tvarr_expr::{CompiledFilter, Record, RegexCache};

use crate::error::{InvalidExpression, PipelineError};
use crate::expr_domain;

/// An ordered list of compiled include/exclude filters of one domain.
///
/// **The rule**: filters apply in order, each one changing the fate of the records it matches.
/// A record starts *kept* when the chain has no `include` filter, and *dropped* when it has at
/// least one. Each matching `include` filter then keeps the record and each matching
/// `exclude` filter drops it; the last matching filter wins. Consequently:
///
/// - with only exclude filters, a record is kept unless some filter matches it;
/// - with include filters, a record is kept only if some include matches it and no *later*
///   exclude matches it (an exclude placed *before* an include can be overridden by that
///   include: "drop all adult channels, but keep this one");
/// - an empty chain keeps everything.
///
/// This is the sequential semantics of tvarr (Go) and m3u-proxy. Evaluation walks the chain
/// from the end and stops at the first match, and allocates nothing.
///
/// A chain is built for one run: `@time:now` in its filters is the time the chain was compiled
/// (or the one given to [`with_now`](Self::with_now)), so every record of the run is judged
/// against the same instant and no record reads the clock.
///
/// ```
/// use tvarr_core::{ChannelData, Domain, FilterAction::{Exclude, Include}};
/// use tvarr_pipeline::{ChannelContext, ChannelRecord, FilterChain};
///
/// let chain = FilterChain::compile(Domain::Stream, [
///     (Include, r#"group_title == "sports""#),
///     (Exclude, r#"channel_name contains "test""#),
/// ]).unwrap();
/// let channel = |name: &str, group: &str| ChannelData { name: name.into(), group_title: Some(group.into()), ..Default::default() };
/// let keeps = |c: &ChannelData| chain.keeps(&ChannelRecord::new(c, ChannelContext::default()));
/// assert!(keeps(&channel("Sky Sports 1", "Sports")));
/// assert!(!keeps(&channel("Sports test feed", "Sports")));
/// assert!(!keeps(&channel("BBC One", "UK")));
/// ```
#[derive(Debug, Clone)]
pub struct FilterChain {
    filters: Vec<(FilterAction, CompiledFilter)>,
    keeps_unmatched: bool,
    now: DateTime<Utc>,
}

impl FilterChain {
    /// Compiles `(action, expression)` pairs in order; on failure lists every expression that
    /// does not compile.
    pub fn compile<'a>(
        domain: Domain,
        filters: impl IntoIterator<Item = (FilterAction, &'a str)>,
    ) -> Result<Self, PipelineError> {
        Self::compile_named(
            domain,
            filters
                .into_iter()
                .map(|(action, expression)| (None, action, expression)),
        )
    }

    /// The filters of `domain` among stored `filters`, in the order given (a proxy's order);
    /// filters of the other domain are skipped.
    pub fn for_domain(domain: Domain, filters: &[Filter]) -> Result<Self, PipelineError> {
        Self::compile_named(
            domain,
            filters
                .iter()
                .filter(|f| f.domain == domain)
                .map(|f| (Some(f.name.as_str()), f.action, f.expression.as_str())),
        )
    }

    fn compile_named<'a>(
        domain: Domain,
        filters: impl IntoIterator<Item = (Option<&'a str>, FilterAction, &'a str)>,
    ) -> Result<Self, PipelineError> {
        let mut cache = RegexCache::new();
        let mut compiled = Vec::new();
        let mut invalid = Vec::new();
        for (index, (name, action, expression)) in filters.into_iter().enumerate() {
            match CompiledFilter::compile_with_cache(expr_domain(domain), expression, &mut cache) {
                Ok(filter) => compiled.push((action, filter)),
                Err(e) => invalid.push(InvalidExpression {
                    index,
                    name: name.map(str::to_string),
                    diagnostics: e.into_diagnostics(),
                }),
            }
        }
        if !invalid.is_empty() {
            return Err(PipelineError::InvalidExpressions(invalid));
        }
        let keeps_unmatched = !compiled.iter().any(|(a, _)| *a == FilterAction::Include);
        Ok(Self {
            filters: compiled,
            keeps_unmatched,
            now: Utc::now(),
        })
    }

    /// The same chain with `@time:now` meaning `now` (for a run that started earlier, or tests).
    pub fn with_now(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// The instant `@time:now` stands for in this chain.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Whether the chain keeps `record` (see the rule above).
    pub fn keeps<R: Record + ?Sized>(&self, record: &R) -> bool {
        self.filters
            .iter()
            .rev()
            .find(|(_, filter)| filter.matches_at(record, self.now))
            .map_or(self.keeps_unmatched, |(action, _)| {
                *action == FilterAction::Include
            })
    }

    /// How many filters the chain holds.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether the chain holds no filter (and so keeps everything).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use tvarr_core::ChannelData;
    use tvarr_core::FilterAction::{Exclude, Include};

    use super::*;
    use crate::{ChannelContext, ChannelRecord};

    /// Channels of `fixtures/external/m3u/iptv-playlist-parser/base.m3u`, as ingestion parses them.
    fn playlist() -> Vec<ChannelData> {
        let ch = |name: &str, group: Option<&str>, tvg_id: Option<&str>, url: &str| ChannelData {
            name: name.into(),
            group_title: group.map(Into::into),
            tvg_id: tvg_id.map(Into::into),
            stream_url: url.into(),
            ..Default::default()
        };
        vec![
            ch(
                "Channel 1 (Tested)",
                Some("Music"),
                Some("CH1"),
                "http://livestream.htp.tv/hls-live/livepkgr/_definst_/H1/H1_HQ.m3u8",
            ),
            ch(
                "Channel 2",
                None,
                Some("CH2"),
                "http://example.com/stream/chunklist.m3u8",
            ),
            ch(
                "=>(★ TURKİYE ★)<=",
                None,
                None,
                "http://wodpro24.tr4545.in:8080/expred/peru8k.mp4",
            ),
            ch(
                "TRT 1 HD",
                None,
                None,
                "https://video-rvd-lmg.rnp.br/live/index.m3u8",
            ),
            ch(
                "name,with comma",
                None,
                None,
                "http://free.fullspeed.tv/iptv-query?streaming-ip=https://www.youtube.com/c/CongresodelaRepúblicadelPerúTVenvivo/live",
            ),
            ch(
                "The Good, the Bad and the Ugly",
                None,
                None,
                "http://example.com/movie.m3u8",
            ),
        ]
    }

    fn kept(chain: &FilterChain) -> Vec<String> {
        playlist()
            .iter()
            .filter(|c| chain.keeps(&ChannelRecord::new(*c, ChannelContext::default())))
            .map(|c| c.name.clone())
            .collect()
    }

    #[test]
    fn empty_chain_keeps_everything() {
        let chain = FilterChain::compile(Domain::Stream, []).unwrap();
        assert!(chain.is_empty());
        assert_eq!(kept(&chain).len(), 6);
    }

    #[test]
    fn exclude_only_drops_what_matches() {
        let chain = FilterChain::compile(
            Domain::Stream,
            [
                (Exclude, r#"stream_url ends_with ".mp4""#),
                (Exclude, r#"name contains ",""#),
            ],
        )
        .unwrap();
        assert_eq!(
            kept(&chain),
            ["Channel 1 (Tested)", "Channel 2", "TRT 1 HD"]
        );
    }

    #[test]
    fn include_keeps_only_matches() {
        let chain = FilterChain::compile(Domain::Stream, [(Include, r#"tvg_id starts_with "ch""#)])
            .unwrap();
        assert_eq!(kept(&chain), ["Channel 1 (Tested)", "Channel 2"]);
    }

    #[test]
    fn a_later_exclude_removes_what_an_include_kept() {
        let chain = FilterChain::compile(
            Domain::Stream,
            [
                (Include, r#"tvg_id != """#),
                (Exclude, r#"group == "music""#),
            ],
        )
        .unwrap();
        assert_eq!(kept(&chain), ["Channel 2"]);
    }

    #[test]
    fn a_later_include_brings_back_what_an_earlier_exclude_dropped() {
        let chain = FilterChain::compile(
            Domain::Stream,
            [
                (Exclude, r#"stream_url starts_with "http://""#),
                (Include, r#"name matches "^channel \d""#),
            ],
        )
        .unwrap();
        // Includes exist, so unmatched channels are dropped; channel 1 and 2 are brought back.
        assert_eq!(kept(&chain), ["Channel 1 (Tested)", "Channel 2"]);
    }

    #[test]
    fn several_includes_are_a_union() {
        let chain = FilterChain::compile(
            Domain::Stream,
            [
                (Include, r#"name contains "trt""#),
                (Include, r#"name contains "ugly""#),
            ],
        )
        .unwrap();
        assert_eq!(kept(&chain), ["TRT 1 HD", "The Good, the Bad and the Ugly"]);
    }

    #[test]
    fn time_now_is_the_instant_the_chain_is_run_for() {
        use chrono::TimeZone;
        use tvarr_core::{LangText, ProgrammeData};

        use crate::{ProgrammeContext, ProgrammeRecord};

        let at = |h, m| Utc.with_ymd_and_hms(2024, 1, 15, h, m, 0).unwrap();
        let programme = ProgrammeData {
            channel: "bbc1.uk".into(),
            start: at(10, 0),
            stop: at(11, 0),
            titles: vec![LangText {
                value: "BBC News".into(),
                lang: None,
            }],
            ..Default::default()
        };
        let chain = FilterChain::compile(
            Domain::Epg,
            [(
                Include,
                r#"programme_stop > "@time:now" AND start <= @time:now"#,
            )],
        )
        .unwrap();
        let keeps = |chain: &FilterChain| {
            chain.keeps(&ProgrammeRecord::new(
                &programme,
                ProgrammeContext::default(),
            ))
        };
        // Built now (long after 2024), the programme is over.
        assert!(!keeps(&chain));
        let chain = chain.with_now(at(10, 30));
        assert_eq!(chain.now(), at(10, 30));
        assert!(keeps(&chain), "on air at 10:30");
        assert!(!keeps(&chain.clone().with_now(at(11, 30))), "over at 11:30");
    }

    #[test]
    fn reports_every_invalid_filter_by_name() {
        let now = chrono::Utc::now();
        let filter = |name: &str, domain, expression: &str| Filter {
            id: tvarr_core::FilterId::new(),
            name: name.into(),
            domain,
            action: Include,
            expression: expression.into(),
            created_at: now,
            updated_at: now,
        };
        let filters = [
            filter("ok", Domain::Stream, "true"),
            filter("guide only", Domain::Epg, r#"programme_title contains "x""#),
            filter("typo", Domain::Stream, r#"chanel_name == "x""#),
        ];
        let err = FilterChain::for_domain(Domain::Stream, &filters).unwrap_err();
        let invalid = err.invalid_expressions();
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].name.as_deref(), Some("typo"));
        assert_eq!(
            invalid[0].diagnostics[0].suggestion.as_deref(),
            Some("channel_name")
        );
        assert!(FilterChain::for_domain(Domain::Epg, &filters).is_ok());
    }
}
