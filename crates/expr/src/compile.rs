//! Semantic analysis and lowering of trees to evaluable form: fields resolved, regexes built,
//! needles folded, templates split. Every problem is collected as a diagnostic.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use regex::Regex;

use crate::ast::{
    Action, ActionKind, Comparison, Condition, HelperCall, Name, Operator, RuleBranch, Value,
    ValuePart,
};
use crate::diagnostic::{Diagnostic, DiagnosticKind as K, nearest};
use crate::fields::{FieldRef, FieldRegistry, FieldType, ResolvedField};
use crate::record::Record;
use crate::regex_cache::RegexCache;
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
    /// Now plus an offset in seconds, read when evaluated.
    Now(i64),
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
                    TimeOperand::Now(offset) => {
                        chrono::Utc::now().timestamp().saturating_add(*offset)
                    }
                };
                let hit = record.time(field).is_some_and(|t| op.holds(t, rhs));
                hit != *negated
            }
            Node::Not(inner) => !inner.eval(record, last_match),
            Node::And(items) => items.iter().all(|n| n.eval(record, last_match)),
            Node::Or(items) => items.iter().any(|n| n.eval(record, last_match)),
        }
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

pub(crate) struct Compiler<'a> {
    registry: &'static FieldRegistry,
    cache: &'a mut RegexCache,
    pub(crate) diags: Vec<Diagnostic>,
    capture_sources: Vec<CaptureSource>,
    /// The most groups of any positive `matches` in the current condition.
    max_groups: Option<usize>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(registry: &'static FieldRegistry, cache: &'a mut RegexCache) -> Self {
        Self {
            registry,
            cache,
            diags: Vec::new(),
            capture_sources: Vec::new(),
            max_groups: None,
        }
    }

    fn resolve(&mut self, name: &Name) -> Option<ResolvedField> {
        match self.registry.resolve(&name.text) {
            Ok(f) => Some(f),
            Err(suggestion) => {
                self.diags.push(
                    Diagnostic::new(
                        K::UnknownField,
                        format!("unknown field `{}`", name.text),
                        name.span.start,
                        name.span.end,
                    )
                    .with_suggestion(suggestion),
                );
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
        if cmp.operator == Operator::Matches
            && let Err(msg) = self.cache.get(&text, cmp.case_sensitive)
        {
            self.diags.push(Diagnostic::new(
                K::InvalidRegex,
                format!("invalid regular expression: {msg}"),
                value.span.start,
                value.span.end,
            ));
            return Node::Const(false);
        }
        let Some(field) = field else {
            return Node::Const(false);
        };
        let field_ref = field.field_ref;
        let negated = cmp.negated;
        let op = match cmp.operator {
            Operator::Matches => {
                return match self.cache.get(&text, cmp.case_sensitive) {
                    Ok(regex) => {
                        let capture_slot = if negated {
                            None
                        } else {
                            let groups = regex.captures_len() - 1;
                            self.max_groups = Some(self.max_groups.unwrap_or(0).max(groups));
                            self.capture_sources.push(CaptureSource {
                                field: field_ref.clone(),
                                regex: regex.clone(),
                            });
                            u16::try_from(self.capture_sources.len() - 1).ok()
                        };
                        Node::Regex {
                            field: field_ref,
                            regex,
                            negated,
                            capture_slot,
                        }
                    }
                    Err(msg) => {
                        self.diags.push(Diagnostic::new(
                            K::InvalidRegex,
                            format!("invalid regular expression: {msg}"),
                            value.span.start,
                            value.span.end,
                        ));
                        Node::Const(false)
                    }
                };
            }
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
        self.max_groups = None;
        let condition = branch.condition.as_ref().map(|c| self.condition(c));
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
            match self.cache.get(&text, false) {
                Ok(re) => ActionValue::RemoveRegex(re),
                Err(msg) => {
                    self.diags.push(Diagnostic::new(
                        K::InvalidRegex,
                        format!("invalid regular expression: {msg}"),
                        value.span.start,
                        value.span.end,
                    ));
                    ActionValue::None
                }
            }
        } else {
            ActionValue::RemoveText(TextNeedle::new(&text, false))
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
                    match self.max_groups {
                        None => self.diags.push(Diagnostic::new(
                            K::InvalidCapture,
                            format!("`${group}` refers to a capture group, but the condition has no `matches`"),
                            span.start,
                            span.end,
                        )),
                        Some(max) if usize::from(*group) > max => self.diags.push(Diagnostic::new(
                            K::InvalidCapture,
                            format!(
                                "`${group}` refers to capture group {group}, but the pattern has {max} group{}",
                                if max == 1 { "" } else { "s" }
                            ),
                            span.start,
                            span.end,
                        )),
                        Some(_) => {}
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
