//! The bulk path shared by channels and guides: generations, multi-row inserts and chunked
//! deletes.
//!
//! Every row of `channels`, `epg_channels` and `programmes` carries the generation it was
//! written under. A replacement takes a new generation from its source row (`last_generation`,
//! a microsecond timestamp made unique per source), writes under it, and on commit sets the
//! source's `current_generation` to it, only if it is newer than the current one: so two
//! replacements of one source racing end with the newer one current, never a mix. Readers
//! join on `current_generation`, in one statement, and see one whole generation.
//! Generations below the current one can never become current again and are deleted; a
//! generation above it whose writer is gone is recognised by its age, since its number is the
//! time it began.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgCopyIn, PgPoolCopyExt, Postgres};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Value};
use tvarr_core::{RepoError, RepoResult};

use crate::db::{Db, not_found};
use crate::error::repo_err;

/// A table of generation-tagged rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BulkTable {
    /// `channels`, of stream sources.
    Channels,
    /// `epg_channels`, of EPG sources.
    EpgChannels,
    /// `programmes`, of EPG sources.
    Programmes,
}

impl BulkTable {
    pub(crate) const ALL: [BulkTable; 3] = [
        BulkTable::Channels,
        BulkTable::EpgChannels,
        BulkTable::Programmes,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            BulkTable::Channels => "channels",
            BulkTable::EpgChannels => "epg_channels",
            BulkTable::Programmes => "programmes",
        }
    }

    pub(crate) fn source(self) -> SourceTable {
        match self {
            BulkTable::Channels => SourceTable::Stream,
            BulkTable::EpgChannels | BulkTable::Programmes => SourceTable::Epg,
        }
    }
}

/// A table of sources, whose rows own generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceTable {
    /// `stream_sources`.
    Stream,
    /// `epg_sources`.
    Epg,
}

impl SourceTable {
    fn name(self) -> &'static str {
        match self {
            SourceTable::Stream => "stream_sources",
            SourceTable::Epg => "epg_sources",
        }
    }

    fn count_column(self) -> &'static str {
        match self {
            SourceTable::Stream => "channel_count",
            SourceTable::Epg => "programme_count",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            SourceTable::Stream => "stream source",
            SourceTable::Epg => "EPG source",
        }
    }
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Allocates a new generation for `source_id`: later than every earlier one of the source.
pub(crate) async fn next_generation(
    db: &Db,
    table: SourceTable,
    source_id: &str,
) -> RepoResult<i64> {
    let tx = db.begin_write().await?;
    let stamp = now_micros();
    let sql = format!(
        "UPDATE {t} SET last_generation = CASE WHEN last_generation >= ? THEN last_generation + 1 ELSE ? END WHERE id = ?",
        t = table.name()
    );
    let result = tx
        .execute_raw(db.stmt(&sql, vec![stamp.into(), stamp.into(), source_id.into()]))
        .await
        .map_err(repo_err)?;
    if result.rows_affected() == 0 {
        return Err(not_found(table.entity(), source_id));
    }
    let sql = format!(
        "SELECT last_generation FROM {t} WHERE id = ?",
        t = table.name()
    );
    let row = tx
        .query_one_raw(db.stmt(&sql, vec![source_id.into()]))
        .await
        .map_err(repo_err)?
        .ok_or_else(|| not_found(table.entity(), source_id))?;
    let generation: i64 = row.try_get("", "last_generation").map_err(repo_err)?;
    tx.commit().await.map_err(repo_err)?;
    Ok(generation)
}

/// Makes `generation` the one readers see, with `count` records, then deletes older rows.
pub(crate) async fn make_current(
    db: &Db,
    tables: &[BulkTable],
    source_id: &str,
    generation: i64,
    count: u64,
) -> RepoResult<()> {
    let Some(first) = tables.first() else {
        return Ok(());
    };
    let source = first.source();
    let tx = db.begin_write().await?;
    let sql = format!(
        "UPDATE {t} SET current_generation = ?, {c} = ? WHERE id = ? AND current_generation < ?",
        t = source.name(),
        c = source.count_column(),
    );
    let values = vec![
        generation.into(),
        crate::db::to_i64(count).into(),
        source_id.into(),
        generation.into(),
    ];
    let result = tx
        .execute_raw(db.stmt(&sql, values))
        .await
        .map_err(repo_err)?;
    if result.rows_affected() == 0 {
        let sql = format!(
            "SELECT current_generation FROM {t} WHERE id = ?",
            t = source.name()
        );
        let exists = tx
            .query_one_raw(db.stmt(&sql, vec![source_id.into()]))
            .await
            .map_err(repo_err)?
            .is_some();
        drop(tx);
        for table in tables {
            delete_where(
                db,
                *table,
                "source_id = ? AND generation = ?",
                &[source_id.into(), generation.into()],
            )
            .await?;
        }
        return Err(if exists {
            RepoError::Conflict(format!(
                "a newer replacement of {} {source_id} was committed first",
                source.entity()
            ))
        } else {
            not_found(source.entity(), source_id)
        });
    }
    tx.commit().await.map_err(repo_err)?;
    for table in tables {
        delete_where(
            db,
            *table,
            "source_id = ? AND generation < ?",
            &[source_id.into(), generation.into()],
        )
        .await?;
    }
    Ok(())
}

/// Deletes every row of `generation`.
pub(crate) async fn delete_generation(
    db: &Db,
    table: BulkTable,
    source_id: &str,
    generation: i64,
) -> RepoResult<u64> {
    delete_where(
        db,
        table,
        "source_id = ? AND generation = ?",
        &[source_id.into(), generation.into()],
    )
    .await
}

/// Deletes every row of a source, whatever its generation.
pub(crate) async fn delete_all_generations(
    db: &Db,
    table: BulkTable,
    source_id: &str,
) -> RepoResult<u64> {
    delete_where(db, table, "source_id = ?", &[source_id.into()]).await
}

/// Deletes the rows of generations that can never become current: those older than the
/// current one, and those newer but begun more than `older_than` ago.
pub(crate) async fn sweep_abandoned(db: &Db, older_than: Duration) -> RepoResult<u64> {
    let age = i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX);
    let cutoff = now_micros().saturating_sub(age);
    let mut deleted = 0;
    for table in BulkTable::ALL {
        let sql = format!(
            "SELECT DISTINCT b.source_id, b.generation FROM {b} b JOIN {s} s ON s.id = b.source_id \
             WHERE b.generation < s.current_generation \
             OR (b.generation > s.current_generation AND b.generation < ?)",
            b = table.name(),
            s = table.source().name(),
        );
        let rows = db
            .conn
            .query_all_raw(db.stmt(&sql, vec![cutoff.into()]))
            .await
            .map_err(repo_err)?;
        for row in rows {
            let source_id: String = row.try_get("", "source_id").map_err(repo_err)?;
            let generation: i64 = row.try_get("", "generation").map_err(repo_err)?;
            deleted += delete_generation(db, table, &source_id, generation).await?;
        }
    }
    Ok(deleted)
}

/// Deletes matching rows in chunks, each its own short statement, so a million-row delete
/// never holds SQLite's write lock for long.
async fn delete_where(
    db: &Db,
    table: BulkTable,
    condition: &str,
    values: &[Value],
) -> RepoResult<u64> {
    let chunk: u64 = match db.backend {
        DbBackend::Sqlite => 20_000,
        _ => 50_000,
    };
    let t = table.name();
    let sql = match db.backend {
        DbBackend::Sqlite => format!(
            "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE {condition} LIMIT {chunk})"
        ),
        DbBackend::Postgres => format!(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {condition} LIMIT {chunk}))"
        ),
        _ => format!("DELETE FROM {t} WHERE {condition} LIMIT {chunk}"),
    };
    let mut deleted = 0;
    loop {
        let result = db
            .writer()
            .execute_raw(db.stmt(&sql, values.to_vec()))
            .await
            .map_err(repo_err)?;
        deleted += result.rows_affected();
        if result.rows_affected() < chunk {
            return Ok(deleted);
        }
    }
}

/// Writes rows into one table: multi-row `INSERT`s, or `COPY` on PostgreSQL. Its statement is
/// built once.
pub(crate) struct RowInserter {
    table: &'static str,
    columns: &'static [&'static str],
    rows_per_statement: usize,
    /// The `COPY … FROM STDIN` on PostgreSQL, else the `INSERT` of `rows_per_statement` rows.
    full_sql: String,
}

impl RowInserter {
    pub(crate) fn new(db: &Db, table: &'static str, columns: &'static [&'static str]) -> Self {
        let rows_per_statement = crate::db::rows_per_insert(db.backend, columns.len());
        let full_sql = if db.backend == DbBackend::Postgres {
            format!("COPY {table} ({}) FROM STDIN", columns.join(","))
        } else {
            Self::build(db, table, columns, rows_per_statement)
        };
        Self {
            table,
            columns,
            rows_per_statement,
            full_sql,
        }
    }

    fn build(db: &Db, table: &str, columns: &[&str], rows: usize) -> String {
        db.sql(&format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(","),
            crate::db::values_list(rows, columns.len())
        ))
    }

    /// How many rows one statement carries.
    pub(crate) fn rows_per_statement(&self) -> usize {
        self.rows_per_statement
    }

    /// Starts writing one batch: on PostgreSQL one `COPY … FROM STDIN` (several times faster
    /// than multi-row `INSERT`s there), elsewhere one write transaction of multi-row `INSERT`s.
    /// Feed it with [`BatchWrite::rows`], end it with [`BatchWrite::finish`]. A batch dropped
    /// unfinished writes nothing.
    pub(crate) async fn begin<'a>(&'a self, db: &'a Db) -> RepoResult<BatchWrite<'a>> {
        if db.backend == DbBackend::Postgres {
            let copy = db
                .writer()
                .get_postgres_connection_pool()
                .copy_in_raw(&self.full_sql)
                .await
                .map_err(copy_err)?;
            return Ok(BatchWrite::Copy(CopyBatch {
                copy: Some(copy),
                columns: self.columns.len(),
                text: Vec::new(),
            }));
        }
        Ok(BatchWrite::Insert {
            inserter: self,
            db,
            tx: begin(db).await?,
        })
    }

    /// Inserts `rows` rows whose values, row after row, are `values`.
    pub(crate) async fn insert(
        &self,
        db: &Db,
        tx: &DatabaseTransaction,
        rows: usize,
        values: Vec<Value>,
    ) -> RepoResult<()> {
        if rows == 0 {
            return Ok(());
        }
        debug_assert_eq!(values.len(), rows * self.columns.len());
        let sql = if rows == self.rows_per_statement {
            self.full_sql.clone()
        } else {
            Self::build(db, self.table, self.columns, rows)
        };
        let stmt = sea_orm::Statement::from_sql_and_values(db.backend, sql, values);
        tx.execute_raw(stmt).await.map_err(repo_err)?;
        Ok(())
    }
}

/// One batch being written (see [`RowInserter::begin`]).
pub(crate) enum BatchWrite<'a> {
    Insert {
        inserter: &'a RowInserter,
        db: &'a Db,
        tx: DatabaseTransaction,
    },
    Copy(CopyBatch),
}

impl BatchWrite<'_> {
    /// Writes `rows` rows whose values, row after row, are `values`: at most
    /// [`RowInserter::rows_per_statement`] rows a call.
    pub(crate) async fn rows(&mut self, rows: usize, values: Vec<Value>) -> RepoResult<()> {
        match self {
            BatchWrite::Insert { inserter, db, tx } => inserter.insert(db, tx, rows, values).await,
            BatchWrite::Copy(copy) => copy.rows(rows, &values).await,
        }
    }

    /// Makes the batch's rows durable.
    pub(crate) async fn finish(self) -> RepoResult<()> {
        match self {
            BatchWrite::Insert { tx, .. } => commit(tx).await,
            BatchWrite::Copy(copy) => copy.finish().await,
        }
    }
}

/// A PostgreSQL `COPY … FROM STDIN` in progress. Dropped unfinished (an error, a cancelled
/// ingest), it is aborted in a task of its own, so its pooled connection goes back clean.
pub(crate) struct CopyBatch {
    copy: Option<PgCopyIn<PoolConnection<Postgres>>>,
    columns: usize,
    /// The rows of one call in `COPY`'s text format, reused from call to call.
    text: Vec<u8>,
}

impl CopyBatch {
    async fn rows(&mut self, rows: usize, values: &[Value]) -> RepoResult<()> {
        debug_assert_eq!(values.len(), rows * self.columns);
        self.text.clear();
        for row in values.chunks(self.columns) {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    self.text.push(b'\t');
                }
                copy_text(&mut self.text, value)?;
            }
            self.text.push(b'\n');
        }
        let copy = self.copy.as_mut().ok_or_else(copy_finished)?;
        copy.send(self.text.as_slice()).await.map_err(copy_err)?;
        Ok(())
    }

    async fn finish(mut self) -> RepoResult<()> {
        let copy = self.copy.take().ok_or_else(copy_finished)?;
        copy.finish().await.map(|_| ()).map_err(copy_err)
    }
}

impl Drop for CopyBatch {
    fn drop(&mut self) {
        if let Some(copy) = self.copy.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = copy.abort("tvarr: batch abandoned").await {
                    tracing::debug!(error = %e, "aborting an abandoned COPY");
                }
            });
        }
    }
}

fn copy_finished() -> RepoError {
    RepoError::Unavailable("the COPY has already ended".to_owned())
}

/// Appends `value` in PostgreSQL's `COPY` text format: `\N` for NULL, and backslash escapes
/// for the characters that separate columns and rows.
fn copy_text(out: &mut Vec<u8>, value: &Value) -> RepoResult<()> {
    use std::io::Write as _;
    let written = match value {
        Value::String(None)
        | Value::BigInt(None)
        | Value::Int(None)
        | Value::Bool(None)
        | Value::ChronoDateTimeUtc(None) => {
            out.extend_from_slice(b"\\N");
            Ok(())
        }
        Value::String(Some(s)) => {
            for &b in s.as_bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    _ => out.push(b),
                }
            }
            Ok(())
        }
        Value::BigInt(Some(n)) => write!(out, "{n}"),
        Value::Int(Some(n)) => write!(out, "{n}"),
        Value::Bool(Some(b)) => {
            out.push(if *b { b't' } else { b'f' });
            Ok(())
        }
        Value::ChronoDateTimeUtc(Some(t)) => {
            write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
        }
        other => {
            return Err(RepoError::Corrupt(format!(
                "the bulk path cannot copy a value of this type: {other:?}"
            )));
        }
    };
    written.map_err(|e| RepoError::Corrupt(e.to_string()))
}

/// A `COPY` error, classified as any other statement's.
fn copy_err(e: sea_orm::sqlx::Error) -> RepoError {
    repo_err(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
        std::sync::Arc::new(e),
    )))
}

/// Deletes a generation that was neither committed nor aborted when its replacement is dropped.
pub(crate) struct GenerationGuard {
    pub(crate) db: Db,
    pub(crate) tables: &'static [BulkTable],
    pub(crate) source_id: String,
    pub(crate) generation: i64,
    pub(crate) armed: bool,
}

impl GenerationGuard {
    /// Deletes the generation's rows now.
    pub(crate) async fn discard(&mut self) -> RepoResult<()> {
        self.armed = false;
        for table in self.tables {
            delete_generation(&self.db, *table, &self.source_id, self.generation).await?;
        }
        Ok(())
    }
}

impl Drop for GenerationGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return; // the startup sweep will delete the rows
        };
        let db = self.db.clone();
        let tables = self.tables;
        let source_id = std::mem::take(&mut self.source_id);
        let generation = self.generation;
        handle.spawn(async move {
            for table in tables {
                if let Err(e) = delete_generation(&db, *table, &source_id, generation).await {
                    tracing::warn!(%source_id, generation, error = %e, "cannot delete a dropped replacement");
                }
            }
        });
    }
}

/// Begins a write transaction (exposed for the replacements).
pub(crate) async fn begin(db: &Db) -> RepoResult<DatabaseTransaction> {
    db.begin_write().await
}

/// Commits a write transaction.
pub(crate) async fn commit(tx: DatabaseTransaction) -> RepoResult<()> {
    tx.commit().await.map_err(repo_err)
}
