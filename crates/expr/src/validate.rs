//! Checking an expression without keeping the compiled result.

use serde::{Deserialize, Serialize};

use crate::compile::Compiler;
use crate::diagnostic::{Diagnostic, DiagnosticKind as K};
use crate::fields::{Domain, FieldRegistry};
use crate::parser::{parse_filter_tree, parse_rule_tree};
use crate::recovery;
use crate::regex_cache::RegexCache;

/// Whether an expression is a filter (a condition) or a data-mapping rule (condition + actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpressionKind {
    /// A boolean condition.
    Filter,
    /// An optional condition followed by actions.
    Rule,
}

/// Every problem in an expression, sorted by position; empty when it is valid.
///
/// A syntactically valid expression gets every semantic problem (unknown fields, operators and
/// helpers, bad regexes, capture references, read-only fields, type mismatches). Text the
/// grammar rejects gets its first syntax error and, from a tolerant pass over the whole text
/// ([`scan_unknown_names`](crate::scan_unknown_names)), every unknown field, operator and keyword
/// with its span and suggestion; a problem both find is listed once. Any input, however long or
/// deeply nested, gets an answer in bounded time.
///
/// ```
/// use tvarr_expr::{validate, Domain, ExpressionKind};
/// let problems = validate(Domain::Stream, ExpressionKind::Filter, r#"chanel_name contains "x""#);
/// assert_eq!(problems[0].message, "unknown field `chanel_name`; did you mean `channel_name`?");
/// assert_eq!((problems[0].start, problems[0].end), (0, 11));
///
/// // A syntax error (`ANDD`) does not hide the mistakes before and after it.
/// let problems = validate(Domain::Stream, ExpressionKind::Filter, r#"chanel_name contians "x" ANDD grup == 1"#);
/// assert_eq!(problems.len(), 4);
/// ```
pub fn validate(domain: Domain, kind: ExpressionKind, source: &str) -> Vec<Diagnostic> {
    let registry = FieldRegistry::for_domain(domain);
    let mut cache = RegexCache::new();
    let mut compiler = Compiler::new(registry, &mut cache);
    let (parsed, mut diags) = match kind {
        ExpressionKind::Filter => {
            let (tree, diags) = parse_filter_tree(source);
            if let Some(tree) = &tree {
                compiler.condition(tree);
            }
            (tree.is_some(), diags)
        }
        ExpressionKind::Rule => {
            let (tree, diags) = parse_rule_tree(source);
            if let Some(tree) = &tree {
                for branch in &tree.branches {
                    compiler.branch(branch);
                }
            }
            (tree.is_some(), diags)
        }
    };
    diags.append(&mut compiler.diags);
    let syntax_failed = !parsed
        && diags
            .iter()
            .all(|d| !matches!(d.kind, K::TooLong | K::TooDeep | K::Empty));
    if syntax_failed {
        merge_recovered(&mut diags, recovery::scan(registry, kind, source));
    }
    diags.sort_by_key(|d| (d.start, d.end));
    diags.dedup();
    diags
}

/// Adds what the tolerant pass found to the syntax error, leaving out what repeats it: a
/// problem of the same kind at the same place, or one at the syntax error's place that brings
/// no suggestion.
fn merge_recovered(diags: &mut Vec<Diagnostic>, recovered: Vec<Diagnostic>) {
    let strict = diags.len();
    for d in recovered {
        let repeats = diags[..strict]
            .iter()
            .any(|e| e.start == d.start && (e.kind == d.kind || d.suggestion.is_none()));
        if !repeats {
            diags.push(d);
        }
    }
}
