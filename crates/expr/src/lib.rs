//! `tvarr-expr` owns tvarr's expression language: the pest grammar, the syntax tree and its
//! printer, the registry of channel and programme fields, validation with spans and suggestions,
//! and compiled evaluation of filters and data-mapping rules.
//!
//! It depends on nothing of ours and does no I/O: no web, ORM or storage types. Callers expose
//! their channels and programmes through the small [`Record`] / [`RecordMut`] traits, and resolve
//! helpers such as `@logo:ID` through [`HelperContext`]. The language is described in
//! `docs/expressions.md`.
//!
//! ```
//! use tvarr_expr::{validate, CompiledFilter, Domain, ExpressionKind, MapRecord, RuleSet};
//!
//! let filter = CompiledFilter::compile(Domain::Stream, r#"group_title == "news" AND NOT name contains "radio""#).unwrap();
//! let rules = RuleSet::compile(Domain::Stream, [
//!     ("strip HD", r#"channel_name ends_with " HD" REMOVE channel_name = " HD""#),
//!     ("default logo", r#"SET_IF_EMPTY tvg_logo = "@logo:01ARZ3NDEKTSV4RRFFQ69G5FAV""#),
//! ]).unwrap();
//!
//! let mut channel = MapRecord::from_pairs(Domain::Stream, [("channel_name", "BBC News HD"), ("group-title", "News")]);
//! assert!(filter.matches(&channel));
//! let report = rules.apply(&mut channel);
//! assert_eq!(report.rules.len(), 2);
//! assert_eq!(channel.get(Domain::Stream, "name"), Some("BBC News"));
//!
//! let problems = validate(Domain::Stream, ExpressionKind::Filter, r#"channel_name contians "x""#);
//! assert_eq!(problems[0].suggestion.as_deref(), Some("contains"));
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod ast;
mod compile;
mod diagnostic;
mod error;
mod fields;
mod filter;
mod parser;
mod record;
mod recovery;
mod regex_cache;
mod rules;
mod template;
mod text_match;
mod time_value;
mod validate;

pub use ast::{
    Action, ActionKind, Comparison, Condition, HelperCall, Name, Operator, Rule, RuleBranch, Span,
    Value, ValuePart,
};
pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use error::ExprError;
pub use fields::{
    Domain, EXTRA_ATTRIBUTE_PREFIX, FieldDef, FieldId, FieldRef, FieldRegistry, FieldType,
    ResolvedField,
};
pub use filter::CompiledFilter;
pub use parser::{MAX_EXPRESSION_LEN, MAX_NESTING_DEPTH, parse_filter, parse_rule};
pub use record::{MapRecord, Record, RecordMut};
pub use recovery::scan_unknown_names;
pub use regex_cache::{MAX_REGEX_BYTES_PER_EXPRESSION, MAX_REGEXES_PER_EXPRESSION, RegexCache};
pub use rules::{ApplyReport, CompiledRule, FieldChange, RuleChanges, RuleError, RuleSet};
pub use template::{DefaultHelpers, HelperContext, RunHelpers};
pub use time_value::parse_time;
pub use validate::{ExpressionKind, validate};
