//! Data-mapping rules: CRUD, reordering, and trying an unsaved rule on the ingested data.

use std::collections::HashSet;

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    Domain, EpgSourceId, FieldError, MappingRule, MappingRuleId, MappingRuleInput, PageRequest,
    RepoError, StreamSourceId, limits,
};
use tvarr_expr::{ApplyReport, RunHelpers};
use tvarr_pipeline::rule_exchange::next_priority;
use tvarr_pipeline::{MappingPipeline, field_name, scan_channels, scan_programmes};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::expressions::{ExpressionKindParam, require_valid, require_within_limits};
use crate::filters::{DomainParam, RecordView, SAMPLE_SIZE, SCAN_PAGE, TryExpressionBody};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::sources::{epg_sources_of, stream_sources_of};
use crate::state::AppState;

/// The body that creates or replaces a data-mapping rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingRuleBody {
    /// A name for people.
    pub name: String,
    /// `stream` (channels) or `epg` (programmes).
    pub domain: Domain,
    /// The rule: an optional condition and actions, e.g. `name ends_with " HD" REMOVE name = " HD"`.
    pub expression: String,
    /// Lower runs first. On create, default: after every existing rule. On replace, default:
    /// unchanged.
    pub priority: Option<i32>,
    /// Whether the rule is applied (default: true on create, unchanged on replace).
    pub enabled: Option<bool>,
}

impl MappingRuleBody {
    /// The input to store, with `priority` and `enabled` defaulted from `defaults`.
    pub(crate) fn into_input(self, defaults: (i32, bool)) -> ApiResult<MappingRuleInput> {
        let name = self.name.trim().to_string();
        let mut errors = Vec::new();
        limits::check_name("name", &name, &mut errors);
        require_valid(
            self.domain,
            ExpressionKindParam::Mapping,
            "expression",
            &self.expression,
            errors,
        )?;
        Ok(MappingRuleInput {
            name,
            domain: self.domain,
            expression: self.expression,
            priority: self.priority.unwrap_or(defaults.0),
            enabled: self.enabled.unwrap_or(defaults.1),
        })
    }
}

/// A data-mapping rule as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingRuleView {
    /// Id.
    pub id: MappingRuleId,
    /// Name.
    pub name: String,
    /// `stream` or `epg`.
    pub domain: Domain,
    /// The rule.
    pub expression: String,
    /// Lower runs first.
    pub priority: i32,
    /// Whether the rule is applied.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<MappingRule> for MappingRuleView {
    fn from(r: MappingRule) -> Self {
        Self {
            id: r.id,
            name: r.name,
            domain: r.domain,
            expression: r.expression,
            priority: r.priority,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Every stored rule, optionally of one domain, by priority.
pub(crate) async fn all_rules(
    state: &AppState,
    domain: Option<Domain>,
) -> ApiResult<Vec<MappingRule>> {
    let mut rules = Vec::new();
    loop {
        let page = state
            .repos
            .mapping_rules
            .list(
                domain,
                PageRequest::new(PageRequest::MAX_LIMIT, rules.len() as u64),
            )
            .await?;
        let done = page.items.is_empty();
        rules.extend(page.items);
        if done || rules.len() as u64 >= page.total {
            return Ok(rules);
        }
    }
}

/// Lists data-mapping rules by priority, optionally of one domain.
#[utoipa::path(tag = "data-mapping", params(DomainParam, PageParams), responses((status = 200, body = ListResponse<MappingRuleView>)))]
#[get("/data-mapping")]
pub async fn list_mapping_rules(
    state: web::Data<AppState>,
    domain: Params<DomainParam>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<MappingRuleView>>> {
    let page = state
        .repos
        .mapping_rules
        .list(domain.domain, page.request()?)
        .await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        MappingRuleView::from,
    )))
}

/// Creates a data-mapping rule. An invalid expression is refused with 422 and its `diagnostics`.
#[utoipa::path(tag = "data-mapping", request_body = MappingRuleBody, responses(
    (status = 201, body = MappingRuleView),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/data-mapping")]
pub async fn create_mapping_rule(
    state: web::Data<AppState>,
    body: web::Json<MappingRuleBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let priority = match body.priority {
        Some(p) => p,
        None => next_priority(&all_rules(&state, None).await?),
    };
    let input = body.into_input((priority, true))?;
    let rule = state.repos.mapping_rules.create(input).await?;
    tracing::info!(rule_id = %rule.id, name = %rule.name, "mapping rule created");
    Ok(HttpResponse::Created().json(MappingRuleView::from(rule)))
}

/// One data-mapping rule.
#[utoipa::path(tag = "data-mapping", params(("id" = String, Path, description = "rule id")), responses(
    (status = 200, body = MappingRuleView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/data-mapping/{id}")]
pub async fn get_mapping_rule(
    state: web::Data<AppState>,
    id: web::Path<MappingRuleId>,
) -> ApiResult<web::Json<MappingRuleView>> {
    Ok(web::Json(
        state.repos.mapping_rules.get(id.into_inner()).await?.into(),
    ))
}

/// Replaces a data-mapping rule; leaving out `priority` or `enabled` keeps the stored value.
#[utoipa::path(tag = "data-mapping", params(("id" = String, Path, description = "rule id")), request_body = MappingRuleBody,
    responses((status = 200, body = MappingRuleView), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/data-mapping/{id}")]
pub async fn update_mapping_rule(
    state: web::Data<AppState>,
    id: web::Path<MappingRuleId>,
    body: web::Json<MappingRuleBody>,
) -> ApiResult<web::Json<MappingRuleView>> {
    let id = id.into_inner();
    let stored = state.repos.mapping_rules.get(id).await?;
    let input = body
        .into_inner()
        .into_input((stored.priority, stored.enabled))?;
    let rule = state.repos.mapping_rules.update(id, input).await?;
    Ok(web::Json(rule.into()))
}

/// Deletes a data-mapping rule.
#[utoipa::path(tag = "data-mapping", params(("id" = String, Path, description = "rule id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/data-mapping/{id}")]
pub async fn delete_mapping_rule(
    state: web::Data<AppState>,
    id: web::Path<MappingRuleId>,
) -> ApiResult<HttpResponse> {
    state.repos.mapping_rules.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new order of rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    /// Rule ids in the order they should run; they get priorities 0, 1, 2… Rules not listed
    /// keep their priority.
    pub ids: Vec<MappingRuleId>,
}

/// Problems with a reorder request that need no storage: an empty list, repeated ids.
pub(crate) fn check_reorder(ids: &[MappingRuleId]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if ids.is_empty() {
        errors.push(FieldError::new("ids", "must list at least one rule id"));
    }
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            errors.push(FieldError::new("ids", format!("rule {id} is listed twice")));
        }
    }
    errors
}

/// Gives the listed rules priorities 0, 1, 2… in the order given, in one transaction.
#[utoipa::path(tag = "data-mapping", request_body = ReorderBody, responses(
    (status = 200, body = Vec<MappingRuleView>),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[put("/data-mapping/reorder")]
pub async fn reorder_mapping_rules(
    state: web::Data<AppState>,
    body: web::Json<ReorderBody>,
) -> ApiResult<web::Json<Vec<MappingRuleView>>> {
    let ids = body.into_inner().ids;
    let mut errors = check_reorder(&ids);
    for id in &ids {
        match state.repos.mapping_rules.get(*id).await {
            Ok(_) => {}
            Err(RepoError::NotFound { .. }) => {
                errors.push(FieldError::new("ids", format!("no rule has id {id}")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    match state.repos.mapping_rules.reorder(&ids).await {
        Ok(()) => {}
        Err(RepoError::NotFound { id, .. }) => {
            return Err(ApiError::field("ids", format!("no rule has id {id}")));
        }
        Err(e) => return Err(e.into()),
    }
    let rules = all_rules(&state, None).await?;
    Ok(web::Json(
        rules.into_iter().map(MappingRuleView::from).collect(),
    ))
}

/// One field a rule changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeView {
    /// The field, by canonical name (or attribute name for extras).
    pub field: String,
    /// The action that changed it: `SET`, `SET_IF_EMPTY`, `APPEND`, `REMOVE` or `DELETE`.
    pub action: &'static str,
}

/// A record before and after the rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingSample {
    /// As ingested.
    pub before: RecordView,
    /// As the rule leaves it.
    pub after: RecordView,
    /// The fields that changed, in order.
    pub changes: Vec<FieldChangeView>,
}

/// What a rule would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingTestResult {
    /// How many records the rule changes.
    pub affected: u64,
    /// How many records were tried.
    pub total: u64,
    /// The first changed records (at most 20), in source order.
    pub sample: Vec<MappingSample>,
}

pub(crate) fn change_views(domain: Domain, report: &ApplyReport) -> Vec<FieldChangeView> {
    report
        .rules
        .iter()
        .flat_map(|r| &r.fields)
        .map(|c| FieldChangeView {
            field: field_name(domain, &c.field).to_string(),
            action: c.action.keyword(),
        })
        .collect()
}

/// Runs an unsaved rule over the ingested channels (`stream`) or programmes (`epg`) without
/// saving anything, and shows what it would change.
#[utoipa::path(tag = "data-mapping", request_body = TryExpressionBody, responses(
    (status = 200, body = MappingTestResult),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/data-mapping/test")]
pub async fn test_mapping_rule(
    state: web::Data<AppState>,
    body: web::Json<TryExpressionBody>,
) -> ApiResult<web::Json<MappingTestResult>> {
    let body = body.into_inner();
    require_within_limits("expression", &body.expression)?;
    let domain = body.domain;
    let pipeline = MappingPipeline::compile(domain, [("test", body.expression.as_str())])
        .map_err(|e| {
            let diagnostics = e
                .invalid_expressions()
                .first()
                .map(|i| i.diagnostics.clone())
                .unwrap_or_default();
            ApiError::expression("expression", &diagnostics, Vec::new())
        })?
        // `@logo:ID` as the outputs will show it, and one `@time:now` for the whole scan.
        .with_helpers(RunHelpers::new(&state.settings.base_url));
    let mut affected = 0;
    let mut sample = Vec::new();
    let total = match domain {
        Domain::Stream => {
            let ids = body
                .source_ids
                .into_iter()
                .map(StreamSourceId::from)
                .collect();
            let sources = stream_sources_of(&state, ids).await?;
            let channels = state.repos.channels.as_ref();
            scan_channels(channels, &sources, SCAN_PAGE, |channel, context| {
                let mut after = channel.data.clone();
                let report = pipeline.apply_channel(&mut after, context);
                if report.changed() {
                    affected += 1;
                    if sample.len() < SAMPLE_SIZE {
                        let changes = change_views(domain, &report);
                        let mut changed = channel.clone();
                        changed.data = after;
                        sample.push(MappingSample {
                            before: RecordView::Channel(channel.into()),
                            after: RecordView::Channel(changed.into()),
                            changes,
                        });
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
                let mut after = programme.data.clone();
                let report = pipeline.apply_programme(&mut after, context);
                if report.changed() {
                    affected += 1;
                    if sample.len() < SAMPLE_SIZE {
                        let changes = change_views(domain, &report);
                        let mut changed = programme.clone();
                        changed.data = after;
                        sample.push(MappingSample {
                            before: RecordView::Programme(programme.into()),
                            after: RecordView::Programme(changed.into()),
                            changes,
                        });
                    }
                }
            })
            .await?
        }
    };
    Ok(web::Json(MappingTestResult {
        affected,
        total,
        sample,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(expression: &str, priority: Option<i32>, enabled: Option<bool>) -> MappingRuleBody {
        MappingRuleBody {
            name: "rule".into(),
            domain: Domain::Stream,
            expression: expression.into(),
            priority,
            enabled,
        }
    }

    #[test]
    fn priority_and_enabled_default_from_the_caller() {
        let input = body(r#"SET group = "x""#, None, None)
            .into_input((7, true))
            .unwrap();
        assert_eq!((input.priority, input.enabled), (7, true));
        let input = body(r#"SET group = "x""#, Some(2), Some(false))
            .into_input((7, true))
            .unwrap();
        assert_eq!((input.priority, input.enabled), (2, false));
    }

    #[test]
    fn a_read_only_target_is_refused_with_diagnostics() {
        let problem = body(r#"SET source_name = "x""#, None, None)
            .into_input((0, true))
            .unwrap_err()
            .problem();
        assert_eq!(problem.status, 422);
        assert!(problem.diagnostics[0].message.contains("read-only"));
    }

    #[test]
    fn next_priority_follows_the_highest() {
        assert_eq!(next_priority(&[]), 0);
        let rule = |priority| MappingRule {
            id: MappingRuleId::new(),
            name: "r".into(),
            domain: Domain::Stream,
            expression: "DELETE tvg_logo".into(),
            priority,
            enabled: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(next_priority(&[rule(3), rule(9), rule(1)]), 10);
    }

    #[test]
    fn reorder_refuses_empty_and_repeated_ids() {
        assert_eq!(check_reorder(&[]).len(), 1);
        let id = MappingRuleId::new();
        let errors = check_reorder(&[id, MappingRuleId::new(), id]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("twice"));
    }

    #[test]
    fn changes_name_fields_and_actions() {
        let pipeline = MappingPipeline::compile(
            Domain::Stream,
            [("t", r#"SET group_title = "News", tvg-rec = "1""#)],
        )
        .unwrap();
        let mut data = tvarr_core::ChannelData::default();
        let report = pipeline.apply_channel(&mut data, Default::default());
        let views = change_views(Domain::Stream, &report);
        let pairs: Vec<_> = views.iter().map(|v| (v.field.as_str(), v.action)).collect();
        assert_eq!(pairs, [("group_title", "SET"), ("tvg-rec", "SET")]);
    }
}
