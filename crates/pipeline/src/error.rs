//! What can fail when building a pipeline stage or running a generation.

use tvarr_expr::Diagnostic;

/// One stored expression that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidExpression {
    /// Its position in the list given.
    pub index: usize,
    /// The filter's or rule's name, when it has one.
    pub name: Option<String>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a pipeline stage could not be built, or a generation did not publish.
///
/// Whatever the error, a generation that fails publishes nothing: the previous lineup and
/// outputs stay as they were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// Some expressions do not compile; each is listed with its problems.
    #[error("{} expression(s) do not compile: {}", .0.len(), summary(.0))]
    InvalidExpressions(Vec<InvalidExpression>),
    /// The proxy refers to a filter or rule that no longer exists.
    #[error("the proxy refers to {kind} {id}, which no longer exists; edit the proxy")]
    MissingReference {
        /// `filter` or `mapping rule`.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The new lineup would remove more of the published one than the proxy allows.
    #[error(
        "the new lineup would remove {removed} of {previous} channels, more than the {max_percent}% \
         the proxy allows (a provider outage?); the previous output is kept: generate with force \
         to publish anyway"
    )]
    RemovalGuard {
        /// Channels of the published lineup missing from the new one.
        removed: u64,
        /// Channels of the published lineup.
        previous: u64,
        /// The proxy's `max_removed_percent`.
        max_percent: u32,
    },
    /// Cancellation was requested; nothing was published.
    #[error("cancelled during {stage}")]
    Cancelled {
        /// The stage that was running.
        stage: String,
    },
    /// A repository failed.
    #[error("{during}: {reason}")]
    Repository {
        /// What the generation was doing (`reading channels of source …`).
        during: String,
        /// The repository's error.
        reason: String,
    },
    /// Writing or publishing an output failed (a full disk, an unwritable data directory).
    #[error("{kind} output: {reason}")]
    Output {
        /// `m3u` or `xmltv`.
        kind: &'static str,
        /// The store's error.
        reason: String,
    },
}

impl PipelineError {
    /// The expressions that failed (empty for the other errors).
    pub fn invalid_expressions(&self) -> &[InvalidExpression] {
        match self {
            Self::InvalidExpressions(list) => list,
            _ => &[],
        }
    }

    /// A repository failure while doing `during`.
    pub(crate) fn repository(during: impl Into<String>, error: &tvarr_core::RepoError) -> Self {
        Self::Repository {
            during: during.into(),
            reason: error.to_string(),
        }
    }

    /// An output store failure for `kind`.
    pub(crate) fn output(kind: tvarr_core::OutputKind, error: &tvarr_core::RepoError) -> Self {
        Self::Output {
            kind: kind.as_str(),
            reason: error.to_string(),
        }
    }
}

fn summary(list: &[InvalidExpression]) -> String {
    list.iter()
        .map(|e| {
            let what = e.name.clone().unwrap_or_else(|| format!("#{}", e.index));
            let first = e
                .diagnostics
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            format!("{what}: {first}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
