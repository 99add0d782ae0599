//! The connection shared by every repository, and small helpers for hand-written SQL.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait, Value,
};
use tvarr_core::{RepoError, RepoResult};

use crate::error::{corrupt, repo_err};

/// A pooled connection and the kind of database behind it. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    /// Reads, and single-statement writes.
    pub(crate) conn: DatabaseConnection,
    /// A connection of its own for write transactions and the bulk path, on an SQLite file:
    /// SQLite has one writer at a time anyway, and a connection keeps its page cache only
    /// while no other connection writes, so bulk batches spread over the pool would each start
    /// cold and fill a cache of their own (measured: a 100k-channel ingest 0.92 s and 80.7 MiB
    /// peak through the pool, see docs/benchmarks.md). `None` elsewhere: see [`Db::writer`].
    pub(crate) own_writer: Option<DatabaseConnection>,
    pub(crate) backend: DbBackend,
}

impl Db {
    /// Where write transactions and the bulk path run: the SQLite writer, else the pool.
    pub(crate) fn writer(&self) -> &DatabaseConnection {
        self.own_writer.as_ref().unwrap_or(&self.conn)
    }

    /// A statement from SQL written with `?` placeholders (numbered `$n` for PostgreSQL).
    pub(crate) fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql(sql), values)
    }

    /// The number a `SELECT COUNT(*) AS n …` statement answers (0 for no row).
    pub(crate) async fn count(&self, sql: &str, values: Vec<Value>) -> RepoResult<u64> {
        use sea_orm::ConnectionTrait as _;
        self.conn
            .query_one_raw(self.stmt(sql, values))
            .await
            .map_err(crate::error::repo_err)?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()
            .map_err(crate::error::repo_err)
            .map(|n| n.map_or(0, to_u64))
    }

    /// SQL written with `?` placeholders, in this database's dialect.
    pub(crate) fn sql(&self, sql: &str) -> String {
        if self.backend == DbBackend::Postgres {
            number_placeholders(sql)
        } else {
            sql.to_owned()
        }
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so it waits on the busy timeout instead of failing later when a
    /// read would have to become a write.
    pub(crate) async fn begin_write(&self) -> RepoResult<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.writer()
            .begin_with_options(options)
            .await
            .map_err(repo_err)
    }
}

/// `?` placeholders numbered `$1`, `$2`, … as PostgreSQL wants them. Our SQL has no `?` in literals.
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + sql.len() / 4);
    let mut n = 0u32;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// The current time, at the microsecond precision every supported database keeps.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `t` at the precision every supported database keeps.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

impl Db {
    /// `t`, to the microsecond, as a bound value of a hand-written statement. On MySQL/MariaDB
    /// a time is bound as a `DATETIME` (a naive UTC time, as the columns hold): a zoned time is
    /// sent as a `TIMESTAMP`, whose range ends in 2038, and a bound outside it matched nothing.
    pub(crate) fn time_value(&self, t: DateTime<Utc>) -> sea_orm::Value {
        let t = micros(t);
        if self.backend == sea_orm::DbBackend::MySql {
            t.naive_utc().into()
        } else {
            t.into()
        }
    }
}

/// The escape character of our `LIKE` patterns: one that needs no escaping in any dialect.
pub(crate) const LIKE_ESCAPE: char = '!';

/// A case-folded `LIKE` pattern matching values that contain `q`.
pub(crate) fn contains_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for ch in fold(q).chars() {
        if matches!(ch, '%' | '_' | LIKE_ESCAPE) {
            out.push(LIKE_ESCAPE);
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// How searchable text is stored and searched: lower case, Unicode-aware, the same on every
/// database (SQLite's `LOWER` only knows ASCII).
pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Parses a stored identifier.
pub(crate) fn parse_id<T: FromStr>(what: &str, value: &str) -> RepoResult<T> {
    value.parse().map_err(|_| corrupt(what, value))
}

/// Parses a stored enumeration name.
pub(crate) fn parse_enum<T>(
    what: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> RepoResult<T> {
    parse(value).ok_or_else(|| corrupt(what, value))
}

/// A count or size stored as a signed 64-bit integer.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored count, never negative.
pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A stored small unsigned number.
pub(crate) fn to_u32(what: &str, value: i64) -> RepoResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what, &value.to_string()))
}

/// `(?, ?, …)` repeated: the `VALUES` list of a multi-row insert.
pub(crate) fn values_list(rows: usize, cols: usize) -> String {
    let mut row = String::with_capacity(cols * 2 + 2);
    row.push('(');
    for c in 0..cols {
        if c > 0 {
            row.push(',');
        }
        row.push('?');
    }
    row.push(')');
    let mut out = String::with_capacity(rows * (row.len() + 1));
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push_str(&row);
    }
    out
}

/// `?, ?, …`: an `IN` list.
pub(crate) fn in_list(n: usize) -> String {
    let mut out = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push('?');
    }
    out
}

/// How many rows one multi-row `INSERT` of `cols` columns may carry on `backend`.
pub(crate) fn rows_per_insert(backend: DbBackend, cols: usize) -> usize {
    let (max_params, max_rows) = match backend {
        // SQLite runs in this process: every connection caches the compiled program of each
        // statement, and a 1,000-row statement's program is megabytes. 100 rows keep the
        // round trips (function calls here) cheap and the caches small.
        DbBackend::Sqlite => (32_766, 100),
        _ => (65_535, 1_000),
    };
    (max_params / cols.max(1)).clamp(1, max_rows)
}

/// Not found, for `entity` `id`.
pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> RepoError {
    RepoError::NotFound {
        entity,
        id: id.to_string(),
    }
}

impl Db {
    /// The rows `sql` selects, each written by `row` (SQL over the subquery's columns, such as
    /// [`packed_row`] builds), joined by SQLite into one value: `None` when there are none.
    pub(crate) async fn packed(
        &self,
        row: &str,
        sql: &str,
        values: Vec<Value>,
    ) -> RepoResult<Option<String>> {
        use sea_orm::ConnectionTrait as _;
        let packed = format!("SELECT group_concat({row}, '') AS packed FROM ({sql})");
        match self
            .conn
            .query_one_raw(self.stmt(&packed, values))
            .await
            .map_err(repo_err)?
        {
            Some(row) => row.try_get("", "packed").map_err(repo_err),
            None => Ok(None),
        }
    }
}

/// The next `<bytes>:<value>` of a value SQLite packed with `group_concat` (a batch of rows in
/// one value, because `sqlx` hands each row over from its SQLite thread on its own, see
/// `Programmes::scan_packed`); `what` names the batch in the error of a broken one.
pub(crate) fn packed_field<'a>(rest: &mut &'a str, what: &str) -> RepoResult<&'a str> {
    let broken = || corrupt(what, &rest.chars().take(80).collect::<String>());
    let colon = rest.find(':').ok_or_else(broken)?;
    let len: usize = rest[..colon].parse().map_err(|_| broken())?;
    let end = colon + 1 + len;
    let value = rest.get(colon + 1..end).ok_or_else(broken)?;
    *rest = &rest[end..];
    Ok(value)
}

/// [`packed_field`] of a column that may be NULL, packed as `-`.
pub(crate) fn packed_optional<'a>(rest: &mut &'a str, what: &str) -> RepoResult<Option<&'a str>> {
    if let Some(after) = rest.strip_prefix('-') {
        *rest = after;
        return Ok(None);
    }
    packed_field(rest, what).map(Some)
}

/// The SQL that packs `columns` of a row as `<bytes>:<value>` each (`-` for a NULL of a
/// nullable one), for `group_concat(…, '')` to join rows into one value.
pub(crate) fn packed_row(columns: &[(&str, bool)]) -> String {
    columns
        .iter()
        .map(|(column, nullable)| {
            let field = format!("octet_length({column}) || ':' || {column}");
            if *nullable {
                format!("coalesce({field}, '-')")
            } else {
                field
            }
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(contains_pattern("50%_Off!"), "%50!%!_off!!%");
    }

    #[test]
    fn numbers_postgres_placeholders() {
        assert_eq!(
            number_placeholders("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
    }

    #[test]
    fn batches_respect_parameter_limits() {
        assert_eq!(rows_per_insert(DbBackend::Sqlite, 19), 100);
        assert_eq!(rows_per_insert(DbBackend::Sqlite, 1_000), 32);
        assert_eq!(rows_per_insert(DbBackend::Postgres, 19), 1_000);
        assert_eq!(rows_per_insert(DbBackend::Postgres, 100), 655);
        assert!(rows_per_insert(DbBackend::Postgres, 70_000) >= 1);
        assert_eq!(values_list(2, 2), "(?,?),(?,?)");
    }
}
