//! Guide data: the bulk replacement of a source's guide, and programme queries.
//!
//! A programme is stored as the few columns queries need (source, generation, channel, start,
//! stop, folded title) and the rest of [`ProgrammeData`] as a compact JSON payload with short
//! keys and no empty fields.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    Credit, EpgChannel, EpgSourceId, EpisodeNumber, GuideReplacement, LangText, Page, PageRequest,
    Programme, ProgrammeData, ProgrammeQuery, ProgrammeRepository, Rating, RepoError, RepoResult,
};

use crate::bulk::{self, BulkTable, GenerationGuard, RowInserter, SourceTable};
use crate::db::{Db, LIKE_ESCAPE, contains_pattern, fold, in_list, not_found, parse_id, to_u64};
use crate::error::{corrupt, repo_err};

/// Guide channels and programmes on the database: implements [`ProgrammeRepository`].
#[derive(Clone, Debug)]
pub struct Programmes {
    db: Db,
}

impl Programmes {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

const PROGRAMME_COLUMNS: &[&str] = &[
    "source_id",
    "generation",
    "position",
    "channel",
    "start_at",
    "stop_at",
    "title_search",
    "payload",
];

const CHANNEL_COLUMNS: &[&str] = &[
    "source_id",
    "generation",
    "position",
    "channel_id",
    "display_names",
    "icon",
    "extra_xml",
];

const TABLES: &[BulkTable] = &[BulkTable::EpgChannels, BulkTable::Programmes];

/// The longest guide channel id stored (an indexed column on every database).
const MAX_CHANNEL_ID_CHARS: usize = 255;

/// What a programme row keeps besides its columns.
#[derive(Serialize)]
struct PayloadRef<'a> {
    #[serde(rename = "t", skip_serializing_if = "<[_]>::is_empty")]
    titles: &'a [LangText],
    #[serde(rename = "st", skip_serializing_if = "<[_]>::is_empty")]
    sub_titles: &'a [LangText],
    #[serde(rename = "d", skip_serializing_if = "<[_]>::is_empty")]
    descriptions: &'a [LangText],
    #[serde(rename = "c", skip_serializing_if = "<[_]>::is_empty")]
    categories: &'a [LangText],
    #[serde(rename = "en", skip_serializing_if = "<[_]>::is_empty")]
    episode_numbers: &'a [EpisodeNumber],
    #[serde(rename = "s", skip_serializing_if = "Option::is_none")]
    season: Option<u32>,
    #[serde(rename = "e", skip_serializing_if = "Option::is_none")]
    episode: Option<u32>,
    #[serde(rename = "i", skip_serializing_if = "Option::is_none")]
    icon: Option<&'a str>,
    #[serde(rename = "r", skip_serializing_if = "<[_]>::is_empty")]
    ratings: &'a [Rating],
    #[serde(rename = "cr", skip_serializing_if = "<[_]>::is_empty")]
    credits: &'a [Credit],
    #[serde(rename = "l", skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(rename = "dt", skip_serializing_if = "Option::is_none")]
    date: Option<&'a str>,
    #[serde(rename = "x", skip_serializing_if = "Option::is_none")]
    extra_xml: Option<&'a str>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "t", default)]
    titles: Vec<LangText>,
    #[serde(rename = "st", default)]
    sub_titles: Vec<LangText>,
    #[serde(rename = "d", default)]
    descriptions: Vec<LangText>,
    #[serde(rename = "c", default)]
    categories: Vec<LangText>,
    #[serde(rename = "en", default)]
    episode_numbers: Vec<EpisodeNumber>,
    #[serde(rename = "s", default)]
    season: Option<u32>,
    #[serde(rename = "e", default)]
    episode: Option<u32>,
    #[serde(rename = "i", default)]
    icon: Option<String>,
    #[serde(rename = "r", default)]
    ratings: Vec<Rating>,
    #[serde(rename = "cr", default)]
    credits: Vec<Credit>,
    #[serde(rename = "l", default)]
    language: Option<String>,
    #[serde(rename = "dt", default)]
    date: Option<String>,
    #[serde(rename = "x", default)]
    extra_xml: Option<String>,
}

fn payload_json(p: &ProgrammeData) -> RepoResult<String> {
    serde_json::to_string(&PayloadRef {
        titles: &p.titles,
        sub_titles: &p.sub_titles,
        descriptions: &p.descriptions,
        categories: &p.categories,
        episode_numbers: &p.episode_numbers,
        season: p.season,
        episode: p.episode,
        icon: p.icon.as_deref(),
        ratings: &p.ratings,
        credits: &p.credits,
        language: p.language.as_deref(),
        date: p.date.as_deref(),
        extra_xml: p.extra_xml.as_deref(),
    })
    .map_err(|e| RepoError::Conflict(format!("programme cannot be stored: {e}")))
}

#[derive(FromQueryResult)]
struct ProgrammeRow {
    source_id: String,
    channel: String,
    start_at: DateTime<Utc>,
    stop_at: DateTime<Utc>,
    payload: String,
}

impl ProgrammeRow {
    fn into_programme(self) -> RepoResult<Programme> {
        let p: Payload = serde_json::from_str(&self.payload)
            .map_err(|_| corrupt("programme payload", &self.payload))?;
        Ok(Programme {
            source_id: parse_id("EPG source id", &self.source_id)?,
            data: ProgrammeData {
                channel: self.channel,
                start: self.start_at,
                stop: self.stop_at,
                titles: p.titles,
                sub_titles: p.sub_titles,
                descriptions: p.descriptions,
                categories: p.categories,
                episode_numbers: p.episode_numbers,
                season: p.season,
                episode: p.episode,
                icon: p.icon,
                ratings: p.ratings,
                credits: p.credits,
                language: p.language,
                date: p.date,
                extra_xml: p.extra_xml,
            },
        })
    }
}

#[derive(FromQueryResult)]
struct EpgChannelRow {
    channel_id: String,
    display_names: String,
    icon: Option<String>,
    extra_xml: Option<String>,
}

const CURRENT_PROGRAMMES: &str =
    "programmes p JOIN epg_sources s ON s.id = p.source_id AND p.generation = s.current_generation";

fn conditions(query: &ProgrammeQuery) -> (String, Vec<Value>) {
    let mut sql = String::from("1 = 1");
    let mut values = Vec::new();
    if !query.source_ids.is_empty() {
        sql.push_str(&format!(
            " AND p.source_id IN ({})",
            in_list(query.source_ids.len())
        ));
        values.extend(
            query
                .source_ids
                .iter()
                .map(|id| Value::from(id.to_string())),
        );
    }
    if let Some(channel) = &query.channel {
        sql.push_str(" AND p.channel = ?");
        values.push(channel.as_str().into());
    }
    if let Some(from) = query.from {
        sql.push_str(" AND p.stop_at > ?");
        values.push(crate::db::micros(from).into());
    }
    if let Some(to) = query.to {
        sql.push_str(" AND p.start_at < ?");
        values.push(crate::db::micros(to).into());
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        sql.push_str(&format!(
            " AND p.title_search LIKE ? ESCAPE '{LIKE_ESCAPE}'"
        ));
        values.push(contains_pattern(q).into());
    }
    (sql, values)
}

#[async_trait]
impl ProgrammeRepository for Programmes {
    async fn begin_replace(&self, source: EpgSourceId) -> RepoResult<Box<dyn GuideReplacement>> {
        let source_id = source.to_string();
        let generation = bulk::next_generation(&self.db, SourceTable::Epg, &source_id).await?;
        Ok(Box::new(GuideWriter {
            programmes: RowInserter::new(&self.db, "programmes", PROGRAMME_COLUMNS),
            channels: RowInserter::new(&self.db, "epg_channels", CHANNEL_COLUMNS),
            guard: GenerationGuard {
                db: self.db.clone(),
                tables: TABLES,
                source_id,
                generation,
                armed: true,
            },
            programmes_written: 0,
            channels_written: 0,
        }))
    }

    async fn list(&self, query: &ProgrammeQuery, page: PageRequest) -> RepoResult<Page<Programme>> {
        let (cond, values) = conditions(query);
        let count_sql = format!("SELECT COUNT(*) AS n FROM {CURRENT_PROGRAMMES} WHERE {cond}");
        let total = self
            .db
            .conn
            .query_one_raw(self.db.stmt(&count_sql, values.clone()))
            .await
            .map_err(repo_err)?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()
            .map_err(repo_err)?
            .unwrap_or(0);
        let sql = format!(
            "SELECT p.source_id, p.channel, p.start_at, p.stop_at, p.payload FROM {CURRENT_PROGRAMMES} \
             WHERE {cond} ORDER BY p.channel, p.start_at, p.source_id, p.position LIMIT {} OFFSET {}",
            page.limit, page.offset
        );
        let rows = ProgrammeRow::find_by_statement(self.db.stmt(&sql, values))
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?;
        let items = rows
            .into_iter()
            .map(ProgrammeRow::into_programme)
            .collect::<RepoResult<_>>()?;
        Ok(Page {
            items,
            total: to_u64(total),
        })
    }

    async fn channels(&self, source_ids: &[EpgSourceId]) -> RepoResult<Vec<EpgChannel>> {
        let mut sql = String::from(
            "SELECT e.channel_id, e.display_names, e.icon, e.extra_xml FROM epg_channels e \
             JOIN epg_sources s ON s.id = e.source_id AND e.generation = s.current_generation",
        );
        let values: Vec<Value> = source_ids.iter().map(|id| id.to_string().into()).collect();
        if !values.is_empty() {
            sql.push_str(&format!(
                " WHERE e.source_id IN ({})",
                in_list(values.len())
            ));
        }
        sql.push_str(" ORDER BY e.source_id, e.position");
        let rows = EpgChannelRow::find_by_statement(self.db.stmt(&sql, values))
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?;
        rows.into_iter()
            .map(|row| {
                Ok(EpgChannel {
                    display_names: serde_json::from_str(&row.display_names)
                        .map_err(|_| corrupt("guide channel display names", &row.display_names))?,
                    id: row.channel_id,
                    icon: row.icon,
                    extra_xml: row.extra_xml,
                })
            })
            .collect()
    }

    async fn count(&self, source: EpgSourceId) -> RepoResult<u64> {
        let sql = "SELECT programme_count FROM epg_sources WHERE id = ?";
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(sql, vec![source.to_string().into()]))
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("EPG source", source))?;
        let n: i64 = row.try_get("", "programme_count").map_err(repo_err)?;
        Ok(to_u64(n))
    }
}

/// One replacement of a source's guide (see the crate documentation).
struct GuideWriter {
    programmes: RowInserter,
    channels: RowInserter,
    guard: GenerationGuard,
    programmes_written: u64,
    channels_written: u64,
}

fn check_channel_id(id: &str) -> RepoResult<()> {
    if id.chars().count() > MAX_CHANNEL_ID_CHARS {
        return Err(RepoError::Conflict(format!(
            "guide channel id is longer than {MAX_CHANNEL_ID_CHARS} characters: `{}…`",
            id.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

#[async_trait]
impl GuideReplacement for GuideWriter {
    async fn write_channels(&mut self, batch: &[EpgChannel]) -> RepoResult<()> {
        for channel in batch {
            check_channel_id(&channel.id)?;
        }
        let db = &self.guard.db;
        let mut write = self.channels.begin(db).await?;
        let mut position = self.channels_written;
        for chunk in batch.chunks(self.channels.rows_per_statement()) {
            let mut values = Vec::with_capacity(chunk.len() * CHANNEL_COLUMNS.len());
            for channel in chunk {
                let names = serde_json::to_string(&channel.display_names).map_err(|e| {
                    RepoError::Conflict(format!("guide channel cannot be stored: {e}"))
                })?;
                values.push(self.guard.source_id.as_str().into());
                values.push(self.guard.generation.into());
                values.push(crate::db::to_i64(position).into());
                values.push(channel.id.as_str().into());
                values.push(names.into());
                values.push(channel.icon.clone().into());
                values.push(channel.extra_xml.clone().into());
                position += 1;
            }
            write.rows(chunk.len(), values).await?;
        }
        write.finish().await?;
        self.channels_written = position;
        Ok(())
    }

    async fn write_programmes(&mut self, batch: &[ProgrammeData]) -> RepoResult<()> {
        for programme in batch {
            check_channel_id(&programme.channel)?;
        }
        let db = &self.guard.db;
        let mut write = self.programmes.begin(db).await?;
        let mut position = self.programmes_written;
        for chunk in batch.chunks(self.programmes.rows_per_statement()) {
            let mut values = Vec::with_capacity(chunk.len() * PROGRAMME_COLUMNS.len());
            for p in chunk {
                values.push(self.guard.source_id.as_str().into());
                values.push(self.guard.generation.into());
                values.push(crate::db::to_i64(position).into());
                values.push(p.channel.as_str().into());
                values.push(crate::db::micros(p.start).into());
                values.push(crate::db::micros(p.stop).into());
                values.push(fold(p.title()).into());
                values.push(payload_json(p)?.into());
                position += 1;
            }
            write.rows(chunk.len(), values).await?;
        }
        write.finish().await?;
        self.programmes_written = position;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> RepoResult<u64> {
        self.guard.armed = false;
        let g = &self.guard;
        bulk::make_current(
            &g.db,
            TABLES,
            &g.source_id,
            g.generation,
            self.programmes_written,
        )
        .await?;
        Ok(self.programmes_written)
    }

    async fn abort(mut self: Box<Self>) -> RepoResult<()> {
        self.guard.discard().await
    }
}
