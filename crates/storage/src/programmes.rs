//! Guide data: the bulk replacement of a source's guide, and programme queries.
//!
//! A programme is stored as the few columns queries need (source, generation, channel, start,
//! stop, folded title) and the rest of [`ProgrammeData`] as a compact JSON payload with short
//! keys and no empty fields.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    Credit, EpgChannel, EpgSourceId, EpisodeNumber, GuideReplacement, LangText, Page, PageRequest,
    Programme, ProgrammeBatch, ProgrammeData, ProgrammeQuery, ProgrammeRepository, Rating,
    RepoError, RepoResult,
};

use crate::bulk::{self, BulkTable, GenerationGuard, RowInserter, SourceTable};
use crate::db::{
    Db, LIKE_ESCAPE, contains_pattern, fold, in_list, not_found, packed_field, parse_id, to_u64,
};
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
        Ok(Programme {
            source_id: parse_id("EPG source id", &self.source_id)?,
            data: programme_data(self.channel, self.start_at, self.stop_at, &self.payload)?,
        })
    }
}

/// A programme from its columns and its payload.
fn programme_data(
    channel: String,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    payload: &str,
) -> RepoResult<ProgrammeData> {
    Ok(Payload::parse(payload)?.into_data(channel, start, stop))
}

impl Payload {
    /// A payload from its stored JSON.
    fn parse(json: &str) -> RepoResult<Self> {
        serde_json::from_str(json).map_err(|_| corrupt("programme payload", json))
    }

    /// The programme of this payload and its columns.
    fn into_data(
        self,
        channel: String,
        start: DateTime<Utc>,
        stop: DateTime<Utc>,
    ) -> ProgrammeData {
        let p = self;
        ProgrammeData {
            channel,
            start,
            stop,
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
        }
    }
}

/// A programme of a scan: its position, channel, start, stop and payload.
type ScanItem = (i64, String, DateTime<Utc>, DateTime<Utc>, Payload);

/// A timestamp as `sqlx` writes it to SQLite (RFC 3339).
fn sqlite_time(text: &str) -> RepoResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt("programme time", text))
}

/// A row of [`ProgrammeRepository::scan`]: a programme and its place in the key.
#[derive(FromQueryResult)]
struct ScanRow {
    position: i64,
    channel: String,
    start_at: DateTime<Utc>,
    stop_at: DateTime<Utc>,
    payload: String,
}

/// Where a scan stands: the generation it reads and the key of the last programme returned.
///
/// Written as `v1:<generation>:<start µs>:<position>:<channel>` (the channel last, since it
/// may hold any character); callers treat it as opaque.
#[derive(Debug, PartialEq, Eq)]
struct ScanCursor {
    generation: i64,
    start_micros: i64,
    position: i64,
    channel: String,
}

impl ScanCursor {
    fn encode(&self) -> String {
        format!(
            "v1:{}:{}:{}:{}",
            self.generation, self.start_micros, self.position, self.channel
        )
    }

    fn decode(text: &str) -> RepoResult<Self> {
        let bad = || RepoError::Conflict(format!("not a programme scan cursor: `{text}`"));
        let rest = text.strip_prefix("v1:").ok_or_else(bad)?;
        let mut parts = rest.splitn(4, ':');
        let mut number =
            || -> RepoResult<i64> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
        let generation = number()?;
        let start_micros = number()?;
        let position = number()?;
        let channel = parts.next().ok_or_else(bad)?.to_owned();
        Ok(Self {
            generation,
            start_micros,
            position,
            channel,
        })
    }
}

/// The most programmes one scan batch returns.
const MAX_SCAN_BATCH: u32 = 10_000;

impl Programmes {
    /// One batch of [`ProgrammeRepository::scan`] on SQLite, packed by SQLite into a single
    /// value: `sqlx` hands each row from its SQLite thread to the async caller on its own, and
    /// for rows this small that hand-over (a thread wake-up and several allocations a row)
    /// cost more than SQLite's reading (measured in `cargo bench -p tvarr-benches --bench
    /// programme_scan`, see docs/benchmarks.md). `sql` selects `position, channel, start_at,
    /// stop_at, payload` in key order; each row becomes its five values, each written as
    /// `<bytes>:<value>` (so no value can be mistaken for a separator), concatenated.
    async fn scan_packed(&self, sql: &str, values: Vec<Value>) -> RepoResult<Vec<ScanItem>> {
        const ROW: &str = "octet_length(position) || ':' || position \
             || octet_length(channel) || ':' || channel \
             || octet_length(start_at) || ':' || start_at \
             || octet_length(stop_at) || ':' || stop_at \
             || octet_length(payload) || ':' || payload";
        let Some(batch) = self.db.packed(ROW, sql, values).await? else {
            return Ok(Vec::new());
        };
        let mut rest = batch.as_str();
        let mut items = Vec::new();
        while !rest.is_empty() {
            let position = packed_field(&mut rest, "programme batch")?;
            let position = position
                .parse::<i64>()
                .map_err(|_| corrupt("programme position", position))?;
            let channel = packed_field(&mut rest, "programme batch")?.to_owned();
            let start = sqlite_time(packed_field(&mut rest, "programme batch")?)?;
            let stop = sqlite_time(packed_field(&mut rest, "programme batch")?)?;
            let payload = Payload::parse(packed_field(&mut rest, "programme batch")?)?;
            items.push((position, channel, start, stop, payload));
        }
        // An aggregate's input order is SQLite's to choose; the subquery's is key order, and
        // SQLite keeps it in practice, so this sort of sorted input costs one pass.
        items.sort_by(|a, b| (&a.1, a.2, a.0).cmp(&(&b.1, b.2, b.0)));
        Ok(items)
    }

    /// The current generation of `source`.
    async fn current_generation(&self, source: &str) -> RepoResult<i64> {
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(
                "SELECT current_generation FROM epg_sources WHERE id = ?",
                vec![source.into()],
            ))
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("EPG source", source))?;
        row.try_get("", "current_generation").map_err(repo_err)
    }
}

fn replaced_during_scan(source: EpgSourceId) -> RepoError {
    RepoError::Conflict(format!(
        "the guide of EPG source {source} was replaced while it was being read; read it again"
    ))
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

fn conditions(db: &Db, query: &ProgrammeQuery) -> (String, Vec<Value>) {
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
        values.push(db.time_value(from));
    }
    if let Some(to) = query.to {
        sql.push_str(" AND p.start_at < ?");
        values.push(db.time_value(to));
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
        let (cond, values) = conditions(&self.db, query);
        let count_sql = format!("SELECT COUNT(*) AS n FROM {CURRENT_PROGRAMMES} WHERE {cond}");
        let total = self.db.count(&count_sql, values.clone()).await?;
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
        Ok(Page { items, total })
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

    /// Keyset over `idx_programmes_channel_start` `(source_id, generation, channel, start_at,
    /// position)`: the position (the primary key's last column) breaks ties of one start in one
    /// channel, and the index gives the whole order, so no batch is sorted.
    /// The cursor names the generation it read: when the source's guide is replaced between
    /// two batches, the next batch fails with a conflict instead of mixing two guides.
    async fn scan(
        &self,
        source: EpgSourceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> RepoResult<ProgrammeBatch> {
        let source_id = source.to_string();
        let cursor = after.map(ScanCursor::decode).transpose()?;
        let generation = self.current_generation(&source_id).await?;
        if cursor.as_ref().is_some_and(|c| c.generation != generation) {
            return Err(replaced_during_scan(source));
        }
        let limit = limit.clamp(1, MAX_SCAN_BATCH);
        let mut sql = String::from(
            "SELECT position, channel, start_at, stop_at, payload FROM programmes \
             WHERE source_id = ? AND generation = ? AND stop_at > ? AND start_at < ?",
        );
        let mut values: Vec<Value> = vec![
            source_id.as_str().into(),
            generation.into(),
            self.db.time_value(from),
            self.db.time_value(to),
        ];
        if let Some(c) = &cursor {
            let start = DateTime::<Utc>::from_timestamp_micros(c.start_micros)
                .ok_or_else(|| corrupt("programme scan cursor", &c.encode()))?;
            // `channel >= ?` bounds the index range on every database; the rest skips what
            // the previous batch returned of that channel.
            sql.push_str(
                " AND channel >= ? AND (channel > ? OR start_at > ? OR (start_at = ? AND position > ?))",
            );
            values.extend([
                c.channel.as_str().into(),
                c.channel.as_str().into(),
                self.db.time_value(start),
                self.db.time_value(start),
                c.position.into(),
            ]);
        }
        sql.push_str(&format!(
            " ORDER BY channel, start_at, position LIMIT {limit}"
        ));
        let rows = if self.db.backend == DbBackend::Sqlite {
            self.scan_packed(&sql, values).await?
        } else {
            ScanRow::find_by_statement(self.db.stmt(&sql, values))
                .all(&self.db.conn)
                .await
                .map_err(repo_err)?
                .into_iter()
                .map(|r| {
                    let payload = Payload::parse(&r.payload)?;
                    Ok((r.position, r.channel, r.start_at, r.stop_at, payload))
                })
                .collect::<RepoResult<Vec<_>>>()?
        };
        if self.current_generation(&source_id).await? != generation {
            // Replaced while this batch was read: its rows may be half deleted.
            return Err(replaced_during_scan(source));
        }
        let next = (rows.len() == limit as usize)
            .then(|| rows.last())
            .flatten()
            .map(|(position, channel, start, _, _)| {
                ScanCursor {
                    generation,
                    start_micros: start.timestamp_micros(),
                    position: *position,
                    channel: channel.clone(),
                }
                .encode()
            });
        let items = rows
            .into_iter()
            .map(|(_, channel, start, stop, payload)| payload.into_data(channel, start, stop))
            .collect();
        Ok(ProgrammeBatch { items, next })
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
                values.push(db.time_value(p.start));
                values.push(db.time_value(p.stop));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursors_round_trip_any_channel_id() {
        let cursor = ScanCursor {
            generation: 1_764_000_000_000_001,
            start_micros: -5,
            position: 42,
            channel: "a:b:c ü".into(),
        };
        assert_eq!(ScanCursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "v1:", "v1:1:2:3", "v2:1:2:3:x", "v1:x:2:3:c"] {
            assert!(
                matches!(ScanCursor::decode(bad), Err(RepoError::Conflict(_))),
                "{bad}"
            );
        }
    }
}
