//! The error type of the crate's fallible entry points.

use crate::diagnostic::Diagnostic;

/// Why an expression could not be parsed or compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The expression has problems, each with its span; there is always at least one.
    #[error("invalid expression: {}", summary(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ExprError {
    /// The problems found.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid(d) => d,
        }
    }

    /// Consumes the error, giving the problems found.
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        match self {
            Self::Invalid(d) => d,
        }
    }
}

fn summary(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
