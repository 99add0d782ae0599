//! Errors of opening a store, and the mapping of database errors to [`RepoError`].

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use tvarr_core::RepoError;

/// What can go wrong opening or checking a [`crate::Store`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL names no database kind tvarr supports.
    #[error("unsupported database URL `{0}`: use sqlite://, postgres:// or mysql://")]
    UnsupportedUrl(String),
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        /// The kind of database.
        backend: &'static str,
        /// Why.
        source: DbErr,
    },
    /// The schema could not be brought up to date.
    #[error("cannot apply database migrations: {0}")]
    Migrate(DbErr),
    /// Migrations are pending: the schema is older than this build.
    #[error("{0} database migrations are not applied")]
    MigrationsPending(usize),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(DbErr),
    /// A repository operation failed.
    #[error(transparent)]
    Repository(RepoError),
}

/// Maps a database error to what a repository caller can act on.
pub(crate) fn repo_err(err: DbErr) -> RepoError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => {
            return RepoError::Conflict(format!(
                "a record with the same key already exists ({msg})"
            ));
        }
        Some(SqlErr::ForeignKeyConstraintViolation(msg)) => {
            return RepoError::Conflict(format!(
                "the record refers to a missing record, or is still referred to ({msg})"
            ));
        }
        _ => {}
    }
    if database_code(&err).as_deref() == Some("1811") {
        // SQLITE_CONSTRAINT_TRIGGER: SQLite's answer to ON DELETE RESTRICT.
        return RepoError::Conflict("the record is still referred to".to_owned());
    }
    match err {
        DbErr::Type(msg) | DbErr::Json(msg) => RepoError::Corrupt(msg),
        DbErr::TryIntoErr { from, into, source } => {
            RepoError::Corrupt(format!("cannot read {from} as {into}: {source}"))
        }
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))
            if matches!(
                e.as_ref(),
                sea_orm::sqlx::Error::ColumnDecode { .. } | sea_orm::sqlx::Error::Decode(_)
            ) =>
        {
            RepoError::Corrupt(e.to_string())
        }
        other => RepoError::Unavailable(other.to_string()),
    }
}

/// Whether the database refused a write for a duplicate key.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Maps a failed insert of a record whose only unique column beside its fresh id is its name:
/// a unique violation is the name being taken ([`RepoError::AlreadyExists`]); anything else
/// as [`repo_err`]. Typed here, so no caller parses the database's message (SQLite, PostgreSQL
/// and MariaDB word it differently).
pub(crate) fn name_taken(
    entity: &'static str,
    name: &str,
) -> impl FnOnce(DbErr) -> RepoError + use<> {
    let name = name.to_owned();
    move |err| {
        if is_unique_violation(&err) {
            RepoError::AlreadyExists { entity, name }
        } else {
            repo_err(err)
        }
    }
}

/// Like [`name_taken`], for an update by id: a record that is not there is
/// [`RepoError::NotFound`].
pub(crate) fn name_taken_or_not_found(
    entity: &'static str,
    name: &str,
    id: String,
) -> impl FnOnce(DbErr) -> RepoError + use<> {
    let taken = name_taken(entity, name);
    move |err| match err {
        DbErr::RecordNotUpdated | DbErr::RecordNotFound(_) => crate::db::not_found(entity, id),
        other => taken(other),
    }
}

/// A stored value that does not parse.
pub(crate) fn corrupt(what: &str, value: &str) -> RepoError {
    RepoError::Corrupt(format!("unreadable {what} `{value}`"))
}

impl StorageError {
    /// Whether this is what a process loses when it opens a new SQLite file at the same time
    /// as another: "database is locked" while connecting or migrating, or a migration that
    /// failed because the other process applied it first.
    pub(crate) fn is_sqlite_race(&self) -> bool {
        match self {
            StorageError::Connect { source, .. } => {
                source.to_string().contains("database is locked")
            }
            StorageError::Migrate(_) => true,
            _ => false,
        }
    }
}

/// The error code the database itself gave, if any.
fn database_code(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sea_orm::sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
                _ => None,
            }
        }
        _ => None,
    }
}
