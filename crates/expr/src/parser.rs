//! Source text to [`Condition`] and [`Rule`] trees: limits, the pest grammar, friendly errors.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::ast::{
    Action, ActionKind, Comparison, Condition, HelperCall, Name, Operator, Rule, RuleBranch, Span,
    Value, ValueMode, ValuePart,
};
use crate::diagnostic::{Diagnostic, DiagnosticKind as K, nearest};
use crate::error::ExprError;

/// The longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 64 * 1024;

/// The deepest nesting of parentheses and `NOT`s accepted.
pub const MAX_NESTING_DEPTH: usize = 64;

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub(super) struct ExprGrammar;
}

use grammar::{ExprGrammar, Rule as R};

/// Operator words and the operator, negation they stand for.
pub(crate) const OPERATOR_WORDS: &[(&str, Operator, bool)] = &[
    ("equals", Operator::Equals, false),
    ("eq", Operator::Equals, false),
    ("is", Operator::Equals, false),
    ("not_equals", Operator::Equals, true),
    ("neq", Operator::Equals, true),
    ("ne", Operator::Equals, true),
    ("contains", Operator::Contains, false),
    ("not_contains", Operator::Contains, true),
    ("starts_with", Operator::StartsWith, false),
    ("not_starts_with", Operator::StartsWith, true),
    ("ends_with", Operator::EndsWith, false),
    ("not_ends_with", Operator::EndsWith, true),
    ("matches", Operator::Matches, false),
    ("not_matches", Operator::Matches, true),
    ("greater_than", Operator::GreaterThan, false),
    ("gt", Operator::GreaterThan, false),
    ("less_than", Operator::LessThan, false),
    ("lt", Operator::LessThan, false),
    ("greater_than_or_equal", Operator::GreaterThanOrEqual, false),
    ("gte", Operator::GreaterThanOrEqual, false),
    ("ge", Operator::GreaterThanOrEqual, false),
    ("less_than_or_equal", Operator::LessThanOrEqual, false),
    ("lte", Operator::LessThanOrEqual, false),
    ("le", Operator::LessThanOrEqual, false),
];

const SYMBOL_OPERATORS: &[(&str, Operator, bool)] = &[
    ("==", Operator::Equals, false),
    ("!=", Operator::Equals, true),
    ("=~", Operator::Matches, false),
    ("!~", Operator::Matches, true),
    (">=", Operator::GreaterThanOrEqual, false),
    ("<=", Operator::LessThanOrEqual, false),
    (">", Operator::GreaterThan, false),
    ("<", Operator::LessThan, false),
];

pub(crate) const KEYWORDS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "SET",
    "SET_IF_EMPTY",
    "APPEND",
    "REMOVE",
    "DELETE",
];

/// Parses a filter expression (a condition) into its tree.
///
/// Only syntax is checked here (including operator words); field names are resolved by
/// [`validate`](crate::validate) and [`CompiledFilter::compile`](crate::CompiledFilter::compile).
///
/// ```
/// let tree = tvarr_expr::parse_filter(r#"name contains "bbc" and not group == "radio""#).unwrap();
/// assert_eq!(tree.to_string(), r#"name contains "bbc" AND NOT group equals "radio""#);
/// ```
pub fn parse_filter(source: &str) -> Result<Condition, ExprError> {
    let (tree, diags) = parse_filter_tree(source);
    match tree {
        Some(tree) if diags.is_empty() => Ok(tree),
        _ => Err(ExprError::Invalid(diags)),
    }
}

/// Parses a data-mapping rule into its tree.
///
/// ```
/// let rule = tvarr_expr::parse_rule(r#"channel_name matches "(.+) HD$" SET channel_name = "$1""#).unwrap();
/// assert_eq!(rule.branches[0].actions.len(), 1);
/// ```
pub fn parse_rule(source: &str) -> Result<Rule, ExprError> {
    let (tree, diags) = parse_rule_tree(source);
    match tree {
        Some(tree) if diags.is_empty() => Ok(tree),
        _ => Err(ExprError::Invalid(diags)),
    }
}

pub(crate) fn parse_filter_tree(source: &str) -> (Option<Condition>, Vec<Diagnostic>) {
    if let Err(d) = pre_check(source) {
        return (None, vec![d]);
    }
    match ExprGrammar::parse(R::filter, source) {
        Ok(mut pairs) => {
            let mut b = Builder { diags: Vec::new() };
            let tree = pairs
                .next()
                .and_then(|p| p.into_inner().next())
                .map(|p| b.or_expr(p, 0));
            (tree, b.diags)
        }
        Err(e) => (None, vec![friendly_error(source, &e, false)]),
    }
}

pub(crate) fn parse_rule_tree(source: &str) -> (Option<Rule>, Vec<Diagnostic>) {
    if let Err(d) = pre_check(source) {
        return (None, vec![d]);
    }
    match ExprGrammar::parse(R::rule, source) {
        Ok(mut pairs) => {
            let mut b = Builder { diags: Vec::new() };
            let body = pairs.next().and_then(|p| p.into_inner().next());
            let rule = body.map(|body| match body.as_rule() {
                R::action_groups => Rule {
                    branches: body
                        .into_inner()
                        .filter(|p| p.as_rule() == R::action_group)
                        .map(|g| b.branch(g))
                        .collect(),
                },
                _ => Rule {
                    branches: vec![b.branch(body)],
                },
            });
            (rule, b.diags)
        }
        Err(e) => (None, vec![friendly_error(source, &e, true)]),
    }
}

/// Refuses input that would be expensive or pointless to hand to pest: empty, too long,
/// nested too deep (pest recurses per parenthesis), or with unbalanced parentheses.
fn pre_check(source: &str) -> Result<(), Diagnostic> {
    if source.len() > MAX_EXPRESSION_LEN {
        return Err(Diagnostic::new(
            K::TooLong,
            format!(
                "expression is {} bytes long; the limit is {MAX_EXPRESSION_LEN}",
                source.len()
            ),
            0,
            source.len(),
        ));
    }
    if source.trim().is_empty() {
        return Err(Diagnostic::new(
            K::Empty,
            "expression is empty",
            0,
            source.len(),
        ));
    }
    let bytes = source.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'/' if starts_regex(bytes, i) => {
                    if let Some(len) = regex_literal_len(&bytes[i..]) {
                        i += len;
                        continue;
                    }
                }
                b'(' => {
                    open.push(i);
                    if open.len() > MAX_NESTING_DEPTH {
                        return Err(Diagnostic::new(
                            K::TooDeep,
                            format!("parentheses nest deeper than {MAX_NESTING_DEPTH} levels"),
                            i,
                            i + 1,
                        ));
                    }
                }
                // The guard pops: a `)` with nothing to pop is an error, otherwise nothing to do.
                b')' if open.pop().is_none() => {
                    return Err(Diagnostic::new(
                        K::Syntax,
                        "unexpected `)`: there is no `(` to close",
                        i,
                        i + 1,
                    ));
                }
                _ => {}
            },
        }
        i += 1;
    }
    if let Some(q) = quote {
        let start = source.rfind(q as char).unwrap_or(0);
        return Err(Diagnostic::new(
            K::Syntax,
            format!("unterminated string: the `{}` is never closed", q as char),
            start,
            source.len(),
        ));
    }
    if let Some(&at) = open.last() {
        return Err(Diagnostic::new(
            K::Syntax,
            "missing `)`: this `(` is never closed",
            at,
            at + 1,
        ));
    }
    Ok(())
}

/// Whether a `/` at `i` is where the grammar would read a `/regex/` value: after whitespace that
/// follows an operator, `=` or `~`.
fn starts_regex(bytes: &[u8], i: usize) -> bool {
    let before = &bytes[..i];
    let trimmed = before.trim_ascii_end();
    trimmed.len() < before.len()
        && trimmed
            .last()
            .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'=' | b'~'))
        || before.last().is_some_and(|b| matches!(b, b'=' | b'~'))
}

/// The length of a `/regex/` literal starting at `bytes[0]`, if it closes on the same line.
/// The grammar reads such a literal as one token, so parentheses inside it do not nest.
fn regex_literal_len(bytes: &[u8]) -> Option<usize> {
    let mut j = 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'\n' => return None,
            b'/' if j > 1 => return Some(j + 1),
            b'/' => return None,
            _ => j += 1,
        }
    }
    None
}

fn span_of(pair: &Pair<'_, R>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

struct Builder {
    diags: Vec<Diagnostic>,
}

impl Builder {
    fn or_expr(&mut self, pair: Pair<'_, R>, depth: usize) -> Condition {
        let mut items: Vec<Condition> = pair
            .into_inner()
            .filter(|p| p.as_rule() == R::and_expr)
            .map(|p| self.and_expr(p, depth))
            .collect();
        if items.len() == 1 {
            items.pop().unwrap_or(Condition::Literal {
                value: false,
                span: Span::default(),
            })
        } else {
            Condition::Or(items)
        }
    }

    fn and_expr(&mut self, pair: Pair<'_, R>, depth: usize) -> Condition {
        let mut items: Vec<Condition> = pair
            .into_inner()
            .filter(|p| p.as_rule() == R::unary)
            .map(|p| self.unary(p, depth))
            .collect();
        if items.len() == 1 {
            items.pop().unwrap_or(Condition::Literal {
                value: false,
                span: Span::default(),
            })
        } else {
            Condition::And(items)
        }
    }

    fn unary(&mut self, pair: Pair<'_, R>, depth: usize) -> Condition {
        let mut nots = Vec::new();
        let mut inner = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                R::not_op => nots.push(span_of(&p)),
                _ => inner = Some(p),
            }
        }
        let depth = depth + nots.len();
        if depth > MAX_NESTING_DEPTH {
            let at = nots.last().copied().unwrap_or_default();
            self.diags.push(Diagnostic::new(
                K::TooDeep,
                format!("conditions nest deeper than {MAX_NESTING_DEPTH} levels"),
                at.start,
                at.end,
            ));
            return Condition::Literal {
                value: false,
                span: at,
            };
        }
        let mut cond = match inner {
            Some(p) => match p.as_rule() {
                R::or_expr => self.or_expr(p, depth + 1),
                R::bool_lit => Condition::Literal {
                    value: p.as_str().eq_ignore_ascii_case("true"),
                    span: span_of(&p),
                },
                _ => Condition::Compare(self.comparison(p)),
            },
            None => Condition::Literal {
                value: false,
                span: Span::default(),
            },
        };
        for span in nots.into_iter().rev() {
            cond = Condition::Not {
                inner: Box::new(cond),
                span,
            };
        }
        cond
    }

    fn comparison(&mut self, pair: Pair<'_, R>) -> Comparison {
        let mut negated = false;
        let mut case_sensitive = false;
        let mut field = None;
        let mut operator = Operator::Equals;
        let mut operator_span = Span::default();
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                R::modifier => {
                    let is_not =
                        p.clone().into_inner().next().map(|m| m.as_rule()) == Some(R::not_modifier);
                    if is_not {
                        negated = !negated;
                    } else {
                        case_sensitive = true;
                    }
                }
                R::field => {
                    field = Some(Name {
                        text: p.as_str().to_string(),
                        span: span_of(&p),
                    })
                }
                R::operator => {
                    operator_span = span_of(&p);
                    let (op, neg) = self.operator(p);
                    operator = op;
                    negated ^= neg;
                }
                R::value => value = Some(self.value(p, ValueMode::Pattern)),
                _ => {}
            }
        }
        Comparison {
            field: field.unwrap_or(Name {
                text: String::new(),
                span: Span::default(),
            }),
            operator,
            negated,
            case_sensitive,
            value: value.unwrap_or(Value {
                parts: Vec::new(),
                regex: false,
                span: Span::default(),
            }),
            operator_span,
        }
    }

    fn operator(&mut self, pair: Pair<'_, R>) -> (Operator, bool) {
        let text = pair.as_str();
        let span = span_of(&pair);
        let table = if pair.into_inner().next().map(|p| p.as_rule()) == Some(R::symbol_op) {
            SYMBOL_OPERATORS
        } else {
            OPERATOR_WORDS
        };
        let lower = text.to_ascii_lowercase();
        if let Some((_, op, neg)) = table.iter().find(|(w, _, _)| *w == lower) {
            return (*op, *neg);
        }
        let suggestion = nearest(text, OPERATOR_WORDS.iter().map(|(w, _, _)| *w));
        self.diags.push(
            Diagnostic::new(
                K::UnknownOperator,
                format!("unknown operator `{text}`"),
                span.start,
                span.end,
            )
            .with_suggestion(suggestion),
        );
        (Operator::Equals, false)
    }

    fn value(&mut self, pair: Pair<'_, R>, mode: ValueMode) -> Value {
        let span = span_of(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return Value {
                parts: Vec::new(),
                regex: false,
                span,
            };
        };
        match inner.as_rule() {
            R::regex_lit => {
                let raw = inner.into_inner().next().map(|p| p.as_str()).unwrap_or("");
                Value {
                    parts: vec![ValuePart::Text(raw.replace("\\/", "/"))],
                    regex: true,
                    span,
                }
            }
            R::dq_string | R::sq_string => {
                let content = inner.into_inner().next();
                let (raw, base) = content
                    .map(|p| (p.as_str(), p.as_span().start()))
                    .unwrap_or(("", span.start));
                Value {
                    parts: decode(raw, base, mode),
                    regex: false,
                    span,
                }
            }
            _ => Value {
                parts: decode(inner.as_str(), span.start, mode),
                regex: false,
                span,
            },
        }
    }

    fn branch(&mut self, pair: Pair<'_, R>) -> RuleBranch {
        let mut condition = None;
        let mut actions = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                R::or_expr => condition = Some(self.or_expr(p, 0)),
                R::actions => actions = self.actions(p),
                _ => {}
            }
        }
        RuleBranch { condition, actions }
    }

    fn actions(&mut self, pair: Pair<'_, R>) -> Vec<Action> {
        let mut current: Option<ActionKind> = None;
        let mut out = Vec::new();
        for item in pair.into_inner().filter(|p| p.as_rule() == R::action_item) {
            let span = span_of(&item);
            let mut field = None;
            let mut assign = None;
            let mut value_pair = None;
            for p in item.into_inner() {
                match p.as_rule() {
                    R::action_kw => current = Some(action_kind(p.as_str())),
                    R::field => {
                        field = Some(Name {
                            text: p.as_str().to_string(),
                            span: span_of(&p),
                        })
                    }
                    R::assign_op => assign = Some((p.as_str().to_string(), span_of(&p))),
                    R::value => value_pair = Some(p),
                    _ => {}
                }
            }
            let Some(field) = field else { continue };
            let kind = match assign.as_ref().map(|(s, _)| s.as_str()) {
                Some("?=") => ActionKind::SetIfEmpty,
                Some("+=") => ActionKind::Append,
                Some("-=") => ActionKind::Remove,
                _ => current.unwrap_or(ActionKind::Set),
            };
            let value = match (kind, value_pair) {
                (ActionKind::Delete, None) => None,
                (ActionKind::Delete, Some(_)) => {
                    let at = assign.map(|(_, s)| s).unwrap_or(span);
                    self.diags.push(Diagnostic::new(
                        K::InvalidAction,
                        format!("DELETE takes no value: write `DELETE {}`", field.text),
                        at.start,
                        span.end,
                    ));
                    None
                }
                (_, None) => {
                    let keyword = nearest(&field.text, KEYWORDS[3..].iter().copied());
                    if let Some(keyword) = keyword {
                        self.diags.push(
                            Diagnostic::new(
                                K::UnknownKeyword,
                                format!("unknown keyword `{}`", field.text),
                                field.span.start,
                                field.span.end,
                            )
                            .with_suggestion(Some(keyword)),
                        );
                        continue;
                    }
                    self.diags.push(Diagnostic::new(
                        K::InvalidAction,
                        format!(
                            "expected `=` and a value after `{}` (or `DELETE {}` to clear it)",
                            field.text, field.text
                        ),
                        field.span.end,
                        field.span.end,
                    ));
                    None
                }
                (kind, Some(p)) => {
                    let mode = if kind == ActionKind::Remove {
                        ValueMode::Pattern
                    } else {
                        ValueMode::Template
                    };
                    Some(self.value(p, mode))
                }
            };
            out.push(Action {
                kind,
                field,
                value,
                span,
            });
        }
        out
    }
}

fn action_kind(word: &str) -> ActionKind {
    match word.to_ascii_lowercase().as_str() {
        "set_if_empty" => ActionKind::SetIfEmpty,
        "append" => ActionKind::Append,
        "remove" => ActionKind::Remove,
        "delete" => ActionKind::Delete,
        _ => ActionKind::Set,
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A whole-value helper: `@name:argument`, `@{name:argument}` or `@{name}`.
fn whole_helper(raw: &str, base: usize) -> Option<HelperCall> {
    let rest = raw.strip_prefix('@')?;
    let span = Span::new(base, base + raw.len());
    if let Some(braced) = rest.strip_prefix('{') {
        let inner = braced.strip_suffix('}')?;
        if inner.contains('}') {
            return None;
        }
        return split_helper(inner, span);
    }
    let name_len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() || !name.starts_with(is_ident_start) || !rest[name_len..].starts_with(':') {
        return None;
    }
    Some(HelperCall {
        name: name.to_string(),
        argument: rest[name_len + 1..].to_string(),
        span,
    })
}

fn split_helper(inner: &str, span: Span) -> Option<HelperCall> {
    let (name, argument) = inner.split_once(':').unwrap_or((inner, ""));
    if name.is_empty() || !name.starts_with(is_ident_start) || !name.chars().all(is_ident_char) {
        return None;
    }
    Some(HelperCall {
        name: name.to_string(),
        argument: argument.to_string(),
        span,
    })
}

/// Decodes the text of a value: escapes, and in templates `$N`, `$field`, `${field}` and
/// `@{helper:arg}`. Unknown escapes (`\s`, `\d`, `\.`) are kept as written, so regexes from
/// tools that did not process escapes keep working.
pub(crate) fn decode(raw: &str, base: usize, mode: ValueMode) -> Vec<ValuePart> {
    if let Some(call) = whole_helper(raw, base) {
        return vec![ValuePart::Helper(call)];
    }
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = raw.char_indices().peekable();
    // The first `}` at or after a position, remembered so that many `${` or `@{` before one
    // (or no) `}` cost one search, not one each.
    let mut close_cache: Option<Option<usize>> = None;
    let mut next_close = |from: usize| -> Option<usize> {
        let fresh = match close_cache {
            Some(Some(at)) => at < from,
            Some(None) => false,
            None => true,
        };
        if fresh {
            close_cache = Some(raw[from..].find('}').map(|at| from + at));
        }
        close_cache.flatten()
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => match e {
                    '\\' | '"' | '\'' | '@' => text.push(e),
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    '$' if mode == ValueMode::Template => text.push('$'),
                    other => {
                        text.push('\\');
                        text.push(other);
                    }
                },
                None => text.push('\\'),
            },
            '$' if mode == ValueMode::Template => {
                let rest = &raw[i + 1..];
                let flush = |parts: &mut Vec<ValuePart>, text: &mut String| {
                    if !text.is_empty() {
                        parts.push(ValuePart::Text(std::mem::take(text)));
                    }
                };
                match rest.chars().next() {
                    Some(d @ '1'..='9') => {
                        flush(&mut parts, &mut text);
                        chars.next();
                        parts.push(ValuePart::Capture {
                            group: d as u8 - b'0',
                            span: Span::new(base + i, base + i + 2),
                        });
                    }
                    Some('{') => match next_close(i + 1).map(|at| at - (i + 1)) {
                        Some(close) if close > 1 => {
                            flush(&mut parts, &mut text);
                            let name = &rest[1..close];
                            parts.push(ValuePart::Field(Name {
                                text: name.to_string(),
                                span: Span::new(base + i, base + i + close + 2),
                            }));
                            for _ in 0..rest[..=close].chars().count() {
                                chars.next();
                            }
                        }
                        _ => text.push('$'),
                    },
                    Some(s) if is_ident_start(s) => {
                        flush(&mut parts, &mut text);
                        let len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
                        parts.push(ValuePart::Field(Name {
                            text: rest[..len].to_string(),
                            span: Span::new(base + i, base + i + 1 + len),
                        }));
                        for _ in 0..len {
                            chars.next();
                        }
                    }
                    _ => text.push('$'),
                }
            }
            '@' if mode == ValueMode::Template && raw[i + 1..].starts_with('{') => {
                let rest = &raw[i + 1..];
                let call = next_close(i + 1).map(|at| at - (i + 1)).and_then(|close| {
                    split_helper(&rest[1..close], Span::new(base + i, base + i + close + 2))
                        .map(|call| (call, close))
                });
                match call {
                    Some((call, close)) => {
                        if !text.is_empty() {
                            parts.push(ValuePart::Text(std::mem::take(&mut text)));
                        }
                        parts.push(ValuePart::Helper(call));
                        for _ in 0..rest[..=close].chars().count() {
                            chars.next();
                        }
                    }
                    None => text.push('@'),
                }
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(ValuePart::Text(text));
    }
    parts
}

/// Turns a pest error into one diagnostic that says what was expected, in words.
fn friendly_error(source: &str, err: &pest::error::Error<R>, is_rule: bool) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, found_end) = token_at(source, pos);
    let positives: Vec<R> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut expected: Vec<&str> = Vec::new();
    let mut wants_keyword = false;
    for r in &positives {
        let words: &[&str] = match r {
            R::field | R::comparison | R::unary | R::and_expr | R::or_expr => &["a field name"],
            R::bool_lit => &["a field name"],
            R::operator | R::symbol_op | R::word_op => {
                &["an operator (equals, contains, matches, ...)"]
            }
            R::value | R::dq_string | R::sq_string | R::bare_value | R::regex_lit => {
                &["a value such as \"text\""]
            }
            R::and_op => {
                wants_keyword = true;
                &["AND"]
            }
            R::or_op => {
                wants_keyword = true;
                &["OR"]
            }
            R::actions | R::action_item | R::action_kw => {
                wants_keyword = true;
                &["an action (SET, SET_IF_EMPTY, APPEND, REMOVE, DELETE)"]
            }
            R::assign_op => &["`=`"],
            R::EOI => &["the end of the expression"],
            _ => &[],
        };
        for w in words {
            if !expected.contains(w) {
                expected.push(w);
            }
        }
    }
    let found_text = if found.is_empty() {
        "the end of the expression".to_string()
    } else {
        format!("`{found}`")
    };
    let is_word = found.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if !is_rule && is_word && expected.contains(&"the end of the expression") {
        let word = found.to_ascii_lowercase();
        if ["set", "set_if_empty", "append", "remove", "delete"].contains(&word.as_str()) {
            return Diagnostic::new(
                K::InvalidAction,
                format!(
                    "a filter cannot have actions (`{found}`); actions belong in a data-mapping rule"
                ),
                pos,
                found_end,
            );
        }
    }
    let is_keyword = KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(found));
    if wants_keyword && is_word && !is_keyword {
        let keyword_suggestion = nearest(found, KEYWORDS.iter().copied());
        if let Some(k) = keyword_suggestion {
            return Diagnostic::new(
                K::UnknownKeyword,
                format!("unknown keyword `{found}`"),
                pos,
                found_end,
            )
            .with_suggestion(Some(k));
        }
    }
    let expected_text = match expected.as_slice() {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    Diagnostic::new(
        K::Syntax,
        format!("expected {expected_text}, found {found_text}"),
        pos,
        found_end,
    )
}

/// The token starting at `pos`: a word, a quoted string, or a run of symbol characters.
pub(crate) fn token_at(source: &str, pos: usize) -> (&str, usize) {
    let Some(rest) = source.get(pos..) else {
        return ("", pos);
    };
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return ("", pos);
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(rest.len())
    } else if first == '"' || first == '\'' {
        rest[1..].find(first).map(|e| e + 2).unwrap_or(rest.len())
    } else {
        rest.find(|c: char| c.is_alphanumeric() || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(rest.len())
            .max(first.len_utf8())
    };
    (&rest[..len], pos + len)
}
