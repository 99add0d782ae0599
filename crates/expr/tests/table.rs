//! The behaviour of the language, case by case: filters, rules and errors.

use chrono::{DateTime, TimeZone, Utc};
use tvarr_expr::{
    CompiledFilter, CompiledRule, DefaultHelpers, DiagnosticKind as K, Domain, ExpressionKind,
    HelperContext, MAX_EXPRESSION_LEN, MAX_REGEXES_PER_EXPRESSION, MapRecord, RegexCache, RuleSet,
    RunHelpers, scan_unknown_names, validate,
};

fn bbc() -> MapRecord {
    MapRecord::from_pairs(
        Domain::Stream,
        [
            ("channel_name", "BBC One HD"),
            ("group_title", "UK | Entertainment"),
            ("tvg_id", "bbc1.uk"),
            ("tvg_name", "BBC One"),
            ("tvg_chno", "101"),
            ("tvg_shift", "-1.5"),
            ("channel_number", "5"),
            ("stream_url", "http://provider.example/live/123.ts"),
            ("source_name", "Provider A"),
            ("source_type", "m3u"),
            ("tvg-country", "GB"),
            ("catchup_days", "7"),
        ],
    )
}

fn pervyi() -> MapRecord {
    MapRecord::from_pairs(
        Domain::Stream,
        [
            ("channel_name", "Первый канал"),
            ("group_title", "Россия"),
            ("tvg_chno", "1"),
        ],
    )
}

fn news() -> MapRecord {
    MapRecord::from_pairs(
        Domain::Epg,
        [
            ("programme_title", "The News at Ten"),
            ("programme_sub_title", "Evening edition"),
            ("programme_category", "News"),
            ("programme_start", "20240115220000 +0000"),
            ("programme_stop", "2024-01-15T22:30:00Z"),
            ("programme_channel", "bbc1.uk"),
            ("programme_episode", "S01E05"),
        ],
    )
}

#[derive(Clone, Copy)]
enum Rec {
    Bbc,
    Pervyi,
    Empty,
    News,
}

fn record(r: Rec) -> (Domain, MapRecord) {
    match r {
        Rec::Bbc => (Domain::Stream, bbc()),
        Rec::Pervyi => (Domain::Stream, pervyi()),
        Rec::Empty => (Domain::Stream, MapRecord::new()),
        Rec::News => (Domain::Epg, news()),
    }
}

use Rec::{Bbc, Empty, News, Pervyi};

const FILTER_CASES: &[(&str, Rec, bool)] = &[
    // equals and its spellings; text equality ignores case by default
    (r#"channel_name equals "BBC One HD""#, Bbc, true),
    (r#"channel_name equals "bbc one hd""#, Bbc, true),
    (r#"channel_name equals "BBC One""#, Bbc, false),
    (r#"channel_name eq "bbc one hd""#, Bbc, true),
    (r#"channel_name == "BBC ONE HD""#, Bbc, true),
    (r#"channel_name is "BBC One HD""#, Bbc, true),
    (r#"channel_name EQUALS "BBC One HD""#, Bbc, true),
    (r#"channel_name not_equals "BBC One HD""#, Bbc, false),
    (r#"channel_name neq "ITV""#, Bbc, true),
    (r#"channel_name != "ITV""#, Bbc, true),
    (r#"channel_name != "bbc one hd""#, Bbc, false),
    (r#"channel_name not equals "BBC One HD""#, Bbc, false),
    (r#"channel_name not not_equals "BBC One HD""#, Bbc, true),
    // contains
    (r#"channel_name contains "One""#, Bbc, true),
    (r#"channel_name contains "one""#, Bbc, true),
    (r#"channel_name contains "Two""#, Bbc, false),
    (r#"channel_name not_contains "Two""#, Bbc, true),
    (r#"channel_name not contains "one""#, Bbc, false),
    (r#"channel_name contains """#, Bbc, true),
    // starts_with / ends_with
    (r#"channel_name starts_with "bbc""#, Bbc, true),
    (r#"channel_name starts_with "One""#, Bbc, false),
    (r#"channel_name not_starts_with "ITV""#, Bbc, true),
    (r#"channel_name ends_with " hd""#, Bbc, true),
    (r#"channel_name ends_with "SD""#, Bbc, false),
    (r#"channel_name not_ends_with "HD""#, Bbc, false),
    (r#"stream_url starts_with "http://""#, Bbc, true),
    (r#"stream_url ends_with ".ts""#, Bbc, true),
    // case_sensitive modifier
    (r#"channel_name case_sensitive contains "bbc""#, Bbc, false),
    (r#"channel_name case_sensitive contains "BBC""#, Bbc, true),
    (
        r#"channel_name case_sensitive equals "bbc one hd""#,
        Bbc,
        false,
    ),
    (
        r#"channel_name case_sensitive starts_with "BBC""#,
        Bbc,
        true,
    ),
    (r#"channel_name case_sensitive ends_with "hd""#, Bbc, false),
    (r#"case_sensitive channel_name contains "One""#, Bbc, true),
    (
        r#"channel_name not case_sensitive contains "bbc""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name case_sensitive not contains "BBC""#,
        Bbc,
        false,
    ),
    // matches: case-insensitive by default, inline flags and case_sensitive respected
    (r#"channel_name matches "^bbc .* hd$""#, Bbc, true),
    (r#"channel_name =~ "one""#, Bbc, true),
    (r#"channel_name matches "(?-i)^bbc""#, Bbc, false),
    (r#"channel_name case_sensitive matches "^bbc""#, Bbc, false),
    (r#"channel_name case_sensitive matches "^BBC""#, Bbc, true),
    (r#"channel_name not_matches "^ITV""#, Bbc, true),
    (r#"channel_name !~ "HD$""#, Bbc, false),
    (r#"channel_name matches /^BBC\s+One/"#, Bbc, true),
    (r#"channel_name matches "\d""#, Bbc, false),
    (r#"tvg_id matches "^bbc1\.uk$""#, Bbc, true),
    (r#"tvg_id matches "^bbc1\\.uk$""#, Bbc, true),
    // numeric comparisons
    (r#"tvg_chno > 100"#, Bbc, true),
    (r#"tvg_chno greater_than "101""#, Bbc, false),
    (r#"tvg_chno >= 101"#, Bbc, true),
    (r#"tvg_chno gte 102"#, Bbc, false),
    (r#"tvg_chno < 200"#, Bbc, true),
    (r#"tvg_chno lt 101"#, Bbc, false),
    (r#"tvg_chno <= 101"#, Bbc, true),
    (r#"tvg_chno lte 100.5"#, Bbc, false),
    (r#"tvg_chno less_than_or_equal 101"#, Bbc, true),
    (r#"tvg_chno greater_than_or_equal 101.0"#, Bbc, true),
    (r#"tvg_chno gt 9"#, Bbc, true),
    (r#"tvg_shift < 0"#, Bbc, true),
    (r#"tvg_shift >= -1.5"#, Bbc, true),
    (r#"channel_number le 5"#, Bbc, true),
    (r#"catchup_days ge 7"#, Bbc, true),
    (r#"tvg_chno not > 100"#, Bbc, false),
    (r#"tvg_chno > 0"#, Empty, false),
    (r#"tvg_chno not > 0"#, Empty, true),
    (r#"tvg_chno == "101""#, Bbc, true),
    // logic, precedence, grouping
    (
        r#"channel_name contains "BBC" AND group_title contains "UK""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name contains "BBC" AND group_title contains "US""#,
        Bbc,
        false,
    ),
    (
        r#"channel_name contains "ITV" OR group_title contains "UK""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name contains "ITV" OR group_title contains "US""#,
        Bbc,
        false,
    ),
    (
        r#"channel_name contains "ITV" AND group_title contains "US" OR tvg_id == "bbc1.uk""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name contains "ITV" AND (group_title contains "US" OR tvg_id == "bbc1.uk")"#,
        Bbc,
        false,
    ),
    (
        r#"tvg_id == "bbc1.uk" OR channel_name contains "ITV" AND group_title contains "US""#,
        Bbc,
        true,
    ),
    (
        r#"(tvg_id == "bbc1.uk" OR channel_name contains "ITV") AND group_title contains "US""#,
        Bbc,
        false,
    ),
    (
        r#"channel_name contains "bbc" and group_title contains "uk""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name contains "bbc" && group_title contains "uk""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name contains "itv" || group_title contains "uk""#,
        Bbc,
        true,
    ),
    (
        r#"channel_name contains "itv" Or group_title contains "uk""#,
        Bbc,
        true,
    ),
    (r#"NOT channel_name contains "ITV""#, Bbc, true),
    (r#"not channel_name contains "BBC""#, Bbc, false),
    (r#"! channel_name contains "BBC""#, Bbc, false),
    (
        r#"!(channel_name contains "ITV" OR tvg_chno > 500)"#,
        Bbc,
        true,
    ),
    (r#"NOT NOT channel_name contains "BBC""#, Bbc, true),
    (
        r#"NOT (channel_name contains "BBC" AND tvg_chno > 500)"#,
        Bbc,
        true,
    ),
    (
        r#"NOT channel_name contains "BBC" OR tvg_chno > 100"#,
        Bbc,
        true,
    ),
    (
        r#"NOT channel_name contains "BBC" AND tvg_chno > 100"#,
        Bbc,
        false,
    ),
    (r#"((((channel_name contains "BBC"))))"#, Bbc, true),
    (
        r#"(channel_name contains "x" OR (tvg_id == "y" OR (group_title contains "uk")))"#,
        Bbc,
        true,
    ),
    (r#"true"#, Bbc, true),
    (r#"FALSE"#, Bbc, false),
    (r#"true AND channel_name contains "BBC""#, Bbc, true),
    (r#"false OR channel_name contains "ITV""#, Bbc, false),
    // aliases and attribute spellings
    (r#"name contains "BBC""#, Bbc, true),
    (r#"group contains "entertainment""#, Bbc, true),
    (r#"group-title contains "UK""#, Bbc, true),
    (r#"GROUP_TITLE contains "UK""#, Bbc, true),
    (r#"tvg-id == "bbc1.uk""#, Bbc, true),
    (r#"epg_id == "bbc1.uk""#, Bbc, true),
    (r#"url contains "provider""#, Bbc, true),
    (r#"chno == "5""#, Bbc, true),
    (r#"source == "provider a""#, Bbc, true),
    (r#"source_type == "m3u""#, Bbc, true),
    (r#"logo == """#, Bbc, true),
    (r#"tvg-logo == """#, Bbc, true),
    // extra attributes
    (r#"tvg-country == "gb""#, Bbc, true),
    (r#"tvg_country == "GB""#, Bbc, true),
    (r#"country == "gb""#, Bbc, true),
    (r#"extra.tvg-country == "GB""#, Bbc, true),
    (r#"tvg-language == "English""#, Bbc, false),
    (r#"tvg-language == """#, Bbc, true),
    (r#"extra.tvg-rec > 1"#, Bbc, false),
    // missing fields read as empty
    (r#"channel_name == """#, Empty, true),
    (r#"channel_name contains "a""#, Empty, false),
    (r#"channel_name not_contains "a""#, Empty, true),
    (r#"channel_name matches "^$""#, Empty, true),
    // values: single quotes, escapes, bare words and numbers
    (r#"channel_name == 'BBC One HD'"#, Bbc, true),
    (r#"group_title contains 'UK | ent'"#, Bbc, true),
    (r#"channel_name contains BBC"#, Bbc, true),
    (r#"channel_name contains BBC AND tvg_chno > 100"#, Bbc, true),
    (r#"tvg_name == "BBC\u0020One""#, Bbc, false),
    (r#"channel_name contains "\"""#, Bbc, false),
    // unicode
    (r#"channel_name contains "ПЕРВЫЙ""#, Pervyi, true),
    (r#"channel_name equals "первый КАНАЛ""#, Pervyi, true),
    (r#"channel_name starts_with "ПЕР""#, Pervyi, true),
    (r#"channel_name ends_with "КАНАЛ""#, Pervyi, true),
    (
        r#"channel_name case_sensitive contains "ПЕРВЫЙ""#,
        Pervyi,
        false,
    ),
    (r#"channel_name matches "^первый""#, Pervyi, true),
    (r#"group_title == "РОССИЯ""#, Pervyi, true),
    (
        r#"channel_name contains "канал" AND tvg_chno == "1""#,
        Pervyi,
        true,
    ),
    (r#"channel_name contains "an""#, Pervyi, false),
    // programmes: text, aliases, times
    (r#"programme_title contains "news""#, News, true),
    (r#"program_title contains "news""#, News, true),
    (r#"title starts_with "the""#, News, true),
    (r#"programme_sub_title == "evening edition""#, News, true),
    (r#"subtitle contains "evening""#, News, true),
    (r#"genre == "news""#, News, true),
    (r#"programme_start > "2024-01-15T21:00:00Z""#, News, true),
    (r#"programme_start >= "20240115220000 +0000""#, News, true),
    (r#"programme_start > "20240115230000 +0100""#, News, false),
    (r#"programme_start < "20240115220000 -0100""#, News, true),
    (
        r#"programme_stop <= "2024-01-15T22:30:00+00:00""#,
        News,
        true,
    ),
    (r#"programme_stop < "@time:now""#, News, true),
    (r#"programme_start > @time:now"#, News, false),
    (r#"programme_stop > "@time:now-36500d""#, News, true),
    (r#"programme_start < "@time:now+2h""#, News, true),
    (r#"programme_start contains "20240115""#, News, true),
    (r#"programme_channel == "BBC1.UK""#, News, true),
    (r#"episode matches "S(\d+)E(\d+)""#, News, true),
];

#[test]
fn filter_cases_evaluate_as_specified() {
    let mut failures = Vec::new();
    for (i, (expr, rec, expected)) in FILTER_CASES.iter().enumerate() {
        let (domain, record) = record(*rec);
        match CompiledFilter::compile(domain, expr) {
            Ok(filter) => {
                if filter.matches(&record) != *expected {
                    failures.push(format!("#{i} `{expr}`: expected {expected}"));
                }
            }
            Err(e) => failures.push(format!("#{i} `{expr}`: did not compile: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// (domain, kind, expression, expected kind, message fragment, suggestion)
type ErrorCase = (
    Domain,
    ExpressionKind,
    &'static str,
    K,
    &'static str,
    Option<&'static str>,
);

const S: Domain = Domain::Stream;
const E: Domain = Domain::Epg;
const F: ExpressionKind = ExpressionKind::Filter;
const RU: ExpressionKind = ExpressionKind::Rule;

const ERROR_CASES: &[ErrorCase] = &[
    (
        S,
        F,
        r#"chanel_name contains "x""#,
        K::UnknownField,
        "unknown field `chanel_name`; did you mean `channel_name`?",
        Some("channel_name"),
    ),
    (
        S,
        F,
        r#"grup_title == "x""#,
        K::UnknownField,
        "unknown field `grup_title`",
        Some("group_title"),
    ),
    (
        S,
        F,
        r#"tvg_lgo == "x""#,
        K::UnknownField,
        "unknown field",
        Some("tvg_logo"),
    ),
    (
        S,
        F,
        r#"tvg-lgo == "x""#,
        K::UnknownField,
        "unknown field `tvg-lgo`",
        Some("tvg_logo"),
    ),
    (
        S,
        F,
        r#"programme_title == "x""#,
        K::UnknownField,
        "unknown field `programme_title`",
        None,
    ),
    (
        E,
        F,
        r#"programme_titel == "x""#,
        K::UnknownField,
        "unknown field",
        Some("programme_title"),
    ),
    (
        E,
        F,
        r#"channel_name == "x""#,
        K::UnknownField,
        "unknown field `channel_name`",
        Some("programme_channel"),
    ),
    (S, F, r#"extra. == "x""#, K::Syntax, "expected", None),
    (
        S,
        F,
        r#"channel_name contians "x""#,
        K::UnknownOperator,
        "unknown operator `contians`; did you mean `contains`?",
        Some("contains"),
    ),
    (
        S,
        F,
        r#"channel_name equal "x""#,
        K::UnknownOperator,
        "unknown operator `equal`",
        Some("equals"),
    ),
    (
        S,
        F,
        r#"channel_name startswith "x""#,
        K::UnknownOperator,
        "unknown operator",
        Some("starts_with"),
    ),
    (
        S,
        F,
        r#"channel_name like "x""#,
        K::UnknownOperator,
        "unknown operator `like`",
        None,
    ),
    (
        S,
        F,
        r#"channel_name = "x""#,
        K::Syntax,
        "expected an operator",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains "x" ANDD tvg_id == "y""#,
        K::UnknownKeyword,
        "unknown keyword `ANDD`; did you mean `AND`?",
        Some("AND"),
    ),
    (
        S,
        F,
        r#"channel_name contains "x" ORR tvg_id == "y""#,
        K::UnknownKeyword,
        "unknown keyword `ORR`",
        Some("OR"),
    ),
    (
        S,
        F,
        r#"channel_name contains "x" SET group_title = "y""#,
        K::InvalidAction,
        "a filter cannot have actions",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name contains "x" SETT group_title = "y""#,
        K::UnknownKeyword,
        "unknown keyword `SETT`",
        Some("SET"),
    ),
    (
        S,
        F,
        r#"channel_name matches "([a-z""#,
        K::InvalidRegex,
        "invalid regular expression",
        None,
    ),
    (
        S,
        F,
        r#"channel_name matches "a{5000}{5000}""#,
        K::InvalidRegex,
        "invalid regular expression",
        None,
    ),
    (
        S,
        F,
        r#"channel_name matches /(/"#,
        K::InvalidRegex,
        "invalid regular expression",
        None,
    ),
    (
        S,
        F,
        r#"channel_name > 5"#,
        K::TypeMismatch,
        "`greater_than` compares numbers or times, but `channel_name` is a text field",
        None,
    ),
    (
        S,
        F,
        r#"stream_url lt "x""#,
        K::TypeMismatch,
        "is a text field",
        None,
    ),
    (
        S,
        F,
        r#"tvg_chno > "ten""#,
        K::InvalidValue,
        "`ten` is not a number",
        None,
    ),
    (
        E,
        F,
        r#"programme_start > "tomorrow""#,
        K::InvalidValue,
        "`tomorrow` is not a time",
        None,
    ),
    (
        E,
        F,
        r#"programme_start > "@time:later""#,
        K::InvalidValue,
        "invalid @time argument `later`",
        None,
    ),
    (
        E,
        F,
        r#"programme_start > "@tme:now""#,
        K::UnknownHelper,
        "unknown helper `@tme`",
        Some("@time"),
    ),
    (
        S,
        F,
        r#"channel_name contains "@time:now""#,
        K::InvalidValue,
        "a helper can only be compared",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains /x/"#,
        K::InvalidValue,
        "a /regex/ value needs `matches`",
        None,
    ),
    (S, F, "", K::Empty, "expression is empty", None),
    (S, F, "   \n\t ", K::Empty, "expression is empty", None),
    (
        S,
        F,
        r#"(channel_name contains "x""#,
        K::Syntax,
        "missing `)`",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains "x")"#,
        K::Syntax,
        "unexpected `)`",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains "x"#,
        K::Syntax,
        "unterminated string",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains"#,
        K::Syntax,
        "expected a value",
        None,
    ),
    (
        S,
        F,
        r#"channel_name"#,
        K::Syntax,
        "expected an operator",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains "x" AND"#,
        K::Syntax,
        "expected a field name, found the end of the expression",
        None,
    ),
    (
        S,
        F,
        r#"AND channel_name contains "x""#,
        K::Syntax,
        "expected a field name",
        None,
    ),
    (
        S,
        F,
        r#"channel_name contains "x" group_title contains "y""#,
        K::Syntax,
        "found `group_title`",
        None,
    ),
    (
        S,
        RU,
        r#"source_name contains "x" SET source_name = "y""#,
        K::ReadOnlyField,
        "field `source_name` is read-only",
        None,
    ),
    (
        S,
        RU,
        r#"DELETE source_type"#,
        K::ReadOnlyField,
        "read-only",
        None,
    ),
    (
        E,
        RU,
        r#"SET programme_start = "20240101000000""#,
        K::ReadOnlyField,
        "field `programme_start` is read-only",
        None,
    ),
    (
        S,
        RU,
        r#"SET channel_name = "$1""#,
        K::InvalidCapture,
        "`$1` refers to a capture group, but the condition has no `matches`",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name matches "(.+) HD" SET channel_name = "$2""#,
        K::InvalidCapture,
        "`$2` refers to capture group 2, but the pattern has 1 group",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name matches "HD" SET channel_name = "$1""#,
        K::InvalidCapture,
        "has 0 groups",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name not_matches "(.+)" SET channel_name = "$1""#,
        K::InvalidCapture,
        "has no `matches`",
        None,
    ),
    // Captures come from the last `matches` that succeeded: every one that can be it counts.
    (
        S,
        RU,
        r#"channel_name matches "(x)" OR tvg_id matches "(x)(y)" SET tvg_name = "$2""#,
        K::InvalidCapture,
        "`$2` refers to capture group 2, but the captures may come from a `matches` with only 1 group",
        None,
    ),
    (
        S,
        RU,
        r#"tvg_id matches "(x)(y)" OR channel_name matches "(x)" SET tvg_name = "$2""#,
        K::InvalidCapture,
        "may come from a `matches` with only 1 group",
        None,
    ),
    (
        S,
        RU,
        r#"tvg_id matches "^(\w+)\.(\w+)$" AND channel_name matches "^(.+) HD$" SET tvg_name = "$2""#,
        K::InvalidCapture,
        "`$2` refers to capture group 2, but the pattern has 1 group",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name matches "^(.+) HD$" AND tvg_id matches "^uk\." SET tvg_name = "$1""#,
        K::InvalidCapture,
        "the pattern has 0 groups",
        None,
    ),
    (
        S,
        RU,
        r#"(channel_name matches "^(.+) HD$" AND tvg_id == "x") OR tvg_id matches "^uk" SET tvg_name = "$1""#,
        K::InvalidCapture,
        "only 0 groups",
        None,
    ),
    (
        S,
        RU,
        r#"NOT channel_name matches "(.+)" SET tvg_name = "$1""#,
        K::InvalidCapture,
        "no `matches` has succeeded when the condition holds",
        None,
    ),
    (
        S,
        RU,
        r#"NOT (channel_name matches "(.+)" OR tvg_id matches "(x)(y)") SET tvg_name = "$1""#,
        K::InvalidCapture,
        "no `matches` has succeeded",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name matches "(a)(b)(c)" AND NOT (tvg_id matches "(x)" AND group_title == "y") SET tvg_name = "$3""#,
        K::InvalidCapture,
        "only 1 group",
        None,
    ),
    (
        S,
        RU,
        r#"SET channel_name = $chanel_name"#,
        K::UnknownField,
        "unknown field `chanel_name`",
        Some("channel_name"),
    ),
    (
        S,
        RU,
        r#"SET channel_name = "@lgo:123""#,
        K::UnknownHelper,
        "unknown helper `@lgo`",
        Some("@logo"),
    ),
    (
        S,
        RU,
        r#"SET tvg_logo = "@logo:""#,
        K::InvalidValue,
        "@logo needs a logo id",
        None,
    ),
    (
        S,
        RU,
        r#"SET channel_name = "@time:now:%Q""#,
        K::InvalidValue,
        "invalid @time argument",
        None,
    ),
    (
        S,
        RU,
        r#"channel_name contains "x""#,
        K::Syntax,
        "expected",
        None,
    ),
    (
        S,
        RU,
        r#"SET channel_name"#,
        K::InvalidAction,
        "expected `=` and a value after `channel_name`",
        None,
    ),
    (
        S,
        RU,
        r#"DELETE channel_name = "x""#,
        K::InvalidAction,
        "DELETE takes no value",
        None,
    ),
    (
        S,
        RU,
        r#"REMOVE channel_name = """#,
        K::InvalidValue,
        "REMOVE needs the text",
        None,
    ),
    (
        S,
        RU,
        r#"REMOVE channel_name = /[/"#,
        K::InvalidRegex,
        "invalid regular expression",
        None,
    ),
    (
        S,
        RU,
        r#"SET chanel_name = "x""#,
        K::UnknownField,
        "unknown field `chanel_name`",
        Some("channel_name"),
    ),
];

#[test]
fn error_cases_report_kind_message_and_suggestion() {
    let mut failures = Vec::new();
    for (i, (domain, kind, expr, want_kind, fragment, suggestion)) in ERROR_CASES.iter().enumerate()
    {
        let diags = validate(*domain, *kind, expr);
        let hit = diags
            .iter()
            .find(|d| d.kind == *want_kind && d.message.contains(fragment));
        match hit {
            None => failures.push(format!(
                "#{i} `{expr}`: wanted {want_kind:?} `{fragment}`, got {diags:?}"
            )),
            Some(d) => {
                if d.suggestion.as_deref() != *suggestion {
                    failures.push(format!(
                        "#{i} `{expr}`: suggestion {:?}, wanted {suggestion:?}",
                        d.suggestion
                    ));
                }
                if d.start > d.end || d.end > expr.len() {
                    failures.push(format!(
                        "#{i} `{expr}`: span {}..{} out of bounds",
                        d.start, d.end
                    ));
                }
            }
        }
        // compile must refuse what validate rejects
        let compiled = match kind {
            ExpressionKind::Filter => CompiledFilter::compile(*domain, expr).is_ok(),
            ExpressionKind::Rule => CompiledRule::compile(*domain, expr).is_ok(),
        };
        if compiled {
            failures.push(format!("#{i} `{expr}`: compiled although invalid"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct FixedClock;

impl HelperContext for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0)
            .single()
            .unwrap_or_default()
    }

    fn logo_url(&self, id: &str) -> String {
        format!("https://tvarr.example/logos/{id}.png")
    }
}

/// (rule, input pairs, expected (field, value or None for missing) after applying)
type RuleCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, Option<&'static str>)],
);

const RULE_CASES: &[RuleCase] = &[
    (
        r#"SET group_title = "News""#,
        &[("group_title", "x")],
        &[("group_title", Some("News"))],
    ),
    (
        r#"group_title = "News""#,
        &[],
        &[("group_title", Some("News"))],
    ),
    (
        r#"channel_name contains "bbc" SET group_title = "BBC""#,
        &[("channel_name", "BBC Two")],
        &[("group_title", Some("BBC"))],
    ),
    (
        r#"channel_name contains "itv" SET group_title = "ITV""#,
        &[("channel_name", "BBC Two"), ("group_title", "UK")],
        &[("group_title", Some("UK"))],
    ),
    (
        r#"SET_IF_EMPTY tvg_id = "fallback""#,
        &[],
        &[("tvg_id", Some("fallback"))],
    ),
    (
        r#"SET_IF_EMPTY tvg_id = "fallback""#,
        &[("tvg_id", "  ")],
        &[("tvg_id", Some("fallback"))],
    ),
    (
        r#"SET_IF_EMPTY tvg_id = "fallback""#,
        &[("tvg_id", "kept")],
        &[("tvg_id", Some("kept"))],
    ),
    (
        r#"tvg_id ?= $channel_name"#,
        &[("channel_name", "BBC One")],
        &[("tvg_id", Some("BBC One"))],
    ),
    (
        r#"APPEND channel_name = " [HD]""#,
        &[("channel_name", "BBC One")],
        &[("channel_name", Some("BBC One [HD]"))],
    ),
    (
        r#"channel_name += "+1""#,
        &[("channel_name", "ITV")],
        &[("channel_name", Some("ITV+1"))],
    ),
    (
        r#"APPEND channel_name = "x""#,
        &[],
        &[("channel_name", Some("x"))],
    ),
    (
        r#"REMOVE channel_name = " HD""#,
        &[("channel_name", "BBC One HD")],
        &[("channel_name", Some("BBC One"))],
    ),
    (
        r#"REMOVE channel_name = "hd""#,
        &[("channel_name", "HD BBC One HD")],
        &[("channel_name", Some("BBC One"))],
    ),
    (
        r#"channel_name -= "[backup]""#,
        &[("channel_name", "ITV [Backup]")],
        &[("channel_name", Some("ITV"))],
    ),
    (
        r#"REMOVE channel_name = /\s*(HD|FHD|4K)$/"#,
        &[("channel_name", "Sky Sports FHD")],
        &[("channel_name", Some("Sky Sports"))],
    ),
    (
        r#"REMOVE channel_name = /^[A-Z]{2}: /"#,
        &[("channel_name", "uk: BBC One")],
        &[("channel_name", Some("BBC One"))],
    ),
    (
        r#"REMOVE channel_name = "КАНАЛ""#,
        &[("channel_name", "Первый канал")],
        &[("channel_name", Some("Первый"))],
    ),
    (
        r#"DELETE tvg_logo"#,
        &[("tvg_logo", "http://x/y.png")],
        &[("tvg_logo", None)],
    ),
    (
        r#"DELETE tvg_logo, tvg_name"#,
        &[("tvg_logo", "a"), ("tvg_name", "b")],
        &[("tvg_logo", None), ("tvg_name", None)],
    ),
    (
        r#"channel_name matches "^(.+) HD$" SET channel_name = "$1""#,
        &[("channel_name", "BBC One HD")],
        &[("channel_name", Some("BBC One"))],
    ),
    (
        r#"channel_name matches "(.+) \+(\d+)" SET channel_name = "$1", tvg_shift = "$2""#,
        &[("channel_name", "ITV +1")],
        &[("channel_name", Some("ITV")), ("tvg_shift", Some("1"))],
    ),
    (
        r#"channel_name matches "^(\w+) (.+)$" SET channel_name = "$2 ($1)""#,
        &[("channel_name", "UK Dave")],
        &[("channel_name", Some("Dave (UK)"))],
    ),
    (
        r#"tvg_id matches "^(\w+)\.(\w+)$" AND channel_name matches "^(.+) HD$" SET tvg_name = "$1""#,
        &[("tvg_id", "bbc1.uk"), ("channel_name", "BBC One HD")],
        &[("tvg_name", Some("BBC One"))],
    ),
    (
        r#"tvg_id matches "^(\w+)\.(\w+)$" OR channel_name matches "^(\w+) (\w+)$" SET tvg_name = "$2/$1""#,
        &[("tvg_id", "none"), ("channel_name", "UK Dave")],
        &[("tvg_name", Some("Dave/UK"))],
    ),
    (
        r#"tvg_id matches "^(\w+)\.(\w+)$" OR channel_name matches "^(\w+) (\w+)$" SET tvg_name = "$2/$1""#,
        &[("tvg_id", "bbc1.uk"), ("channel_name", "UK Dave")],
        &[("tvg_name", Some("uk/bbc1"))],
    ),
    (
        r#"channel_name matches "^(\w+) HD$" AND NOT tvg_id matches "^(x)(y)(z)$" SET tvg_name = "$1""#,
        &[("channel_name", "Dave HD"), ("tvg_id", "dave.uk")],
        &[("tvg_name", Some("Dave"))],
    ),
    (
        r#"channel_name matches "(\d+)" SET tvg_chno = $1$1"#,
        &[("channel_name", "Channel 4")],
        &[("tvg_chno", Some("44"))],
    ),
    (
        r#"channel_name matches "^(?P<name>.+?)( HD)?$" SET tvg_name = "${channel_name} / $1""#,
        &[("channel_name", "E4 HD")],
        &[("tvg_name", Some("E4 HD / E4"))],
    ),
    (
        r#"SET tvg_name = "cost: \$5""#,
        &[],
        &[("tvg_name", Some("cost: $5"))],
    ),
    (r#"SET tvg_name = "a$""#, &[], &[("tvg_name", Some("a$"))]),
    (
        r#"SET tvg_logo = "@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV""#,
        &[],
        &[(
            "tvg_logo",
            Some("https://tvarr.example/logos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png"),
        )],
    ),
    (
        r#"SET tvg_name = "@time:now""#,
        &[],
        &[("tvg_name", Some("2024-01-15T10:30:00Z"))],
    ),
    (
        r#"SET tvg_name = "@time:now+1d:%Y-%m-%d""#,
        &[],
        &[("tvg_name", Some("2024-01-16"))],
    ),
    (
        r#"SET tvg_name = "Added @{time:now:%H:%M} by $source_name""#,
        &[("source_name", "A")],
        &[("tvg_name", Some("Added 10:30 by A"))],
    ),
    (
        r#"SET tvg_name = "user\@example""#,
        &[],
        &[("tvg_name", Some("user@example"))],
    ),
    (
        r#"SET group_title = "UK", APPEND channel_name = " (UK)", DELETE tvg_logo"#,
        &[("channel_name", "Dave"), ("tvg_logo", "x")],
        &[
            ("group_title", Some("UK")),
            ("channel_name", Some("Dave (UK)")),
            ("tvg_logo", None),
        ],
    ),
    (
        r#"SET channel_name = "A", tvg_name = $channel_name"#,
        &[("channel_name", "Z")],
        &[("channel_name", Some("A")), ("tvg_name", Some("A"))],
    ),
    (
        r#"SET a-custom-attr = "yes""#,
        &[],
        &[("extra.a-custom-attr", Some("yes"))],
    ),
    (r#"SET extra.tvg-rec = "3""#, &[], &[("tvg-rec", Some("3"))]),
    (
        r#"(tvg_id matches "^uk\." SET group_title = "United Kingdom") OR (tvg_id matches "^us\." SET group_title = "United States")"#,
        &[("tvg_id", "us.cnn")],
        &[("group_title", Some("United States"))],
    ),
    (
        r#"(tvg_id starts_with "uk." SET group_title = "UK") (channel_name ends_with "HD" SET tvg_name = "hd")"#,
        &[("tvg_id", "uk.bbc"), ("channel_name", "BBC HD")],
        &[("group_title", Some("UK")), ("tvg_name", Some("hd"))],
    ),
    (
        r#"set group_title = "lower", append channel_name = "!""#,
        &[("channel_name", "x")],
        &[("group_title", Some("lower")), ("channel_name", Some("x!"))],
    ),
];

#[test]
fn rule_cases_change_records_as_specified() {
    let mut failures = Vec::new();
    for (i, (rule, input, expected)) in RULE_CASES.iter().enumerate() {
        let compiled = match CompiledRule::compile(Domain::Stream, rule) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("#{i} `{rule}`: did not compile: {e}"));
                continue;
            }
        };
        let mut record = MapRecord::from_pairs(Domain::Stream, input.iter().copied());
        compiled.apply(&mut record, &FixedClock);
        for (field, want) in *expected {
            let got = record.get(Domain::Stream, field);
            if got != *want {
                failures.push(format!("#{i} `{rule}`: {field} = {got:?}, wanted {want:?}"));
            }
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
fn tolerant_pass_finds_nothing_in_any_valid_case_of_the_tables() {
    // The pass validate runs after a syntax error must not invent problems: every expression the
    // tables accept passes it clean.
    let filters = FILTER_CASES
        .iter()
        .map(|(expr, rec, _)| (record(*rec).0, ExpressionKind::Filter, *expr));
    let rules = RULE_CASES
        .iter()
        .map(|(rule, _, _)| (Domain::Stream, ExpressionKind::Rule, *rule));
    let mut checked = 0;
    let mut failures = Vec::new();
    for (domain, kind, expr) in filters.chain(rules) {
        if !validate(domain, kind, expr).is_empty() {
            continue;
        }
        checked += 1;
        let found = scan_unknown_names(domain, kind, expr);
        if !found.is_empty() {
            failures.push(format!("`{expr}`: {found:?}"));
        }
    }
    assert!(checked >= FILTER_CASES.len(), "only {checked} valid cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn table_has_at_least_150_cases() {
    assert!(FILTER_CASES.len() + ERROR_CASES.len() + RULE_CASES.len() >= 150);
}

#[test]
fn reports_every_semantic_error_not_just_the_first() {
    let diags = validate(
        Domain::Stream,
        ExpressionKind::Rule,
        r#"chanel_name matches "([" AND tvg_chno contians "1" AND channel_name > 3 SET source_name = "$4""#,
    );
    let kinds: Vec<K> = diags.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        vec![
            K::UnknownField,
            K::InvalidRegex,
            K::UnknownOperator,
            K::TypeMismatch,
            K::ReadOnlyField,
            K::InvalidCapture
        ]
    );
    assert!(diags.windows(2).all(|w| w[0].start <= w[1].start));
}

#[test]
fn syntax_error_also_reports_unknown_fields_found_by_scanning() {
    let diags = validate(
        Domain::Stream,
        ExpressionKind::Filter,
        r#"chanel_name contains "x" AND grup_title == "y" AND ("#,
    );
    assert_eq!(diags.iter().filter(|d| d.kind == K::Syntax).count(), 1);
    let unknown: Vec<_> = diags
        .iter()
        .filter(|d| d.kind == K::UnknownField)
        .map(|d| d.suggestion.clone())
        .collect();
    assert_eq!(
        unknown,
        vec![Some("channel_name".into()), Some("group_title".into())]
    );
}

#[test]
fn rule_set_applies_in_order_and_reports_changed_fields() {
    let rules = RuleSet::compile(
        Domain::Stream,
        [
            (
                "strip suffix",
                r#"channel_name matches "^(.+) HD$" SET channel_name = "$1""#,
            ),
            (
                "tag bbc",
                r#"channel_name equals "BBC One" SET group_title = "BBC""#,
            ),
            ("never", r#"channel_name contains "zzz" DELETE tvg_logo"#),
            ("no-op set", r#"SET tvg_id = "bbc1.uk""#),
        ],
    )
    .unwrap();
    let mut record = MapRecord::from_pairs(
        Domain::Stream,
        [("channel_name", "BBC One HD"), ("tvg_id", "bbc1.uk")],
    );
    let report = rules.apply(&mut record);
    let summary: Vec<(usize, &str, usize)> = report
        .rules
        .iter()
        .map(|r| (r.rule, &*r.name, r.fields.len()))
        .collect();
    assert_eq!(summary, vec![(0, "strip suffix", 1), (1, "tag bbc", 1)]);
    assert_eq!(record.get(Domain::Stream, "group_title"), Some("BBC"));
}

#[test]
fn rule_set_compile_lists_every_failing_rule() {
    let errors = RuleSet::compile(
        Domain::Stream,
        [
            ("ok", r#"SET tvg_id = "x""#),
            ("bad field", r#"SET tvg_idd = "x""#),
            ("bad syntax", "SET"),
        ],
    )
    .unwrap_err();
    let names: Vec<&str> = errors.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["bad field", "bad syntax"]);
}

#[test]
fn rejects_deep_nesting_before_parsing() {
    let deep = format!(
        "{}channel_name contains \"x\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let diags = validate(Domain::Stream, ExpressionKind::Filter, &deep);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].kind, K::TooDeep);
    let nots = format!("{}channel_name contains \"x\"", "NOT ".repeat(10_000));
    assert_eq!(
        validate(Domain::Stream, ExpressionKind::Filter, &nots)[0].kind,
        K::TooDeep
    );
    let ok = format!(
        "{}channel_name contains \"x\"{}",
        "(".repeat(60),
        ")".repeat(60)
    );
    assert!(validate(Domain::Stream, ExpressionKind::Filter, &ok).is_empty());
}

#[test]
fn rejects_overlong_expressions() {
    let long = format!("channel_name contains \"{}\"", "x".repeat(70_000));
    let diags = validate(Domain::Stream, ExpressionKind::Filter, &long);
    assert_eq!(diags[0].kind, K::TooLong);
    let fits = format!("channel_name contains \"{}\"", "x".repeat(60_000));
    assert!(validate(Domain::Stream, ExpressionKind::Filter, &fits).is_empty());
}

#[test]
fn registry_serialises_names_aliases_types_and_flags() {
    let json = serde_json::to_value(tvarr_expr::FieldRegistry::for_domain(Domain::Epg)).unwrap();
    let fields = json["fields"].as_array().unwrap();
    let start = fields
        .iter()
        .find(|f| f["name"] == "programme_start")
        .unwrap();
    assert_eq!(start["type"], "time");
    assert_eq!(start["read_only"], true);
    assert!(
        start["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "program_start")
    );
    assert!(start["description"].as_str().unwrap().len() > 10);
    assert_eq!(json["domain"], "epg");
}

#[test]
fn diagnostics_serialise_with_span_and_suggestion() {
    let diags = validate(
        Domain::Stream,
        ExpressionKind::Filter,
        r#"chanel_name == "x""#,
    );
    let json = serde_json::to_value(&diags).unwrap();
    assert_eq!(json[0]["start"], 0);
    assert_eq!(json[0]["end"], 11);
    assert_eq!(json[0]["suggestion"], "channel_name");
    assert_eq!(json[0]["kind"], "unknown_field");
}

/// `n` `matches` with distinct patterns `prefix0`, `prefix1`, ... joined with `OR`.
fn many_regexes(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| format!(r#"name =~ "{prefix}{i}""#))
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[test]
fn refuses_thousands_of_distinct_large_regexes_with_one_diagnostic() {
    // Each `\w{20}N` compiles to just under the 1 MiB limit of a single regex.
    let source = many_regexes(2_000, r"\w{20}");
    assert!(source.len() <= MAX_EXPRESSION_LEN);
    let diags = validate(Domain::Stream, ExpressionKind::Filter, &source);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d.kind, K::TooManyRegexes);
    assert!(d.message.contains("too large together"), "{}", d.message);
    // The span is the first pattern over the budget, well before the end.
    assert_eq!(&source[d.start..d.end], r#""\w{20}8""#);
    let err = CompiledFilter::compile(Domain::Stream, &source).unwrap_err();
    assert_eq!(err.diagnostics()[0].kind, K::TooManyRegexes);
}

#[test]
fn refuses_more_distinct_regexes_than_the_limit() {
    let at_limit = many_regexes(MAX_REGEXES_PER_EXPRESSION, "^x");
    assert!(validate(Domain::Stream, ExpressionKind::Filter, &at_limit).is_empty());
    let over = many_regexes(2_000, "^x");
    let diags = validate(Domain::Stream, ExpressionKind::Filter, &over);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].kind, K::TooManyRegexes);
    assert_eq!(
        diags[0].message,
        format!(
            "too many regular expressions: an expression may use at most {MAX_REGEXES_PER_EXPRESSION} different patterns"
        )
    );
    let first_over = format!(r#""^x{MAX_REGEXES_PER_EXPRESSION}""#);
    assert_eq!(&over[diags[0].start..diags[0].end], first_over);

    let rule = format!(
        r#"{} SET tvg_name = "x", REMOVE channel_name = /y/"#,
        many_regexes(MAX_REGEXES_PER_EXPRESSION, "^x")
    );
    let diags = validate(Domain::Stream, ExpressionKind::Rule, &rule);
    assert_eq!(diags.len(), 1, "REMOVE regexes count too: {diags:?}");
    assert_eq!(diags[0].kind, K::TooManyRegexes);
}

#[test]
fn repeated_patterns_count_once_and_the_budget_is_per_expression() {
    let repeated = vec![r#"name =~ "^x""#; 3_000].join(" OR ");
    assert!(validate(Domain::Stream, ExpressionKind::Filter, &repeated).is_empty());
    // A shared cache does not carry one expression's budget into the next.
    let mut cache = RegexCache::new();
    let source = many_regexes(MAX_REGEXES_PER_EXPRESSION, "^y");
    for _ in 0..3 {
        CompiledFilter::compile_with_cache(Domain::Stream, &source, &mut cache).unwrap();
    }
    assert_eq!(cache.len(), MAX_REGEXES_PER_EXPRESSION);
}

#[test]
fn rule_conditions_read_time_now_from_the_helpers() {
    // The News record ends at 2024-01-15T22:30:00Z; FixedClock says 10:30 that day.
    let rule = CompiledRule::compile(
        Domain::Epg,
        r#"programme_stop > "@time:now" AND programme_start < @time:now+1h SET title = "soon""#,
    )
    .unwrap();
    let mut record = news();
    assert_eq!(
        rule.apply(&mut record, &FixedClock).len(),
        0,
        "starts more than an hour later"
    );
    let rule = CompiledRule::compile(
        Domain::Epg,
        r#"programme_stop > "@time:now" SET title = "upcoming""#,
    )
    .unwrap();
    assert_eq!(rule.apply(&mut record, &FixedClock).len(), 1);
    assert_eq!(record.get(Domain::Epg, "title"), Some("upcoming"));
    let mut record = news();
    assert!(
        rule.apply(&mut record, &DefaultHelpers).is_empty(),
        "on the system clock, 2024 is over"
    );
}

#[test]
fn filters_can_be_evaluated_at_a_given_now() {
    let filter = CompiledFilter::compile(
        Domain::Epg,
        r#"programme_start <= "@time:now" AND programme_stop > "@time:now""#,
    )
    .unwrap();
    let at = |h, m| Utc.with_ymd_and_hms(2024, 1, 15, h, m, 0).unwrap();
    assert!(filter.matches_at(&news(), at(22, 15)));
    assert!(!filter.matches_at(&news(), at(22, 45)));
    assert!(!filter.matches(&news()));
}

#[test]
fn logo_helper_gives_the_cached_logo_path_under_a_base_url() {
    let rule = CompiledRule::compile(
        Domain::Stream,
        r#"SET tvg_logo = "@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV""#,
    )
    .unwrap();
    let logo = |helpers: &dyn HelperContext| {
        let mut record = MapRecord::new();
        rule.apply(&mut record, helpers);
        record.get(Domain::Stream, "tvg_logo").map(str::to_string)
    };
    assert_eq!(
        logo(&DefaultHelpers).as_deref(),
        Some("/logos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png")
    );
    assert_eq!(
        logo(&RunHelpers::new("https://tv.example/base/")).as_deref(),
        Some("https://tv.example/base/logos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png")
    );
}

#[test]
fn registry_lists_hyphenated_attribute_spellings_as_aliases() {
    let stream = tvarr_expr::FieldRegistry::for_domain(Domain::Stream);
    for (field, spelling) in [
        ("tvg_id", "tvg-id"),
        ("tvg_name", "tvg-name"),
        ("tvg_logo", "tvg-logo"),
        ("tvg_chno", "tvg-chno"),
        ("tvg_shift", "tvg-shift"),
        ("group_title", "group-title"),
        ("catchup_days", "catchup-days"),
        ("catchup_source", "catchup-source"),
        ("tvg_country", "tvg-country"),
        ("tvg_language", "tvg-language"),
        ("tvg_url", "tvg-url"),
    ] {
        let def = stream.get(field).unwrap();
        assert!(
            def.aliases.contains(&spelling),
            "{field}: {:?}",
            def.aliases
        );
        assert_eq!(stream.get(spelling).map(|d| d.name), Some(field));
        assert_eq!(
            stream.resolve(&spelling.to_uppercase()).unwrap().canonical,
            field
        );
    }
    let epg = tvarr_expr::FieldRegistry::for_domain(Domain::Epg);
    assert_eq!(
        epg.get("sub-title").map(|d| d.name),
        Some("programme_sub_title")
    );
    assert_eq!(
        epg.get("episode-num").map(|d| d.name),
        Some("programme_episode")
    );
    assert_eq!(stream.suggest("tvg-lgo").as_deref(), Some("tvg_logo"));
}

/// Every condition of up to two levels of `AND`, `OR` and `NOT` over two `matches` with 1 and 2
/// groups and one plain comparison: validation accepts `$2` exactly when, on some record where
/// the condition holds, the 2-group `matches` supplies the captures, and on none the 1-group one
/// does (atoms used once each, so every combination of outcomes is a real record).
#[test]
fn capture_check_agrees_with_which_matches_supplies_captures_at_run_time() {
    const ATOMS: [&str; 3] = [
        r#"channel_name matches "^(x)$""#,
        r#"tvg_id matches "^(y)(z)$""#,
        r#"group_title == "c""#,
    ];
    // (text, atoms used as a bit set)
    let mut level: Vec<(String, u8)> = ATOMS
        .iter()
        .enumerate()
        .map(|(i, a)| ((*a).to_string(), 1 << i))
        .collect();
    for _ in 0..2 {
        let mut next = level.clone();
        for (a, used) in &level {
            next.push((format!("NOT ({a})"), *used));
            for (b, other) in &level {
                if used & other == 0 {
                    next.push((format!("({a}) AND ({b})"), used | other));
                    next.push((format!("({a}) OR ({b})"), used | other));
                }
            }
        }
        level = next;
    }
    let records: Vec<MapRecord> = (0..8u8)
        .map(|bits| {
            MapRecord::from_pairs(
                Domain::Stream,
                [
                    ("channel_name", if bits & 1 != 0 { "x" } else { "-" }),
                    ("tvg_id", if bits & 2 != 0 { "yz" } else { "-" }),
                    ("group_title", if bits & 4 != 0 { "c" } else { "-" }),
                ],
            )
        })
        .collect();
    let mut cache = RegexCache::new();
    let mut failures = Vec::new();
    let mut verdicts = [0; 2];
    for (condition, used) in &level {
        if used & 3 == 0 {
            continue;
        }
        // `$1` is "x" when the 1-group `matches` supplies the captures, "y" for the 2-group one,
        // and empty when neither does (the first `matches` always succeeds, on the empty URL).
        let probe = CompiledRule::compile_with_cache(
            Domain::Stream,
            &format!(r#"stream_url matches "^(w)?" AND ({condition}) SET tvg_name = "[$1]""#),
            &mut cache,
        )
        .unwrap();
        let mut suppliers = Vec::new();
        for record in &records {
            let mut record = record.clone();
            probe.apply(&mut record, &FixedClock);
            suppliers.extend(record.get(Domain::Stream, "tvg_name").map(str::to_string));
        }
        let runtime_ok =
            suppliers.iter().any(|s| s == "[y]") && !suppliers.iter().any(|s| s == "[x]");
        let rule = format!(r#"{condition} SET tvg_name = "$2""#);
        let accepted = validate(Domain::Stream, ExpressionKind::Rule, &rule).is_empty();
        verdicts[usize::from(accepted)] += 1;
        if accepted != runtime_ok {
            failures.push(format!(
                "`{rule}`: accepted {accepted}, captures seen {suppliers:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} disagree:\n{}",
        failures.len(),
        level.len(),
        failures.join("\n")
    );
    // About 180 conditions, both verdicts well represented.
    assert!(verdicts[0] > 50 && verdicts[1] > 25, "{verdicts:?}");
}
