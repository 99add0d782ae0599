//! Applying a proxy's data-mapping rules to channels and programmes.

use tvarr_core::{ChannelData, Domain, MappingRule, ProgrammeData};
use tvarr_expr::{ApplyReport, DefaultHelpers, HelperContext, RecordMut, RegexCache, RuleSet};

use crate::channel_record::{ChannelContext, ChannelRecord};
use crate::error::{InvalidExpression, PipelineError};
use crate::expr_domain;
use crate::programme_record::{ProgrammeContext, ProgrammeRecord};

/// The data-mapping rules of one domain, compiled and in the order they run.
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
            Ok(Self { domain, rules: set })
        } else {
            Err(PipelineError::InvalidExpressions(invalid))
        }
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

    /// Applies the rules to a channel with the default helpers. A pipeline of programme rules
    /// changes nothing. Use [`apply`](Self::apply) with a [`ChannelRecord`] to read back a
    /// channel number the rules set.
    pub fn apply_channel(
        &self,
        data: &mut ChannelData,
        context: ChannelContext<'_>,
    ) -> ApplyReport {
        if self.domain != Domain::Stream {
            return ApplyReport::default();
        }
        self.apply(&mut ChannelRecord::new(data, context), &DefaultHelpers)
    }

    /// Applies the rules to a programme with the default helpers. A pipeline of channel rules
    /// changes nothing.
    pub fn apply_programme(
        &self,
        data: &mut ProgrammeData,
        context: ProgrammeContext<'_>,
    ) -> ApplyReport {
        if self.domain != Domain::Epg {
            return ApplyReport::default();
        }
        self.apply(&mut ProgrammeRecord::new(data, context), &DefaultHelpers)
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
