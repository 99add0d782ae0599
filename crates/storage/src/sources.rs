//! Stream and EPG sources.

use async_trait::async_trait;
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect};
use tvarr_core::{
    EpgSource, EpgSourceId, EpgSourceInput, EpgSourceRepository, EpgSourceType, IngestOutcome,
    IngestState, Page, PageRequest, RepoResult, Secret, StreamSource, StreamSourceId,
    StreamSourceInput, StreamSourceRepository, StreamSourceType,
};

use crate::bulk::{self, BulkTable};
use crate::db::{Db, micros, not_found, now, parse_enum, parse_id, to_i64, to_u64};
use crate::entity::{epg_source, stream_source};
use crate::error::{corrupt, name_taken, name_taken_or_not_found, repo_err};

fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".to_owned())
}

fn parse_headers(json: &str) -> RepoResult<Vec<(String, String)>> {
    serde_json::from_str(json).map_err(|_| corrupt("headers", json))
}

fn stream_type_name(t: StreamSourceType) -> &'static str {
    match t {
        StreamSourceType::M3u => "m3u",
        StreamSourceType::Xtream => "xtream",
    }
}

fn parse_stream_type(s: &str) -> Option<StreamSourceType> {
    match s {
        "m3u" => Some(StreamSourceType::M3u),
        "xtream" => Some(StreamSourceType::Xtream),
        _ => None,
    }
}

fn epg_type_name(t: EpgSourceType) -> &'static str {
    match t {
        EpgSourceType::Xmltv => "xmltv",
        EpgSourceType::Xtream => "xtream",
    }
}

fn parse_epg_type(s: &str) -> Option<EpgSourceType> {
    match s {
        "xmltv" => Some(EpgSourceType::Xmltv),
        "xtream" => Some(EpgSourceType::Xtream),
        _ => None,
    }
}

fn update_not_found(
    entity: &'static str,
    id: impl ToString,
) -> impl FnOnce(DbErr) -> tvarr_core::RepoError {
    move |e| match e {
        DbErr::RecordNotUpdated | DbErr::RecordNotFound(_) => not_found(entity, id),
        other => repo_err(other),
    }
}

/// Stream sources on the database: implements [`StreamSourceRepository`].
#[derive(Clone, Debug)]
pub struct StreamSources {
    db: Db,
}

impl StreamSources {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn stream_from_model(m: stream_source::Model) -> RepoResult<StreamSource> {
    Ok(StreamSource {
        id: parse_id("stream source id", &m.id)?,
        source_type: parse_enum("stream source type", &m.source_type, parse_stream_type)?,
        state: parse_enum("ingest state", &m.state, IngestState::parse)?,
        headers: parse_headers(&m.headers)?,
        name: m.name,
        url: m.url,
        username: m.username,
        password: m.password.map(Secret::new),
        update_cron: m.update_cron,
        enabled: m.enabled,
        user_agent: m.user_agent,
        max_connections: m.max_connections.and_then(|n| u32::try_from(n).ok()),
        last_ingested_at: m.last_ingested_at,
        last_success_at: m.last_success_at,
        channel_count: to_u64(m.channel_count),
        skipped_count: to_u64(m.skipped_count),
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// A connection limit as stored (validated inputs stay far below `i32::MAX`).
fn connection_limit(limit: u32) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

#[async_trait]
impl StreamSourceRepository for StreamSources {
    async fn create(&self, input: StreamSourceInput) -> RepoResult<StreamSource> {
        let at = now();
        let model = stream_source::Model {
            id: StreamSourceId::new().to_string(),
            name: input.name,
            source_type: stream_type_name(input.source_type).to_owned(),
            url: input.url,
            username: input.username,
            password: input.password.map(|p| p.expose().to_owned()),
            update_cron: input.update_cron,
            enabled: input.enabled,
            user_agent: input.user_agent,
            headers: headers_json(&input.headers),
            max_connections: input.max_connections.map(connection_limit),
            state: IngestState::Never.as_str().to_owned(),
            last_ingested_at: None,
            last_success_at: None,
            channel_count: 0,
            skipped_count: 0,
            last_error: None,
            current_generation: 0,
            last_generation: 0,
            created_at: at,
            updated_at: at,
        };
        stream_source::Entity::insert(stream_source::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(name_taken("stream source", &model.name))?;
        stream_from_model(model)
    }

    async fn get(&self, id: StreamSourceId) -> RepoResult<StreamSource> {
        let model = stream_source::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("stream source", id))?;
        stream_from_model(model)
    }

    async fn list(&self, page: PageRequest) -> RepoResult<Page<StreamSource>> {
        let total = stream_source::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let models = stream_source::Entity::find()
            .order_by_asc(stream_source::Column::Name)
            .order_by_asc(stream_source::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = models
            .into_iter()
            .map(stream_from_model)
            .collect::<RepoResult<_>>()?;
        Ok(Page { items, total })
    }

    async fn update(
        &self,
        id: StreamSourceId,
        input: StreamSourceInput,
    ) -> RepoResult<StreamSource> {
        let on_error = name_taken_or_not_found("stream source", &input.name, id.to_string());
        let model = stream_source::ActiveModel {
            id: Unchanged(id.to_string()),
            name: Set(input.name),
            source_type: Set(stream_type_name(input.source_type).to_owned()),
            url: Set(input.url),
            username: Set(input.username),
            password: match input.password {
                Some(p) => Set(Some(p.expose().to_owned())),
                None => NotSet,
            },
            update_cron: Set(input.update_cron),
            enabled: Set(input.enabled),
            user_agent: Set(input.user_agent),
            headers: Set(headers_json(&input.headers)),
            max_connections: Set(input.max_connections.map(connection_limit)),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(on_error)?;
        stream_from_model(model)
    }

    async fn delete(&self, id: StreamSourceId) -> RepoResult<()> {
        let key = id.to_string();
        bulk::delete_all_generations(&self.db, BulkTable::Channels, &key).await?;
        let result = stream_source::Entity::delete_by_id(key)
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("stream source", id));
        }
        Ok(())
    }

    async fn record_ingest(&self, id: StreamSourceId, outcome: IngestOutcome) -> RepoResult<()> {
        let at = micros(outcome.at);
        stream_source::ActiveModel {
            id: Unchanged(id.to_string()),
            state: Set(outcome.state.as_str().to_owned()),
            last_ingested_at: Set(Some(at)),
            last_success_at: if outcome.state == IngestState::Ok {
                Set(Some(at))
            } else {
                NotSet
            },
            channel_count: Set(to_i64(outcome.record_count)),
            skipped_count: Set(to_i64(outcome.skipped_count)),
            last_error: Set(outcome.error),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(update_not_found("stream source", id))?;
        Ok(())
    }
}

/// EPG sources on the database: implements [`EpgSourceRepository`].
#[derive(Clone, Debug)]
pub struct EpgSources {
    db: Db,
}

impl EpgSources {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn epg_from_model(m: epg_source::Model) -> RepoResult<EpgSource> {
    Ok(EpgSource {
        id: parse_id("EPG source id", &m.id)?,
        source_type: parse_enum("EPG source type", &m.source_type, parse_epg_type)?,
        state: parse_enum("ingest state", &m.state, IngestState::parse)?,
        headers: parse_headers(&m.headers)?,
        name: m.name,
        url: m.url,
        username: m.username,
        password: m.password.map(Secret::new),
        update_cron: m.update_cron,
        enabled: m.enabled,
        user_agent: m.user_agent,
        time_offset_minutes: m.time_offset_minutes,
        timezone: m.timezone,
        last_ingested_at: m.last_ingested_at,
        last_success_at: m.last_success_at,
        programme_count: to_u64(m.programme_count),
        skipped_count: to_u64(m.skipped_count),
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl EpgSourceRepository for EpgSources {
    async fn create(&self, input: EpgSourceInput) -> RepoResult<EpgSource> {
        let at = now();
        let model = epg_source::Model {
            id: EpgSourceId::new().to_string(),
            name: input.name,
            source_type: epg_type_name(input.source_type).to_owned(),
            url: input.url,
            username: input.username,
            password: input.password.map(|p| p.expose().to_owned()),
            update_cron: input.update_cron,
            enabled: input.enabled,
            user_agent: input.user_agent,
            headers: headers_json(&input.headers),
            time_offset_minutes: input.time_offset_minutes,
            timezone: input.timezone,
            state: IngestState::Never.as_str().to_owned(),
            last_ingested_at: None,
            last_success_at: None,
            programme_count: 0,
            skipped_count: 0,
            last_error: None,
            current_generation: 0,
            last_generation: 0,
            created_at: at,
            updated_at: at,
        };
        epg_source::Entity::insert(epg_source::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db.conn)
            .await
            .map_err(name_taken("EPG source", &model.name))?;
        epg_from_model(model)
    }

    async fn get(&self, id: EpgSourceId) -> RepoResult<EpgSource> {
        let model = epg_source::Entity::find_by_id(id.to_string())
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("EPG source", id))?;
        epg_from_model(model)
    }

    async fn list(&self, page: PageRequest) -> RepoResult<Page<EpgSource>> {
        let total = epg_source::Entity::find()
            .count(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let models = epg_source::Entity::find()
            .order_by_asc(epg_source::Column::Name)
            .order_by_asc(epg_source::Column::Id)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = models
            .into_iter()
            .map(epg_from_model)
            .collect::<RepoResult<_>>()?;
        Ok(Page { items, total })
    }

    async fn update(&self, id: EpgSourceId, input: EpgSourceInput) -> RepoResult<EpgSource> {
        let on_error = name_taken_or_not_found("EPG source", &input.name, id.to_string());
        let model = epg_source::ActiveModel {
            id: Unchanged(id.to_string()),
            name: Set(input.name),
            source_type: Set(epg_type_name(input.source_type).to_owned()),
            url: Set(input.url),
            username: Set(input.username),
            password: match input.password {
                Some(p) => Set(Some(p.expose().to_owned())),
                None => NotSet,
            },
            update_cron: Set(input.update_cron),
            enabled: Set(input.enabled),
            user_agent: Set(input.user_agent),
            headers: Set(headers_json(&input.headers)),
            time_offset_minutes: Set(input.time_offset_minutes),
            timezone: Set(input.timezone),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(on_error)?;
        epg_from_model(model)
    }

    async fn delete(&self, id: EpgSourceId) -> RepoResult<()> {
        let key = id.to_string();
        bulk::delete_all_generations(&self.db, BulkTable::Programmes, &key).await?;
        bulk::delete_all_generations(&self.db, BulkTable::EpgChannels, &key).await?;
        let result = epg_source::Entity::delete_by_id(key)
            .exec(&self.db.conn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            return Err(not_found("EPG source", id));
        }
        Ok(())
    }

    async fn record_ingest(&self, id: EpgSourceId, outcome: IngestOutcome) -> RepoResult<()> {
        let at = micros(outcome.at);
        epg_source::ActiveModel {
            id: Unchanged(id.to_string()),
            state: Set(outcome.state.as_str().to_owned()),
            last_ingested_at: Set(Some(at)),
            last_success_at: if outcome.state == IngestState::Ok {
                Set(Some(at))
            } else {
                NotSet
            },
            programme_count: Set(to_i64(outcome.record_count)),
            skipped_count: Set(to_i64(outcome.skipped_count)),
            last_error: Set(outcome.error),
            ..Default::default()
        }
        .update(&self.db.conn)
        .await
        .map_err(update_not_found("EPG source", id))?;
        Ok(())
    }
}
