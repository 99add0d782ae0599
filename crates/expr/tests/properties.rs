//! Properties: printing a tree and parsing it back gives the same tree; no input makes
//! validation, compilation or evaluation panic.

use proptest::prelude::*;
use tvarr_expr::{
    Action, ActionKind, Comparison, CompiledFilter, CompiledRule, Condition, DefaultHelpers,
    Diagnostic, Domain, ExpressionKind, HelperCall, MapRecord, Name, Operator, Rule, RuleBranch,
    Span, Value, ValuePart, parse_filter, parse_rule, scan_unknown_names, validate,
};

const FIELD_NAMES: &[&str] = &[
    "channel_name",
    "name",
    "group-title",
    "TVG_ID",
    "tvg_chno",
    "extra.tvg-rec",
    "tvg-country",
    "programme_title",
    "source_name",
    "x",
];

fn name(text: &str) -> Name {
    Name {
        text: text.to_string(),
        span: Span::default(),
    }
}

fn field_name() -> impl Strategy<Value = Name> {
    prop::sample::select(FIELD_NAMES).prop_map(name)
}

fn operator() -> impl Strategy<Value = Operator> {
    prop::sample::select(vec![
        Operator::Equals,
        Operator::Contains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Matches,
        Operator::GreaterThan,
        Operator::LessThan,
        Operator::GreaterThanOrEqual,
        Operator::LessThanOrEqual,
    ])
}

fn helper() -> impl Strategy<Value = HelperCall> {
    ("[a-z][a-z_]{0,5}", "[a-zA-Z0-9+:%_-]{0,12}").prop_map(|(name, argument)| HelperCall {
        name,
        argument,
        span: Span::default(),
    })
}

fn value(parts: Vec<ValuePart>) -> Value {
    Value {
        parts,
        regex: false,
        span: Span::default(),
    }
}

/// Values of conditions and REMOVE: any text, a single helper, or a regex literal.
fn pattern_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => any::<String>().prop_map(|t| value(vec![ValuePart::Text(t)])),
        1 => helper().prop_map(|h| value(vec![ValuePart::Helper(h)])),
        1 => "[a-zA-Z0-9 .*+?()|^$/\\[\\]-]{1,16}".prop_map(|p| Value {
            parts: vec![ValuePart::Text(p)],
            regex: true,
            span: Span::default(),
        }),
    ]
}

fn template_part() -> impl Strategy<Value = ValuePart> {
    prop_oneof![
        3 => ".{1,12}".prop_map(ValuePart::Text),
        1 => field_name().prop_map(ValuePart::Field),
        1 => (1u8..=9).prop_map(|group| ValuePart::Capture { group, span: Span::default() }),
        1 => helper().prop_map(ValuePart::Helper),
    ]
}

/// Action values: text mixed with references; adjacent text parts would merge, so join them.
fn template_value() -> impl Strategy<Value = Value> {
    prop::collection::vec(template_part(), 0..5).prop_map(|parts| {
        let mut merged: Vec<ValuePart> = Vec::new();
        for part in parts {
            match (merged.last_mut(), part) {
                (Some(ValuePart::Text(prev)), ValuePart::Text(next)) => prev.push_str(&next),
                (_, part) => merged.push(part),
            }
        }
        if merged.is_empty() {
            merged.push(ValuePart::Text(String::new()));
        }
        value(merged)
    })
}

fn comparison() -> impl Strategy<Value = Condition> {
    (
        field_name(),
        operator(),
        any::<bool>(),
        any::<bool>(),
        pattern_value(),
    )
        .prop_map(|(field, operator, negated, case_sensitive, value)| {
            Condition::Compare(Comparison {
                field,
                operator,
                negated,
                case_sensitive,
                value,
                operator_span: Span::default(),
            })
        })
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        4 => comparison(),
        1 => any::<bool>().prop_map(|value| Condition::Literal { value, span: Span::default() }),
    ];
    leaf.prop_recursive(6, 32, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Condition::Not {
                inner: Box::new(c),
                span: Span::default()
            }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
            prop::collection::vec(inner, 2..4).prop_map(Condition::Or),
        ]
    })
}

fn action() -> impl Strategy<Value = Action> {
    (
        prop::sample::select(vec![
            ActionKind::Set,
            ActionKind::SetIfEmpty,
            ActionKind::Append,
            ActionKind::Remove,
            ActionKind::Delete,
        ]),
        field_name(),
        template_value(),
        pattern_value(),
    )
        .prop_map(|(kind, field, template, pattern)| Action {
            kind,
            field,
            value: match kind {
                ActionKind::Delete => None,
                ActionKind::Remove => Some(pattern),
                _ => Some(template),
            },
            span: Span::default(),
        })
}

fn rule() -> impl Strategy<Value = Rule> {
    let actions = || prop::collection::vec(action(), 1..4);
    prop_oneof![
        (prop::option::of(condition()), actions()).prop_map(|(condition, actions)| Rule {
            branches: vec![RuleBranch { condition, actions }],
        }),
        prop::collection::vec((condition(), actions()), 2..4).prop_map(|groups| Rule {
            branches: groups
                .into_iter()
                .map(|(c, actions)| RuleBranch {
                    condition: Some(c),
                    actions
                })
                .collect(),
        }),
    ]
}

/// Fragments of the language, to build inputs that get deep into the grammar.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "AND",
    "or",
    "NOT",
    "!",
    "&&",
    "||",
    "channel_name",
    "chanel_name",
    "group-title",
    "extra.x",
    "tvg_chno",
    "programme_start",
    "==",
    "!=",
    "=~",
    "!~",
    ">",
    "<=",
    "contains",
    "not",
    "case_sensitive",
    "matches",
    "gt",
    "\"x\"",
    "'y'",
    "\"(.+) HD$\"",
    "\"[\"",
    "5",
    "/a(b)/",
    "/",
    "SET",
    "SET_IF_EMPTY",
    "APPEND",
    "REMOVE",
    "DELETE",
    "=",
    "?=",
    "+=",
    "-=",
    ",",
    "$1",
    "$9",
    "$channel_name",
    "${tvg_id}",
    "@time:now",
    "@{time:now:%Y}",
    "@logo:X",
    "@time:now+99999999999w",
    "\"@time:now:%Q\"",
    "\\",
    "\"",
    "true",
    "Первый",
    "\"\\d+\"",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(TOKENS), any::<bool>()), 0..24).prop_map(|ts| {
        let mut s = String::new();
        for (t, space) in ts {
            s.push_str(t);
            if space {
                s.push(' ');
            }
        }
        s
    })
}

fn sample_record(domain: Domain) -> MapRecord {
    MapRecord::from_pairs(
        domain,
        [
            ("channel_name", "BBC One HD"),
            ("tvg_chno", "7"),
            ("programme_start", "20240115220000 +0000"),
            ("programme_title", "Первый"),
        ],
    )
}

/// The tolerant pass on `source`: spans on character boundaries, in order, each once, and
/// nothing at all when `validate` finds nothing.
fn check_tolerant(domain: Domain, kind: ExpressionKind, source: &str, validated: &[Diagnostic]) {
    let found = scan_unknown_names(domain, kind, source);
    for d in &found {
        assert!(d.start < d.end && d.end <= source.len(), "bad span {d:?}");
        assert!(source.is_char_boundary(d.start) && source.is_char_boundary(d.end));
    }
    assert!(
        found.windows(2).all(|w| w[0].start < w[1].start),
        "not in order or repeated: {found:?}"
    );
    if validated.is_empty() {
        assert!(
            found.is_empty(),
            "valid, but the tolerant pass found {found:?}"
        );
    }
}

/// For text that parses, what the tolerant pass finds is what `validate` finds too.
fn tolerant_agrees(domain: Domain, kind: ExpressionKind, source: &str) -> Result<(), String> {
    let validated = validate(domain, kind, source);
    for d in scan_unknown_names(domain, kind, source) {
        if !validated.contains(&d) {
            return Err(format!("{d:?} not in {validated:?} for `{source}`"));
        }
    }
    Ok(())
}

fn exercise(source: &str) {
    for domain in [Domain::Stream, Domain::Epg] {
        let filter_diags = validate(domain, ExpressionKind::Filter, source);
        let rule_diags = validate(domain, ExpressionKind::Rule, source);
        check_tolerant(domain, ExpressionKind::Filter, source, &filter_diags);
        check_tolerant(domain, ExpressionKind::Rule, source, &rule_diags);
        for d in filter_diags.iter().chain(&rule_diags) {
            assert!(d.start <= d.end && d.end <= source.len(), "bad span {d:?}");
            assert!(!d.message.is_empty());
        }
        let mut record = sample_record(domain);
        match CompiledFilter::compile(domain, source) {
            Ok(f) => {
                assert!(
                    filter_diags.is_empty(),
                    "compiled but validate said {filter_diags:?}"
                );
                f.matches(&record);
            }
            Err(e) => {
                for d in e.diagnostics() {
                    assert!(
                        filter_diags.contains(d),
                        "{d:?} missing from {filter_diags:?}"
                    );
                }
            }
        }
        match CompiledRule::compile(domain, source) {
            Ok(r) => {
                assert!(
                    rule_diags.is_empty(),
                    "compiled but validate said {rule_diags:?}"
                );
                r.apply(&mut record, &DefaultHelpers);
            }
            Err(_) => assert!(!rule_diags.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_conditions_parse_back_to_the_same_tree(tree in condition()) {
        let text = tree.to_string();
        let parsed = parse_filter(&text);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&tree), "printed: {}\nerror: {:?}", text, parsed.as_ref().err());
    }

    #[test]
    fn printed_rules_parse_back_to_the_same_tree(tree in rule()) {
        let text = tree.to_string();
        let parsed = parse_rule(&text);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&tree), "printed: {}\nerror: {:?}", text, parsed.as_ref().err());
    }

    #[test]
    fn tolerant_pass_on_printed_conditions_reports_only_what_validate_reports(tree in condition()) {
        let text = tree.to_string();
        for domain in [Domain::Stream, Domain::Epg] {
            let agrees = tolerant_agrees(domain, ExpressionKind::Filter, &text);
            prop_assert!(agrees.is_ok(), "{}", agrees.unwrap_err());
        }
    }

    #[test]
    fn tolerant_pass_on_printed_rules_reports_only_what_validate_reports(tree in rule()) {
        let text = tree.to_string();
        for domain in [Domain::Stream, Domain::Epg] {
            let agrees = tolerant_agrees(domain, ExpressionKind::Rule, &text);
            prop_assert!(agrees.is_ok(), "{}", agrees.unwrap_err());
        }
    }

    #[test]
    fn any_string_gets_an_answer_without_panicking(source in any::<String>()) {
        exercise(&source);
    }

    #[test]
    fn any_token_soup_gets_an_answer_without_panicking(source in token_soup()) {
        exercise(&source);
    }
}
