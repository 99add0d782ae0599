//! The syntax tree of filters and rules, and its printer.
//!
//! Names in the tree are kept as written (`group-title`, `PROGRAM_TITLE`); resolving them against a
//! [`FieldRegistry`](crate::FieldRegistry) happens when an expression is compiled. Printing a tree
//! with `Display` gives canonical source text that parses back to an equal tree.

use std::fmt::{self, Write as _};

use serde::Serialize;

/// A byte range `[start, end)` into the source text an AST node was parsed from.
///
/// Spans never take part in equality: two trees parsed from differently formatted text of the
/// same expression compare equal.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Span {}

/// A name as written in the source (a field name, alias or extra attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name exactly as written.
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

/// A boolean condition: the whole of a filter, or the optional first part of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// `true` or `false`.
    Literal {
        /// The value.
        value: bool,
        /// Where it was written.
        span: Span,
    },
    /// `field operator value`.
    Compare(Comparison),
    /// `NOT condition` (also `!`).
    Not {
        /// The negated condition.
        inner: Box<Condition>,
        /// The span of the `NOT` keyword.
        span: Span,
    },
    /// Two or more conditions joined by `AND` (also `&&`).
    And(Vec<Condition>),
    /// Two or more conditions joined by `OR` (also `||`).
    Or(Vec<Condition>),
}

/// The base comparison operators; negation is a flag on [`Comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operator {
    /// `equals`, `eq`, `==`.
    Equals,
    /// `contains`.
    Contains,
    /// `starts_with`.
    StartsWith,
    /// `ends_with`.
    EndsWith,
    /// `matches`, `=~`: a regular expression search.
    Matches,
    /// `greater_than`, `gt`, `>`.
    GreaterThan,
    /// `less_than`, `lt`, `<`.
    LessThan,
    /// `greater_than_or_equal`, `gte`, `>=`.
    GreaterThanOrEqual,
    /// `less_than_or_equal`, `lte`, `<=`.
    LessThanOrEqual,
}

impl Operator {
    /// The canonical keyword of the operator.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::Contains => "contains",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
            Self::Matches => "matches",
            Self::GreaterThan => "greater_than",
            Self::LessThan => "less_than",
            Self::GreaterThanOrEqual => "greater_than_or_equal",
            Self::LessThanOrEqual => "less_than_or_equal",
        }
    }

    /// Whether the operator compares numbers or times rather than text.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            Self::GreaterThan | Self::LessThan | Self::GreaterThanOrEqual | Self::LessThanOrEqual
        )
    }
}

/// `field [not] [case_sensitive] operator value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The field tested.
    pub field: Name,
    /// The base operator.
    pub operator: Operator,
    /// Whether the result is negated (`not_contains`, `!=`, `not contains`).
    pub negated: bool,
    /// Whether text comparison respects case (`case_sensitive` modifier).
    pub case_sensitive: bool,
    /// The operand.
    pub value: Value,
    /// Where the operator (with its modifiers) was written.
    pub operator_span: Span,
}

/// A value: literal text, a template mixing text and references, or a regex literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The pieces of the value, in order. Condition values and `REMOVE` values contain only
    /// text or a single helper; action values may mix all kinds.
    pub parts: Vec<ValuePart>,
    /// Written as a regex literal `/.../`: `parts` is then one text part holding the pattern.
    pub regex: bool,
    /// Where the value was written.
    pub span: Span,
}

impl Value {
    /// The value's text when it is made only of literal text (concatenated).
    pub fn literal_text(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                ValuePart::Text(text) => out.push_str(text),
                _ => return None,
            }
        }
        Some(out)
    }
}

/// One piece of a [`Value`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValuePart {
    /// Literal text.
    Text(String),
    /// `$field` or `${field}`: the current value of another field.
    Field(Name),
    /// `$1`..`$9`: a capture group of the last successful `matches` in the condition.
    Capture {
        /// The group number, 1 to 9.
        group: u8,
        /// Where the reference was written.
        span: Span,
    },
    /// `@name:argument` (whole value) or `@{name:argument}` (anywhere in an action value).
    Helper(HelperCall),
}

/// A helper invocation such as `@time:now` or `@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCall {
    /// The helper name (`time`, `logo`).
    pub name: String,
    /// Everything after the first `:` (may be empty).
    pub argument: String,
    /// Where the invocation was written.
    pub span: Span,
}

/// A data-mapping rule: one branch normally, several for m3u-proxy style action groups
/// `(cond SET ...) OR (cond SET ...)`, each branch applied independently in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The branches, in order. With several branches, every branch has a condition.
    pub branches: Vec<RuleBranch>,
}

/// An optional condition and the actions applied when it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleBranch {
    /// The condition; `None` applies the actions to every record.
    pub condition: Option<Condition>,
    /// The actions, applied in order.
    pub actions: Vec<Action>,
}

/// What an action does to its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionKind {
    /// `SET f = v` (also `f = v`).
    Set,
    /// `SET_IF_EMPTY f = v` (also `f ?= v`): only when the field is empty or missing.
    SetIfEmpty,
    /// `APPEND f = v` (also `f += v`): append the text.
    Append,
    /// `REMOVE f = "text"` or `REMOVE f = /regex/` (also `f -= ...`).
    Remove,
    /// `DELETE f`: clear the field.
    Delete,
}

impl ActionKind {
    /// The canonical keyword of the action.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Set => "SET",
            Self::SetIfEmpty => "SET_IF_EMPTY",
            Self::Append => "APPEND",
            Self::Remove => "REMOVE",
            Self::Delete => "DELETE",
        }
    }
}

/// One action of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// What it does.
    pub kind: ActionKind,
    /// The field it changes.
    pub field: Name,
    /// The value; `None` only for [`ActionKind::Delete`].
    pub value: Option<Value>,
    /// Where the action was written.
    pub span: Span,
}

/// How text inside a value is escaped: condition and `REMOVE` values keep `$` literal
/// (they are often regexes), action values treat `$` as a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueMode {
    Pattern,
    Template,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_condition(f, self)
    }
}

fn write_condition(f: &mut fmt::Formatter<'_>, cond: &Condition) -> fmt::Result {
    match cond {
        Condition::Literal { value, .. } => f.write_str(if *value { "true" } else { "false" }),
        Condition::Compare(cmp) => write!(f, "{cmp}"),
        Condition::Not { inner, .. } => {
            f.write_str("NOT ")?;
            write_nested(f, inner, true)
        }
        Condition::And(items) => write_joined(f, items, " AND ", true),
        Condition::Or(items) => write_joined(f, items, " OR ", false),
    }
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    items: &[Condition],
    sep: &str,
    in_and: bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        // An AND inside an OR needs no parentheses; everything else compound does.
        let needs_parens = match item {
            Condition::Or(_) => true,
            Condition::And(_) => in_and,
            _ => false,
        };
        if needs_parens {
            f.write_char('(')?;
            write_condition(f, item)?;
            f.write_char(')')?;
        } else {
            write_condition(f, item)?;
        }
    }
    Ok(())
}

fn write_nested(f: &mut fmt::Formatter<'_>, cond: &Condition, under_not: bool) -> fmt::Result {
    let compound = matches!(cond, Condition::And(_) | Condition::Or(_));
    if compound && under_not {
        f.write_char('(')?;
        write_condition(f, cond)?;
        f.write_char(')')
    } else {
        write_condition(f, cond)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.field.text)?;
        f.write_char(' ')?;
        if self.case_sensitive {
            f.write_str("case_sensitive ")?;
        }
        if self.negated {
            if self.operator.is_ordering() {
                write!(f, "not {}", self.operator.keyword())?;
            } else {
                write!(f, "not_{}", self.operator.keyword())?;
            }
        } else {
            f.write_str(self.operator.keyword())?;
        }
        f.write_char(' ')?;
        write_value(f, &self.value, ValueMode::Pattern)
    }
}

pub(crate) fn write_value(f: &mut impl fmt::Write, value: &Value, mode: ValueMode) -> fmt::Result {
    if value.regex {
        f.write_char('/')?;
        for part in &value.parts {
            if let ValuePart::Text(text) = part {
                for c in text.chars() {
                    if c == '/' {
                        f.write_str("\\/")?;
                    } else {
                        f.write_char(c)?;
                    }
                }
            }
        }
        return f.write_char('/');
    }
    f.write_char('"')?;
    for part in &value.parts {
        match part {
            ValuePart::Text(text) => {
                let mut chars = text.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        // An escape the decoder keeps as written (`\d`, `\.`) prints as written.
                        '\\' if chars.peek().is_some_and(|n| !is_decoded_escape(*n, mode)) => {
                            f.write_char('\\')?
                        }
                        '\\' => f.write_str("\\\\")?,
                        '"' => f.write_str("\\\"")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        '@' => f.write_str("\\@")?,
                        '$' if mode == ValueMode::Template => f.write_str("\\$")?,
                        c => f.write_char(c)?,
                    }
                }
            }
            ValuePart::Field(name) => write!(f, "${{{}}}", name.text)?,
            ValuePart::Capture { group, .. } => write!(f, "${group}")?,
            ValuePart::Helper(call) => {
                if call.argument.is_empty() {
                    write!(f, "@{{{}}}", call.name)?;
                } else {
                    write!(f, "@{{{}:{}}}", call.name, call.argument)?;
                }
            }
        }
    }
    f.write_char('"')
}

/// Whether a backslash before `c` must itself be escaped: `\c` is decoded specially, or `c` is
/// printed as an escape sequence.
fn is_decoded_escape(c: char, mode: ValueMode) -> bool {
    matches!(
        c,
        '\\' | '"' | '\'' | '@' | 'n' | 't' | 'r' | '\n' | '\t' | '\r'
    ) || (c == '$' && mode == ValueMode::Template)
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.keyword(), self.field.text)?;
        if let Some(value) = &self.value {
            let mode = if self.kind == ActionKind::Remove {
                ValueMode::Pattern
            } else {
                ValueMode::Template
            };
            f.write_str(" = ")?;
            write_value(f, value, mode)?;
        }
        Ok(())
    }
}

impl fmt::Display for RuleBranch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cond) = &self.condition {
            write!(f, "{cond} ")?;
        }
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{action}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.branches.as_slice() {
            [single] => write!(f, "{single}"),
            branches => {
                for (i, branch) in branches.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    write!(f, "({branch})")?;
                }
                Ok(())
            }
        }
    }
}
