//! Any input: validate, compile and evaluate as a filter and as a rule, in both domains.
//! Run with `cargo +nightly fuzz run parse_and_evaluate` from `crates/expr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvarr_expr::{
    CompiledFilter, CompiledRule, DefaultHelpers, Domain, ExpressionKind, MapRecord, validate,
};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    for domain in [Domain::Stream, Domain::Epg] {
        let _ = validate(domain, ExpressionKind::Filter, source);
        let _ = validate(domain, ExpressionKind::Rule, source);
        let mut record = MapRecord::from_pairs(
            domain,
            [("channel_name", "BBC One HD"), ("tvg_chno", "7"), ("programme_start", "20240115220000 +0000")],
        );
        if let Ok(filter) = CompiledFilter::compile(domain, source) {
            filter.matches(&record);
        }
        if let Ok(rule) = CompiledRule::compile(domain, source) {
            rule.apply(&mut record, &DefaultHelpers);
        }
    }
});
