//! Accounts, their login sessions, and API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use tvarr_core::{
    ApiKey, ApiKeyRepository, LoginWindow, Page, PageRequest, ProxyId, RepoResult, Role, Session,
    User, UserInput, UserRepository,
};
use uuid::Uuid;

use crate::db::{Db, in_list, micros, not_found, now, parse_enum, parse_id, values_list};
use crate::entity::{api_key, session, user};
use crate::error::{name_taken, name_taken_or_not_found, repo_err};

/// Accounts on the database: implements [`UserRepository`].
#[derive(Clone, Debug)]
pub struct Users {
    db: Db,
}

impl Users {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn user_from_model(m: user::Model, proxy_ids: Vec<ProxyId>) -> RepoResult<User> {
    Ok(User {
        id: parse_id("user id", &m.id)?,
        role: parse_enum("role", &m.role, Role::parse)?,
        username: m.username,
        password_hash: m.password_hash,
        created_at: m.created_at,
        proxy_ids,
        output_password_hash: m.output_password_hash,
        max_streams: m
            .max_streams
            .map(|n| crate::db::to_u32("max streams", i64::from(n)))
            .transpose()?,
    })
}

/// A stream limit as its 32-bit column (values above `i32::MAX` are kept at it).
fn limit_column(limit: Option<u32>) -> Option<i32> {
    limit.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

impl Users {
    /// The accounts of `models` with their grants, in order.
    async fn with_grants(&self, models: Vec<user::Model>) -> RepoResult<Vec<User>> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<sea_orm::Value> = models.iter().map(|m| m.id.as_str().into()).collect();
        let sql = format!(
            "SELECT user_id, proxy_id FROM user_proxy_grants WHERE user_id IN ({}) \
             ORDER BY user_id, position",
            in_list(ids.len())
        );
        let rows = self
            .db
            .conn
            .query_all_raw(self.db.stmt(&sql, ids))
            .await
            .map_err(repo_err)?;
        let mut grants: std::collections::HashMap<String, Vec<ProxyId>> = Default::default();
        for row in rows {
            let user: String = row.try_get("", "user_id").map_err(repo_err)?;
            let proxy: String = row.try_get("", "proxy_id").map_err(repo_err)?;
            grants
                .entry(user)
                .or_default()
                .push(parse_id("proxy id", &proxy)?);
        }
        models
            .into_iter()
            .map(|m| {
                let proxies = grants.remove(&m.id).unwrap_or_default();
                user_from_model(m, proxies)
            })
            .collect()
    }

    async fn one_with_grants(&self, model: user::Model) -> RepoResult<User> {
        let id = model.id.clone();
        self.with_grants(vec![model])
            .await?
            .pop()
            .ok_or_else(|| not_found("user", id))
    }

    /// Replaces the grants of `user` on `conn` (a transaction).
    async fn write_grants(
        &self,
        conn: &impl ConnectionTrait,
        user: &str,
        proxies: &[ProxyId],
    ) -> RepoResult<()> {
        conn.execute_raw(self.db.stmt(
            "DELETE FROM user_proxy_grants WHERE user_id = ?",
            vec![user.into()],
        ))
        .await
        .map_err(repo_err)?;
        if proxies.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO user_proxy_grants (user_id, position, proxy_id) VALUES {}",
            values_list(proxies.len(), 3)
        );
        let mut values = Vec::with_capacity(proxies.len() * 3);
        for (position, proxy) in proxies.iter().enumerate() {
            values.push(user.into());
            values.push(i32::try_from(position).unwrap_or(i32::MAX).into());
            values.push(proxy.to_string().into());
        }
        conn.execute_raw(self.db.stmt(&sql, values))
            .await
            .map_err(|e| match repo_err(e) {
                // The foreign key: a granted proxy that is not there.
                tvarr_core::RepoError::Conflict(_) => {
                    tvarr_core::RepoError::Conflict("a granted proxy does not exist".into())
                }
                other => other,
            })?;
        Ok(())
    }
}

fn session_from_model(m: session::Model) -> RepoResult<Session> {
    Ok(Session {
        id: parse_id("session id", &m.id)?,
        user_id: parse_id("user id", &m.user_id)?,
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    })
}

/// Revokes the active sessions of `user_id` on `conn` (the pool or a transaction).
async fn revoke_sessions(conn: &impl ConnectionTrait, user_id: Uuid) -> RepoResult<u64> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Some(now()).into())
        .filter(session::Column::UserId.eq(user_id.to_string()))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .map_err(repo_err)?;
    Ok(result.rows_affected)
}

#[async_trait]
impl UserRepository for Users {
    async fn create(
        &self,
        input: &UserInput,
        password_hash: &str,
        output_password_hash: Option<&str>,
    ) -> RepoResult<User> {
        let model = user::Model {
            id: Uuid::now_v7().to_string(),
            username: input.username.clone(),
            password_hash: password_hash.to_owned(),
            role: input.role.as_str().to_owned(),
            created_at: now(),
            output_password_hash: output_password_hash.map(str::to_owned),
            max_streams: limit_column(input.max_streams),
        };
        let txn = self.db.begin_write().await?;
        user::Entity::insert(user::ActiveModel::from(model.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(name_taken("user", &input.username))?;
        self.write_grants(&txn, &model.id, &input.proxy_ids).await?;
        txn.commit().await.map_err(repo_err)?;
        user_from_model(model, input.proxy_ids.clone())
    }

    async fn get(&self, id: Uuid) -> RepoResult<User> {
        let model = user::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("user", id))?;
        self.one_with_grants(model).await
    }

    async fn find_by_username(&self, username: &str) -> RepoResult<Option<User>> {
        match user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
        {
            Some(model) => self.one_with_grants(model).await.map(Some),
            None => Ok(None),
        }
    }

    async fn list(&self, page: PageRequest) -> RepoResult<Page<User>> {
        let total = user::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let models = user::Entity::find()
            .order_by_asc(user::Column::Username)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?;
        Ok(Page {
            items: self.with_grants(models).await?,
            total,
        })
    }

    async fn update(&self, id: Uuid, input: &UserInput) -> RepoResult<User> {
        let key = id.to_string();
        let txn = self.db.begin_write().await?;
        let result = user::Entity::update_many()
            .col_expr(user::Column::Username, input.username.clone().into())
            .col_expr(user::Column::Role, input.role.as_str().into())
            .col_expr(
                user::Column::MaxStreams,
                limit_column(input.max_streams).into(),
            )
            .filter(user::Column::Id.eq(key.clone()))
            .exec(&txn)
            .await
            .map_err(name_taken_or_not_found(
                "user",
                &input.username,
                key.clone(),
            ))?;
        if result.rows_affected == 0 {
            return Err(not_found("user", id));
        }
        self.write_grants(&txn, &key, &input.proxy_ids).await?;
        txn.commit().await.map_err(repo_err)?;
        self.get(id).await
    }

    async fn delete(&self, id: Uuid) -> RepoResult<()> {
        let key = id.to_string();
        let txn = self.db.begin_write().await?;
        // Written out rather than left to the foreign keys' cascade, so no backend's setting matters.
        for table in ["user_proxy_grants", "sessions"] {
            let sql = format!("DELETE FROM {table} WHERE user_id = ?");
            txn.execute_raw(self.db.stmt(&sql, vec![key.as_str().into()]))
                .await
                .map_err(repo_err)?;
        }
        let result = user::Entity::delete_by_id(key)
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("user", id));
        }
        txn.commit().await.map_err(repo_err)
    }

    async fn count(&self) -> RepoResult<u64> {
        user::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)
    }

    async fn count_role(&self, role: Role) -> RepoResult<u64> {
        user::Entity::find()
            .filter(user::Column::Role.eq(role.as_str()))
            .count(&self.db.conn)
            .await
            .map_err(repo_err)
    }

    async fn set_output_password_hash(&self, id: Uuid, hash: Option<&str>) -> RepoResult<()> {
        let result = user::Entity::update_many()
            .col_expr(
                user::Column::OutputPasswordHash,
                hash.map(str::to_owned).into(),
            )
            .filter(user::Column::Id.eq(id.to_string()))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("user", id));
        }
        Ok(())
    }

    async fn set_password_hash(&self, id: Uuid, password_hash: &str) -> RepoResult<()> {
        let txn = self.db.begin_write().await?;
        let result = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, password_hash.into())
            .filter(user::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("user", id));
        }
        revoke_sessions(&txn, id).await?;
        txn.commit().await.map_err(repo_err)
    }

    async fn create_session(
        &self,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> RepoResult<Session> {
        let created_at = now();
        session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lt(created_at))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let model = session::Model {
            id: Uuid::now_v7().to_string(),
            user_id: user_id.to_string(),
            created_at,
            expires_at: micros(expires_at),
            revoked_at: None,
        };
        session::Entity::insert(session::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(repo_err)?;
        session_from_model(model)
    }

    async fn active_session(&self, id: Uuid, now: DateTime<Utc>) -> RepoResult<Option<Session>> {
        session::Entity::find_by_id(id.to_string())
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(micros(now)))
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .map(session_from_model)
            .transpose()
    }

    async fn revoke_session(&self, id: Uuid) -> RepoResult<()> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Some(now()).into())
            .filter(session::Column::Id.eq(id.to_string()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn revoke_sessions_of(&self, user_id: Uuid) -> RepoResult<u64> {
        revoke_sessions(&self.db.conn, user_id).await
    }

    async fn count_login_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> RepoResult<LoginWindow> {
        let now_ms = now.timestamp_millis();
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        // A window that started at or before this ended by now.
        let ended = now_ms.saturating_sub(window_ms);
        self.db
            .conn
            .execute_raw(self.db.stmt(
                "DELETE FROM login_attempts WHERE window_started_ms <= ?",
                vec![ended.into()],
            ))
            .await
            .map_err(repo_err)?;
        // One statement, so two processes counting at once both count. Both branches read
        // the row as it was: PostgreSQL and SQLite evaluate every `SET` on the old row, and
        // MySQL assigns left to right, so `attempts` is set before `window_started_ms` changes.
        let upsert = if self.db.backend == DbBackend::MySql {
            "INSERT INTO login_attempts (attempt_key, window_started_ms, attempts) VALUES (?, ?, 1) \
             ON DUPLICATE KEY UPDATE \
             attempts = IF(window_started_ms <= ?, 1, attempts + 1), \
             window_started_ms = IF(window_started_ms <= ?, VALUES(window_started_ms), window_started_ms)"
        } else {
            "INSERT INTO login_attempts (attempt_key, window_started_ms, attempts) VALUES (?, ?, 1) \
             ON CONFLICT (attempt_key) DO UPDATE SET \
             attempts = CASE WHEN login_attempts.window_started_ms <= ? THEN 1 \
                 ELSE login_attempts.attempts + 1 END, \
             window_started_ms = CASE WHEN login_attempts.window_started_ms <= ? \
                 THEN excluded.window_started_ms ELSE login_attempts.window_started_ms END"
        };
        self.db
            .conn
            .execute_raw(self.db.stmt(
                upsert,
                vec![key.into(), now_ms.into(), ended.into(), ended.into()],
            ))
            .await
            .map_err(repo_err)?;
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(
                "SELECT attempts, window_started_ms FROM login_attempts WHERE attempt_key = ?",
                vec![key.into()],
            ))
            .await
            .map_err(repo_err)?;
        // Gone already: another process cleared it (a login) between the two statements.
        let Some(row) = row else {
            return Ok(LoginWindow {
                attempts: 1,
                started: now,
            });
        };
        let attempts: i64 = row.try_get("", "attempts").map_err(repo_err)?;
        let started: i64 = row.try_get("", "window_started_ms").map_err(repo_err)?;
        Ok(LoginWindow {
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            started: DateTime::from_timestamp_millis(started).unwrap_or(now),
        })
    }

    async fn clear_login_attempts(&self, key: &str) -> RepoResult<()> {
        self.db
            .conn
            .execute_raw(self.db.stmt(
                "DELETE FROM login_attempts WHERE attempt_key = ?",
                vec![key.into()],
            ))
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn take_back_login_attempt(&self, key: &str) -> RepoResult<()> {
        self.db
            .conn
            .execute_raw(self.db.stmt(
                "UPDATE login_attempts SET attempts = attempts - 1 \
                 WHERE attempt_key = ? AND attempts > 0",
                vec![key.into()],
            ))
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}

/// API keys on the database: implements [`ApiKeyRepository`].
#[derive(Clone, Debug)]
pub struct ApiKeys {
    db: Db,
}

impl ApiKeys {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn key_from_model(m: api_key::Model) -> RepoResult<ApiKey> {
    Ok(ApiKey {
        id: parse_id("API key id", &m.id)?,
        name: m.name,
        prefix: m.prefix,
        key_hash: m.key_hash,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl ApiKeyRepository for ApiKeys {
    async fn create(&self, name: &str, prefix: &str, key_hash: &str) -> RepoResult<ApiKey> {
        let model = api_key::Model {
            id: Uuid::now_v7().to_string(),
            name: name.to_owned(),
            key_hash: key_hash.to_owned(),
            prefix: prefix.to_owned(),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        api_key::Entity::insert(api_key::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(repo_err)?;
        key_from_model(model)
    }

    async fn list(&self) -> RepoResult<Vec<ApiKey>> {
        api_key::Entity::find()
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(key_from_model)
            .collect()
    }

    async fn active_with_prefix(&self, prefix: &str) -> RepoResult<Vec<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix))
            .filter(api_key::Column::RevokedAt.is_null())
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(key_from_model)
            .collect()
    }

    async fn touch(&self, id: Uuid, at: DateTime<Utc>) -> RepoResult<()> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Some(micros(at)).into())
            .filter(api_key::Column::Id.eq(id.to_string()))
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn revoke(&self, id: Uuid) -> RepoResult<ApiKey> {
        let model = api_key::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("API key", id))?;
        if model.revoked_at.is_some() {
            return key_from_model(model);
        }
        let active = api_key::ActiveModel {
            id: Unchanged(model.id.clone()),
            revoked_at: Set(Some(now())),
            ..Default::default()
        };
        let updated = active.update(&self.db.conn).await.map_err(repo_err)?;
        key_from_model(updated)
    }
}
