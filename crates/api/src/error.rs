//! The one place where failures become HTTP answers: RFC 9457 `application/problem+json`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tvarr_core::{FieldError, RepoError};
use utoipa::ToSchema;

/// A field-level validation problem, as the API reports it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProblemFieldError {
    /// The field's name in the request.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// One problem in an expression: what is wrong, where (byte offsets into the expression), and
/// the nearest valid name when a misspelling is likely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExpressionDiagnostic {
    /// A sentence for the user.
    pub message: String,
    /// Byte offset where the problem starts.
    pub start: usize,
    /// Byte offset where it ends (exclusive).
    pub end: usize,
    /// The nearest valid field, operator, keyword or helper name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl From<&tvarr_expr::Diagnostic> for ExpressionDiagnostic {
    fn from(d: &tvarr_expr::Diagnostic) -> Self {
        Self {
            message: d.message.clone(),
            start: d.start,
            end: d.end,
            suggestion: d.suggestion.clone(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference identifying the problem type (`about:blank` when only the status says it).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened, in words a person can act on.
    pub detail: String,
    /// For validation failures, every problem found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemFieldError>,
    /// For invalid expressions, every problem with its span and suggestion (an extension
    /// member; `errors` carries the same messages for clients that only read it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<ExpressionDiagnostic>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad id, bad query).
    #[error("{0}")]
    BadRequest(String),
    /// A query parameter is malformed or out of range: 400, with the parameter named in
    /// `errors`.
    #[error("invalid query parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter as the URL spells it.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request body is larger than the endpoint accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request is well-formed but its values are invalid.
    #[error("{detail}")]
    Validation {
        /// Summary.
        detail: String,
        /// Every problem found.
        errors: Vec<FieldError>,
    },
    /// An expression does not validate; other fields of the request may be invalid too.
    #[error("{detail}")]
    InvalidExpression {
        /// Summary.
        detail: String,
        /// Every problem found, as `{field, message}` (expression problems under the
        /// expression's field name).
        errors: Vec<FieldError>,
        /// The expression's problems with spans.
        diagnostics: Vec<ExpressionDiagnostic>,
    },
    /// No credentials, or wrong ones.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials are fine but do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (failed logins); try again after `retry_after_secs` seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// What happened.
        detail: String,
        /// Sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// A dependency (the database) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// An upstream (a provider's stream) answered, but not with what was needed.
    #[error("{0}")]
    BadGateway(String),
    /// A bug or corrupt data; details are logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A validation failure with one field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            detail: "the request has invalid fields".into(),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// A query parameter that is malformed or out of range (400).
    pub fn parameter(name: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidParameter {
            name: name.to_string(),
            message: message.into(),
        }
    }

    /// A validation failure with several field errors.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        ApiError::Validation {
            detail: "the request has invalid fields".into(),
            errors,
        }
    }

    /// A validation failure of the expression in `field`, with any `other` field errors.
    pub fn expression(
        field: &str,
        diagnostics: &[tvarr_expr::Diagnostic],
        mut other: Vec<FieldError>,
    ) -> Self {
        let detail = match diagnostics {
            [] => "the request has invalid fields".to_string(),
            [one] => format!("the {field} is invalid: {}", one.message),
            [first, rest @ ..] => format!(
                "the {field} is invalid: {} (and {} more problem(s))",
                first.message,
                rest.len()
            ),
        };
        other.extend(
            diagnostics
                .iter()
                .map(|d| FieldError::new(field, d.message.clone())),
        );
        ApiError::InvalidExpression {
            detail,
            errors: other,
            diagnostics: diagnostics.iter().map(ExpressionDiagnostic::from).collect(),
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::InvalidParameter { .. } => "Invalid query parameter",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::Validation { .. } => "Invalid fields",
            ApiError::InvalidExpression { .. } => "Invalid expression",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::BadGateway(_) => "Bad gateway",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let detail = match self {
            ApiError::Internal(_) => {
                "an internal error occurred; the server log has the details".to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation { errors, .. } | ApiError::InvalidExpression { errors, .. } => {
                errors
                    .iter()
                    .map(|e| ProblemFieldError {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect()
            }
            ApiError::InvalidParameter { name, message } => vec![ProblemFieldError {
                field: name.clone(),
                message: message.clone(),
            }],
            _ => Vec::new(),
        };
        let diagnostics = match self {
            ApiError::InvalidExpression { diagnostics, .. } => diagnostics.clone(),
            _ => Vec::new(),
        };
        Problem {
            kind: "about:blank".into(),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail,
            errors,
            diagnostics,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation { .. } | ApiError::InvalidExpression { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"tvarr\""));
        }
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        response.json(self.problem())
    }
}

/// A rules document that cannot be read: 422 naming the member, or 400 when it is not a
/// rules document at all.
impl From<tvarr_pipeline::rule_exchange::DocumentError> for ApiError {
    fn from(error: tvarr_pipeline::rule_exchange::DocumentError) -> Self {
        use tvarr_pipeline::rule_exchange::DocumentError;
        match error {
            DocumentError::Field(e) => ApiError::fields(vec![e]),
            DocumentError::NotRules => ApiError::BadRequest(error.to_string()),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NotFound { entity, id } => {
                ApiError::NotFound(format!("{entity} {id} not found"))
            }
            RepoError::Conflict(detail) => ApiError::Conflict(detail),
            taken @ RepoError::AlreadyExists { .. } => ApiError::Conflict(taken.to_string()),
            RepoError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::Unavailable("the database is unavailable; try again shortly".into())
            }
            RepoError::Corrupt(detail) => ApiError::Internal(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use tvarr_expr::{Domain, ExpressionKind, validate};

    use super::*;

    #[test]
    fn an_invalid_expression_is_a_422_with_field_errors_and_diagnostics() {
        let diags = validate(
            Domain::Stream,
            ExpressionKind::Filter,
            r#"chanel_name == "x""#,
        );
        let error = ApiError::expression(
            "expression",
            &diags,
            vec![FieldError::new("name", "must not be empty")],
        );
        assert_eq!(error.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem = serde_json::to_value(error.problem()).unwrap();
        assert_eq!(problem["title"], "Invalid expression");
        assert_eq!(problem["errors"][0]["field"], "name");
        assert_eq!(problem["errors"][1]["field"], "expression");
        assert_eq!(problem["diagnostics"][0]["suggestion"], "channel_name");
        assert_eq!(problem["diagnostics"][0]["start"], 0);
        assert_eq!(problem["diagnostics"][0]["end"], 11);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("did you mean `channel_name`")
        );
    }

    #[test]
    fn other_problems_carry_no_diagnostics_member() {
        let problem = serde_json::to_value(ApiError::field("name", "blank").problem()).unwrap();
        assert!(problem.get("diagnostics").is_none());
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Turns actix's extractor failures (bad JSON, bad path, bad query, oversized body) into
/// problem documents instead of its plain-text defaults.
pub(crate) mod extractors {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::{HttpRequest, web};

    use super::{ApiError, ApiResult};

    /// The largest JSON body accepted.
    pub const JSON_LIMIT: usize = 1024 * 1024;

    /// The body of a handler that reads raw bytes, up to [`JSON_LIMIT`]: actix's `Bytes`
    /// extractor would answer an oversized body with plain text, and offers no error handler.
    pub async fn body_bytes(payload: web::Payload) -> ApiResult<web::Bytes> {
        match payload.to_bytes_limited(JSON_LIMIT).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => Err(ApiError::BadRequest(format!(
                "the body could not be read: {e}"
            ))),
            Err(_) => Err(ApiError::PayloadTooLarge(format!(
                "the body is larger than {JSON_LIMIT} bytes"
            ))),
        }
    }

    pub fn json_config() -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(|err, _req: &HttpRequest| {
                let api = match &err {
                    JsonPayloadError::OverflowKnownLength { length, limit } => {
                        ApiError::PayloadTooLarge(format!(
                            "the body is {length} bytes; at most {limit} are accepted"
                        ))
                    }
                    JsonPayloadError::Overflow { limit } => {
                        ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes"))
                    }
                    JsonPayloadError::ContentType => ApiError::BadRequest(
                        "the body must be JSON, sent with Content-Type: application/json".into(),
                    ),
                    JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::Validation {
                        detail: format!("the body does not match the expected shape: {e}"),
                        errors: vec![tvarr_core::FieldError::new(
                            json_field(&e.to_string()),
                            e.to_string(),
                        )],
                    },
                    other => ApiError::BadRequest(format!("the body is not valid JSON: {other}")),
                };
                api.into()
            })
    }

    /// Best effort: the field name serde mentions in its message.
    fn json_field(message: &str) -> String {
        for marker in ["unknown field `", "missing field `"] {
            if let Some(rest) = message.split(marker).nth(1)
                && let Some(name) = rest.split('`').next()
            {
                return name.to_string();
            }
        }
        "body".to_string()
    }

    pub fn path_config() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err: PathError, req| {
            if let Some(response) = crate::contract::method_not_allowed(req) {
                return actix_web::error::InternalError::from_response(err, response).into();
            }
            ApiError::BadRequest(format!("invalid path parameter: {err}")).into()
        })
    }

    pub fn query_config() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
            ApiError::BadRequest(format!("invalid query string: {err}")).into()
        })
    }
}
