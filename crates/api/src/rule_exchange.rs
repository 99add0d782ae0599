//! Sharing filters and data-mapping rules between installations: export to a JSON document,
//! preview an import, import.
//!
//! Accepted documents: tvarr's own `{"format": "tvarr-rules", "version": 1, ...}`, and the
//! exports of tvarr (Go) (`{"metadata": {"export_type": "filters" | "data_mapping_rules"}, "items": [...]}`).

use std::collections::{HashMap, HashSet};

use actix_web::{post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tvarr_core::{
    Domain, FieldError, Filter, FilterAction, FilterInput, MappingRule, MappingRuleInput,
    PageRequest, limits,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::extractors::body_bytes;
use crate::error::{ApiError, ApiResult, ExpressionDiagnostic, Problem, ProblemFieldError};
use crate::expressions::{ExpressionKindParam, check};
use crate::mapping::{all_rules, next_priority};
use crate::pagination::Params;
use crate::state::AppState;

/// The `format` of tvarr's rule documents.
pub const RULES_FORMAT: &str = "tvarr-rules";
/// The version of the document layout this server writes.
pub const RULES_VERSION: u32 = 1;

/// A filter in a shared document (no id: ids are local to an installation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, Debug, Serialize, ToSchema)]
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

/// What to export.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Filter and rule ids to export; all filters and rules when absent or empty.
    #[serde(default)]
    pub ids: Vec<Uuid>,
}

/// An empty body exports everything; otherwise it must be an [`ExportBody`].
pub(crate) fn read_export_body(body: &[u8]) -> ApiResult<ExportBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ExportBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::fields(vec![FieldError::new(
            "body",
            format!("expected {{\"ids\": [...]}} or an empty body: {e}"),
        )])
    })
}

async fn all_filters(state: &AppState) -> ApiResult<Vec<Filter>> {
    let mut filters = Vec::new();
    loop {
        let page = state
            .repos
            .filters
            .list(
                None,
                PageRequest::new(PageRequest::MAX_LIMIT, filters.len() as u64),
            )
            .await?;
        let done = page.items.is_empty();
        filters.extend(page.items);
        if done || filters.len() as u64 >= page.total {
            return Ok(filters);
        }
    }
}

/// The document for `filters` and `rules`, restricted to `ids` when not empty; unknown ids
/// are an error.
pub(crate) fn build_export(
    filters: Vec<Filter>,
    rules: Vec<MappingRule>,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> ApiResult<RulesDocument> {
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
        return Err(ApiError::fields(unknown));
    }
    let mut mapping_rules: Vec<&MappingRule> = rules
        .iter()
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
                name: r.name.clone(),
                domain: r.domain,
                expression: r.expression.clone(),
                priority: r.priority,
                enabled: r.enabled,
            })
            .collect(),
    })
}

/// Exports filters and data-mapping rules as a `tvarr-rules` document, without ids.
#[utoipa::path(tag = "filters", request_body(content = Option<ExportBody>, description = "which items to export; no body exports every filter and rule"), responses(
    (status = 200, body = RulesDocument),
    (status = 413, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/export/filters")]
pub async fn export_rules(
    state: web::Data<AppState>,
    body: web::Payload,
) -> ApiResult<web::Json<RulesDocument>> {
    let body = read_export_body(&body_bytes(body).await?)?;
    let filters = all_filters(&state).await?;
    let rules = all_rules(&state, None).await?;
    Ok(web::Json(build_export(
        filters,
        rules,
        &body.ids,
        Utc::now(),
    )?))
}

/// Whether an imported item is a filter or a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// A filter.
    Filter,
    /// A data-mapping rule.
    MappingRule,
}

/// One item read from an import document, before it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImportCandidate {
    pub kind: ImportKind,
    pub name: String,
    pub domain: Option<Domain>,
    pub action: Option<FilterAction>,
    pub expression: String,
    pub priority: i32,
    pub enabled: bool,
    /// Problems found while reading the item (bad domain, bad action).
    pub problems: Vec<FieldError>,
}

/// A document read for import: its items and anything the reader could not carry over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ImportDocument {
    pub format: &'static str,
    pub items: Vec<ImportCandidate>,
    pub warnings: Vec<String>,
}

fn text(item: &Value, key: &str) -> String {
    item.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn read_domain(item: &Value, keys: &[&str], problems: &mut Vec<FieldError>) -> Option<Domain> {
    let raw = keys
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    let domain = Domain::parse(&raw.to_ascii_lowercase());
    if domain.is_none() {
        problems.push(FieldError::new(
            keys[0],
            format!("`{raw}` is not a domain; expected `stream` or `epg`"),
        ));
    }
    domain
}

fn read_action(item: &Value, problems: &mut Vec<FieldError>) -> Option<FilterAction> {
    let raw = item
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let action = FilterAction::parse(&raw.to_ascii_lowercase());
    if action.is_none() {
        problems.push(FieldError::new(
            "action",
            format!("`{raw}` is not an action; expected `include` or `exclude`"),
        ));
    }
    action
}

fn read_priority(item: &Value) -> i32 {
    item.get("priority")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0)
}

fn array<'a>(doc: &'a Value, key: &str) -> ApiResult<&'a [Value]> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ApiError::field(key, "must be an array")),
    }
}

/// Reads a `tvarr-rules` document or a tvarr (Go) export. Items keep their problems for the
/// preview; only an unrecognisable document is an error.
pub(crate) fn read_document(doc: &Value) -> ApiResult<ImportDocument> {
    if let Some(format) = doc.get("format").and_then(Value::as_str) {
        if format != RULES_FORMAT {
            return Err(ApiError::field(
                "format",
                format!("`{format}` is not a known format; expected `{RULES_FORMAT}`"),
            ));
        }
        let version = doc.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version != u64::from(RULES_VERSION) {
            return Err(ApiError::field(
                "version",
                format!(
                    "version {version} is not supported; this server reads version {RULES_VERSION}"
                ),
            ));
        }
        let mut items = Vec::new();
        for f in array(doc, "filters")? {
            let mut problems = Vec::new();
            items.push(ImportCandidate {
                kind: ImportKind::Filter,
                name: text(f, "name"),
                domain: read_domain(f, &["domain"], &mut problems),
                action: read_action(f, &mut problems),
                expression: text(f, "expression"),
                priority: 0,
                enabled: true,
                problems,
            });
        }
        for r in array(doc, "mapping_rules")? {
            let mut problems = Vec::new();
            items.push(ImportCandidate {
                kind: ImportKind::MappingRule,
                name: text(r, "name"),
                domain: read_domain(r, &["domain"], &mut problems),
                action: None,
                expression: text(r, "expression"),
                priority: read_priority(r),
                enabled: r.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                problems,
            });
        }
        return Ok(ImportDocument {
            format: RULES_FORMAT,
            items,
            warnings: Vec::new(),
        });
    }
    if let (Some(meta), Some(_)) = (doc.get("metadata"), doc.get("items")) {
        return read_go_export(meta, array(doc, "items")?);
    }
    Err(ApiError::BadRequest(format!(
        "not a rules document: expected `{{\"format\": \"{RULES_FORMAT}\", \"version\": 1, \"filters\": [...], \"mapping_rules\": [...]}}` \
         or a tvarr (Go) export `{{\"metadata\": {{\"export_type\": \"filters\"}}, \"items\": [...]}}`"
    )))
}

/// tvarr (Go) exports: one kind per document, `source_type` for the domain, `is_enabled`.
fn read_go_export(meta: &Value, items: &[Value]) -> ApiResult<ImportDocument> {
    let export_type = meta
        .get("export_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = match export_type {
        "filters" => ImportKind::Filter,
        "data_mapping_rules" => ImportKind::MappingRule,
        other => {
            return Err(ApiError::field(
                "metadata.export_type",
                format!(
                    "`{other}` exports cannot be imported here; expected `filters` or `data_mapping_rules`"
                ),
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut candidates = Vec::new();
    for item in items {
        let mut problems = Vec::new();
        let name = text(item, "name");
        if item.get("source_id").is_some_and(|v| !v.is_null()) {
            warnings.push(format!(
                "`{name}`: restricted to one source in tvarr (Go); imported for every source"
            ));
        }
        if item.get("stop_on_match").and_then(Value::as_bool) == Some(true) {
            warnings.push(format!(
                "`{name}`: `stop_on_match` is not supported; later rules still run"
            ));
        }
        let enabled = item
            .get("is_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if kind == ImportKind::Filter && !enabled {
            warnings.push(format!(
                "`{name}`: filters have no enabled flag here; leave it out of a proxy to disable it"
            ));
        }
        candidates.push(ImportCandidate {
            kind,
            domain: read_domain(item, &["source_type", "domain"], &mut problems),
            action: if kind == ImportKind::Filter {
                read_action(item, &mut problems)
            } else {
                None
            },
            expression: text(item, "expression"),
            priority: read_priority(item),
            enabled,
            name,
            problems,
        });
    }
    Ok(ImportDocument {
        format: "tvarr-go",
        items: candidates,
        warnings,
    })
}

/// What happens, or would happen, to one imported item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
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

/// One item of an import report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportItemReport {
    /// Filter or rule.
    pub kind: ImportKind,
    /// Its name.
    pub name: String,
    /// Its domain, when readable.
    pub domain: Option<Domain>,
    /// What happens to it.
    pub outcome: ImportOutcome,
    /// Why it is skipped or invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The existing filter or rule it matches by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<Uuid>,
    /// After an import, the id of the created or updated filter or rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Problems other than the expression's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemFieldError>,
    /// The expression's problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<ExpressionDiagnostic>,
}

/// The result of an import or of its preview.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Whether this was a preview (nothing changed).
    pub preview: bool,
    /// The document format read: `tvarr-rules` or `tvarr-go`.
    pub format: String,
    /// Items created (or that would be).
    pub created: u64,
    /// Items updated (or that would be).
    pub updated: u64,
    /// Items skipped.
    pub skipped: u64,
    /// Items not imported because they have problems.
    pub invalid: u64,
    /// Every item, in document order.
    pub items: Vec<ImportItemReport>,
    /// Things the document asked for that are not carried over.
    pub warnings: Vec<String>,
}

/// A planned change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PlannedWrite {
    CreateFilter(FilterInput),
    UpdateFilter(tvarr_core::FilterId, FilterInput),
    CreateRule(MappingRuleInput),
    UpdateRule(tvarr_core::MappingRuleId, MappingRuleInput),
}

/// The import decided item by item, before anything is written.
#[derive(Clone, Debug)]
pub(crate) struct ImportPlan {
    pub report: ImportReport,
    /// One entry per item of `report.items`; `None` for skipped and invalid ones.
    pub writes: Vec<Option<PlannedWrite>>,
}

/// Decides what importing `doc` does, given what is stored. New rules go after the stored
/// ones, in the document's priority order; a replaced rule keeps its stored priority.
pub(crate) fn plan_import(
    doc: ImportDocument,
    filters: &[Filter],
    rules: &[MappingRule],
    replace: bool,
) -> ImportPlan {
    let filter_by_name: HashMap<&str, &Filter> =
        filters.iter().map(|f| (f.name.as_str(), f)).collect();
    let rule_by_name: HashMap<&str, &MappingRule> =
        rules.iter().map(|r| (r.name.as_str(), r)).collect();
    let doc_priorities: Vec<i32> = doc.items.iter().map(|c| c.priority).collect();
    let mut report = ImportReport {
        preview: true,
        format: doc.format.to_string(),
        created: 0,
        updated: 0,
        skipped: 0,
        invalid: 0,
        items: Vec::new(),
        warnings: doc.warnings,
    };
    let mut writes = Vec::new();
    let mut seen: HashSet<(ImportKind, String)> = HashSet::new();
    for c in doc.items {
        let mut item = ImportItemReport {
            kind: c.kind,
            name: c.name.clone(),
            domain: c.domain,
            outcome: ImportOutcome::Invalid,
            reason: None,
            existing_id: None,
            id: None,
            errors: Vec::new(),
            diagnostics: Vec::new(),
        };
        let mut problems = c.problems;
        limits::check_name("name", &c.name, &mut problems);
        let before = problems.len();
        limits::check_expression("expression", &c.expression, &mut problems);
        let expression_fits = problems.len() == before;
        let kind = match c.kind {
            ImportKind::Filter => ExpressionKindParam::Filter,
            ImportKind::MappingRule => ExpressionKindParam::Mapping,
        };
        if let Some(domain) = c.domain
            && expression_fits
        {
            item.diagnostics = check(domain, kind, &c.expression)
                .iter()
                .map(ExpressionDiagnostic::from)
                .collect();
        }
        item.errors = problems
            .iter()
            .map(|e| ProblemFieldError {
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect();
        let write = match (c.domain, c.action) {
            _ if !problems.is_empty() || !item.diagnostics.is_empty() => {
                item.reason = Some(if item.diagnostics.is_empty() {
                    "the item has invalid fields".into()
                } else {
                    "the expression is invalid".into()
                });
                report.invalid += 1;
                None
            }
            _ if !seen.insert((c.kind, c.name.clone())) => {
                item.outcome = ImportOutcome::Skip;
                item.reason = Some("the document repeats this name; the first one is used".into());
                report.skipped += 1;
                None
            }
            (Some(domain), action) => {
                let existing = match c.kind {
                    ImportKind::Filter => {
                        filter_by_name.get(c.name.as_str()).map(|f| f.id.as_uuid())
                    }
                    ImportKind::MappingRule => {
                        rule_by_name.get(c.name.as_str()).map(|r| r.id.as_uuid())
                    }
                };
                item.existing_id = existing;
                match (existing, replace) {
                    (Some(_), false) => {
                        item.outcome = ImportOutcome::Skip;
                        item.reason = Some(
                            "one with this name exists; import with replace=true to overwrite it"
                                .into(),
                        );
                        report.skipped += 1;
                        None
                    }
                    (existing, _) => {
                        let write = match (c.kind, existing) {
                            (ImportKind::Filter, existing) => {
                                let input = FilterInput {
                                    name: c.name,
                                    domain,
                                    action: action.unwrap_or(FilterAction::Include),
                                    expression: c.expression,
                                };
                                match existing {
                                    Some(id) => PlannedWrite::UpdateFilter(id.into(), input),
                                    None => PlannedWrite::CreateFilter(input),
                                }
                            }
                            (ImportKind::MappingRule, Some(id)) => {
                                let stored =
                                    rule_by_name.get(c.name.as_str()).map_or(0, |r| r.priority);
                                PlannedWrite::UpdateRule(
                                    id.into(),
                                    MappingRuleInput {
                                        name: c.name,
                                        domain,
                                        expression: c.expression,
                                        priority: stored,
                                        enabled: c.enabled,
                                    },
                                )
                            }
                            (ImportKind::MappingRule, None) => {
                                PlannedWrite::CreateRule(MappingRuleInput {
                                    name: c.name,
                                    domain,
                                    expression: c.expression,
                                    // Numbered below, once every new rule is known.
                                    priority: 0,
                                    enabled: c.enabled,
                                })
                            }
                        };
                        if existing.is_some() {
                            item.outcome = ImportOutcome::Update;
                            report.updated += 1;
                        } else {
                            item.outcome = ImportOutcome::Create;
                            report.created += 1;
                        }
                        Some(write)
                    }
                }
            }
            (None, _) => {
                report.invalid += 1;
                None
            }
        };
        report.items.push(item);
        writes.push(write);
    }
    // New rules go after the stored ones, in the document's priority order.
    let mut new_rules: Vec<usize> = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| matches!(w, Some(PlannedWrite::CreateRule(_))))
        .map(|(i, _)| i)
        .collect();
    new_rules.sort_by_key(|&i| doc_priorities.get(i).copied().unwrap_or(0));
    let mut priority = next_priority(rules);
    for i in new_rules {
        if let Some(Some(PlannedWrite::CreateRule(input))) = writes.get_mut(i) {
            input.priority = priority;
            priority = priority.saturating_add(1);
        }
    }
    ImportPlan { report, writes }
}

/// How to import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Only report what would happen (default false).
    #[serde(default)]
    pub preview: bool,
    /// Overwrite filters and rules that have the same name (default false: skip them).
    #[serde(default)]
    pub replace: bool,
}

/// Imports a `tvarr-rules` document (or a tvarr (Go) filters / data-mapping-rules export).
/// With `preview=true` nothing is written: the answer lists what would be created, what
/// exists by name (skipped, or updated with `replace=true`), and every invalid item with its
/// diagnostics. Otherwise the valid items are written and the same report says what was done.
#[utoipa::path(tag = "filters", params(ImportParams), request_body = Object, responses(
    (status = 200, body = ImportReport),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 413, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/import/filters")]
pub async fn import_rules(
    state: web::Data<AppState>,
    params: Params<ImportParams>,
    body: web::Json<Value>,
) -> ApiResult<web::Json<ImportReport>> {
    let doc = read_document(&body)?;
    let filters = all_filters(&state).await?;
    let rules = all_rules(&state, None).await?;
    let ImportPlan { mut report, writes } = plan_import(doc, &filters, &rules, params.replace);
    if params.preview {
        return Ok(web::Json(report));
    }
    report.preview = false;
    for (item, write) in report.items.iter_mut().zip(writes) {
        let id = match write {
            None => continue,
            Some(PlannedWrite::CreateFilter(input)) => {
                state.repos.filters.create(input).await?.id.as_uuid()
            }
            Some(PlannedWrite::UpdateFilter(id, input)) => {
                state.repos.filters.update(id, input).await?.id.as_uuid()
            }
            Some(PlannedWrite::CreateRule(input)) => {
                state.repos.mapping_rules.create(input).await?.id.as_uuid()
            }
            Some(PlannedWrite::UpdateRule(id, input)) => state
                .repos
                .mapping_rules
                .update(id, input)
                .await?
                .id
                .as_uuid(),
        };
        item.id = Some(id);
    }
    tracing::info!(
        created = report.created,
        updated = report.updated,
        skipped = report.skipped,
        invalid = report.invalid,
        "rules imported"
    );
    Ok(web::Json(report))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tvarr_core::{FilterId, MappingRuleId};

    use super::*;

    fn filter(name: &str, expression: &str) -> Filter {
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

    fn rule(name: &str, priority: i32) -> MappingRule {
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
        assert!(build_export(vec![], vec![], &[Uuid::now_v7()], Utc::now()).is_err());
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

    #[test]
    fn preview_sorts_items_into_create_skip_update_and_invalid() {
        let doc = read_document(&json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [
                {"name": "adult", "domain": "stream", "action": "exclude", "expression": "group contains \"xxx\""},
                {"name": "news", "domain": "stream", "action": "include", "expression": "group == \"news\""},
                {"name": "typo", "domain": "stream", "action": "include", "expression": "chanel_name == \"x\""},
                {"name": "news", "domain": "stream", "action": "include", "expression": "true"},
                {"name": "weird", "domain": "radio", "action": "keep", "expression": "true"}
            ],
            "mapping_rules": [
                {"name": "hd", "domain": "stream", "expression": "name -= \" HD\"", "priority": 2, "enabled": true},
                {"name": "new-b", "domain": "stream", "expression": "DELETE tvg_logo", "priority": 9, "enabled": false},
                {"name": "new-a", "domain": "stream", "expression": "DELETE tvg_name", "priority": 1, "enabled": true}
            ]
        }))
        .unwrap();
        let stored_filters = [filter("adult", "true")];
        let stored_rules = [rule("hd", 4)];
        let plan = plan_import(doc.clone(), &stored_filters, &stored_rules, false);
        let outcomes: Vec<_> = plan
            .report
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.outcome))
            .collect();
        use ImportOutcome::*;
        assert_eq!(
            outcomes,
            [
                ("adult", Skip),
                ("news", Create),
                ("typo", Invalid),
                ("news", Skip),
                ("weird", Invalid),
                ("hd", Skip),
                ("new-b", Create),
                ("new-a", Create)
            ]
        );
        assert_eq!(
            (
                plan.report.created,
                plan.report.skipped,
                plan.report.invalid
            ),
            (3, 3, 2)
        );
        let typo = &plan.report.items[2];
        assert_eq!(
            typo.diagnostics[0].suggestion.as_deref(),
            Some("channel_name")
        );
        assert_eq!(plan.report.items[4].errors.len(), 2);
        // New rules go after the stored one (priority 4), in document priority order.
        let priorities: Vec<_> = plan
            .writes
            .iter()
            .filter_map(|w| match w {
                Some(PlannedWrite::CreateRule(r)) => Some((r.name.as_str(), r.priority)),
                _ => None,
            })
            .collect();
        assert_eq!(priorities, [("new-b", 6), ("new-a", 5)]);

        let replaced = plan_import(doc, &stored_filters, &stored_rules, true);
        assert_eq!(replaced.report.items[0].outcome, Update);
        assert_eq!(
            replaced.report.items[0].existing_id,
            Some(stored_filters[0].id.as_uuid())
        );
        assert!(
            matches!(&replaced.writes[5], Some(PlannedWrite::UpdateRule(_, r)) if r.priority == 4)
        );
    }

    #[test]
    fn reads_tvarr_go_exports_with_warnings() {
        let doc = read_document(&json!({
            "metadata": {"version": "1.0.0", "tvarr_version": "1.2.3", "export_type": "filters",
                         "exported_at": "2025-12-14T10:30:00Z", "item_count": 2},
            "items": [
                {"name": "Sports Channels", "description": "Include all sports channels",
                 "expression": "group CONTAINS 'Sports'", "source_type": "stream", "action": "include", "is_enabled": true},
                {"name": "Adult Filter", "expression": "name MATCHES '(?i)adult|xxx'", "source_type": "stream",
                 "action": "exclude", "is_enabled": false, "source_id": "01HX"}
            ]
        }))
        .unwrap();
        assert_eq!(doc.format, "tvarr-go");
        assert_eq!(doc.items.len(), 2);
        assert_eq!(doc.warnings.len(), 2);
        let plan = plan_import(doc, &[], &[], false);
        assert_eq!(plan.report.created, 2, "{:?}", plan.report.items);

        let rules = read_document(&json!({
            "metadata": {"export_type": "data_mapping_rules"},
            "items": [{"name": "Strip HD", "expression": "name -= ' HD'", "source_type": "stream",
                       "priority": 3, "stop_on_match": true, "is_enabled": true}]
        }))
        .unwrap();
        assert_eq!(rules.items[0].kind, ImportKind::MappingRule);
        assert!(rules.warnings[0].contains("stop_on_match"));
    }

    #[test]
    fn export_body_may_be_empty_but_not_misspelt() {
        assert!(read_export_body(b"").unwrap().ids.is_empty());
        assert!(read_export_body(b"{}").unwrap().ids.is_empty());
        assert!(read_export_body(br#"{"idz": []}"#).is_err());
    }

    #[test]
    fn refuses_unknown_documents() {
        assert!(read_document(&json!({"filters": []})).is_err());
        assert!(read_document(&json!({"format": "tvarr-rules", "version": 2})).is_err());
        assert!(
            read_document(&json!({"metadata": {"export_type": "encoding_profiles"}, "items": []}))
                .is_err()
        );
    }
}
