//! Deciding what importing a document does, item by item, before anything is written.

use std::collections::{HashMap, HashSet};

use tvarr_core::{
    Domain, FieldError, Filter, FilterAction, FilterId, FilterInput, MappingRule, MappingRuleId,
    MappingRuleInput, limits,
};
use tvarr_expr::{Diagnostic, ExpressionKind};
use uuid::Uuid;

use super::{ImportCandidate, ImportDocument, ImportKind, ImportOutcome};
use crate::expr_domain;

/// A change an import makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedWrite {
    /// Create a filter.
    CreateFilter(FilterInput),
    /// Overwrite the filter of that id.
    UpdateFilter(FilterId, FilterInput),
    /// Create a rule.
    CreateRule(MappingRuleInput),
    /// Overwrite the rule of that id.
    UpdateRule(MappingRuleId, MappingRuleInput),
}

/// One item of a document, decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedItem {
    /// Filter or rule.
    pub kind: ImportKind,
    /// Its name.
    pub name: String,
    /// Its domain, when readable.
    pub domain: Option<Domain>,
    /// What happens to it.
    pub outcome: ImportOutcome,
    /// Why it is skipped or invalid.
    pub reason: Option<&'static str>,
    /// The stored filter or rule it matches by name.
    pub existing_id: Option<Uuid>,
    /// Problems other than the expression's.
    pub errors: Vec<FieldError>,
    /// The expression's problems.
    pub diagnostics: Vec<Diagnostic>,
    /// What to write; `None` for skipped and invalid items.
    pub write: Option<PlannedWrite>,
}

/// The import decided item by item, before anything is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportPlan {
    /// The document format read: `tvarr-rules` or `tvarr-go`.
    pub format: &'static str,
    /// Items to create.
    pub created: u64,
    /// Items to update.
    pub updated: u64,
    /// Items skipped.
    pub skipped: u64,
    /// Items not imported because they have problems.
    pub invalid: u64,
    /// Every item, in document order.
    pub items: Vec<PlannedItem>,
    /// Things the document asks for that are not carried over.
    pub warnings: Vec<String>,
}

/// What is stored, by name: what imported items are matched against.
struct Stored<'a> {
    filters: HashMap<&'a str, &'a Filter>,
    rules: HashMap<&'a str, &'a MappingRule>,
}

impl Stored<'_> {
    fn existing(&self, kind: ImportKind, name: &str) -> Option<Uuid> {
        match kind {
            ImportKind::Filter => self.filters.get(name).map(|f| f.id.as_uuid()),
            ImportKind::MappingRule => self.rules.get(name).map(|r| r.id.as_uuid()),
        }
    }
}

/// Decides what importing `doc` does, given what is stored: items with problems are invalid;
/// a name the document repeats, or one that is stored when `replace` is false, is skipped;
/// the rest are created or, with `replace`, update the stored one. New rules go after the
/// stored ones, in the document's priority order; a replaced rule keeps its stored priority.
pub fn plan_import(
    doc: ImportDocument,
    filters: &[Filter],
    rules: &[MappingRule],
    replace: bool,
) -> ImportPlan {
    let stored = Stored {
        filters: filters.iter().map(|f| (f.name.as_str(), f)).collect(),
        rules: rules.iter().map(|r| (r.name.as_str(), r)).collect(),
    };
    let doc_priorities: Vec<i32> = doc.items.iter().map(|c| c.priority).collect();
    let mut seen: HashSet<(ImportKind, String)> = HashSet::new();
    let mut items: Vec<PlannedItem> = doc
        .items
        .into_iter()
        .map(|c| {
            let mut item = check_item(&c);
            if item.reason.is_none() {
                decide(&mut item, c, &stored, replace, &mut seen);
            }
            item
        })
        .collect();
    number_new_rules(&mut items, &doc_priorities, next_priority(rules));
    let count = |outcome| items.iter().filter(|i| i.outcome == outcome).count() as u64;
    ImportPlan {
        format: doc.format,
        created: count(ImportOutcome::Create),
        updated: count(ImportOutcome::Update),
        skipped: count(ImportOutcome::Skip),
        invalid: count(ImportOutcome::Invalid),
        items,
        warnings: doc.warnings,
    }
}

/// The priority after every stored rule's (0 when none is stored): where a new rule goes.
pub fn next_priority(rules: &[MappingRule]) -> i32 {
    rules
        .iter()
        .map(|r| r.priority)
        .max()
        .map_or(0, |p| p.saturating_add(1))
}

/// Step 1: the item's problems (those read from the document, its name and expression
/// limits, then the expression's diagnostics when it fits the limits and has a domain). An
/// item with any is [`ImportOutcome::Invalid`], with a reason; one without is left without a
/// reason for step 2 to decide.
fn check_item(c: &ImportCandidate) -> PlannedItem {
    let mut problems = c.problems.clone();
    limits::check_name("name", &c.name, &mut problems);
    let before = problems.len();
    limits::check_expression("expression", &c.expression, &mut problems);
    let expression_fits = problems.len() == before;
    let kind = match c.kind {
        ImportKind::Filter => ExpressionKind::Filter,
        ImportKind::MappingRule => ExpressionKind::Rule,
    };
    let diagnostics = match c.domain {
        Some(domain) if expression_fits => {
            tvarr_expr::validate(expr_domain(domain), kind, &c.expression)
        }
        _ => Vec::new(),
    };
    let reason = match (problems.is_empty(), diagnostics.is_empty()) {
        (true, true) => None,
        (_, true) => Some("the item has invalid fields"),
        (_, false) => Some("the expression is invalid"),
    };
    PlannedItem {
        kind: c.kind,
        name: c.name.clone(),
        domain: c.domain,
        outcome: ImportOutcome::Invalid,
        reason,
        existing_id: None,
        errors: problems,
        diagnostics,
        write: None,
    }
}

/// Step 2, for an item without problems: skipped when the document repeats its name or
/// when one of that name is stored and `replace` is false; otherwise created, or updating
/// the stored one (a rule keeping its stored priority).
fn decide(
    item: &mut PlannedItem,
    c: ImportCandidate,
    stored: &Stored<'_>,
    replace: bool,
    seen: &mut HashSet<(ImportKind, String)>,
) {
    if !seen.insert((c.kind, c.name.clone())) {
        item.outcome = ImportOutcome::Skip;
        item.reason = Some("the document repeats this name; the first one is used");
        return;
    }
    // Without problems the domain was read (a missing one is a problem): stays invalid.
    let Some(domain) = c.domain else {
        return;
    };
    let existing = stored.existing(c.kind, &c.name);
    item.existing_id = existing;
    if existing.is_some() && !replace {
        item.outcome = ImportOutcome::Skip;
        item.reason = Some("one with this name exists; import with replace=true to overwrite it");
        return;
    }
    let write = match (c.kind, existing) {
        (ImportKind::Filter, existing) => {
            let input = FilterInput {
                name: c.name,
                domain,
                action: c.action.unwrap_or(FilterAction::Include),
                expression: c.expression,
            };
            match existing {
                Some(id) => PlannedWrite::UpdateFilter(id.into(), input),
                None => PlannedWrite::CreateFilter(input),
            }
        }
        (ImportKind::MappingRule, Some(id)) => {
            let priority = stored.rules.get(c.name.as_str()).map_or(0, |r| r.priority);
            PlannedWrite::UpdateRule(
                id.into(),
                MappingRuleInput {
                    name: c.name,
                    domain,
                    expression: c.expression,
                    priority,
                    enabled: c.enabled,
                },
            )
        }
        (ImportKind::MappingRule, None) => PlannedWrite::CreateRule(MappingRuleInput {
            name: c.name,
            domain,
            expression: c.expression,
            // Numbered in step 3, once every new rule is known.
            priority: 0,
            enabled: c.enabled,
        }),
    };
    item.outcome = if existing.is_some() {
        ImportOutcome::Update
    } else {
        ImportOutcome::Create
    };
    item.write = Some(write);
}

/// Step 3: new rules go after the stored ones (from `first`), in the document's priority
/// order (`doc_priorities`, one per item), ties in document order.
fn number_new_rules(items: &mut [PlannedItem], doc_priorities: &[i32], first: i32) {
    let mut new_rules: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i.write, Some(PlannedWrite::CreateRule(_))))
        .map(|(i, _)| i)
        .collect();
    new_rules.sort_by_key(|&i| doc_priorities.get(i).copied().unwrap_or(0));
    let mut priority = first;
    for i in new_rules {
        if let Some(PlannedItem {
            write: Some(PlannedWrite::CreateRule(input)),
            ..
        }) = items.get_mut(i)
        {
            input.priority = priority;
            priority = priority.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::read_document;
    use super::super::tests::{filter, rule};
    use super::*;

    #[test]
    fn preview_sorts_items_into_create_skip_update_and_invalid() {
        let doc = read_document(&json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [
                {"name": "adult", "domain": "stream", "action": "exclude", "expression": "group contains \"xxx\""},
                {"name": "news", "domain": "stream", "action": "include", "expression": "group == \"news\""},
                {"name": "typo", "domain": "stream", "action": "include", "expression": "chanel_name == \"x\""},
                {"name": "news", "domain": "stream", "action": "include", "expression": "true"},
                {"name": "weird", "domain": "radio", "action": "keep", "expression": "true"}
            ],
            "mapping_rules": [
                {"name": "hd", "domain": "stream", "expression": "name -= \" HD\"", "priority": 2, "enabled": true},
                {"name": "new-b", "domain": "stream", "expression": "DELETE tvg_logo", "priority": 9, "enabled": false},
                {"name": "new-a", "domain": "stream", "expression": "DELETE tvg_name", "priority": 1, "enabled": true}
            ]
        }))
        .unwrap();
        let stored_filters = [filter("adult", "true")];
        let stored_rules = [rule("hd", 4)];
        let plan = plan_import(doc.clone(), &stored_filters, &stored_rules, false);
        let outcomes: Vec<_> = plan
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.outcome))
            .collect();
        use ImportOutcome::*;
        assert_eq!(
            outcomes,
            [
                ("adult", Skip),
                ("news", Create),
                ("typo", Invalid),
                ("news", Skip),
                ("weird", Invalid),
                ("hd", Skip),
                ("new-b", Create),
                ("new-a", Create)
            ]
        );
        assert_eq!((plan.created, plan.skipped, plan.invalid), (3, 3, 2));
        let typo = &plan.items[2];
        assert_eq!(
            typo.diagnostics[0].suggestion.as_deref(),
            Some("channel_name")
        );
        assert_eq!(plan.items[4].errors.len(), 2);
        // New rules go after the stored one (priority 4), in document priority order.
        let priorities: Vec<_> = plan
            .items
            .iter()
            .filter_map(|i| match &i.write {
                Some(PlannedWrite::CreateRule(r)) => Some((r.name.as_str(), r.priority)),
                _ => None,
            })
            .collect();
        assert_eq!(priorities, [("new-b", 6), ("new-a", 5)]);

        let replaced = plan_import(doc, &stored_filters, &stored_rules, true);
        assert_eq!(replaced.items[0].outcome, Update);
        assert_eq!(
            replaced.items[0].existing_id,
            Some(stored_filters[0].id.as_uuid())
        );
        assert!(
            matches!(&replaced.items[5].write, Some(PlannedWrite::UpdateRule(_, r)) if r.priority == 4)
        );
    }

    #[test]
    fn reasons_name_what_is_wrong() {
        let doc = read_document(&json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [
                {"name": "typo", "domain": "stream", "action": "include", "expression": "chanel_name == \"x\""},
                {"name": "", "domain": "stream", "action": "include", "expression": "true"},
                {"name": "dup", "domain": "stream", "action": "include", "expression": "true"},
                {"name": "dup", "domain": "stream", "action": "include", "expression": "true"},
                {"name": "kept", "domain": "stream", "action": "include", "expression": "true"}
            ]
        }))
        .unwrap();
        let plan = plan_import(doc, &[filter("kept", "true")], &[], false);
        let reasons: Vec<_> = plan.items.iter().map(|i| i.reason).collect();
        assert_eq!(
            reasons,
            [
                Some("the expression is invalid"),
                Some("the item has invalid fields"),
                None,
                Some("the document repeats this name; the first one is used"),
                Some("one with this name exists; import with replace=true to overwrite it"),
            ]
        );
        assert_eq!(plan.items[2].outcome, ImportOutcome::Create);
        assert!(plan.items[2].write.is_some());
        assert!(plan.items[3].write.is_none() && plan.items[4].write.is_none());
    }

    #[test]
    fn an_expression_over_the_limits_is_not_parsed() {
        let long = "x".repeat(limits::EXPRESSION_MAX_BYTES + 1);
        let doc = read_document(&json!({
            "format": "tvarr-rules", "version": 1,
            "filters": [{"name": "big", "domain": "stream", "action": "include", "expression": long}]
        }))
        .unwrap();
        let plan = plan_import(doc, &[], &[], false);
        assert_eq!(plan.items[0].errors[0].field, "expression");
        assert!(plan.items[0].diagnostics.is_empty());
        assert_eq!(plan.invalid, 1);
    }
}
