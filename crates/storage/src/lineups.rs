//! Proxies' published lineups, the numbers they hold, and their last generation's summary.
//!
//! A lineup channel is stored as the columns its queries need (proxy, channel, number, source,
//! guide id) and the published [`ChannelData`] as a compact JSON payload with short keys and
//! no empty fields; its [`GuideMatch`] is JSON too. The summary is JSON in
//! `proxies.last_generation`.
//!
//! Each lineup row carries a digest of what it stores (number, source, guide id, data, guide
//! match): a publication reads the proxy's digests (small rows), deletes the rows that left or
//! changed and inserts the new and changed ones, so a regeneration that changes few channels
//! writes few rows. Held numbers are compared the same way, by their columns.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use tvarr_core::{
    ChannelData, ChannelId, GenerationSummary, GuideMatch, HeldNumber, LineupChannel,
    LineupRepository, Page, PageRequest, ProxyId, RepoError, RepoResult,
};

use crate::db::{Db, in_list, micros, not_found, parse_id, to_u32, values_list};
use crate::error::{corrupt, repo_err};

/// Published lineups on the database: implements [`LineupRepository`].
///
/// [`LineupRepository::publish`] replaces a proxy's lineup, its held numbers and its summary
/// in one write transaction (deletes by key and multi-row `INSERT`s of what changed), so
/// readers see the previous publication or the new one, never a mix.
#[derive(Clone, Debug)]
pub struct Lineups {
    db: Db,
}

impl Lineups {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Fails with not found unless proxy `id` exists.
    async fn check_proxy(&self, id: &str) -> RepoResult<()> {
        let row = self
            .db
            .conn
            .query_one_raw(
                self.db
                    .stmt("SELECT id FROM proxies WHERE id = ?", vec![id.into()]),
            )
            .await
            .map_err(repo_err)?;
        row.map(|_| ()).ok_or_else(|| not_found("proxy", id))
    }
}

const CHANNEL_COLUMNS: &[&str] = &[
    "proxy_id",
    "channel_id",
    "number",
    "source_id",
    "guide_id",
    "data",
    "guide",
    "digest",
];

const HELD_COLUMNS: &[&str] = &["proxy_id", "channel_id", "number", "released_at"];

/// The columns of a lineup channel read back.
const SELECT: &str = "channel_id, number, source_id, guide_id, data, guide";

/// What a lineup channel keeps of its [`ChannelData`].
#[derive(Serialize)]
struct DataRef<'a> {
    #[serde(rename = "p", skip_serializing_if = "Option::is_none")]
    provider_id: Option<&'a str>,
    #[serde(rename = "n")]
    name: &'a str,
    #[serde(rename = "ti", skip_serializing_if = "Option::is_none")]
    tvg_id: Option<&'a str>,
    #[serde(rename = "tn", skip_serializing_if = "Option::is_none")]
    tvg_name: Option<&'a str>,
    #[serde(rename = "tl", skip_serializing_if = "Option::is_none")]
    tvg_logo: Option<&'a str>,
    #[serde(rename = "g", skip_serializing_if = "Option::is_none")]
    group_title: Option<&'a str>,
    #[serde(rename = "tc", skip_serializing_if = "Option::is_none")]
    tvg_chno: Option<&'a str>,
    #[serde(rename = "ts", skip_serializing_if = "Option::is_none")]
    tvg_shift: Option<&'a str>,
    #[serde(rename = "u")]
    stream_url: &'a str,
    #[serde(rename = "c", skip_serializing_if = "Option::is_none")]
    catchup: Option<&'a str>,
    #[serde(rename = "cd", skip_serializing_if = "Option::is_none")]
    catchup_days: Option<&'a str>,
    #[serde(rename = "cs", skip_serializing_if = "Option::is_none")]
    catchup_source: Option<&'a str>,
    #[serde(rename = "x", skip_serializing_if = "<[_]>::is_empty")]
    extra: &'a [(String, String)],
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "p", default)]
    provider_id: Option<String>,
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "ti", default)]
    tvg_id: Option<String>,
    #[serde(rename = "tn", default)]
    tvg_name: Option<String>,
    #[serde(rename = "tl", default)]
    tvg_logo: Option<String>,
    #[serde(rename = "g", default)]
    group_title: Option<String>,
    #[serde(rename = "tc", default)]
    tvg_chno: Option<String>,
    #[serde(rename = "ts", default)]
    tvg_shift: Option<String>,
    #[serde(rename = "u")]
    stream_url: String,
    #[serde(rename = "c", default)]
    catchup: Option<String>,
    #[serde(rename = "cd", default)]
    catchup_days: Option<String>,
    #[serde(rename = "cs", default)]
    catchup_source: Option<String>,
    #[serde(rename = "x", default)]
    extra: Vec<(String, String)>,
}

fn data_json(d: &ChannelData) -> RepoResult<String> {
    serde_json::to_string(&DataRef {
        provider_id: d.provider_id.as_deref(),
        name: &d.name,
        tvg_id: d.tvg_id.as_deref(),
        tvg_name: d.tvg_name.as_deref(),
        tvg_logo: d.tvg_logo.as_deref(),
        group_title: d.group_title.as_deref(),
        tvg_chno: d.tvg_chno.as_deref(),
        tvg_shift: d.tvg_shift.as_deref(),
        stream_url: &d.stream_url,
        catchup: d.catchup.as_deref(),
        catchup_days: d.catchup_days.as_deref(),
        catchup_source: d.catchup_source.as_deref(),
        extra: &d.extra,
    })
    .map_err(|e| cannot_store("lineup channel", e))
}

fn parse_data(json: &str) -> RepoResult<ChannelData> {
    let d: Data = serde_json::from_str(json).map_err(|_| corrupt("lineup channel", json))?;
    Ok(ChannelData {
        provider_id: d.provider_id,
        name: d.name,
        tvg_id: d.tvg_id,
        tvg_name: d.tvg_name,
        tvg_logo: d.tvg_logo,
        group_title: d.group_title,
        tvg_chno: d.tvg_chno,
        tvg_shift: d.tvg_shift,
        stream_url: d.stream_url,
        catchup: d.catchup,
        catchup_days: d.catchup_days,
        catchup_source: d.catchup_source,
        extra: d.extra,
    })
}

fn cannot_store(what: &str, e: serde_json::Error) -> RepoError {
    RepoError::Conflict(format!("{what} cannot be stored: {e}"))
}

#[derive(FromQueryResult)]
struct LineupRow {
    channel_id: String,
    number: i64,
    source_id: String,
    guide_id: String,
    data: String,
    guide: Option<String>,
}

impl LineupRow {
    fn into_channel(self) -> RepoResult<LineupChannel> {
        Ok(LineupChannel {
            channel_id: parse_id("channel id", &self.channel_id)?,
            source_id: parse_id("stream source id", &self.source_id)?,
            number: to_u32("channel number", self.number)?,
            guide_id: self.guide_id,
            data: parse_data(&self.data)?,
            guide: self
                .guide
                .as_deref()
                .map(|json| {
                    serde_json::from_str::<GuideMatch>(json)
                        .map_err(|_| corrupt("lineup guide match", json))
                })
                .transpose()?,
        })
    }
}

#[derive(FromQueryResult)]
struct HeldRow {
    channel_id: String,
    number: i64,
    released_at: Option<DateTime<Utc>>,
}

/// What a lineup channel's row is made of, and its digest.
struct ChannelRowValues {
    channel_id: String,
    data: String,
    guide: Option<String>,
    digest: i64,
}

impl ChannelRowValues {
    fn new(c: &LineupChannel) -> RepoResult<Self> {
        let data = data_json(&c.data)?;
        let guide = c
            .guide
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| cannot_store("lineup guide match", e))?;
        let source_id = c.source_id.to_string();
        let mut hasher = blake3::Hasher::new();
        for part in [
            &c.number.to_le_bytes()[..],
            source_id.as_bytes(),
            c.guide_id.as_bytes(),
            data.as_bytes(),
            guide.as_deref().unwrap_or("\u{0}").as_bytes(),
        ] {
            // Each part with its length, so that no two rows hash the same bytes.
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
        Ok(Self {
            channel_id: c.channel_id.to_string(),
            data,
            guide,
            digest: i64::from_le_bytes(first),
        })
    }

    fn push_values(&self, proxy_id: &str, c: &LineupChannel, out: &mut Vec<Value>) {
        out.extend([
            Value::from(proxy_id),
            self.channel_id.as_str().into(),
            i64::from(c.number).into(),
            c.source_id.to_string().into(),
            c.guide_id.as_str().into(),
            self.data.as_str().into(),
            self.guide.clone().into(),
            self.digest.into(),
        ]);
    }
}

/// Deletes the rows of `channels` of proxy `proxy_id` from `table`, by primary key.
async fn delete_channels(
    db: &Db,
    tx: &DatabaseTransaction,
    table: &str,
    proxy_id: &str,
    channels: Vec<String>,
) -> RepoResult<()> {
    for chunk in channels.chunks(DELETE_CHUNK) {
        let sql = format!(
            "DELETE FROM {table} WHERE proxy_id = ? AND channel_id IN ({})",
            in_list(chunk.len())
        );
        let mut values = Vec::with_capacity(chunk.len() + 1);
        values.push(Value::from(proxy_id));
        values.extend(chunk.iter().map(|c| Value::from(c.as_str())));
        tx.execute_raw(db.stmt(&sql, values))
            .await
            .map_err(repo_err)?;
    }
    Ok(())
}

/// Channels deleted by one statement at most.
const DELETE_CHUNK: usize = 500;

/// Inserts `values` (rows of `columns`, one after another) into `table`.
async fn insert_all(
    db: &Db,
    tx: &DatabaseTransaction,
    table: &str,
    columns: &[&str],
    values: Vec<Value>,
) -> RepoResult<()> {
    let (cols, count) = (columns.len(), values.len() / columns.len());
    // Rows are pushed in order, so each takes the next `cols` values.
    let mut values = values.into_iter();
    insert_rows(db, tx, table, columns, count, |_, out| {
        out.extend(values.by_ref().take(cols));
    })
    .await
}

/// Inserts `count` rows into `table`, row `i`'s values pushed by `push(i, values)`, one
/// statement's worth at a time: only one statement's values are held at once (a 50,000-channel
/// lineup's values all at once were 28 MiB, profiled with heaptrack).
async fn insert_rows<F>(
    db: &Db,
    tx: &DatabaseTransaction,
    table: &str,
    columns: &[&str],
    count: usize,
    mut push: F,
) -> RepoResult<()>
where
    F: FnMut(usize, &mut Vec<Value>) + Send,
{
    let cols = columns.len();
    let per_statement = crate::db::rows_per_insert(db.backend, cols);
    let sql_for = |rows: usize| {
        db.sql(&format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(","),
            values_list(rows, cols)
        ))
    };
    let full = sql_for(per_statement);
    let mut start = 0;
    while start < count {
        let rows = per_statement.min(count - start);
        let mut chunk = Vec::with_capacity(rows * cols);
        for i in start..start + rows {
            push(i, &mut chunk);
        }
        start += rows;
        let sql = if rows == per_statement {
            full.clone()
        } else {
            sql_for(rows)
        };
        tx.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.backend, sql, chunk,
        ))
        .await
        .map_err(repo_err)?;
    }
    Ok(())
}

#[async_trait]
impl LineupRepository for Lineups {
    async fn held_numbers(&self, proxy: ProxyId) -> RepoResult<Vec<HeldNumber>> {
        let id = proxy.to_string();
        self.check_proxy(&id).await?;
        let sql = "SELECT channel_id, number, released_at FROM proxy_held_numbers \
                   WHERE proxy_id = ? ORDER BY number, channel_id";
        HeldRow::find_by_statement(self.db.stmt(sql, vec![id.into()]))
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(|row| {
                Ok(HeldNumber {
                    channel_id: parse_id("channel id", &row.channel_id)?,
                    number: to_u32("held number", row.number)?,
                    released_at: row.released_at,
                })
            })
            .collect()
    }

    async fn publish(
        &self,
        proxy: ProxyId,
        lineup: &[LineupChannel],
        held: &[HeldNumber],
        summary: &GenerationSummary,
    ) -> RepoResult<()> {
        let id = proxy.to_string();
        let summary_json =
            serde_json::to_string(summary).map_err(|e| cannot_store("generation summary", e))?;
        let rows = lineup
            .iter()
            .map(ChannelRowValues::new)
            .collect::<RepoResult<Vec<_>>>()?;
        let tx = self.db.begin_write().await?;
        // First, so that it locks the proxy's row: publications of one proxy take turns.
        let updated = tx
            .execute_raw(self.db.stmt(
                "UPDATE proxies SET last_generation = ?, last_generated_at = ? WHERE id = ?",
                vec![
                    summary_json.into(),
                    self.db.time_value(summary.generated_at),
                    id.as_str().into(),
                ],
            ))
            .await
            .map_err(repo_err)?;
        if updated.rows_affected() == 0 {
            return Err(not_found("proxy", id));
        }

        // The lineup: rows whose digest is unchanged stay as they are.
        let mut stored: HashMap<String, i64> = tx
            .query_all_raw(self.db.stmt(
                "SELECT channel_id, digest FROM proxy_lineup_channels WHERE proxy_id = ?",
                vec![id.as_str().into()],
            ))
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(|row| Ok((row.try_get("", "channel_id")?, row.try_get("", "digest")?)))
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(repo_err)?;
        let mut stale = Vec::new();
        let mut changed = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            match stored.remove(&row.channel_id) {
                Some(digest) if digest == row.digest => continue,
                Some(_) => stale.push(row.channel_id.clone()),
                None => {}
            }
            changed.push(index);
        }
        stale.extend(stored.into_keys());
        delete_channels(&self.db, &tx, "proxy_lineup_channels", &id, stale).await?;
        insert_rows(
            &self.db,
            &tx,
            "proxy_lineup_channels",
            CHANNEL_COLUMNS,
            changed.len(),
            |i, out| {
                let index = changed[i];
                rows[index].push_values(&id, &lineup[index], out);
            },
        )
        .await?;

        // Held numbers, the same way.
        let mut stored: HashMap<String, (i64, Option<DateTime<Utc>>)> =
            HeldRow::find_by_statement(self.db.stmt(
                "SELECT channel_id, number, released_at FROM proxy_held_numbers WHERE proxy_id = ?",
                vec![id.as_str().into()],
            ))
            .all(&tx)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(|row| (row.channel_id, (row.number, row.released_at)))
            .collect();
        let mut stale = Vec::new();
        let mut values = Vec::new();
        for h in held {
            let channel_id = h.channel_id.to_string();
            let wanted = (i64::from(h.number), h.released_at.map(micros));
            match stored.remove(&channel_id) {
                Some(current) if current == wanted => continue,
                Some(_) => stale.push(channel_id.clone()),
                None => {}
            }
            values.extend([
                Value::from(id.as_str()),
                channel_id.into(),
                wanted.0.into(),
                wanted.1.into(),
            ]);
        }
        stale.extend(stored.into_keys());
        delete_channels(&self.db, &tx, "proxy_held_numbers", &id, stale).await?;
        insert_all(&self.db, &tx, "proxy_held_numbers", HELD_COLUMNS, values).await?;
        tx.commit().await.map_err(repo_err)
    }

    async fn list(&self, proxy: ProxyId, page: PageRequest) -> RepoResult<Page<LineupChannel>> {
        let id = proxy.to_string();
        self.check_proxy(&id).await?;
        let count = self
            .db
            .count(
                "SELECT COUNT(*) AS n FROM proxy_lineup_channels WHERE proxy_id = ?",
                vec![id.as_str().into()],
            )
            .await?;
        let sql = format!(
            "SELECT {SELECT} FROM proxy_lineup_channels WHERE proxy_id = ? \
             ORDER BY number, channel_id LIMIT {} OFFSET {}",
            page.limit, page.offset
        );
        let items = LineupRow::find_by_statement(self.db.stmt(&sql, vec![id.into()]))
            .all(&self.db.conn)
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(LineupRow::into_channel)
            .collect::<RepoResult<_>>()?;
        Ok(Page {
            items,
            total: count,
        })
    }

    async fn numbered(
        &self,
        proxy: ProxyId,
        from: u32,
        to: u32,
        limit: u64,
    ) -> RepoResult<Vec<LineupChannel>> {
        let id = proxy.to_string();
        self.check_proxy(&id).await?;
        let limit = limit.min(PageRequest::MAX_LIMIT);
        let sql = format!(
            "SELECT {SELECT} FROM proxy_lineup_channels \
             WHERE proxy_id = ? AND number >= ? AND number <= ? ORDER BY number LIMIT {limit}"
        );
        LineupRow::find_by_statement(self.db.stmt(
            &sql,
            vec![id.into(), i64::from(from).into(), i64::from(to).into()],
        ))
        .all(&self.db.conn)
        .await
        .map_err(repo_err)?
        .into_iter()
        .map(LineupRow::into_channel)
        .collect()
    }

    async fn get(&self, proxy: ProxyId, channel: ChannelId) -> RepoResult<LineupChannel> {
        let sql = format!(
            "SELECT {SELECT} FROM proxy_lineup_channels WHERE proxy_id = ? AND channel_id = ?"
        );
        LineupRow::find_by_statement(self.db.stmt(
            &sql,
            vec![proxy.to_string().into(), channel.to_string().into()],
        ))
        .one(&self.db.conn)
        .await
        .map_err(repo_err)?
        .ok_or_else(|| not_found("lineup channel", format!("{proxy}/{channel}")))?
        .into_channel()
    }

    async fn summary(&self, proxy: ProxyId) -> RepoResult<Option<GenerationSummary>> {
        let row = self
            .db
            .conn
            .query_one_raw(self.db.stmt(
                "SELECT last_generation FROM proxies WHERE id = ?",
                vec![proxy.to_string().into()],
            ))
            .await
            .map_err(repo_err)?
            .ok_or_else(|| not_found("proxy", proxy))?;
        let json: Option<String> = row.try_get("", "last_generation").map_err(repo_err)?;
        json.as_deref()
            .map(|json| serde_json::from_str(json).map_err(|_| corrupt("generation summary", json)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_round_trips_through_its_compact_form() {
        let full = ChannelData {
            provider_id: Some("42".into()),
            name: "Canal+ \"HD\"".into(),
            tvg_id: Some("canal.fr".into()),
            tvg_name: Some("Canal+".into()),
            tvg_logo: Some("http://l/1.png".into()),
            group_title: Some("Films".into()),
            tvg_chno: Some("4".into()),
            tvg_shift: Some("-1".into()),
            stream_url: "http://s/1.ts".into(),
            catchup: Some("default".into()),
            catchup_days: Some("7".into()),
            catchup_source: Some("?utc={utc}".into()),
            extra: vec![("tvg-country".into(), "FR".into())],
        };
        assert_eq!(parse_data(&data_json(&full).unwrap()).unwrap(), full);
        let bare = ChannelData {
            name: "A".into(),
            stream_url: "http://s/a".into(),
            ..Default::default()
        };
        let json = data_json(&bare).unwrap();
        assert_eq!(json, r#"{"n":"A","u":"http://s/a"}"#);
        assert_eq!(parse_data(&json).unwrap(), bare);
    }
}
