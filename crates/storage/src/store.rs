//! Opening a database, applying migrations, and handing out the repositories.

use std::path::Path;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use tvarr_migration::{Migrator, MigratorTrait};

use crate::bulk;
use crate::channels::Channels;
use crate::db::Db;
use crate::error::StorageError;
use crate::jobs::Jobs;
use crate::programmes::Programmes;
use crate::proxies::{Proxies, RelayProfiles};
use crate::rules::{Filters, MappingRules};
use crate::sources::{EpgSources, StreamSources};

/// The kind of database behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Backend {
    /// The name people know it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// The kind of database a URL names.
    pub fn from_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" => Some(Backend::MySql),
            _ => None,
        }
    }
}

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a connection, so a database that is down fails fast and clearly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Lock key serialising migrations of several processes on PostgreSQL (`pg_advisory_lock`).
const PG_MIGRATION_LOCK: i64 = 0x7476_6172_725f_6d67; // "tvarr_mg"
/// Lock name serialising migrations of several processes on MySQL/MariaDB (`GET_LOCK`).
const MYSQL_MIGRATION_LOCK: &str = "tvarr_migrations";

/// An open database: the pool every repository shares. Cheap to clone.
///
/// Each accessor returns a repository implementing the `tvarr-core` trait of the same concept;
/// they are cheap clones sharing this pool.
#[derive(Clone)]
pub struct Store {
    db: Db,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &redact(&self.url))
            .finish()
    }
}

impl Store {
    /// Opens the database at `url` and applies pending migrations.
    ///
    /// - `sqlite://path/tvarr.db`: created if missing, with its directory; WAL journal,
    ///   `synchronous=NORMAL`, foreign keys on, a busy timeout.
    /// - `sqlite::memory:`: a private in-memory database on one connection, for tests.
    /// - `postgres://…`, `mysql://…` (MariaDB too).
    ///
    /// Several processes may connect at once: migrations are serialised with an advisory lock
    /// on PostgreSQL and `GET_LOCK` on MySQL/MariaDB. SQLite has no such lock, and switching a
    /// new file to WAL takes a lock its busy timeout does not wait for: there the loser of a
    /// race opens and migrates again, a few times, and then sees the winner's work.
    pub async fn connect(url: &str) -> Result<Store, StorageError> {
        let sqlite = Backend::from_url(url) == Some(Backend::Sqlite);
        // Boxed: the nested futures of connect and migrate are deep enough that, inlined into
        // a binary's `main`, computing their layout overflows rustc's query depth in release
        // builds.
        let open = || {
            Box::pin(async {
                let store = Store::connect_without_migrating(url).await?;
                if let Err(e) = store.migrate().await {
                    let _ = store.close().await;
                    return Err(e);
                }
                Ok(store)
            })
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(8)
            .with_jitter();
        open.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| sqlite && e.is_sqlite_race())
            .notify(|error, delay| {
                tracing::debug!(%error, ?delay, "opening the database raced; retrying");
            })
            .await
    }

    /// Opens the database at `url` without touching its schema; call [`Store::migrate`] next.
    pub async fn connect_without_migrating(url: &str) -> Result<Store, StorageError> {
        let backend =
            Backend::from_url(url).ok_or_else(|| StorageError::UnsupportedUrl(redact(url)))?;
        let (conn, writer) = match backend {
            Backend::Sqlite => connect_sqlite(url).await?,
            Backend::Postgres | Backend::MySql => {
                let mut options = ConnectOptions::new(url);
                options
                    .max_connections(16)
                    .min_connections(0)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_timeout(ACQUIRE_TIMEOUT)
                    .sqlx_logging(false);
                let conn =
                    Database::connect(options)
                        .await
                        .map_err(|source| StorageError::Connect {
                            backend: backend.as_str(),
                            source,
                        })?;
                (conn, None)
            }
        };
        let db_backend = conn.get_database_backend();
        Ok(Store {
            db: Db {
                conn,
                own_writer: writer,
                backend: db_backend,
            },
            url: url.to_owned(),
        })
    }

    /// Applies pending migrations; does nothing when the schema is current.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self.backend() {
            Backend::Sqlite => Migrator::up(&self.db.conn, None)
                .await
                .map_err(StorageError::Migrate),
            Backend::Postgres => {
                let conn = self.migration_connection().await?;
                let lock = [PG_MIGRATION_LOCK.into()];
                exec(&conn, "SELECT pg_advisory_lock($1)", &lock).await?;
                let result = Migrator::up(&conn, None).await;
                let unlocked = exec(&conn, "SELECT pg_advisory_unlock($1)", &lock).await;
                let _ = conn.close().await;
                result.map_err(StorageError::Migrate)?;
                unlocked
            }
            Backend::MySql => {
                let conn = self.migration_connection().await?;
                let lock = [MYSQL_MIGRATION_LOCK.into()];
                exec(&conn, "SELECT GET_LOCK(?, 300)", &lock).await?;
                let result = Migrator::up(&conn, None).await;
                let unlocked = exec(&conn, "SELECT RELEASE_LOCK(?)", &lock).await;
                let _ = conn.close().await;
                result.map_err(StorageError::Migrate)?;
                unlocked
            }
        }
    }

    /// One connection of its own, so a session lock and the migrations share it.
    async fn migration_connection(&self) -> Result<DatabaseConnection, StorageError> {
        let mut options = ConnectOptions::new(self.url.as_str());
        options
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .sqlx_logging(false);
        Database::connect(options)
            .await
            .map_err(|source| StorageError::Connect {
                backend: self.backend().as_str(),
                source,
            })
    }

    /// Readiness: the database answers and every migration of this build is applied.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.db.conn.ping().await.map_err(StorageError::Database)?;
        let pending = Migrator::get_pending_migrations(&self.db.conn)
            .await
            .map_err(StorageError::Database)?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(StorageError::MigrationsPending(pending.len()))
        }
    }

    /// The kind of database.
    pub fn backend(&self) -> Backend {
        match self.db.backend {
            DbBackend::Postgres => Backend::Postgres,
            DbBackend::MySql => Backend::MySql,
            _ => Backend::Sqlite,
        }
    }

    /// Deletes the rows of replacements that never became current and started more than
    /// `older_than` ago (their writer crashed or dropped them). Run it at startup; with
    /// several processes sharing a database, give `older_than` longer than any ingest takes.
    /// Returns how many rows it deleted.
    pub async fn sweep_abandoned(&self, older_than: Duration) -> Result<u64, StorageError> {
        bulk::sweep_abandoned(&self.db, older_than)
            .await
            .map_err(StorageError::Repository)
    }

    /// Closes the pool (and the SQLite writer connection).
    pub async fn close(self) -> Result<(), StorageError> {
        let Db {
            conn, own_writer, ..
        } = self.db;
        let readers = conn.close().await.map_err(StorageError::Database);
        if let Some(writer) = own_writer {
            writer.close().await.map_err(StorageError::Database)?;
        }
        readers
    }

    /// Accounts ([`tvarr_core::UserRepository`]).
    pub fn users(&self) -> crate::accounts::Users {
        crate::accounts::Users::new(self.db.clone())
    }

    /// API keys ([`tvarr_core::ApiKeyRepository`]).
    pub fn api_keys(&self) -> crate::accounts::ApiKeys {
        crate::accounts::ApiKeys::new(self.db.clone())
    }

    /// Logo records ([`tvarr_core::LogoRepository`]).
    pub fn logos(&self) -> crate::logos::Logos {
        crate::logos::Logos::new(self.db.clone())
    }

    /// The connection, for the stores of this crate built on it.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Every repository as `tvarr-core` trait objects, sharing this store's pool.
    pub fn repositories(&self) -> tvarr_core::Repositories {
        use std::sync::Arc;
        tvarr_core::Repositories {
            stream_sources: Arc::new(self.stream_sources()),
            epg_sources: Arc::new(self.epg_sources()),
            channels: Arc::new(self.channels()),
            programmes: Arc::new(self.programmes()),
            filters: Arc::new(self.filters()),
            mapping_rules: Arc::new(self.mapping_rules()),
            proxies: Arc::new(self.proxies()),
            relay_profiles: Arc::new(self.relay_profiles()),
            jobs: Arc::new(self.jobs()),
            users: Arc::new(self.users()),
            api_keys: Arc::new(self.api_keys()),
            logos: Arc::new(self.logos()),
            lineups: Arc::new(self.lineups()),
        }
    }

    /// Proxies' published lineups and held numbers ([`tvarr_core::LineupRepository`]).
    pub fn lineups(&self) -> crate::lineups::Lineups {
        crate::lineups::Lineups::new(self.db.clone())
    }

    /// Stream sources ([`tvarr_core::StreamSourceRepository`]).
    pub fn stream_sources(&self) -> StreamSources {
        StreamSources::new(self.db.clone())
    }

    /// EPG sources ([`tvarr_core::EpgSourceRepository`]).
    pub fn epg_sources(&self) -> EpgSources {
        EpgSources::new(self.db.clone())
    }

    /// Channels ([`tvarr_core::ChannelRepository`]).
    pub fn channels(&self) -> Channels {
        Channels::new(self.db.clone())
    }

    /// Guide channels and programmes ([`tvarr_core::ProgrammeRepository`]).
    pub fn programmes(&self) -> Programmes {
        Programmes::new(self.db.clone())
    }

    /// Filters ([`tvarr_core::FilterRepository`]).
    pub fn filters(&self) -> Filters {
        Filters::new(self.db.clone())
    }

    /// Data-mapping rules ([`tvarr_core::MappingRuleRepository`]).
    pub fn mapping_rules(&self) -> MappingRules {
        MappingRules::new(self.db.clone())
    }

    /// Proxies ([`tvarr_core::ProxyRepository`]).
    pub fn proxies(&self) -> Proxies {
        Proxies::new(self.db.clone())
    }

    /// Relay profiles ([`tvarr_core::RelayProfileRepository`]).
    pub fn relay_profiles(&self) -> RelayProfiles {
        RelayProfiles::new(self.db.clone())
    }

    /// Job records ([`tvarr_core::JobRepository`]).
    pub fn jobs(&self) -> Jobs {
        Jobs::new(self.db.clone())
    }
}

async fn exec(
    conn: &DatabaseConnection,
    sql: &str,
    values: &[sea_orm::Value],
) -> Result<(), StorageError> {
    let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, values.to_vec());
    conn.query_one_raw(stmt)
        .await
        .map(|_| ())
        .map_err(StorageError::Migrate)
}

/// Page cache of each pooled SQLite connection. The pool serves the API's reads and small
/// writes, which touch few pages; SQLite's own default is 2 MB.
const SQLITE_READER_CACHE_KIB: i64 = 2048;
/// Page cache of the SQLite writer connection, which keeps the B-tree pages of a bulk ingest
/// (tables and indexes) warm from one batch to the next.
const SQLITE_WRITER_CACHE_KIB: i64 = 8192;

/// The pool and the writer connection of an SQLite database (none for an in-memory one, whose
/// single connection does everything).
async fn connect_sqlite(
    url: &str,
) -> Result<(DatabaseConnection, Option<DatabaseConnection>), StorageError> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory {
        create_parent_dir(url)?;
    }
    let connect = |options: ConnectOptions| async move {
        Database::connect(options)
            .await
            .map_err(|source| StorageError::Connect {
                backend: "sqlite",
                source,
            })
    };
    if in_memory {
        // One connection that never closes: a second one would open another, empty database.
        let mut options = sqlite_options(url, true, SQLITE_WRITER_CACHE_KIB);
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
        return Ok((connect(options).await?, None));
    }
    let mut options = sqlite_options(url, false, SQLITE_READER_CACHE_KIB);
    options.max_connections(8).min_connections(1);
    let readers = connect(options).await?;
    let mut options = sqlite_options(url, false, SQLITE_WRITER_CACHE_KIB);
    // Writers queue for this one connection instead of on SQLite's lock: give them as long.
    options
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(SQLITE_BUSY_TIMEOUT);
    let writer = connect(options).await?;
    Ok((readers, Some(writer)))
}

fn sqlite_options(url: &str, in_memory: bool, cache_kib: i64) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = opts
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .statement_cache_capacity(256)
                .pragma("cache_size", format!("-{cache_kib}"))
                .pragma("temp_store", "memory")
                // Fewer, larger checkpoints (each one syncs the file) during a bulk ingest.
                .pragma("wal_autocheckpoint", "16384");
            if in_memory {
                opts
            } else {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            }
        });
    options
}

/// Creates the directory of a `sqlite://dir/file.db` URL.
fn create_parent_dir(url: &str) -> Result<(), StorageError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    let path = path.strip_prefix("file:").unwrap_or(path);
    if let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_backends_by_scheme() {
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://root@h/db"), Some(Backend::MySql));
        assert_eq!(Backend::from_url("redis://h"), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:secret@h/0"), "redis://u:****@h/0");
        assert_eq!(redact("redis://h/0"), "redis://h/0");
    }
}
