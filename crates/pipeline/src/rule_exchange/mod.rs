//! Sharing filters and data-mapping rules between installations: the documents, reading one
//! for import ([`read_document`]), deciding what importing it does ([`plan_import`]), and
//! writing one ([`build_export`]). Pure functions over `tvarr-core` types; the API reads the
//! stored filters and rules, performs the planned writes and maps the errors to its answers.
//!
//! Accepted documents: tvarr's own `{"format": "tvarr-rules", "version": 1, ...}`
//! ([`RulesDocument`]), and the exports of tvarr (Go)
//! (`{"metadata": {"export_type": "filters" | "data_mapping_rules"}, "items": [...]}`).

mod document;
mod plan;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{Domain, FieldError, Filter, FilterAction, MappingRule};
use uuid::Uuid;

pub use document::{DocumentError, ImportCandidate, ImportDocument, read_document};
pub use plan::{ImportPlan, PlannedItem, PlannedWrite, next_priority, plan_import};

/// The `format` of tvarr's rule documents.
pub const RULES_FORMAT: &str = "tvarr-rules";
/// The version of the document layout this server writes.
pub const RULES_VERSION: u32 = 1;

/// A filter in a shared document (no id: ids are local to an installation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedFilter {
    /// Name; imports match existing filters by it.
    pub name: String,
    /// `stream` or `epg`.
    pub domain: Domain,
    /// `include` or `exclude`.
    pub action: FilterAction,
    /// The condition.
    pub expression: String,
}

/// A data-mapping rule in a shared document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedMappingRule {
    /// Name; imports match existing rules by it.
    pub name: String,
    /// `stream` or `epg`.
    pub domain: Domain,
    /// The rule.
    pub expression: String,
    /// Order within the document (lower first).
    pub priority: i32,
    /// Whether the rule is applied.
    pub enabled: bool,
}

/// A shareable set of filters and rules.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesDocument {
    /// Always `tvarr-rules`.
    pub format: String,
    /// The layout version, 1.
    pub version: u32,
    /// When the document was written.
    pub exported_at: DateTime<Utc>,
    /// Filters.
    pub filters: Vec<SharedFilter>,
    /// Data-mapping rules, by priority.
    pub mapping_rules: Vec<SharedMappingRule>,
}

/// Whether an imported item is a filter or a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// A filter.
    Filter,
    /// A data-mapping rule.
    MappingRule,
}

/// What happens, or would happen, to one imported item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// A new filter or rule.
    Create,
    /// One with the same name exists and `replace=true`: it is overwritten.
    Update,
    /// One with the same name exists (or the document repeats the name): left alone.
    Skip,
    /// The item has problems and is not imported.
    Invalid,
}

/// The document for `filters` and `rules`, restricted to `ids` when not empty. Each unknown
/// id is an `ids` field error. Rules are written by priority; no id is written.
pub fn build_export(
    filters: Vec<Filter>,
    rules: Vec<MappingRule>,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<RulesDocument, Vec<FieldError>> {
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let all = wanted.is_empty();
    let known: HashSet<Uuid> = filters
        .iter()
        .map(|f| f.id.as_uuid())
        .chain(rules.iter().map(|r| r.id.as_uuid()))
        .collect();
    let unknown: Vec<FieldError> = ids
        .iter()
        .filter(|id| !known.contains(id))
        .map(|id| FieldError::new("ids", format!("no filter or rule has id {id}")))
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let mut mapping_rules: Vec<MappingRule> = rules
        .into_iter()
        .filter(|r| all || wanted.contains(&r.id.as_uuid()))
        .collect();
    mapping_rules.sort_by_key(|r| r.priority);
    Ok(RulesDocument {
        format: RULES_FORMAT.into(),
        version: RULES_VERSION,
        exported_at: now,
        filters: filters
            .into_iter()
            .filter(|f| all || wanted.contains(&f.id.as_uuid()))
            .map(|f| SharedFilter {
                name: f.name,
                domain: f.domain,
                action: f.action,
                expression: f.expression,
            })
            .collect(),
        mapping_rules: mapping_rules
            .into_iter()
            .map(|r| SharedMappingRule {
                name: r.name,
                domain: r.domain,
                expression: r.expression,
                priority: r.priority,
                enabled: r.enabled,
            })
            .collect(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use tvarr_core::{FilterId, MappingRuleId};

    use super::*;

    pub(crate) fn filter(name: &str, expression: &str) -> Filter {
        Filter {
            id: FilterId::new(),
            name: name.into(),
            domain: Domain::Stream,
            action: FilterAction::Exclude,
            expression: expression.into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    pub(crate) fn rule(name: &str, priority: i32) -> MappingRule {
        MappingRule {
            id: MappingRuleId::new(),
            name: name.into(),
            domain: Domain::Stream,
            expression: r#"name -= " HD""#.into(),
            priority,
            enabled: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn export_writes_no_ids_and_keeps_rule_order() {
        let filters = vec![filter("adult", r#"group contains "xxx""#)];
        let rules = vec![rule("second", 5), rule("first", 1)];
        let doc = build_export(filters, rules, &[], Utc::now()).unwrap();
        let value = serde_json::to_value(&doc).unwrap();
        assert_eq!(value["format"], "tvarr-rules");
        assert_eq!(value["version"], 1);
        assert!(value["filters"][0].get("id").is_none());
        assert_eq!(value["mapping_rules"][0]["name"], "first");
    }

    #[test]
    fn export_by_ids_selects_and_refuses_unknown_ids() {
        let keep = filter("keep", "true");
        let ids = [keep.id.as_uuid()];
        let doc = build_export(
            vec![keep, filter("other", "true")],
            vec![rule("r", 0)],
            &ids,
            Utc::now(),
        )
        .unwrap();
        assert_eq!((doc.filters.len(), doc.mapping_rules.len()), (1, 0));
        let unknown = Uuid::now_v7();
        let errors = build_export(vec![], vec![], &[unknown], Utc::now()).unwrap_err();
        assert_eq!(
            errors,
            [FieldError::new(
                "ids",
                format!("no filter or rule has id {unknown}")
            )]
        );
    }

    #[test]
    fn an_export_reads_back_as_the_same_items() {
        let doc = build_export(
            vec![filter("adult", "true")],
            vec![rule("hd", 3)],
            &[],
            Utc::now(),
        )
        .unwrap();
        let read = read_document(&serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(read.items.len(), 2);
        assert_eq!(read.items[0].action, Some(FilterAction::Exclude));
        assert_eq!(read.items[1].priority, 3);
    }
}
