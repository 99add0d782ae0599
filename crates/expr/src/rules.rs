//! Data-mapping rules compiled once and applied per record, in order.

use std::sync::Arc;

use serde::Serialize;

use crate::ast::ActionKind;
use crate::compile::{ActionValue, Clock, CompiledBranch, Compiler};
use crate::error::ExprError;
use crate::fields::{Domain, FieldRef, FieldRegistry};
use crate::parser::parse_rule_tree;
use crate::record::{Record, RecordMut};
use crate::regex_cache::RegexCache;
use crate::template::{DefaultHelpers, HelperContext};

/// One data-mapping rule ready to apply.
///
/// ```
/// use tvarr_expr::{CompiledRule, DefaultHelpers, Domain, MapRecord};
/// let rule = CompiledRule::compile(
///     Domain::Stream,
///     r#"channel_name matches "^(.+?) ?\+(\d)$" SET channel_name = "$1", tvg_shift = "$2""#,
/// ).unwrap();
/// let mut record = MapRecord::from_pairs(Domain::Stream, [("channel_name", "BBC One +1")]);
/// let changed = rule.apply(&mut record, &DefaultHelpers);
/// assert_eq!(changed.len(), 2);
/// assert_eq!(record.get(Domain::Stream, "channel_name"), Some("BBC One"));
/// assert_eq!(record.get(Domain::Stream, "tvg_shift"), Some("1"));
/// ```
#[derive(Debug, Clone)]
pub struct CompiledRule {
    branches: Vec<CompiledBranch>,
}

/// A field a rule changed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field changed.
    pub field: FieldRef,
    /// The action that changed it.
    pub action: ActionKind,
}

impl CompiledRule {
    /// Parses, validates and compiles a rule; on failure returns every problem found.
    pub fn compile(domain: Domain, source: &str) -> Result<Self, ExprError> {
        Self::compile_with_cache(domain, source, &mut RegexCache::new())
    }

    /// Like [`compile`](Self::compile), sharing regexes through `cache`.
    pub fn compile_with_cache(
        domain: Domain,
        source: &str,
        cache: &mut RegexCache,
    ) -> Result<Self, ExprError> {
        let (tree, mut diags) = parse_rule_tree(source);
        let Some(tree) = tree else {
            return Err(ExprError::Invalid(diags));
        };
        let mut compiler = Compiler::new(FieldRegistry::for_domain(domain), cache);
        let branches = tree.branches.iter().map(|b| compiler.branch(b)).collect();
        diags.append(&mut compiler.diags);
        if diags.is_empty() {
            Ok(Self { branches })
        } else {
            diags.sort_by_key(|d| (d.start, d.end));
            Err(ExprError::Invalid(diags))
        }
    }

    /// Applies the rule: for each branch whose condition holds (or that has none), runs its
    /// actions in order, each seeing the previous one's result. Returns the fields whose value
    /// actually changed. `@time:now`, in conditions as in values, is `helpers.now()`.
    pub fn apply<R: RecordMut + ?Sized>(
        &self,
        record: &mut R,
        helpers: &dyn HelperContext,
    ) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        let clock = Clock::Fixed(helpers.now().timestamp());
        self.apply_into(record, helpers, clock, &mut changes);
        changes
    }

    fn apply_into<R: RecordMut + ?Sized>(
        &self,
        record: &mut R,
        helpers: &dyn HelperContext,
        clock: Clock,
        changes: &mut Vec<FieldChange>,
    ) {
        for branch in &self.branches {
            let mut last_match = None;
            if let Some(cond) = &branch.condition
                && !cond.eval(&*record, &mut last_match, clock)
            {
                continue;
            }
            let captures = if branch.uses_captures {
                capture_texts(branch, &*record, last_match)
            } else {
                Vec::new()
            };
            for action in &branch.actions {
                if apply_action(action, record, &captures, helpers) {
                    changes.push(FieldChange {
                        field: action.field.clone(),
                        action: action.kind,
                    });
                }
            }
        }
    }
}

/// The groups of the last successful `matches`, index 0 being the whole match.
fn capture_texts<R: Record + ?Sized>(
    branch: &CompiledBranch,
    record: &R,
    last_match: Option<u16>,
) -> Vec<String> {
    let Some(source) = last_match.and_then(|i| branch.capture_sources.get(usize::from(i))) else {
        return Vec::new();
    };
    let hay = record.field(&source.field).unwrap_or("");
    match source.regex.captures(hay) {
        Some(caps) => caps
            .iter()
            .map(|m| m.map_or_else(String::new, |m| m.as_str().to_string()))
            .collect(),
        None => Vec::new(),
    }
}

fn apply_action<R: RecordMut + ?Sized>(
    action: &crate::compile::CompiledAction,
    record: &mut R,
    captures: &[String],
    helpers: &dyn HelperContext,
) -> bool {
    let field = &action.field;
    let old = record.field(field);
    let new_value = match (&action.value, action.kind) {
        (_, ActionKind::Delete) => {
            if old.is_none_or(str::is_empty) {
                return false;
            }
            record.clear_field(field);
            return true;
        }
        (ActionValue::Template(t), ActionKind::Set) => {
            let mut out = String::new();
            t.render(&*record, captures, helpers, &mut out);
            out
        }
        (ActionValue::Template(t), ActionKind::SetIfEmpty) => {
            if !old.is_none_or(|v| v.trim().is_empty()) {
                return false;
            }
            let mut out = String::new();
            t.render(&*record, captures, helpers, &mut out);
            out
        }
        (ActionValue::Template(t), ActionKind::Append) => {
            let mut out = old.unwrap_or("").to_string();
            t.render(&*record, captures, helpers, &mut out);
            out
        }
        (ActionValue::RemoveText(needle), _) => {
            let hay = old.unwrap_or("");
            let mut out = String::with_capacity(hay.len());
            let mut at = 0;
            while let Some((s, e)) = needle.find(hay, at) {
                out.push_str(&hay[at..s]);
                at = e.max(s + 1).min(hay.len());
                if e == s {
                    break;
                }
            }
            out.push_str(&hay[at..]);
            out.trim().to_string()
        }
        (ActionValue::RemoveRegex(re), _) => {
            re.replace_all(old.unwrap_or(""), "").trim().to_string()
        }
        _ => return false,
    };
    if old.unwrap_or("") == new_value {
        return false;
    }
    record.set_field(field, new_value);
    true
}

/// The changes one rule of a [`RuleSet`] made to a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChanges {
    /// The rule's position in the set.
    pub rule: usize,
    /// The rule's name (shared with the set, so reporting does not copy it).
    pub name: Arc<str>,
    /// The fields it changed, in order.
    pub fields: Vec<FieldChange>,
}

/// What applying a [`RuleSet`] did to one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// One entry per rule that changed at least one field, in application order.
    pub rules: Vec<RuleChanges>,
}

impl ApplyReport {
    /// Whether any rule changed anything.
    pub fn changed(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// An ordered list of rules applied one after another, each seeing the previous rule's output.
/// Put the rules in priority order before building the set.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<(Arc<str>, CompiledRule)>,
}

/// A rule of a [`RuleSet`] that failed to compile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleError {
    /// The rule's position in the input.
    pub rule: usize,
    /// The rule's name.
    pub name: String,
    /// Its problems.
    pub diagnostics: Vec<crate::Diagnostic>,
}

impl RuleSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compiles `(name, source)` rules in order, sharing one regex cache; returns every failing
    /// rule with its problems.
    pub fn compile<N: Into<String>, S: AsRef<str>>(
        domain: Domain,
        rules: impl IntoIterator<Item = (N, S)>,
    ) -> Result<Self, Vec<RuleError>> {
        let mut cache = RegexCache::new();
        let mut set = Self::new();
        let mut errors = Vec::new();
        for (i, (name, source)) in rules.into_iter().enumerate() {
            let name = name.into();
            match CompiledRule::compile_with_cache(domain, source.as_ref(), &mut cache) {
                Ok(rule) => set.push(name, rule),
                Err(e) => errors.push(RuleError {
                    rule: i,
                    name,
                    diagnostics: e.into_diagnostics(),
                }),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// Appends a rule (applied after the ones already in the set).
    pub fn push(&mut self, name: impl Into<String>, rule: CompiledRule) {
        self.rules.push((Arc::from(name.into()), rule));
    }

    /// How many rules the set holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule in order with [`DefaultHelpers`].
    pub fn apply<R: RecordMut + ?Sized>(&self, record: &mut R) -> ApplyReport {
        self.apply_with(record, &DefaultHelpers)
    }

    /// Applies every rule in order, resolving helpers through `helpers`; `@time:now` is one
    /// reading of `helpers.now()` for the whole set.
    pub fn apply_with<R: RecordMut + ?Sized>(
        &self,
        record: &mut R,
        helpers: &dyn HelperContext,
    ) -> ApplyReport {
        let mut report = ApplyReport::default();
        let mut fields = Vec::new();
        let clock = Clock::Fixed(helpers.now().timestamp());
        for (i, (name, rule)) in self.rules.iter().enumerate() {
            rule.apply_into(record, helpers, clock, &mut fields);
            if !fields.is_empty() {
                report.rules.push(RuleChanges {
                    rule: i,
                    name: name.clone(),
                    fields: std::mem::take(&mut fields),
                });
            }
        }
        report
    }
}
