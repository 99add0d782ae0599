//! A syntax error does not hide the other mistakes: every unknown field, operator and keyword of
//! a text the grammar rejects is reported, with its span and suggestion, in source order.

use std::time::{Duration, Instant};

use tvarr_expr::{
    Diagnostic, DiagnosticKind as K, Domain, ExpressionKind, MAX_EXPRESSION_LEN,
    scan_unknown_names, validate,
};

const S: Domain = Domain::Stream;
const E: Domain = Domain::Epg;
const F: ExpressionKind = ExpressionKind::Filter;
const RU: ExpressionKind = ExpressionKind::Rule;

/// The unknown names among `diags`: (kind, the text the span covers, suggestion).
fn names<'a>(source: &'a str, diags: &[Diagnostic]) -> Vec<(K, &'a str, Option<String>)> {
    diags
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                K::UnknownField | K::UnknownOperator | K::UnknownKeyword
            )
        })
        .map(|d| (d.kind, &source[d.start..d.end], d.suggestion.clone()))
        .collect()
}

#[test]
fn every_unknown_name_is_reported_although_the_grammar_stops_at_andd() {
    let source = r#"chanel_name contians "x" ANDD grup == 1"#;
    let diags = validate(S, F, source);
    let spans: Vec<(K, usize, usize, Option<&str>)> = diags
        .iter()
        .map(|d| (d.kind, d.start, d.end, d.suggestion.as_deref()))
        .collect();
    assert_eq!(
        spans,
        vec![
            (K::UnknownField, 0, 11, Some("channel_name")),
            (K::UnknownOperator, 12, 20, Some("contains")),
            (K::UnknownKeyword, 25, 29, Some("AND")),
            (K::UnknownField, 30, 34, Some("group_title")),
        ],
        "{diags:#?}"
    );
    assert_eq!(
        diags[1].message,
        "unknown operator `contians`; did you mean `contains`?"
    );
    assert_eq!(
        diags[3].message,
        "unknown field `grup`; did you mean `group_title`?"
    );
}

/// (domain, kind, expression, the unknown names expected in order: kind, text, suggestion)
type Case = (
    Domain,
    ExpressionKind,
    &'static str,
    &'static [(K, &'static str, Option<&'static str>)],
);

const CASES: &[Case] = &[
    (
        S,
        F,
        r#"chanel_name contains "x" ANDD grup_title == "y" ORR tvg_lgo startswith "http""#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownField, "grup_title", Some("group_title")),
            (K::UnknownKeyword, "ORR", Some("OR")),
            (K::UnknownField, "tvg_lgo", Some("tvg_logo")),
            (K::UnknownOperator, "startswith", Some("starts_with")),
        ],
    ),
    // words inside strings, escapes and regex literals are values, not names
    (
        S,
        F,
        r#"chanel_name contains "ANDD grup == \"contians\"" ANDD name == 'it\'s ORR x'"#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
        ],
    ),
    (
        S,
        F,
        r#"name matches /(a|b) ANDD \/ grup ("/ ANDD grup =~ "x""#,
        &[
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownField, "grup", Some("group_title")),
        ],
    ),
    (
        S,
        F,
        r#"nmae contains "Первый канал" ANDD group == "Россия" ORR tvg_idd == "é""#,
        &[
            (K::UnknownField, "nmae", Some("channel_name")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownKeyword, "ORR", Some("OR")),
            (K::UnknownField, "tvg_idd", Some("tvg_id")),
        ],
    ),
    (
        S,
        F,
        r#"(chanel_name contains "x" OR (grup == "y" ANDD NOT tvg_id contians "z"))"#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownField, "grup", Some("group_title")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownOperator, "contians", Some("contains")),
        ],
    ),
    // symbol operators written the way other languages spell them
    (
        S,
        F,
        r#"tvg_chno => 5 ANDD tvg_chno =< 3 OR name = "x""#,
        &[
            (K::UnknownOperator, "=>", Some(">=")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownOperator, "=<", Some("<=")),
            (K::UnknownOperator, "=", Some("==")),
        ],
    ),
    (
        E,
        F,
        r#"programme_titel contians "news" ORR categroy == "Sport""#,
        &[
            (K::UnknownField, "programme_titel", Some("programme_title")),
            (K::UnknownOperator, "contians", Some("contains")),
            (K::UnknownKeyword, "ORR", Some("OR")),
            (K::UnknownField, "categroy", Some("programme_category")),
        ],
    ),
    // a misspelt NOT before a condition
    (
        S,
        F,
        r#"NOTT name == "x" ANDD grup == 1"#,
        &[
            (K::UnknownKeyword, "NOTT", Some("NOT")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownField, "grup", Some("group_title")),
        ],
    ),
    // rules: conditions, actions, template references
    (
        S,
        RU,
        r#"chanel_name contians "x" ANDD grup == 1 SET tvg_lgo = "${chanel_nme} $grup""#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownOperator, "contians", Some("contains")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownField, "grup", Some("group_title")),
            (K::UnknownField, "tvg_lgo", Some("tvg_logo")),
            (K::UnknownField, "${chanel_nme}", Some("channel_name")),
            (K::UnknownField, "$grup", Some("group_title")),
        ],
    ),
    (
        S,
        RU,
        r#"(name == "a" SETT grup = "1") ORR (nmae == "b" DELETE tvg_lgo) AND"#,
        &[
            (K::UnknownKeyword, "SETT", Some("SET")),
            (K::UnknownField, "grup", Some("group_title")),
            (K::UnknownKeyword, "ORR", Some("OR")),
            (K::UnknownField, "nmae", Some("channel_name")),
            (K::UnknownField, "tvg_lgo", Some("tvg_logo")),
        ],
    ),
    (
        S,
        RU,
        r#"REMOVE chanel_name = "$1 ${x" APPEND grup += "$1" SET"#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownField, "grup", Some("group_title")),
        ],
    ),
    // an unterminated string: names before it are still reported
    (
        S,
        F,
        r#"chanel_name contians "x"#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownOperator, "contians", Some("contains")),
        ],
    ),
    // unbalanced parentheses
    (
        S,
        F,
        r#"((chanel_name contains "x" ANDD grup == 1"#,
        &[
            (K::UnknownField, "chanel_name", Some("channel_name")),
            (K::UnknownKeyword, "ANDD", Some("AND")),
            (K::UnknownField, "grup", Some("group_title")),
        ],
    ),
];

#[test]
fn recovery_cases_report_every_unknown_name_in_order() {
    let mut failures = Vec::new();
    for (i, (domain, kind, source, want)) in CASES.iter().enumerate() {
        let diags = validate(*domain, *kind, source);
        let got = names(source, &diags);
        let want: Vec<(K, &str, Option<String>)> = want
            .iter()
            .map(|(k, t, s)| (*k, *t, s.map(str::to_string)))
            .collect();
        if got != want {
            failures.push(format!(
                "#{i} `{source}`:\n  got  {got:?}\n  want {want:?}\n  all  {diags:?}"
            ));
        }
        if !diags
            .windows(2)
            .all(|w| (w[0].start, w[0].end) <= (w[1].start, w[1].end))
        {
            failures.push(format!("#{i} `{source}`: not in source order: {diags:?}"));
        }
        let mut spans: Vec<(usize, usize, K)> =
            diags.iter().map(|d| (d.start, d.end, d.kind)).collect();
        spans.dedup();
        if spans.len() != diags.len() {
            failures.push(format!("#{i} `{source}`: duplicates: {diags:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_precise_syntax_error_is_kept_beside_the_recovered_names() {
    let source = r#"chanel_name contains "x" AND AND grup == 1"#;
    let diags = validate(S, F, source);
    let syntax: Vec<&Diagnostic> = diags.iter().filter(|d| d.kind == K::Syntax).collect();
    assert_eq!(syntax.len(), 1, "{diags:?}");
    assert_eq!(&source[syntax[0].start..syntax[0].end], "AND");
    assert_eq!(
        names(source, &diags),
        vec![
            (K::UnknownField, "chanel_name", Some("channel_name".into())),
            (K::UnknownField, "grup", Some("group_title".into())),
        ]
    );
    // The grammar's own diagnosis of ANDD and the recovered one are the same: reported once.
    let source = r#"name contains "x" ANDD group == "y""#;
    let diags = validate(S, F, source);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].kind, K::UnknownKeyword);
}

#[test]
fn the_tolerant_pass_alone_finds_nothing_in_valid_expressions() {
    let valid: &[(Domain, ExpressionKind, &str)] = &[
        (S, F, r#"name contains "ANDD grup == contians""#),
        (
            S,
            F,
            r#"name == 'it\'s' AND NOT (group == "a\"b" OR tvg_id =~ /x|(y)\/z/)"#,
        ),
        (S, F, r#"!(name == x) && tvg_chno >= 5 || tvg_chno<3"#),
        (
            S,
            F,
            r#"name ==ANDROID and name !~ "\\(" or name not contains ")""#,
        ),
        (
            S,
            F,
            r#"name case_sensitive not starts_with "Пер" AND tvg-country == "é""#,
        ),
        (
            S,
            F,
            r#"extra.tvg-rec == "1" AND catchup-correction > 2 AND true"#,
        ),
        (S, F, "name\tcontains\n\"x\"\r\nAND\tfalse"),
        (
            S,
            RU,
            r#"name matches "(.+) HD" SET name = "$1 ${tvg_id} @{time:now:%Y}""#,
        ),
        (
            S,
            RU,
            r#"(name == "a" SET tvg_id = "1") OR (name == "b" SET tvg_id = "2")"#,
        ),
        (
            S,
            RU,
            r#"name -= " HD", group ?= "News" tvg_logo = "@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV""#,
        ),
        (S, RU, r#"REMOVE name = /\s*\(.*\)/ DELETE tvg_logo"#),
        (
            E,
            F,
            r#"programme_start > "@time:now-2h" AND desc contains "x""#,
        ),
    ];
    for (domain, kind, source) in valid {
        assert_eq!(validate(*domain, *kind, source), vec![], "`{source}`");
        assert_eq!(
            scan_unknown_names(*domain, *kind, source),
            vec![],
            "`{source}`"
        );
    }
}

/// Texts of nearly 64 KiB built to make a careless scanner quadratic.
fn adversarial() -> Vec<(ExpressionKind, String)> {
    let fill = |unit: &str, prefix: &str| {
        let mut s = prefix.to_string();
        while s.len() + unit.len() <= MAX_EXPRESSION_LEN {
            s.push_str(unit);
        }
        s
    };
    vec![
        (F, fill("ANDD ", "name == 1 ")),
        (F, fill("grup contians x ANDD ", "")),
        (F, fill("x y ", "name == 1 ")),
        (F, fill("a", "name == 1 ")),
        (F, fill("a", "")),
        (F, fill("not ", "a ")),
        (F, fill("/", "name == ")),
        (F, fill("=", "name ")),
        (F, fill(" -", "name == 1 ANDD a")),
        (RU, fill("${", r#"SET name = ""#)),
        (RU, fill("@{", r#"SET name = ""#)),
        (RU, fill("@{x}", r#"SET name = ""#)),
        (RU, fill("$a", "SET name = ")),
        (RU, fill("SETT ", "name == 1 ")),
        (RU, fill("a = b ", "ANDD ")),
        // every name different, so nothing is judged twice
        (F, distinct(|i| format!("f{i} contians x ANDD "))),
        (RU, distinct(|i| format!("SET f{i} = \"${{g{i}}}\" "))),
    ]
}

fn distinct(unit: impl Fn(usize) -> String) -> String {
    let mut s = String::new();
    for i in 0.. {
        let next = unit(i);
        if s.len() + next.len() > MAX_EXPRESSION_LEN {
            break;
        }
        s.push_str(&next);
    }
    s
}

#[test]
fn recovery_is_linear_on_adversarial_input() {
    let mut slow = Vec::new();
    for (kind, source) in adversarial() {
        assert!(source.len() <= MAX_EXPRESSION_LEN);
        let started = Instant::now();
        let diags = validate(S, kind, &source);
        let recovered = scan_unknown_names(S, kind, &source);
        let took = started.elapsed();
        assert!(!diags.is_empty() || recovered.is_empty());
        let head = &source[..40.min(source.len())];
        eprintln!("{took:>12?}  {} diagnostics  `{head}…`", diags.len());
        // A linear pass takes milliseconds even unoptimised on a busy machine; a quadratic one
        // (64K × 64K steps) takes far longer than this.
        if took > Duration::from_secs(3) {
            slow.push(format!("{took:?} for `{head}…`"));
        }
    }
    assert!(slow.is_empty(), "{slow:#?}");
}
