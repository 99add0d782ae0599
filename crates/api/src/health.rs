//! Liveness, readiness and a summary for people.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The summary `/health` returns.
#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// The server version.
    pub version: String,
    /// Whether the database answers.
    pub database: bool,
    /// Whether `/api/v1` needs credentials.
    pub access_control: bool,
    /// What is wrong, if anything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// What works but should be fixed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "health", responses((status = 200, description = "alive")))]
#[get("/livez")]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database is reachable and migrated.
#[utoipa::path(tag = "health", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness.check().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {reason}")),
    }
}

/// A JSON summary of the server's health.
#[utoipa::path(tag = "health", responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let mut problems = Vec::new();
    let database = match state.readiness.check().await {
        Ok(()) => true,
        Err(reason) => {
            problems.push(format!("database: {reason}"));
            false
        }
    };
    let access_control = state.auth.is_required();
    let mut warnings = Vec::new();
    if !access_control {
        warnings.push(
            "no admin password is set: the API is open to anyone who can reach it \
             (set TVARR_ADMIN_PASSWORD or POST /api/v1/auth/setup)"
                .to_string(),
        );
    }
    let report = HealthReport {
        status: if database { "ok" } else { "degraded" },
        version: state.settings.version.clone(),
        database,
        access_control,
        problems,
        warnings,
    };
    if database {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}
