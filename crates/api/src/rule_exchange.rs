//! Sharing filters and data-mapping rules between installations: export to a JSON document,
//! preview an import, import. The documents and the import's decisions are
//! [`tvarr_pipeline::rule_exchange`]'s; here are the requests, the stored filters and rules
//! they are decided against, the writes, and the report.

use actix_web::{post, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tvarr_core::{Domain, FieldError, Filter, PageRequest};
use tvarr_pipeline::rule_exchange::{
    self, ImportKind, ImportOutcome, ImportPlan, PlannedItem, PlannedWrite, RulesDocument,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::extractors::body_bytes;
use crate::error::{ApiError, ApiResult, ExpressionDiagnostic, Problem, ProblemFieldError};
use crate::mapping::all_rules;
use crate::pagination::Params;
use crate::state::AppState;

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
    let document = rule_exchange::build_export(filters, rules, &body.ids, Utc::now())
        .map_err(ApiError::fields)?;
    Ok(web::Json(document))
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

impl From<&PlannedItem> for ImportItemReport {
    fn from(item: &PlannedItem) -> Self {
        Self {
            kind: item.kind,
            name: item.name.clone(),
            domain: item.domain,
            outcome: item.outcome,
            reason: item.reason.map(str::to_string),
            existing_id: item.existing_id,
            id: None,
            errors: item
                .errors
                .iter()
                .map(|e| ProblemFieldError {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            diagnostics: item
                .diagnostics
                .iter()
                .map(ExpressionDiagnostic::from)
                .collect(),
        }
    }
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

impl ImportReport {
    /// The preview of `plan`, and its writes, one per item (`None` for skipped and invalid
    /// items).
    fn preview(plan: ImportPlan) -> (Self, Vec<Option<PlannedWrite>>) {
        let report = Self {
            preview: true,
            format: plan.format.to_string(),
            created: plan.created,
            updated: plan.updated,
            skipped: plan.skipped,
            invalid: plan.invalid,
            items: plan.items.iter().map(ImportItemReport::from).collect(),
            warnings: plan.warnings,
        };
        (report, plan.items.into_iter().map(|i| i.write).collect())
    }
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
    let doc = rule_exchange::read_document(&body)?;
    let filters = all_filters(&state).await?;
    let rules = all_rules(&state, None).await?;
    let plan = rule_exchange::plan_import(doc, &filters, &rules, params.replace);
    let (mut report, writes) = ImportReport::preview(plan);
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

    use super::*;

    #[test]
    fn export_body_may_be_empty_but_not_misspelt() {
        assert!(read_export_body(b"").unwrap().ids.is_empty());
        assert!(read_export_body(b"{}").unwrap().ids.is_empty());
        assert!(read_export_body(br#"{"idz": []}"#).is_err());
    }

    #[test]
    fn refuses_unknown_documents() {
        let read = |doc: Value| rule_exchange::read_document(&doc).map_err(ApiError::from);
        assert!(matches!(
            read(json!({"filters": []})),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            read(json!({"format": "tvarr-rules", "version": 2})),
            Err(ApiError::Validation { errors, .. }) if errors[0].field == "version"
        ));
        assert!(
            read(json!({"metadata": {"export_type": "encoding_profiles"}, "items": []})).is_err()
        );
    }

    #[test]
    fn the_report_lists_every_item_with_its_problems() {
        let doc = rule_exchange::read_document(&json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [
                {"name": "typo", "domain": "stream", "action": "include", "expression": "chanel_name == \"x\""},
                {"name": "weird", "domain": "radio", "action": "keep", "expression": "true"},
                {"name": "ok", "domain": "stream", "action": "include", "expression": "true"}
            ]
        }))
        .unwrap();
        let plan = rule_exchange::plan_import(doc, &[], &[], false);
        let (report, writes) = ImportReport::preview(plan);
        assert!(report.preview);
        assert_eq!((report.created, report.invalid), (1, 2));
        assert_eq!(writes.iter().filter(|w| w.is_some()).count(), 1);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["format"], "tvarr-rules");
        let typo = &value["items"][0];
        assert_eq!(typo["reason"], "the expression is invalid");
        assert_eq!(typo["diagnostics"][0]["suggestion"], "channel_name");
        assert!(typo.get("errors").is_none());
        assert_eq!(value["items"][1]["errors"].as_array().unwrap().len(), 2);
        assert_eq!(value["items"][2]["outcome"], "create");
        assert!(value["items"][2].get("reason").is_none());
    }
}
