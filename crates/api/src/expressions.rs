//! Checking expressions and describing the fields they can use.

use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use tvarr_core::{Domain, FieldError, limits};
use tvarr_expr::{ExpressionKind, FieldRegistry, FieldType};
use tvarr_pipeline::expr_domain;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ExpressionDiagnostic};

/// Whether an expression is a filter or a data-mapping rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpressionKindParam {
    /// A boolean condition.
    Filter,
    /// An optional condition followed by actions.
    #[serde(alias = "rule")]
    Mapping,
}

impl From<ExpressionKindParam> for ExpressionKind {
    fn from(kind: ExpressionKindParam) -> Self {
        match kind {
            ExpressionKindParam::Filter => ExpressionKind::Filter,
            ExpressionKindParam::Mapping => ExpressionKind::Rule,
        }
    }
}

/// An expression to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateBody {
    /// `stream` (channels) or `epg` (programmes).
    pub domain: Domain,
    /// `filter` or `mapping`.
    pub kind: ExpressionKindParam,
    /// The expression text.
    pub expression: String,
}

/// The verdict on an expression.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationResult {
    /// Whether the expression has no problem.
    pub valid: bool,
    /// Every problem, sorted by position.
    pub errors: Vec<ExpressionDiagnostic>,
}

/// Every problem of an expression, for the API.
pub(crate) fn check(
    domain: Domain,
    kind: ExpressionKindParam,
    expression: &str,
) -> Vec<tvarr_expr::Diagnostic> {
    tvarr_expr::validate(expr_domain(domain), kind.into(), expression)
}

/// `Ok` when the expression is within the limits every expression is held to (size, no NUL);
/// otherwise a 422 naming `field`.
pub(crate) fn require_within_limits(field: &str, expression: &str) -> ApiResult<()> {
    let mut errors = Vec::new();
    limits::check_expression(field, expression, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::fields(errors))
    }
}

/// `Ok` when the expression is valid; otherwise a 422 naming `field`, which also carries
/// `other` field errors found in the same request. An expression over the limits is not
/// parsed at all.
pub(crate) fn require_valid(
    domain: Domain,
    kind: ExpressionKindParam,
    field: &str,
    expression: &str,
    mut other: Vec<FieldError>,
) -> ApiResult<()> {
    let before = other.len();
    limits::check_expression(field, expression, &mut other);
    if other.len() > before {
        return Err(ApiError::fields(other));
    }
    let diagnostics = check(domain, kind, expression);
    if diagnostics.is_empty() {
        if other.is_empty() {
            Ok(())
        } else {
            Err(ApiError::fields(other))
        }
    } else {
        Err(ApiError::expression(field, &diagnostics, other))
    }
}

/// Checks an expression without saving it. Any text gets a 200 answer; an invalid expression
/// is `valid: false` with its problems (one over the size limit, or with a NUL, is not parsed).
#[utoipa::path(tag = "expressions", request_body = ValidateBody,
    responses((status = 200, body = ValidationResult)))]
#[post("/expressions/validate")]
pub async fn validate_expression(body: web::Json<ValidateBody>) -> web::Json<ValidationResult> {
    let mut limit = Vec::new();
    limits::check_expression("expression", &body.expression, &mut limit);
    if let Some(problem) = limit.into_iter().next() {
        return web::Json(ValidationResult {
            valid: false,
            errors: vec![ExpressionDiagnostic {
                message: format!("the expression {}", problem.message),
                start: 0,
                end: body.expression.len(),
                suggestion: None,
            }],
        });
    }
    let errors: Vec<ExpressionDiagnostic> = check(body.domain, body.kind, &body.expression)
        .iter()
        .map(ExpressionDiagnostic::from)
        .collect();
    web::Json(ValidationResult {
        valid: errors.is_empty(),
        errors,
    })
}

/// One field expressions can use.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    /// The canonical name.
    pub name: &'static str,
    /// Other accepted spellings (case and `-`/`_` are ignored when matching).
    pub aliases: &'static [&'static str],
    /// `text`, `number`, `time` or `url`.
    #[serde(rename = "type")]
    pub field_type: &'static str,
    /// Whether rules may only test it.
    pub read_only: bool,
    /// One sentence for users.
    pub description: &'static str,
}

/// The fields of one domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldList {
    /// `stream` or `epg`.
    pub domain: Domain,
    /// Every field, in a stable order.
    pub fields: Vec<FieldView>,
    /// How to reach provider attributes that have no field of their own.
    pub extra_attributes: String,
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Text => "text",
        FieldType::Number => "number",
        FieldType::Time => "time",
        FieldType::Url => "url",
        // A type added to tvarr-expr later: every field's value is text underneath.
        _ => "text",
    }
}

pub(crate) fn field_list(domain: Domain) -> FieldList {
    let registry = FieldRegistry::for_domain(expr_domain(domain));
    // The registry keeps this sentence private but serialises it.
    let extra_attributes = serde_json::to_value(registry)
        .ok()
        .and_then(|v| v.get("extra_attributes")?.as_str().map(str::to_string))
        .unwrap_or_default();
    FieldList {
        domain,
        fields: registry
            .fields()
            .iter()
            .map(|f| FieldView {
                name: f.name,
                aliases: f.aliases,
                field_type: type_name(f.field_type),
                read_only: f.read_only,
                description: f.description,
            })
            .collect(),
        extra_attributes,
    }
}

/// The fields filters and rules of a domain can use: names, aliases, types, read-only flags
/// and descriptions.
#[utoipa::path(tag = "expressions", params(("domain" = Domain, Path, description = "`stream` or `epg`")),
    responses((status = 200, body = FieldList)))]
#[get("/filters/fields/{domain}")]
pub async fn list_fields(domain: web::Path<Domain>) -> web::Json<FieldList> {
    web::Json(field_list(domain.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_kind_validates_actions_and_filter_kind_refuses_them() {
        let rule = r#"name ends_with " HD" REMOVE name = " HD""#;
        assert!(check(Domain::Stream, ExpressionKindParam::Mapping, rule).is_empty());
        assert!(!check(Domain::Stream, ExpressionKindParam::Filter, rule).is_empty());
    }

    #[test]
    fn kind_accepts_mapping_and_rule() {
        let kind: ExpressionKindParam = serde_json::from_str(r#""rule""#).unwrap();
        assert_eq!(kind, ExpressionKindParam::Mapping);
        let body: Result<ValidateBody, _> = serde_json::from_str(
            r#"{"domain":"epg","kind":"filter","expression":"true","extra":1}"#,
        );
        assert!(body.is_err(), "unknown members are refused");
    }

    #[test]
    fn require_valid_merges_other_field_errors() {
        let err = require_valid(
            Domain::Stream,
            ExpressionKindParam::Filter,
            "expression",
            "true",
            vec![FieldError::new("name", "must not be empty")],
        )
        .unwrap_err();
        assert!(matches!(err, ApiError::Validation { .. }));
        assert!(
            require_valid(
                Domain::Epg,
                ExpressionKindParam::Filter,
                "expression",
                "title contains \"x\"",
                vec![]
            )
            .is_ok()
        );
    }

    #[test]
    fn field_list_describes_the_registry() {
        let list = serde_json::to_value(field_list(Domain::Stream)).unwrap();
        let first = &list["fields"][0];
        assert_eq!(first["name"], "channel_name");
        assert_eq!(first["type"], "text");
        assert!(
            list["extra_attributes"]
                .as_str()
                .unwrap()
                .contains("extra.")
        );
        let source = list["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "source_name")
            .unwrap();
        assert_eq!(source["read_only"], true);
        let epg = field_list(Domain::Epg);
        assert!(
            epg.fields
                .iter()
                .any(|f| f.name == "programme_start" && f.field_type == "time")
        );
    }
}
