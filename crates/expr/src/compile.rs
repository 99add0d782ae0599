//! Semantic analysis and lowering of trees to evaluable form: fields resolved, regexes built,
//! needles folded, templates split. Every problem is collected as a diagnostic.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use regex::Regex;

use crate::ast::{
    Action, ActionKind, Comparison, Condition, HelperCall, Name, Operator, RuleBranch, Span, Value,
    ValuePart,
};
use crate::diagnostic::{Diagnostic, DiagnosticKind as K, nearest};
use crate::fields::{FieldRef, FieldRegistry, FieldType, ResolvedField};
use crate::record::Record;
use crate::regex_cache::{
    MAX_REGEX_BYTES_PER_EXPRESSION, MAX_REGEXES_PER_EXPRESSION, RegexCache, RegexRefusal,
};
use crate::template::{HelperContext, Piece, Template};
use crate::text_match::TextNeedle;
use crate::time_value::parse_time;

/// The helpers an expression may call.
pub(crate) const HELPER_NAMES: &[&str] = &["time", "logo"];

#[derive(Debug, Clone, Copy)]
pub(crate) enum TextOp {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Ordering {
    Gt,
    Lt,
    Ge,
    Le,
}

impl Ordering {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Self::Gt => a > b,
            Self::Lt => a < b,
            Self::Ge => a >= b,
            Self::Le => a <= b,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeOperand {
    Fixed(i64),
    /// Now plus an offset in seconds, now being the evaluation's [`Clock`].
    Now(i64),
}

/// Where `@time:now` in a condition reads the time during one evaluation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    /// The system clock, read by each comparison that needs it.
    System,
    /// A time read once by the caller (Unix seconds), so every record of a run sees the same now.
    Fixed(i64),
}

impl Clock {
    fn now(self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Fixed(t) => t,
        }
    }
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(bool),
    Text {
        field: FieldRef,
        op: TextOp,
        needle: TextNeedle,
        negated: bool,
    },
    Regex {
        field: FieldRef,
        regex: Regex,
        negated: bool,
        capture_slot: Option<u16>,
    },
    Number {
        field: FieldRef,
        op: Ordering,
        value: f64,
        negated: bool,
    },
    Time {
        field: FieldRef,
        op: Ordering,
        value: TimeOperand,
        negated: bool,
    },
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

impl Node {
    /// Evaluates against a record. `last_match` receives the capture slot of each positive
    /// `matches` that succeeds, so the last one wins.
    pub(crate) fn eval<R: Record + ?Sized>(
        &self,
        record: &R,
        last_match: &mut Option<u16>,
        clock: Clock,
    ) -> bool {
        match self {
            Node::Const(v) => *v,
            Node::Text {
                field,
                op,
                needle,
                negated,
            } => {
                let hay = record.field(field).unwrap_or("");
                let hit = match op {
                    TextOp::Equals => needle.equals(hay),
                    TextOp::Contains => needle.contains(hay),
                    TextOp::StartsWith => needle.starts_with(hay),
                    TextOp::EndsWith => needle.ends_with(hay),
                };
                hit != *negated
            }
            Node::Regex {
                field,
                regex,
                negated,
                capture_slot,
            } => {
                let hit = regex.is_match(record.field(field).unwrap_or(""));
                if hit && capture_slot.is_some() {
                    *last_match = *capture_slot;
                }
                hit != *negated
            }
            Node::Number {
                field,
                op,
                value,
                negated,
            } => {
                let hit = record.number(field).is_some_and(|n| op.holds(n, *value));
                hit != *negated
            }
            Node::Time {
                field,
                op,
                value,
                negated,
            } => {
                let rhs = match value {
                    TimeOperand::Fixed(t) => *t,
                    TimeOperand::Now(offset) => clock.now().saturating_add(*offset),
                };
                let hit = record.time(field).is_some_and(|t| op.holds(t, rhs));
                hit != *negated
            }
            Node::Not(inner) => !inner.eval(record, last_match, clock),
            Node::And(items) => items.iter().all(|n| n.eval(record, last_match, clock)),
            Node::Or(items) => items.iter().any(|n| n.eval(record, last_match, clock)),
        }
    }

    /// Which `matches` may have set the capture slot last, when this node evaluates true and
    /// when it evaluates false. Mirrors [`eval`](Self::eval): short-circuiting `AND`/`OR`, and
    /// only a positive `matches` that succeeds sets the slot.
    fn capture_outcomes(&self) -> (Providers, Providers) {
        match self {
            Node::Regex {
                regex,
                capture_slot: Some(_),
                ..
            } => (
                Providers::set(regex.captures_len().saturating_sub(1)),
                Providers::KEEP,
            ),
            Node::Not(inner) => {
                let (t, f) = inner.capture_outcomes();
                (f, t)
            }
            // Every item holds, in order; or the first false one stops the evaluation.
            Node::And(items) => {
                let mut all_true = Providers::KEEP;
                let mut any_false = Providers::IMPOSSIBLE;
                for item in items {
                    let (t, f) = item.capture_outcomes();
                    any_false = any_false.or(all_true.then(f));
                    all_true = all_true.then(t);
                }
                (all_true, any_false)
            }
            Node::Or(items) => {
                let mut all_false = Providers::KEEP;
                let mut any_true = Providers::IMPOSSIBLE;
                for item in items {
                    let (t, f) = item.capture_outcomes();
                    any_true = any_true.or(all_false.then(t));
                    all_false = all_false.then(f);
                }
                (any_true, all_false)
            }
            // Constants count as possibly either outcome: an over-approximation, so a `$N` is
            // checked against more `matches` than can really supply captures, never fewer.
            _ => (Providers::KEEP, Providers::KEEP),
        }
    }
}

/// The `matches` that may be the capture provider after some evaluation: whether the slot may
/// be left as it was, and the fewest and most groups among the `matches` that may have set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Providers {
    keeps: bool,
    fewest: Option<usize>,
    most: Option<usize>,
}

impl Providers {
    /// No evaluation ends this way.
    const IMPOSSIBLE: Self = Self {
        keeps: false,
        fewest: None,
        most: None,
    };
    /// The slot is left as it was.
    const KEEP: Self = Self {
        keeps: true,
        fewest: None,
        most: None,
    };

    fn set(groups: usize) -> Self {
        Self {
            keeps: false,
            fewest: Some(groups),
            most: Some(groups),
        }
    }

    fn is_impossible(self) -> bool {
        !self.keeps && self.fewest.is_none()
    }

    /// Either way.
    fn or(self, other: Self) -> Self {
        Self {
            keeps: self.keeps || other.keeps,
            fewest: min_some(self.fewest, other.fewest),
            most: max_some(self.most, other.most),
        }
    }

    /// `self`, then `next`: where `next` leaves the slot alone, `self`'s providers show through.
    fn then(self, next: Self) -> Self {
        if self.is_impossible() || next.is_impossible() {
            return Self::IMPOSSIBLE;
        }
        let (fewest, most) = if next.keeps {
            (
                min_some(self.fewest, next.fewest),
                max_some(self.most, next.most),
            )
        } else {
            (next.fewest, next.most)
        };
        Self {
            keeps: self.keeps && next.keeps,
            fewest,
            most,
        }
    }
}

fn min_some(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A positive `matches` whose captures `$1`..`$9` may be read after the condition holds.
#[derive(Debug, Clone)]
pub(crate) struct CaptureSource {
    pub(crate) field: FieldRef,
    pub(crate) regex: Regex,
}

#[derive(Debug, Clone)]
pub(crate) enum ActionValue {
    None,
    Template(Template),
    RemoveText(TextNeedle),
    RemoveRegex(Regex),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledAction {
    pub(crate) kind: ActionKind,
    pub(crate) field: FieldRef,
    pub(crate) value: ActionValue,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledBranch {
    pub(crate) condition: Option<Node>,
    pub(crate) actions: Vec<CompiledAction>,
    pub(crate) capture_sources: Vec<CaptureSource>,
    pub(crate) uses_captures: bool,
}

/// A distinct pattern the expression uses, and what compiling it gave.
struct UsedRegex {
    pattern: Box<str>,
    case_sensitive: bool,
    result: Result<Regex, String>,
}

/// Compiles one expression (a filter, or every branch of a rule).
pub(crate) struct Compiler<'a> {
    registry: &'static FieldRegistry,
    cache: &'a mut RegexCache,
    pub(crate) diags: Vec<Diagnostic>,
    capture_sources: Vec<CaptureSource>,
    /// Which `matches` may supply captures when the current branch's condition holds.
    capture_providers: Providers,
    /// Every distinct pattern of the expression so far, with its budget charge in `regex_bytes`.
    used_regexes: Vec<UsedRegex>,
    regex_bytes: usize,
    /// Whether the regex budget has been exceeded (reported once; later regexes are skipped).
    over_regex_budget: bool,
    /// Names already resolved: an expression repeating a name (or a misspelling) looks it up
    /// and computes its suggestion once.
    resolved: HashMap<Box<str>, Result<ResolvedField, Option<String>>>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(registry: &'static FieldRegistry, cache: &'a mut RegexCache) -> Self {
        Self {
            registry,
            cache,
            diags: Vec::new(),
            capture_sources: Vec::new(),
            capture_providers: Providers::KEEP,
            used_regexes: Vec::new(),
            regex_bytes: 0,
            over_regex_budget: false,
            resolved: HashMap::new(),
        }
    }

    /// The compiled regex for a pattern written at `span`, within the expression's budget of
    /// distinct patterns and compiled size; reports why not otherwise.
    fn regex(&mut self, pattern: &str, case_sensitive: bool, span: Span) -> Option<Regex> {
        if self.over_regex_budget {
            return None;
        }
        let used = self
            .used_regexes
            .iter()
            .find(|u| &*u.pattern == pattern && u.case_sensitive == case_sensitive)
            .map(|u| u.result.clone());
        let result = match used {
            Some(result) => result,
            None => {
                if self.used_regexes.len() >= MAX_REGEXES_PER_EXPRESSION {
                    self.regex_budget_exceeded(
                        format!(
                            "too many regular expressions: an expression may use at most {MAX_REGEXES_PER_EXPRESSION} different patterns"
                        ),
                        span,
                    );
                    return None;
                }
                let allowance = MAX_REGEX_BYTES_PER_EXPRESSION.saturating_sub(self.regex_bytes);
                let result = match self.cache.get(pattern, case_sensitive, allowance) {
                    Ok((regex, charge)) => {
                        self.regex_bytes += charge;
                        Ok(regex)
                    }
                    Err(RegexRefusal::Invalid(msg)) => Err(msg),
                    Err(RegexRefusal::OverBudget) => {
                        self.regex_budget_exceeded(
                            format!(
                                "the regular expressions are too large together: an expression may hold at most {} MiB of compiled patterns",
                                MAX_REGEX_BYTES_PER_EXPRESSION >> 20
                            ),
                            span,
                        );
                        return None;
                    }
                };
                // Failures are remembered too, so a repeated bad pattern is not compiled again.
                self.used_regexes.push(UsedRegex {
                    pattern: pattern.into(),
                    case_sensitive,
                    result: result.clone(),
                });
                result
            }
        };
        match result {
            Ok(regex) => Some(regex),
            Err(msg) => {
                self.diags.push(Diagnostic::new(
                    K::InvalidRegex,
                    format!("invalid regular expression: {msg}"),
                    span.start,
                    span.end,
                ));
                None
            }
        }
    }

    fn regex_budget_exceeded(&mut self, message: String, span: Span) {
        self.over_regex_budget = true;
        self.diags.push(Diagnostic::new(
            K::TooManyRegexes,
            message,
            span.start,
            span.end,
        ));
    }

    fn resolve(&mut self, name: &Name) -> Option<ResolvedField> {
        let registry = self.registry;
        let known = match self.resolved.get(name.text.as_str()) {
            Some(known) => known.clone(),
            None => {
                let known = registry.resolve(&name.text);
                self.resolved
                    .insert(name.text.as_str().into(), known.clone());
                known
            }
        };
        match known {
            Ok(f) => Some(f),
            Err(suggestion) => {
                self.diags.push(Diagnostic::unknown_field(
                    &name.text,
                    name.span.start,
                    name.span.end,
                    suggestion,
                ));
                None
            }
        }
    }

    pub(crate) fn condition(&mut self, cond: &Condition) -> Node {
        match cond {
            Condition::Literal { value, .. } => Node::Const(*value),
            Condition::Compare(cmp) => self.comparison(cmp),
            Condition::Not { inner, .. } => Node::Not(Box::new(self.condition(inner))),
            Condition::And(items) => Node::And(items.iter().map(|c| self.condition(c)).collect()),
            Condition::Or(items) => Node::Or(items.iter().map(|c| self.condition(c)).collect()),
        }
    }

    fn comparison(&mut self, cmp: &Comparison) -> Node {
        let field = self.resolve(&cmp.field);
        let value = &cmp.value;
        let op_span = cmp.operator_span;
        if cmp.operator.is_ordering() {
            let Some(field) = field else {
                return Node::Const(false);
            };
            return self.ordering(cmp, field);
        }
        if value.regex && cmp.operator != Operator::Matches {
            self.diags.push(Diagnostic::new(
                K::InvalidValue,
                format!(
                    "a /regex/ value needs `matches`, not `{}`; quote the text instead",
                    cmp.operator.keyword()
                ),
                value.span.start,
                value.span.end,
            ));
        }
        let Some(text) = self.literal(value) else {
            return Node::Const(false);
        };
        // Check the pattern even when the field is unknown, so both problems are reported.
        let regex = if cmp.operator == Operator::Matches {
            match self.regex(&text, cmp.case_sensitive, value.span) {
                Some(regex) => Some(regex),
                None => return Node::Const(false),
            }
        } else {
            None
        };
        let Some(field) = field else {
            return Node::Const(false);
        };
        let field_ref = field.field_ref;
        let negated = cmp.negated;
        if let Some(regex) = regex {
            let capture_slot = if negated {
                None
            } else {
                self.capture_sources.push(CaptureSource {
                    field: field_ref.clone(),
                    regex: regex.clone(),
                });
                u16::try_from(self.capture_sources.len() - 1).ok()
            };
            return Node::Regex {
                field: field_ref,
                regex,
                negated,
                capture_slot,
            };
        }
        let op = match cmp.operator {
            Operator::Equals => TextOp::Equals,
            Operator::Contains => TextOp::Contains,
            Operator::StartsWith => TextOp::StartsWith,
            Operator::EndsWith => TextOp::EndsWith,
            _ => {
                self.diags.push(Diagnostic::new(
                    K::Syntax,
                    "unsupported operator",
                    op_span.start,
                    op_span.end,
                ));
                return Node::Const(false);
            }
        };
        Node::Text {
            field: field_ref,
            op,
            needle: TextNeedle::new(&text, cmp.case_sensitive),
            negated,
        }
    }

    /// The literal text of a condition value; reports helpers, which only ordering operators on
    /// time fields accept.
    fn literal(&mut self, value: &Value) -> Option<String> {
        match value.literal_text() {
            Some(t) => Some(t),
            None => {
                self.diags.push(Diagnostic::new(
                    K::InvalidValue,
                    "a helper can only be compared with a time field using <, >, <= or >=",
                    value.span.start,
                    value.span.end,
                ));
                None
            }
        }
    }

    fn ordering(&mut self, cmp: &Comparison, field: ResolvedField) -> Node {
        let op = match cmp.operator {
            Operator::GreaterThan => Ordering::Gt,
            Operator::LessThan => Ordering::Lt,
            Operator::GreaterThanOrEqual => Ordering::Ge,
            _ => Ordering::Le,
        };
        let value = &cmp.value;
        let negated = cmp.negated;
        match field.field_type {
            FieldType::Text | FieldType::Url if !field.is_extra => {
                self.diags.push(Diagnostic::new(
                    K::TypeMismatch,
                    format!(
                        "`{}` compares numbers or times, but `{}` is a text field; use equals, contains, starts_with, ends_with or matches",
                        cmp.operator.keyword(),
                        field.canonical
                    ),
                    cmp.operator_span.start,
                    cmp.operator_span.end,
                ));
                Node::Const(false)
            }
            FieldType::Time => {
                let operand = match value.parts.as_slice() {
                    [ValuePart::Helper(call)] => self
                        .time_helper(call)
                        .map(|(offset, _)| TimeOperand::Now(offset)),
                    _ => {
                        let text = value.literal_text().unwrap_or_default();
                        let t = parse_time(&text).map(TimeOperand::Fixed);
                        if t.is_none() {
                            self.diags.push(Diagnostic::new(
                                K::InvalidValue,
                                format!("`{text}` is not a time; write RFC 3339 (2024-01-15T10:30:00Z), XMLTV (20240115103000 +0000) or @time:now"),
                                value.span.start,
                                value.span.end,
                            ));
                        }
                        t
                    }
                };
                match operand {
                    Some(value) => Node::Time {
                        field: field.field_ref,
                        op,
                        value,
                        negated,
                    },
                    None => Node::Const(false),
                }
            }
            _ => {
                let text = value.literal_text().unwrap_or_default();
                match text.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() => Node::Number {
                        field: field.field_ref,
                        op,
                        value: n,
                        negated,
                    },
                    _ => {
                        self.diags.push(Diagnostic::new(
                            K::InvalidValue,
                            format!(
                                "`{text}` is not a number, but `{}` compares numbers",
                                cmp.operator.keyword()
                            ),
                            value.span.start,
                            value.span.end,
                        ));
                        Node::Const(false)
                    }
                }
            }
        }
    }

    /// Checks a `@time:...` call: `now`, `now+2h`, `now-30m`, `now:<strftime format>`.
    /// Returns the offset in seconds and the format items.
    fn time_helper(&mut self, call: &HelperCall) -> Option<(i64, Option<Vec<Item<'static>>>)> {
        if call.name != "time" {
            self.helper_name_error(call);
            return None;
        }
        let parsed = parse_time_argument(&call.argument);
        if parsed.is_none() {
            self.diags.push(Diagnostic::new(
                K::InvalidValue,
                format!(
                    "invalid @time argument `{}`: write @time:now, @time:now+2h, @time:now-30m or @time:now:%Y-%m-%d",
                    call.argument
                ),
                call.span.start,
                call.span.end,
            ));
        }
        parsed
    }

    fn helper_name_error(&mut self, call: &HelperCall) {
        let suggestion = nearest(&call.name, HELPER_NAMES.iter().copied());
        self.diags.push(
            Diagnostic::new(
                K::UnknownHelper,
                format!("unknown helper `@{}`", call.name),
                call.span.start,
                call.span.end,
            )
            .with_suggestion(suggestion.map(|s| format!("@{s}"))),
        );
    }

    pub(crate) fn branch(&mut self, branch: &RuleBranch) -> CompiledBranch {
        self.capture_sources.clear();
        let condition = branch.condition.as_ref().map(|c| self.condition(c));
        self.capture_providers = condition
            .as_ref()
            .map_or(Providers::KEEP, |c| c.capture_outcomes().0);
        let mut uses_captures = false;
        let actions = branch
            .actions
            .iter()
            .filter_map(|a| self.action(a, &mut uses_captures))
            .collect();
        CompiledBranch {
            condition,
            actions,
            capture_sources: std::mem::take(&mut self.capture_sources),
            uses_captures,
        }
    }

    fn action(&mut self, action: &Action, uses_captures: &mut bool) -> Option<CompiledAction> {
        let field = self.resolve(&action.field);
        if let Some(f) = &field
            && f.read_only
        {
            self.diags.push(Diagnostic::new(
                K::ReadOnlyField,
                format!(
                    "field `{}` is read-only: it can be tested but not changed",
                    f.canonical
                ),
                action.field.span.start,
                action.field.span.end,
            ));
        }
        let value = match (&action.value, action.kind) {
            (_, ActionKind::Delete) | (None, _) => ActionValue::None,
            (Some(value), ActionKind::Remove) => self.remove_value(value),
            (Some(value), _) => {
                let template = self.template(value);
                *uses_captures |= template.uses_captures();
                ActionValue::Template(template)
            }
        };
        let field = field?;
        Some(CompiledAction {
            kind: action.kind,
            field: field.field_ref,
            value,
        })
    }

    fn remove_value(&mut self, value: &Value) -> ActionValue {
        let Some(text) = value.literal_text() else {
            self.diags.push(Diagnostic::new(
                K::InvalidValue,
                "REMOVE takes literal text or a /regex/, not a helper",
                value.span.start,
                value.span.end,
            ));
            return ActionValue::None;
        };
        if text.is_empty() {
            self.diags.push(Diagnostic::new(
                K::InvalidValue,
                "REMOVE needs the text or /regex/ to remove",
                value.span.start,
                value.span.end,
            ));
            return ActionValue::None;
        }
        if value.regex {
            self.regex(&text, false, value.span)
                .map_or(ActionValue::None, ActionValue::RemoveRegex)
        } else {
            ActionValue::RemoveText(TextNeedle::new(&text, false))
        }
    }

    /// Why `$group` cannot be filled, if it cannot: captures come from the last positive
    /// `matches` that succeeded while evaluating the condition, so every `matches` that can be
    /// that one when the condition holds must have the group.
    fn capture_problem(&self, group: u8) -> Option<String> {
        if self.capture_sources.is_empty() {
            return Some(format!(
                "`${group}` refers to a capture group, but the condition has no `matches`"
            ));
        }
        let providers = self.capture_providers;
        let (Some(fewest), Some(most)) = (providers.fewest, providers.most) else {
            return Some(format!(
                "`${group}` refers to a capture group, but no `matches` has succeeded when the condition holds (a `matches` under NOT supplies no captures)"
            ));
        };
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let wanted = usize::from(group);
        if wanted <= fewest {
            None
        } else if fewest == most {
            Some(format!(
                "`${group}` refers to capture group {group}, but the pattern has {fewest} group{}",
                plural(fewest)
            ))
        } else {
            Some(format!(
                "`${group}` refers to capture group {group}, but the captures may come from a `matches` with only {fewest} group{} (the last `matches` that succeeds supplies them)",
                plural(fewest)
            ))
        }
    }

    fn template(&mut self, value: &Value) -> Template {
        let mut pieces = Vec::with_capacity(value.parts.len());
        if value.regex {
            self.diags.push(Diagnostic::new(
                K::InvalidValue,
                "a /regex/ value is only meaningful with REMOVE or matches; quote the text",
                value.span.start,
                value.span.end,
            ));
        }
        for part in &value.parts {
            match part {
                ValuePart::Text(t) => pieces.push(Piece::Text(t.as_str().into())),
                ValuePart::Field(name) => {
                    if let Some(f) = self.resolve(name) {
                        pieces.push(Piece::Field(f.field_ref));
                    }
                }
                ValuePart::Capture { group, span } => {
                    if let Some(message) = self.capture_problem(*group) {
                        self.diags.push(Diagnostic::new(
                            K::InvalidCapture,
                            message,
                            span.start,
                            span.end,
                        ));
                    }
                    pieces.push(Piece::Capture(*group));
                }
                ValuePart::Helper(call) => match call.name.as_str() {
                    "time" => {
                        if let Some((offset, format)) = self.time_helper(call) {
                            pieces.push(Piece::Time { offset, format });
                        }
                    }
                    "logo" => {
                        let id = call.argument.trim();
                        if id.is_empty() {
                            self.diags.push(Diagnostic::new(
                                K::InvalidValue,
                                "@logo needs a logo id: @logo:01ARZ3NDEKTSV4RRFFQ69G5FAV",
                                call.span.start,
                                call.span.end,
                            ));
                        }
                        pieces.push(Piece::Logo(id.into()));
                    }
                    _ => self.helper_name_error(call),
                },
            }
        }
        Template::new(pieces)
    }
}

/// `now`, `now+90s`, `now-2h`, `now+1d`, `now+1w`, or `now:<strftime>` (offset first, then format).
fn parse_time_argument(arg: &str) -> Option<(i64, Option<Vec<Item<'static>>>)> {
    let rest = arg.strip_prefix("now")?;
    let (offset_text, format) = match rest.split_once(':') {
        Some((o, f)) => (o, Some(f)),
        None => (rest, None),
    };
    let offset = if offset_text.is_empty() {
        0
    } else {
        let (sign, body) = match offset_text.as_bytes().first() {
            Some(b'+') => (1, &offset_text[1..]),
            Some(b'-') => (-1, &offset_text[1..]),
            _ => return None,
        };
        let unit = body.chars().last()?;
        let amount: i64 = body[..body.len() - unit.len_utf8()].parse().ok()?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let seconds = sign * amount.checked_mul(scale)?;
        // A century either way is plenty and keeps every later time computation in range.
        if seconds.abs() > 100 * 366 * 86_400 {
            return None;
        }
        seconds
    };
    let items = match format {
        None => None,
        Some(f) => {
            let items = StrftimeItems::new(f).parse_to_owned().ok()?;
            if items.iter().any(|i| matches!(i, Item::Error)) {
                return None;
            }
            // Formatting can still fail (e.g. %z on a zone-less value); try it once now.
            let mut probe = String::new();
            write!(
                probe,
                "{}",
                chrono::Utc::now().format_with_items(items.iter())
            )
            .ok()?;
            Some(items)
        }
    };
    Some((offset, items))
}

/// Renders a helper with a caller-supplied context (used by templates).
pub(crate) fn render_time(
    helpers: &dyn HelperContext,
    offset: i64,
    format: Option<&[Item<'static>]>,
    out: &mut String,
) {
    let now = chrono::TimeDelta::try_seconds(offset)
        .and_then(|d| helpers.now().checked_add_signed(d))
        .unwrap_or_else(|| helpers.now());
    let _ = match format {
        Some(items) => write!(out, "{}", now.format_with_items(items.iter())),
        None => write!(out, "{}", now.format("%Y-%m-%dT%H:%M:%SZ")),
    };
}
