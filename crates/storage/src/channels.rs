//! Channels: the bulk replacement of a source's channels, and the queries over current ones.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Value};
use tvarr_core::{
    Channel, ChannelData, ChannelId, ChannelQuery, ChannelReplacement, ChannelRepository, Page,
    PageRequest, RepoError, RepoResult, StreamSourceId,
};

use crate::bulk::{self, BulkTable, GenerationGuard, RowInserter, SourceTable};
use crate::db::{
    Db, LIKE_ESCAPE, contains_pattern, fold, in_list, not_found, packed_field, packed_optional,
    packed_row, parse_id, to_u32, to_u64,
};
use crate::error::{corrupt, repo_err};

/// Channels on the database: implements [`ChannelRepository`].
#[derive(Clone, Debug)]
pub struct Channels {
    db: Db,
    /// Totals of a listing, per filter and set of current generations (see [`Channels::total`]).
    totals: moka::future::Cache<String, u64>,
    /// Pages of a listing, per filter, page and set of current generations: the rows of a
    /// generation never change, so a page read once is the same until a flip changes the key.
    pages: moka::future::Cache<String, Arc<Vec<Channel>>>,
    /// Whether a generation's positions are `0..n` (see [`Channels::contiguous`]).
    contiguous: moka::future::Cache<String, bool>,
}

impl Channels {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            totals: moka::future::Cache::new(TOTALS_KEPT),
            pages: moka::future::Cache::builder()
                .weigher(|key: &String, page: &Arc<Vec<Channel>>| {
                    let bytes = key.len()
                        + page
                            .iter()
                            .map(|c| c.data.text_bytes() + c.key.len() + CHANNEL_OVERHEAD)
                            .sum::<usize>();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .max_capacity(PAGES_KEPT_BYTES)
                .build(),
            contiguous: moka::future::Cache::new(TOTALS_KEPT),
        }
    }
}

/// Totals of a listing kept at most, per process; the least used go first.
const TOTALS_KEPT: u64 = 512;

/// Bytes of listed pages kept at most, per process; the least used go first.
const PAGES_KEPT_BYTES: u64 = 16 * 1024 * 1024;

/// The longest page kept: what a UI or an API client pages through. Bulk readers (a proxy's
/// generation reads pages of 5,000) read each page once, and keeping it would only cost them.
const PAGE_KEPT_MAX_LIMIT: u64 = 500;

/// What a cached channel holds besides its text (the struct, ids, string headers).
const CHANNEL_OVERHEAD: usize = 400;

const COLUMNS: &[&str] = &[
    "source_id",
    "generation",
    "position",
    "id",
    "channel_key",
    "name",
    "name_search",
    "provider_id",
    "tvg_id",
    "tvg_name",
    "tvg_logo",
    "group_title",
    "tvg_chno",
    "tvg_shift",
    "stream_url",
    "catchup",
    "catchup_days",
    "catchup_source",
    "extra",
];

const TABLES: &[BulkTable] = &[BulkTable::Channels];

/// The columns read back, qualified with the `c` alias.
const SELECT: &str = "c.source_id, c.position, c.id, c.channel_key, c.name, c.provider_id, \
    c.tvg_id, c.tvg_name, c.tvg_logo, c.group_title, c.tvg_chno, c.tvg_shift, c.stream_url, \
    c.catchup, c.catchup_days, c.catchup_source, c.extra";

/// Current channels only: the join every reader goes through.
const CURRENT: &str = "channels c JOIN stream_sources s ON s.id = c.source_id AND c.generation = s.current_generation";

/// Current channels in listing order. `CROSS JOIN` makes SQLite loop over the sources (by
/// their primary key) outside and the channels' primary key `(source_id, generation,
/// position)` inside, so `ORDER BY s.id, c.position` needs no sort and a page stops after
/// its rows; the join condition is in the `WHERE`, which PostgreSQL and MySQL plan as an
/// inner join. Ordered by `c.source_id`, SQLite sorted every current channel for each page.
const CURRENT_IN_ORDER: &str = "stream_sources s CROSS JOIN channels c \
    WHERE c.source_id = s.id AND c.generation = s.current_generation";

#[derive(FromQueryResult)]
struct ChannelRow {
    source_id: String,
    position: i64,
    id: String,
    channel_key: String,
    name: String,
    provider_id: Option<String>,
    tvg_id: Option<String>,
    tvg_name: Option<String>,
    tvg_logo: Option<String>,
    group_title: Option<String>,
    tvg_chno: Option<String>,
    tvg_shift: Option<String>,
    stream_url: String,
    catchup: Option<String>,
    catchup_days: Option<String>,
    catchup_source: Option<String>,
    extra: Option<String>,
}

impl ChannelRow {
    fn into_channel(self) -> RepoResult<Channel> {
        let extra = match self.extra.as_deref() {
            None | Some("") => Vec::new(),
            Some(json) => serde_json::from_str(json).map_err(|_| corrupt("channel extra", json))?,
        };
        Ok(Channel {
            id: parse_id::<ChannelId>("channel id", &self.id)?,
            source_id: parse_id::<StreamSourceId>("stream source id", &self.source_id)?,
            key: self.channel_key,
            position: to_u32("channel position", self.position)?,
            data: ChannelData {
                provider_id: self.provider_id,
                name: self.name,
                tvg_id: self.tvg_id,
                tvg_name: self.tvg_name,
                tvg_logo: self.tvg_logo,
                group_title: self.group_title,
                tvg_chno: self.tvg_chno,
                tvg_shift: self.tvg_shift,
                stream_url: self.stream_url,
                catchup: self.catchup,
                catchup_days: self.catchup_days,
                catchup_source: self.catchup_source,
                extra,
            },
        })
    }
}

/// `WHERE` conditions and their values for a [`ChannelQuery`].
fn conditions(query: &ChannelQuery, backend: DbBackend) -> (String, Vec<Value>) {
    let mut sql = String::from("1 = 1");
    let mut values = Vec::new();
    if !query.source_ids.is_empty() {
        sql.push_str(&format!(
            " AND c.source_id IN ({})",
            in_list(query.source_ids.len())
        ));
        values.extend(
            query
                .source_ids
                .iter()
                .map(|id| Value::from(id.to_string())),
        );
    }
    match query.group.as_deref() {
        None => {}
        Some("") => sql.push_str(" AND c.group_title IS NULL"),
        Some(group) => {
            sql.push_str(" AND c.group_title = ?");
            values.push(group.into());
        }
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        sql.push_str(&format!(" AND c.name_search LIKE ? ESCAPE '{LIKE_ESCAPE}'"));
        values.push(contains_pattern(q).into());
    }
    if let Some(tvg_id) = query.tvg_id.as_deref() {
        // Exactly: MySQL's default collation would match `BBC.ONE` to `bbc.one`.
        if backend == DbBackend::MySql {
            sql.push_str(" AND c.tvg_id = ? COLLATE utf8mb4_bin");
        } else {
            sql.push_str(" AND c.tvg_id = ?");
        }
        values.push(tvg_id.into());
    }
    (sql, values)
}

impl Channels {
    /// How many current channels match `cond`. Counting them all takes a scan of the
    /// channels' index on every page, so the answer is kept under the listing's `key` (per
    /// filter and set of current generations, [`listing_key`]): a flip (an ingest,
    /// in any process) changes the generations read first, so a total is never served for
    /// data it was not counted on.
    async fn total(&self, key: &str, cond: &str, values: &[Value]) -> RepoResult<u64> {
        if let Some(total) = self.totals.get(key).await {
            return Ok(total);
        }
        let count_sql = format!("SELECT COUNT(*) AS n FROM {CURRENT} WHERE {cond}");
        let total = self.db.count(&count_sql, values.to_vec()).await?;
        self.totals.insert(key.to_owned(), total).await;
        Ok(total)
    }

    /// Every source's current generation and its size, in listing order, read now.
    async fn current_generations(&self) -> RepoResult<Vec<SourceGeneration>> {
        let rows = self
            .db
            .conn
            .query_all_raw(self.db.stmt(
                "SELECT id, current_generation, channel_count FROM stream_sources ORDER BY id",
                Vec::new(),
            ))
            .await
            .map_err(repo_err)?;
        rows.into_iter()
            .map(|row| {
                Ok(SourceGeneration {
                    id: row.try_get("", "id").map_err(repo_err)?,
                    generation: row.try_get("", "current_generation").map_err(repo_err)?,
                    channels: to_u64(row.try_get("", "channel_count").map_err(repo_err)?),
                })
            })
            .collect()
    }

    /// Whether a generation's positions are exactly `0..channels`, as an ingest writes them:
    /// then the `k`-th channel of the source is at position `k`, and an offset is a seek.
    /// Asked once per generation (its rows never change).
    async fn contiguous(&self, source: &SourceGeneration) -> RepoResult<bool> {
        let key = format!("{}={}", source.id, source.generation);
        if let Some(known) = self.contiguous.get(&key).await {
            return Ok(known);
        }
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(
                "SELECT MAX(position) AS last FROM channels WHERE source_id = ? AND generation = ?",
                vec![source.id.as_str().into(), source.generation.into()],
            ))
            .await
            .map_err(repo_err)?;
        let last: Option<i64> = match row {
            Some(row) => row.try_get("", "last").map_err(repo_err)?,
            None => None,
        };
        // Positions are unique within a generation and never negative: `channels` of them
        // whose largest is `channels - 1` are `0..channels`.
        let contiguous = match last {
            None => source.channels == 0,
            Some(last) => u64::try_from(last).is_ok_and(|l| l + 1 == source.channels),
        };
        self.contiguous.insert(key, contiguous).await;
        Ok(contiguous)
    }

    /// The page read by seeking to each source's position instead of walking `OFFSET` rows:
    /// for listings filtered by source at most. `None` when a source's positions have gaps
    /// (written other than by an ingest), for the walk to answer instead.
    async fn seek_page(
        &self,
        sources: &[SourceGeneration],
        query: &ChannelQuery,
        page: PageRequest,
    ) -> RepoResult<Option<Vec<Channel>>> {
        let wanted: HashSet<String> = query.source_ids.iter().map(ToString::to_string).collect();
        let (mut skip, mut left) = (page.offset, page.limit);
        let mut items = Vec::new();
        for source in sources {
            if left == 0 {
                break;
            }
            if !wanted.is_empty() && !wanted.contains(&source.id) {
                continue;
            }
            if skip >= source.channels {
                skip -= source.channels;
                continue;
            }
            if !self.contiguous(source).await? {
                return Ok(None);
            }
            let sql = format!(
                "SELECT {SELECT} FROM channels c WHERE c.source_id = ? AND c.generation = ? \
                 AND c.position >= ? ORDER BY c.position LIMIT {left}"
            );
            let values = vec![
                source.id.as_str().into(),
                source.generation.into(),
                i64::try_from(skip).unwrap_or(i64::MAX).into(),
            ];
            let rows = if self.db.backend == DbBackend::Sqlite {
                self.packed_rows(&sql, values).await?
            } else {
                ChannelRow::find_by_statement(self.db.stmt(&sql, values))
                    .all(&self.db.conn)
                    .await
                    .map_err(repo_err)?
            };
            left = left.saturating_sub(rows.len() as u64);
            skip = 0;
            for row in rows {
                items.push(row.into_channel()?);
            }
        }
        Ok(Some(items))
    }
}

impl Channels {
    /// The rows `sql` selects (the [`SELECT`] columns, in position order, of one source),
    /// packed by SQLite into one value: a page of 50 handed over row by row cost `sqlx` a
    /// thread wake-up and a mutex round per row, most of a page's time under load (profiled).
    async fn packed_rows(&self, sql: &str, values: Vec<Value>) -> RepoResult<Vec<ChannelRow>> {
        let row = packed_row(PACKED_COLUMNS);
        let Some(page) = self.db.packed(&row, sql, values).await? else {
            return Ok(Vec::new());
        };
        const WHAT: &str = "channel page";
        let mut rest = page.as_str();
        let mut rows = Vec::new();
        let field = |rest: &mut &str| packed_field(rest, WHAT).map(str::to_owned);
        let optional = |rest: &mut &str| packed_optional(rest, WHAT).map(|v| v.map(str::to_owned));
        while !rest.is_empty() {
            let source_id = field(&mut rest)?;
            let position = field(&mut rest)?;
            rows.push(ChannelRow {
                source_id,
                position: position
                    .parse()
                    .map_err(|_| corrupt("channel position", &position))?,
                id: field(&mut rest)?,
                channel_key: field(&mut rest)?,
                name: field(&mut rest)?,
                provider_id: optional(&mut rest)?,
                tvg_id: optional(&mut rest)?,
                tvg_name: optional(&mut rest)?,
                tvg_logo: optional(&mut rest)?,
                group_title: optional(&mut rest)?,
                tvg_chno: optional(&mut rest)?,
                tvg_shift: optional(&mut rest)?,
                stream_url: field(&mut rest)?,
                catchup: optional(&mut rest)?,
                catchup_days: optional(&mut rest)?,
                catchup_source: optional(&mut rest)?,
                extra: optional(&mut rest)?,
            });
        }
        // An aggregate's input order is SQLite's to choose (in practice the subquery's).
        rows.sort_by_key(|r| r.position);
        Ok(rows)
    }
}

/// The columns of [`SELECT`] as the subquery of [`Channels::packed_rows`] names them, in
/// order, and whether each may be NULL.
const PACKED_COLUMNS: &[(&str, bool)] = &[
    ("source_id", false),
    ("position", false),
    ("id", false),
    ("channel_key", false),
    ("name", false),
    ("provider_id", true),
    ("tvg_id", true),
    ("tvg_name", true),
    ("tvg_logo", true),
    ("group_title", true),
    ("tvg_chno", true),
    ("tvg_shift", true),
    ("stream_url", false),
    ("catchup", true),
    ("catchup_days", true),
    ("catchup_source", true),
    ("extra", true),
];

/// A source's current generation, as a listing reads it.
#[derive(Debug)]
struct SourceGeneration {
    id: String,
    generation: i64,
    channels: u64,
}

/// The key of a listing's cached total and pages: the filter, and every source's current
/// generation.
fn listing_key(cond: &str, values: &[Value], sources: &[SourceGeneration]) -> String {
    let mut key = format!("{cond}\u{0}{values:?}");
    for source in sources {
        key.push_str(&format!("\u{0}{}={}", source.id, source.generation));
    }
    key
}

#[async_trait]
impl ChannelRepository for Channels {
    async fn begin_replace(
        &self,
        source: StreamSourceId,
    ) -> RepoResult<Box<dyn ChannelReplacement>> {
        let source_id = source.to_string();
        let generation = bulk::next_generation(&self.db, SourceTable::Stream, &source_id).await?;
        Ok(Box::new(ChannelWriter {
            inserter: RowInserter::new(&self.db, "channels", COLUMNS),
            guard: GenerationGuard {
                db: self.db.clone(),
                tables: TABLES,
                source_id,
                generation,
                armed: true,
            },
            source,
            written: 0,
        }))
    }

    async fn get(&self, id: ChannelId) -> RepoResult<Channel> {
        let sql = format!("SELECT {SELECT} FROM {CURRENT} WHERE c.id = ?");
        let row = ChannelRow::find_by_statement(self.db.stmt(&sql, vec![id.to_string().into()]))
            .one(&self.db.conn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("channel", id))?;
        row.into_channel()
    }

    async fn list(&self, query: &ChannelQuery, page: PageRequest) -> RepoResult<Page<Channel>> {
        let (cond, values) = conditions(query, self.db.backend);
        let sources = self.current_generations().await?;
        let key = listing_key(&cond, &values, &sources);
        let total = self.total(&key, &cond, &values).await?;
        let kept = page.limit <= PAGE_KEPT_MAX_LIMIT;
        let page_key = format!("{key}\u{0}{}\u{0}{}", page.limit, page.offset);
        if kept && let Some(items) = self.pages.get(&page_key).await {
            return Ok(Page {
                items: items.as_ref().clone(),
                total,
            });
        }
        // Filtered by source at most, a page is a seek to its first position; filtered by
        // group or name, the rows before it must be walked.
        let by_source_only = query.group.is_none()
            && query.q.as_deref().is_none_or(str::is_empty)
            && query.tvg_id.is_none();
        let sought = if by_source_only {
            self.seek_page(&sources, query, page).await?
        } else {
            None
        };
        let items = match sought {
            Some(items) => items,
            None => {
                let sql = format!(
                    "SELECT {SELECT} FROM {CURRENT_IN_ORDER} AND {cond} ORDER BY s.id, c.position LIMIT {} OFFSET {}",
                    page.limit, page.offset
                );
                ChannelRow::find_by_statement(self.db.stmt(&sql, values))
                    .all(&self.db.conn)
                    .await
                    .map_err(repo_err)?
                    .into_iter()
                    .map(ChannelRow::into_channel)
                    .collect::<RepoResult<Vec<_>>>()?
            }
        };
        // A flip may have come between reading the generations and the page: the page then
        // holds the new generation's rows, under the old key, which no later request asks for.
        if kept {
            self.pages.insert(page_key, Arc::new(items.clone())).await;
        }
        Ok(Page { items, total })
    }

    async fn groups(&self, query: &ChannelQuery) -> RepoResult<Vec<(String, u64)>> {
        let (cond, values) = conditions(query, self.db.backend);
        let sql = format!(
            "SELECT c.group_title AS group_title, COUNT(*) AS n FROM {CURRENT} WHERE {cond} \
             GROUP BY c.group_title ORDER BY c.group_title"
        );
        let rows = self
            .db
            .conn
            .query_all_raw(self.db.stmt(&sql, values))
            .await
            .map_err(repo_err)?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let group: Option<String> = row.try_get("", "group_title").map_err(repo_err)?;
            let n: i64 = row.try_get("", "n").map_err(repo_err)?;
            groups.push((group.unwrap_or_default(), to_u64(n)));
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(groups)
    }

    async fn count(&self, source: StreamSourceId) -> RepoResult<u64> {
        let sql = "SELECT channel_count FROM stream_sources WHERE id = ?";
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(sql, vec![source.to_string().into()]))
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("stream source", source))?;
        let n: i64 = row.try_get("", "channel_count").map_err(repo_err)?;
        Ok(to_u64(n))
    }
}

/// One replacement of a source's channels (see the crate documentation).
struct ChannelWriter {
    inserter: RowInserter,
    guard: GenerationGuard,
    source: StreamSourceId,
    written: u64,
}

fn push_channel(values: &mut Vec<Value>, source_id: &str, generation: i64, channel: &Channel) {
    let d = &channel.data;
    values.push(source_id.into());
    values.push(generation.into());
    values.push(i64::from(channel.position).into());
    values.push(channel.id.to_string().into());
    values.push(channel.key.as_str().into());
    values.push(d.name.as_str().into());
    values.push(fold(&d.name).into());
    values.push(d.provider_id.clone().into());
    values.push(d.tvg_id.clone().into());
    values.push(d.tvg_name.clone().into());
    values.push(d.tvg_logo.clone().into());
    values.push(d.group_title.clone().into());
    values.push(d.tvg_chno.clone().into());
    values.push(d.tvg_shift.clone().into());
    values.push(d.stream_url.as_str().into());
    values.push(d.catchup.clone().into());
    values.push(d.catchup_days.clone().into());
    values.push(d.catchup_source.clone().into());
    let extra = if d.extra.is_empty() {
        None
    } else {
        serde_json::to_string(&d.extra).ok()
    };
    values.push(extra.into());
}

#[async_trait]
impl ChannelReplacement for ChannelWriter {
    async fn write(&mut self, batch: &[Channel]) -> RepoResult<()> {
        if let Some(stranger) = batch.iter().find(|c| c.source_id != self.source) {
            return Err(RepoError::Conflict(format!(
                "channel {} belongs to source {}, not to {}",
                stranger.id, stranger.source_id, self.source
            )));
        }
        let db = &self.guard.db;
        let mut write = self.inserter.begin(db).await?;
        for chunk in batch.chunks(self.inserter.rows_per_statement()) {
            let mut values = Vec::with_capacity(chunk.len() * COLUMNS.len());
            for channel in chunk {
                push_channel(
                    &mut values,
                    &self.guard.source_id,
                    self.guard.generation,
                    channel,
                );
            }
            write.rows(chunk.len(), values).await?;
        }
        write.finish().await?;
        self.written += batch.len() as u64;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> RepoResult<u64> {
        self.guard.armed = false;
        let g = &self.guard;
        bulk::make_current(&g.db, TABLES, &g.source_id, g.generation, self.written).await?;
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) -> RepoResult<()> {
        self.guard.discard().await
    }
}
