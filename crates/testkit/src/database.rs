//! A database of its own for each end-to-end test.
//!
//! On PostgreSQL and MariaDB the test suite's server is shared by every test binary, every test
//! in it (in parallel) and every earlier run on the same machine. A test that drives a whole
//! `tvarr-server` acts on the whole database (it creates the admin account, counts sources), so
//! it gets a fresh database on that server instead of the shared one.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection as _;

/// Prefix of the databases made here; `cargo xtask ci` drops leftovers before each run.
pub const TEST_DATABASE_PREFIX: &str = "tvarr_e2e_";

/// The database the test suite runs on, for one test: a SQLite file inside `data_dir`, or, when
/// `TVARR_TEST_DATABASE_URL` names a PostgreSQL or MySQL/MariaDB server (as the CI's database
/// passes do), a new, empty database created on that server for this call.
///
/// # Panics
/// When the server named by `TVARR_TEST_DATABASE_URL` refuses the connection or the
/// `CREATE DATABASE`: the test cannot run, and saying so beats a confusing failure later.
pub async fn test_database_url(data_dir: &Path) -> String {
    match std::env::var("TVARR_TEST_DATABASE_URL") {
        Ok(url) if !url.starts_with("sqlite") => create_database_beside(&url).await,
        _ => format!("sqlite://{}?mode=rwc", data_dir.join("tvarr.db").display()),
    }
}

/// Whether the tests run on SQLite (the default) rather than a database server.
pub fn testing_on_sqlite() -> bool {
    std::env::var("TVARR_TEST_DATABASE_URL").map_or(true, |url| url.starts_with("sqlite"))
}

/// Creates a uniquely named database on the server of `server_url` and returns its URL.
async fn create_database_beside(server_url: &str) -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{TEST_DATABASE_PREFIX}{}_{}_{nanos}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let statement = format!("CREATE DATABASE {name}");
    if server_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(server_url)
            .await
            .unwrap_or_else(|e| panic!("test database server does not answer: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    } else {
        let mut conn = sqlx::MySqlConnection::connect(server_url)
            .await
            .unwrap_or_else(|e| panic!("test database server does not answer: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    }
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    format!("{prefix}/{name}{query}")
}
