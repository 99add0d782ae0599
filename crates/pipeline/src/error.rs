//! What can fail when building a pipeline stage.

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

/// Why a pipeline stage could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// Some expressions do not compile; each is listed with its problems.
    #[error("{} expression(s) do not compile: {}", .0.len(), summary(.0))]
    InvalidExpressions(Vec<InvalidExpression>),
}

impl PipelineError {
    /// The expressions that failed.
    pub fn invalid_expressions(&self) -> &[InvalidExpression] {
        match self {
            Self::InvalidExpressions(list) => list,
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
