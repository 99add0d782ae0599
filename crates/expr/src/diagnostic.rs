//! Structured validation errors with spans and suggestions.

use std::fmt;

use serde::Serialize;

/// What kind of problem a [`Diagnostic`] reports, for programs that react to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The text does not follow the grammar.
    Syntax,
    /// The expression is empty or only whitespace.
    Empty,
    /// The expression is longer than [`MAX_EXPRESSION_LEN`](crate::MAX_EXPRESSION_LEN).
    TooLong,
    /// Parentheses or `NOT`s nest deeper than [`MAX_NESTING_DEPTH`](crate::MAX_NESTING_DEPTH).
    TooDeep,
    /// The expression's regexes together exceed its budget: more than
    /// [`MAX_REGEXES_PER_EXPRESSION`](crate::MAX_REGEXES_PER_EXPRESSION) distinct patterns, or
    /// more than [`MAX_REGEX_BYTES_PER_EXPRESSION`](crate::MAX_REGEX_BYTES_PER_EXPRESSION)
    /// compiled. Reported once, at the first regex over the budget.
    TooManyRegexes,
    /// A field name that is neither a known field, an alias, nor an extra attribute.
    UnknownField,
    /// An operator word that is not an operator.
    UnknownOperator,
    /// A misspelt keyword (`ANDD`, `SETT`).
    UnknownKeyword,
    /// An `@helper` that does not exist, or a bad helper argument.
    UnknownHelper,
    /// A regular expression that does not compile (or is too large).
    InvalidRegex,
    /// A `$N` capture reference with no matching group.
    InvalidCapture,
    /// An action on a read-only field.
    ReadOnlyField,
    /// An operator or value that does not suit the field's type.
    TypeMismatch,
    /// A value that is malformed for where it is used.
    InvalidValue,
    /// An action written wrongly (missing `=` or value, actions in a filter).
    InvalidAction,
}

/// One problem found in an expression: a message, the byte span it concerns and, where it
/// applies, the nearest valid name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// What kind of problem this is.
    pub kind: DiagnosticKind,
    /// A sentence for the user, e.g. ``unknown field `chanel_name`; did you mean `channel_name`?``.
    pub message: String,
    /// Byte offset where the problem starts.
    pub start: usize,
    /// Byte offset where it ends (exclusive; equal to `start` at the end of input).
    pub end: usize,
    /// The nearest valid name, when one is close enough to be a likely fix.
    pub suggestion: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(
        kind: DiagnosticKind,
        message: impl Into<String>,
        start: usize,
        end: usize,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            start,
            end,
            suggestion: None,
        }
    }

    /// An unknown field name at `start..end`, with the nearest known one: the one wording
    /// for the compiler and the tolerant pass, whose diagnostics are matched against each other.
    pub(crate) fn unknown_field(
        name: &str,
        start: usize,
        end: usize,
        suggestion: Option<String>,
    ) -> Self {
        Self::new(
            DiagnosticKind::UnknownField,
            format!("unknown field `{name}`"),
            start,
            end,
        )
        .with_suggestion(suggestion)
    }

    pub(crate) fn with_suggestion(mut self, suggestion: Option<String>) -> Self {
        if let Some(s) = &suggestion {
            self.message.push_str(&format!("; did you mean `{s}`?"));
        }
        self.suggestion = suggestion;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at {}..{})", self.message, self.start, self.end)
    }
}

/// The candidate nearest to `word` (case-insensitive, `-` and `_` alike), if it is close enough
/// to be a plausible misspelling.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let norm = normalise(word);
    let len = norm.chars().count();
    let limit = (len / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        // The distance is at least the difference in length: skip the costly comparison.
        if cand.chars().count().abs_diff(len) > limit {
            continue;
        }
        let dist = strsim::damerau_levenshtein(&norm, &normalise(cand));
        if dist <= limit && best.is_none_or(|(d, _)| dist < d) {
            best = Some((dist, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
}

pub(crate) fn normalise(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Whether `a` and `b` are the same name once normalised (see [`normalise`]), without allocating.
pub(crate) fn same_normalised(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'-' {
            b'_'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}
