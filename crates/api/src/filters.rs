//! Filters: CRUD, and trying an unsaved filter on the ingested channels or programmes.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    Domain, EpgSourceId, Filter, FilterAction, FilterId, FilterInput, StreamSourceId, limits,
};
use tvarr_expr::CompiledFilter;
use tvarr_pipeline::{ChannelRecord, ProgrammeRecord, expr_domain, scan_channels, scan_programmes};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::channels::ChannelView;
use crate::epg::ProgrammeView;
use crate::error::{ApiError, ApiResult, Problem};
use crate::expressions::{ExpressionKindParam, require_valid, require_within_limits};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::sources::{epg_sources_of, stream_sources_of};
use crate::state::AppState;

/// How many matching records the test endpoints show.
pub(crate) const SAMPLE_SIZE: usize = 20;

/// How many records the tests read from storage at a time (per source, for programmes).
pub(crate) const SCAN_PAGE: u32 = 5_000;

/// The body that creates or replaces a filter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterBody {
    /// A name for people.
    pub name: String,
    /// `stream` (channels) or `epg` (programmes).
    pub domain: Domain,
    /// `include` keeps what matches, `exclude` drops it.
    pub action: FilterAction,
    /// The condition, e.g. `group_title == "News" AND NOT channel_name contains "radio"`.
    pub expression: String,
}

impl FilterBody {
    /// The input to store, or every problem: a blank name, an invalid expression.
    pub(crate) fn into_input(self) -> ApiResult<FilterInput> {
        let name = self.name.trim().to_string();
        let mut errors = Vec::new();
        limits::check_name("name", &name, &mut errors);
        require_valid(
            self.domain,
            ExpressionKindParam::Filter,
            "expression",
            &self.expression,
            errors,
        )?;
        Ok(FilterInput {
            name,
            domain: self.domain,
            action: self.action,
            expression: self.expression,
        })
    }
}

/// A filter as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterView {
    /// Id.
    pub id: FilterId,
    /// Name.
    pub name: String,
    /// `stream` or `epg`.
    pub domain: Domain,
    /// `include` or `exclude`.
    pub action: FilterAction,
    /// The condition.
    pub expression: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Filter> for FilterView {
    fn from(f: Filter) -> Self {
        Self {
            id: f.id,
            name: f.name,
            domain: f.domain,
            action: f.action,
            expression: f.expression,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// Which filters to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DomainParam {
    /// Only this domain: `stream` or `epg`.
    pub domain: Option<Domain>,
}

/// Lists filters, optionally of one domain.
#[utoipa::path(tag = "filters", params(DomainParam, PageParams), responses((status = 200, body = ListResponse<FilterView>)))]
#[get("/filters")]
pub async fn list_filters(
    state: web::Data<AppState>,
    domain: Params<DomainParam>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<FilterView>>> {
    let page = state
        .repos
        .filters
        .list(domain.domain, page.request()?)
        .await?;
    Ok(web::Json(ListResponse::from_page(page, FilterView::from)))
}

/// Creates a filter. An invalid expression is refused with 422 and its `diagnostics`.
#[utoipa::path(tag = "filters", request_body = FilterBody, responses(
    (status = 201, body = FilterView),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/filters")]
pub async fn create_filter(
    state: web::Data<AppState>,
    body: web::Json<FilterBody>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner().into_input()?;
    let filter = state.repos.filters.create(input).await?;
    tracing::info!(filter_id = %filter.id, name = %filter.name, "filter created");
    Ok(HttpResponse::Created().json(FilterView::from(filter)))
}

/// One filter.
#[utoipa::path(tag = "filters", params(("id" = String, Path, description = "filter id")), responses(
    (status = 200, body = FilterView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/filters/{id}")]
pub async fn get_filter(
    state: web::Data<AppState>,
    id: web::Path<FilterId>,
) -> ApiResult<web::Json<FilterView>> {
    Ok(web::Json(
        state.repos.filters.get(id.into_inner()).await?.into(),
    ))
}

/// Replaces a filter.
#[utoipa::path(tag = "filters", params(("id" = String, Path, description = "filter id")), request_body = FilterBody,
    responses((status = 200, body = FilterView), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/filters/{id}")]
pub async fn update_filter(
    state: web::Data<AppState>,
    id: web::Path<FilterId>,
    body: web::Json<FilterBody>,
) -> ApiResult<web::Json<FilterView>> {
    let input = body.into_inner().into_input()?;
    let filter = state.repos.filters.update(id.into_inner(), input).await?;
    Ok(web::Json(filter.into()))
}

/// Deletes a filter.
#[utoipa::path(tag = "filters", params(("id" = String, Path, description = "filter id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/filters/{id}")]
pub async fn delete_filter(
    state: web::Data<AppState>,
    id: web::Path<FilterId>,
) -> ApiResult<HttpResponse> {
    state.repos.filters.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An expression to try on the ingested data.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryExpressionBody {
    /// `stream` (channels) or `epg` (programmes).
    pub domain: Domain,
    /// The expression.
    pub expression: String,
    /// Only the records of these sources (stream or EPG sources, by domain); all when absent.
    #[serde(default)]
    pub source_ids: Vec<Uuid>,
}

/// A channel or a programme, as the API shows it elsewhere.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RecordView {
    /// A channel.
    Channel(ChannelView),
    /// A programme.
    Programme(ProgrammeView),
}

/// What a filter would match.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterTestResult {
    /// How many records match.
    pub matched: u64,
    /// How many records were tried.
    pub total: u64,
    /// The first matches (at most 20), in source order.
    pub sample: Vec<RecordView>,
}

/// Runs an unsaved filter expression over the ingested channels (`stream`) or programmes
/// (`epg`) and counts the matches. The action does not matter here: this is what the
/// expression matches.
#[utoipa::path(tag = "filters", request_body = TryExpressionBody, responses(
    (status = 200, body = FilterTestResult),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/filters/test")]
pub async fn test_filter(
    state: web::Data<AppState>,
    body: web::Json<TryExpressionBody>,
) -> ApiResult<web::Json<FilterTestResult>> {
    let body = body.into_inner();
    require_within_limits("expression", &body.expression)?;
    let filter = CompiledFilter::compile(expr_domain(body.domain), &body.expression)
        .map_err(|e| ApiError::expression("expression", e.diagnostics(), Vec::new()))?;
    // One `@time:now` for the whole scan, so every record is judged against the same instant.
    let now = Utc::now();
    let mut matched = 0;
    let mut sample = Vec::new();
    let total = match body.domain {
        Domain::Stream => {
            let ids = body
                .source_ids
                .into_iter()
                .map(StreamSourceId::from)
                .collect();
            let sources = stream_sources_of(&state, ids).await?;
            let channels = state.repos.channels.as_ref();
            scan_channels(channels, &sources, SCAN_PAGE, |channel, context| {
                if filter.matches_at(&ChannelRecord::new(&channel.data, context), now) {
                    matched += 1;
                    if sample.len() < SAMPLE_SIZE {
                        sample.push(RecordView::Channel(channel.into()));
                    }
                }
            })
            .await?
        }
        Domain::Epg => {
            let ids = body.source_ids.into_iter().map(EpgSourceId::from).collect();
            let sources = epg_sources_of(&state, ids).await?;
            let programmes = state.repos.programmes.as_ref();
            scan_programmes(programmes, &sources, SCAN_PAGE, |programme, context| {
                if filter.matches_at(&ProgrammeRecord::new(&programme.data, context), now) {
                    matched += 1;
                    if sample.len() < SAMPLE_SIZE {
                        sample.push(RecordView::Programme(programme.into()));
                    }
                }
            })
            .await?
        }
    };
    Ok(web::Json(FilterTestResult {
        matched,
        total,
        sample,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(name: &str, expression: &str) -> FilterBody {
        FilterBody {
            name: name.into(),
            domain: Domain::Stream,
            action: FilterAction::Include,
            expression: expression.into(),
        }
    }

    #[test]
    fn a_valid_body_becomes_input_with_a_trimmed_name() {
        let input = body("  News ", r#"group == "news""#).into_input().unwrap();
        assert_eq!(input.name, "News");
    }

    #[test]
    fn a_misspelt_field_is_refused_with_a_suggestion() {
        let err = body("News", r#"chanel_name contains "x""#)
            .into_input()
            .unwrap_err();
        let problem = err.problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "expression");
        assert_eq!(
            problem.diagnostics[0].suggestion.as_deref(),
            Some("channel_name")
        );
    }

    #[test]
    fn a_blank_name_and_a_bad_expression_are_reported_together() {
        let problem = body(" ", "name contains")
            .into_input()
            .unwrap_err()
            .problem();
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields[0], "name");
        assert!(fields[1..].iter().all(|f| *f == "expression") && fields.len() > 1);
    }

    #[test]
    fn programme_fields_are_not_channel_fields() {
        let mut b = body("x", r#"programme_title contains "news""#);
        assert!(b.into_input().is_err());
        b = body("x", r#"programme_title contains "news""#);
        b.domain = Domain::Epg;
        assert!(b.into_input().is_ok());
    }
}
