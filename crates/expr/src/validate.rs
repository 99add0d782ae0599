//! Checking an expression without keeping the compiled result.

use serde::{Deserialize, Serialize};

use crate::compile::Compiler;
use crate::diagnostic::{Diagnostic, DiagnosticKind as K};
use crate::fields::{Domain, FieldRegistry};
use crate::parser::{KEYWORDS, OPERATOR_WORDS, parse_filter_tree, parse_rule_tree};
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
/// helpers, bad regexes, capture references, read-only fields, type mismatches). A syntax error is
/// reported first, followed by any unknown field names found by scanning the text. Any input,
/// however long or deeply nested, gets an answer in bounded time.
///
/// ```
/// use tvarr_expr::{validate, Domain, ExpressionKind};
/// let problems = validate(Domain::Stream, ExpressionKind::Filter, r#"chanel_name contains "x""#);
/// assert_eq!(problems[0].message, "unknown field `chanel_name`; did you mean `channel_name`?");
/// assert_eq!((problems[0].start, problems[0].end), (0, 11));
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
        scan_unknown_fields(registry, source, &mut diags);
    }
    diags.sort_by_key(|d| (d.start, d.end));
    diags.dedup();
    diags
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token<'a> {
    Word(&'a str, usize),
    Symbol(&'a str),
    Other,
}

/// After a syntax error, finds words in field position (before an operator or an assignment,
/// or after an action keyword) that are not fields, so they are reported too.
fn scan_unknown_fields(registry: &FieldRegistry, source: &str, diags: &mut Vec<Diagnostic>) {
    let tokens = tokenize(source);
    let is_operator = |t: &Token<'_>| match t {
        Token::Word(w, _) => {
            let lower = w.to_ascii_lowercase();
            OPERATOR_WORDS.iter().any(|(o, _, _)| *o == lower)
        }
        Token::Symbol(s) => [
            "==", "!=", "=~", "!~", ">", "<", ">=", "<=", "=", "?=", "+=", "-=",
        ]
        .contains(s),
        Token::Other => false,
    };
    let is_modifier = |t: &Token<'_>| matches!(t, Token::Word(w, _) if w.eq_ignore_ascii_case("not") || w.eq_ignore_ascii_case("case_sensitive"));
    let is_action_kw = |t: &Token<'_>| matches!(t, Token::Word(w, _) if ["set", "set_if_empty", "append", "remove", "delete"].contains(&w.to_ascii_lowercase().as_str()));
    for (i, tok) in tokens.iter().enumerate() {
        let Token::Word(word, start) = *tok else {
            continue;
        };
        let lower = word.to_ascii_lowercase();
        if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&lower))
            || is_operator(tok)
            || is_modifier(tok)
        {
            continue;
        }
        let mut j = i + 1;
        while tokens.get(j).is_some_and(is_modifier) {
            j += 1;
        }
        let before_operator = tokens.get(j).is_some_and(is_operator);
        let after_action = i > 0 && tokens.get(i - 1).is_some_and(is_action_kw);
        if !(before_operator || after_action) {
            continue;
        }
        if let Err(suggestion) = registry.resolve(word) {
            let d = Diagnostic::new(
                K::UnknownField,
                format!("unknown field `{word}`"),
                start,
                start + word.len(),
            )
            .with_suggestion(suggestion);
            if !diags.iter().any(|e| e.start == d.start && e.kind == d.kind) {
                diags.push(d);
            }
        }
    }
}

fn tokenize(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            tokens.push(Token::Other);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-' | b'.'))
            {
                i += 1;
            }
            tokens.push(Token::Word(&source[start..i], start));
        } else if b"=!<>~?+-".contains(&c) {
            let start = i;
            while i < bytes.len() && b"=!<>~?+-".contains(&bytes[i]) {
                i += 1;
            }
            tokens.push(Token::Symbol(&source[start..i]));
        } else {
            // skip one whole character
            i += source[i..].chars().next().map_or(1, char::len_utf8);
            tokens.push(Token::Other);
        }
    }
    tokens
}
