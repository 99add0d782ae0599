//! Applying a proxy's data-mapping rules to channels and programmes.

use tvarr_core::{ChannelData, Domain, MappingRule, ProgrammeData};
use tvarr_expr::{ApplyReport, HelperContext, RecordMut, RegexCache, RuleSet, RunHelpers};

use crate::channel_record::{ChannelContext, ChannelRecord};
use crate::error::{InvalidExpression, PipelineError};
use crate::expr_domain;
use crate::programme_record::{ProgrammeContext, ProgrammeRecord};

/// The data-mapping rules of one domain, compiled and in the order they run.
///
/// A pipeline is built for one run: [`apply_channel`](Self::apply_channel) and
/// [`apply_programme`](Self::apply_programme) resolve `@time:now` to the time the pipeline was
/// compiled and `@logo:ID` to `/logos/{ID}.png`, unless [`with_helpers`](Self::with_helpers)
/// gives the run's own clock reading and the server's base URL.
///
/// ```
/// use tvarr_core::{ChannelData, Domain};
/// use tvarr_pipeline::{ChannelContext, MappingPipeline};
///
/// let pipeline = MappingPipeline::compile(Domain::Stream, [("strip HD", r#"name -= " HD""#)]).unwrap();
/// let mut channel = ChannelData { name: "BBC One HD".into(), ..Default::default() };
/// let report = pipeline.apply_channel(&mut channel, ChannelContext::default());
/// assert!(report.changed());
/// assert_eq!(channel.name, "BBC One");
/// ```
#[derive(Debug, Clone)]
pub struct MappingPipeline {
    domain: Domain,
    rules: RuleSet,
    helpers: RunHelpers,
}

impl MappingPipeline {
    /// The enabled rules of `domain` among stored `rules`, ordered by priority (lower first;
    /// equal priorities keep the order given). Disabled rules and rules of the other domain
    /// are skipped. On failure lists every rule that does not compile.
    pub fn from_rules(domain: Domain, rules: &[MappingRule]) -> Result<Self, PipelineError> {
        let mut selected: Vec<&MappingRule> = rules
            .iter()
            .filter(|r| r.enabled && r.domain == domain)
            .collect();
        selected.sort_by_key(|r| r.priority);
        Self::compile(
            domain,
            selected
                .into_iter()
                .map(|r| (r.name.as_str(), r.expression.as_str())),
        )
    }

    /// Compiles `(name, expression)` rules, to run in the order given.
    pub fn compile<'a>(
        domain: Domain,
        rules: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PipelineError> {
        let mut cache = RegexCache::new();
        let mut set = RuleSet::new();
        let mut invalid = Vec::new();
        for (index, (name, expression)) in rules.into_iter().enumerate() {
            match tvarr_expr::CompiledRule::compile_with_cache(
                expr_domain(domain),
                expression,
                &mut cache,
            ) {
                Ok(rule) => set.push(name, rule),
                Err(e) => invalid.push(InvalidExpression {
                    index,
                    name: Some(name.to_string()),
                    diagnostics: e.into_diagnostics(),
                }),
            }
        }
        if invalid.is_empty() {
            Ok(Self {
                domain,
                rules: set,
                helpers: RunHelpers::default(),
            })
        } else {
            Err(PipelineError::InvalidExpressions(invalid))
        }
    }

    /// The same pipeline resolving helpers with `helpers` in
    /// [`apply_channel`](Self::apply_channel) and [`apply_programme`](Self::apply_programme):
    /// `RunHelpers::new(base_url)` at the start of a run.
    pub fn with_helpers(mut self, helpers: RunHelpers) -> Self {
        self.helpers = helpers;
        self
    }

    /// The helper values `apply_channel` and `apply_programme` use.
    pub fn helpers(&self) -> &RunHelpers {
        &self.helpers
    }

    /// The domain the rules were compiled for.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// How many rules run.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule runs.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies the rules to any record, resolving helpers (`@logo:ID`, `@time:now`) with
    /// `helpers`.
    pub fn apply<R: RecordMut + ?Sized>(
        &self,
        record: &mut R,
        helpers: &dyn HelperContext,
    ) -> ApplyReport {
        self.rules.apply_with(record, helpers)
    }

    /// Applies the rules to a channel with the pipeline's [`helpers`](Self::helpers). A
    /// pipeline of programme rules changes nothing. Use [`apply`](Self::apply) with a [`ChannelRecord`] to read back a
    /// channel number the rules set.
    pub fn apply_channel(
        &self,
        data: &mut ChannelData,
        context: ChannelContext<'_>,
    ) -> ApplyReport {
        if self.domain != Domain::Stream {
            return ApplyReport::default();
        }
        self.apply(&mut ChannelRecord::new(data, context), &self.helpers)
    }

    /// Applies the rules to a programme with the pipeline's [`helpers`](Self::helpers). A
    /// pipeline of channel rules changes nothing.
    pub fn apply_programme(
        &self,
        data: &mut ProgrammeData,
        context: ProgrammeContext<'_>,
    ) -> ApplyReport {
        if self.domain != Domain::Epg {
            return ApplyReport::default();
        }
        self.apply(&mut ProgrammeRecord::new(data, context), &self.helpers)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use tvarr_core::MappingRuleId;

    use super::*;

    fn rule(
        name: &str,
        domain: Domain,
        priority: i32,
        enabled: bool,
        expression: &str,
    ) -> MappingRule {
        MappingRule {
            id: MappingRuleId::new(),
            name: name.into(),
            domain,
            expression: expression.into(),
            priority,
            enabled,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn runs_enabled_rules_of_the_domain_by_priority() {
        let rules = [
            rule(
                "second",
                Domain::Stream,
                5,
                true,
                r#"APPEND channel_name = " [2]""#,
            ),
            rule(
                "disabled",
                Domain::Stream,
                0,
                false,
                r#"SET channel_name = "gone""#,
            ),
            rule("guide", Domain::Epg, 0, true, r#"SET title = "x""#),
            rule(
                "first",
                Domain::Stream,
                1,
                true,
                r#"APPEND channel_name = " [1]""#,
            ),
        ];
        let pipeline = MappingPipeline::from_rules(Domain::Stream, &rules).unwrap();
        assert_eq!(pipeline.len(), 2);
        let mut channel = ChannelData {
            name: "TRT 1 HD".into(),
            ..Default::default()
        };
        let report = pipeline.apply_channel(&mut channel, ChannelContext::default());
        assert_eq!(channel.name, "TRT 1 HD [1] [2]");
        let names: Vec<_> = report.rules.iter().map(|r| &*r.name).collect();
        assert_eq!(names, ["first", "second"]);
    }

    #[test]
    fn a_pipeline_of_the_other_domain_changes_nothing() {
        let pipeline =
            MappingPipeline::compile(Domain::Epg, [("t", r#"SET title = "x""#)]).unwrap();
        let mut channel = ChannelData::default();
        assert!(
            !pipeline
                .apply_channel(&mut channel, ChannelContext::default())
                .changed()
        );
        let mut programme = ProgrammeData::default();
        assert!(
            pipeline
                .apply_programme(&mut programme, ProgrammeContext::default())
                .changed()
        );
        assert_eq!(programme.title(), "x");
    }

    #[test]
    fn helpers_give_logo_urls_under_the_base_url_and_one_now_per_run() {
        use chrono::TimeZone;

        let pipeline = MappingPipeline::compile(
            Domain::Stream,
            [
                (
                    "logo",
                    r#"SET tvg_logo = "@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV""#,
                ),
                ("stamp", r#"SET tvg_name = "@time:now:%Y-%m-%d %H:%M""#),
            ],
        )
        .unwrap();
        let mut channel = ChannelData::default();
        pipeline.apply_channel(&mut channel, ChannelContext::default());
        assert_eq!(
            channel.tvg_logo.as_deref(),
            Some("/logos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png")
        );

        let now = Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap();
        let pipeline = pipeline.with_helpers(RunHelpers::at("http://tv.example:8080/", now));
        let mut channel = ChannelData::default();
        pipeline.apply_channel(&mut channel, ChannelContext::default());
        assert_eq!(
            channel.tvg_logo.as_deref(),
            Some("http://tv.example:8080/logos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png")
        );
        assert_eq!(channel.tvg_name.as_deref(), Some("2024-01-15 10:30"));
    }

    #[test]
    fn rule_conditions_compare_with_the_runs_now() {
        use chrono::TimeZone;
        use tvarr_core::LangText;

        let at = |h, m| Utc.with_ymd_and_hms(2024, 1, 15, h, m, 0).unwrap();
        let pipeline = MappingPipeline::compile(
            Domain::Epg,
            [(
                "live",
                r#"programme_stop > "@time:now" APPEND title = " (live)""#,
            )],
        )
        .unwrap()
        .with_helpers(RunHelpers::at("", at(10, 30)));
        let mut programme = ProgrammeData {
            channel: "bbc1.uk".into(),
            start: at(10, 0),
            stop: at(11, 0),
            titles: vec![LangText {
                value: "News".into(),
                lang: None,
            }],
            ..Default::default()
        };
        assert!(
            pipeline
                .apply_programme(&mut programme, ProgrammeContext::default())
                .changed()
        );
        assert_eq!(programme.title(), "News (live)");
    }

    #[test]
    fn lists_every_rule_that_does_not_compile() {
        let err = MappingPipeline::compile(
            Domain::Stream,
            [
                ("ro", r#"SET source_name = "x""#),
                ("ok", "DELETE tvg_logo"),
                ("bad", "SETT name = 1"),
            ],
        )
        .unwrap_err();
        let names: Vec<_> = err
            .invalid_expressions()
            .iter()
            .map(|e| e.name.as_deref())
            .collect();
        assert_eq!(names, [Some("ro"), Some("bad")]);
    }
}
