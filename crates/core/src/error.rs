//! Errors shared across the domain.

use serde::{Deserialize, Serialize};

/// One problem with one field of an input, for a person to fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name as the API spells it.
    pub field: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What can go wrong in a repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No record has that id.
    #[error("{entity} {id} not found")]
    NotFound {
        /// The kind of record.
        entity: &'static str,
        /// The id looked for.
        id: String,
    },
    /// The change would break a rule of the data (a reference to nothing, a record still
    /// referred to).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Another record of this kind already has this name (names are unique per kind).
    #[error("{} {entity} named \"{name}\" already exists", article(entity))]
    AlreadyExists {
        /// The kind of record, in words (`stream source`, `EPG source`, `filter`).
        entity: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The database could not be reached or refused the work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back into the domain (a bug or a hand-edited database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// `a` or `an` before a kind of record, by its first letter (`an EPG source`).
fn article(entity: &str) -> &'static str {
    match entity.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'A' | 'E' | 'I' | 'O') => "an",
        _ => "a",
    }
}

/// Result of a repository call.
pub type RepoResult<T> = Result<T, RepoError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_reads_as_a_sentence() {
        let taken = |entity| {
            RepoError::AlreadyExists {
                entity,
                name: "News".into(),
            }
            .to_string()
        };
        assert_eq!(
            taken("stream source"),
            "a stream source named \"News\" already exists"
        );
        assert_eq!(
            taken("EPG source"),
            "an EPG source named \"News\" already exists"
        );
    }
}
