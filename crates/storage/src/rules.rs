//! Filters and data-mapping rules.

use async_trait::async_trait;
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tvarr_core::{
    Domain, Filter, FilterAction, FilterId, FilterInput, FilterRepository, MappingRule,
    MappingRuleId, MappingRuleInput, MappingRuleRepository, Page, PageRequest, RepoError,
    RepoResult,
};

use crate::db::{Db, not_found, now, parse_enum, parse_id};
use crate::entity::{filter, mapping_rule};
use crate::error::{name_taken, name_taken_or_not_found, repo_err};

/// Filters on the database: implements [`FilterRepository`].
#[derive(Clone, Debug)]
pub struct Filters {
    db: Db,
}

impl Filters {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn filter_from_model(m: filter::Model) -> RepoResult<Filter> {
    Ok(Filter {
        id: parse_id("filter id", &m.id)?,
        domain: parse_enum("domain", &m.domain, Domain::parse)?,
        action: parse_enum("filter action", &m.action, FilterAction::parse)?,
        name: m.name,
        expression: m.expression,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl FilterRepository for Filters {
    async fn create(&self, input: FilterInput) -> RepoResult<Filter> {
        let at = now();
        let model = filter::Model {
            id: FilterId::new().to_string(),
            name: input.name,
            domain: input.domain.as_str().to_owned(),
            action: input.action.as_str().to_owned(),
            expression: input.expression,
            created_at: at,
            updated_at: at,
        };
        filter::Entity::insert(filter::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(name_taken("filter", &model.name))?;
        filter_from_model(model)
    }

    async fn get(&self, id: FilterId) -> RepoResult<Filter> {
        let model = filter::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("filter", id))?;
        filter_from_model(model)
    }

    async fn list(&self, domain: Option<Domain>, page: PageRequest) -> RepoResult<Page<Filter>> {
        let mut select = filter::Entity::find();
        if let Some(domain) = domain {
            select = select.filter(filter::Column::Domain.eq(domain.as_str()));
        }
        let total = select
            .clone()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = select
            .order_by_asc(filter::Column::Name)
            .order_by_asc(filter::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(filter_from_model)
            .collect::<RepoResult<_>>()?;
        Ok(Page { items, total })
    }

    async fn update(&self, id: FilterId, input: FilterInput) -> RepoResult<Filter> {
        let on_error = name_taken_or_not_found("filter", &input.name, id.to_string());
        let model = filter::ActiveModel {
            id: Unchanged(id.to_string()),
            name: Set(input.name),
            domain: Set(input.domain.as_str().to_owned()),
            action: Set(input.action.as_str().to_owned()),
            expression: Set(input.expression),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(on_error)?;
        filter_from_model(model)
    }

    async fn delete(&self, id: FilterId) -> RepoResult<()> {
        let result = filter::Entity::delete_by_id(id.to_string())
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("filter", id));
        }
        Ok(())
    }
}

/// Data-mapping rules on the database: implements [`MappingRuleRepository`].
#[derive(Clone, Debug)]
pub struct MappingRules {
    db: Db,
}

impl MappingRules {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn rule_from_model(m: mapping_rule::Model) -> RepoResult<MappingRule> {
    Ok(MappingRule {
        id: parse_id("mapping rule id", &m.id)?,
        domain: parse_enum("domain", &m.domain, Domain::parse)?,
        name: m.name,
        expression: m.expression,
        priority: m.priority,
        enabled: m.enabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl MappingRuleRepository for MappingRules {
    async fn create(&self, input: MappingRuleInput) -> RepoResult<MappingRule> {
        let at = now();
        let model = mapping_rule::Model {
            id: MappingRuleId::new().to_string(),
            name: input.name,
            domain: input.domain.as_str().to_owned(),
            expression: input.expression,
            priority: input.priority,
            enabled: input.enabled,
            created_at: at,
            updated_at: at,
        };
        mapping_rule::Entity::insert(mapping_rule::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(name_taken("mapping rule", &model.name))?;
        rule_from_model(model)
    }

    async fn get(&self, id: MappingRuleId) -> RepoResult<MappingRule> {
        let model = mapping_rule::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("mapping rule", id))?;
        rule_from_model(model)
    }

    async fn list(
        &self,
        domain: Option<Domain>,
        page: PageRequest,
    ) -> RepoResult<Page<MappingRule>> {
        let mut select = mapping_rule::Entity::find();
        if let Some(domain) = domain {
            select = select.filter(mapping_rule::Column::Domain.eq(domain.as_str()));
        }
        let total = select
            .clone()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = select
            .order_by_asc(mapping_rule::Column::Priority)
            .order_by_asc(mapping_rule::Column::Name)
            .order_by_asc(mapping_rule::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(rule_from_model)
            .collect::<RepoResult<_>>()?;
        Ok(Page { items, total })
    }

    async fn update(&self, id: MappingRuleId, input: MappingRuleInput) -> RepoResult<MappingRule> {
        let on_error = name_taken_or_not_found("mapping rule", &input.name, id.to_string());
        let model = mapping_rule::ActiveModel {
            id: Unchanged(id.to_string()),
            name: Set(input.name),
            domain: Set(input.domain.as_str().to_owned()),
            expression: Set(input.expression),
            priority: Set(input.priority),
            enabled: Set(input.enabled),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(on_error)?;
        rule_from_model(model)
    }

    async fn delete(&self, id: MappingRuleId) -> RepoResult<()> {
        let result = mapping_rule::Entity::delete_by_id(id.to_string())
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("mapping rule", id));
        }
        Ok(())
    }

    async fn reorder(&self, ids: &[MappingRuleId]) -> RepoResult<()> {
        let tx = self.db.begin_write().await?;
        let at = now();
        for (priority, id) in ids.iter().enumerate() {
            let priority = i32::try_from(priority)
                .map_err(|_| RepoError::Conflict("too many rules to reorder".to_owned()))?;
            let sql = "UPDATE mapping_rules SET priority = ?, updated_at = ? WHERE id = ?";
            let result = tx
                .execute_raw(
                    self.db
                        .stmt(sql, vec![priority.into(), at.into(), id.to_string().into()]),
                )
                .await
                .map_err(repo_err)?;
            if result.rows_affected() == 0 {
                // Dropping the transaction rolls back the priorities already given.
                return Err(not_found("mapping rule", id));
            }
        }
        tx.commit().await.map_err(repo_err)
    }
}
