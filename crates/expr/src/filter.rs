//! Filters compiled once and evaluated per record.

use chrono::{DateTime, Utc};

use crate::compile::{Clock, Compiler, Node};
use crate::error::ExprError;
use crate::fields::{Domain, FieldRegistry};
use crate::parser::parse_filter_tree;
use crate::record::Record;
use crate::regex_cache::RegexCache;

/// A filter expression ready to evaluate: fields resolved, regexes built, needles lowercased.
/// Evaluation allocates nothing.
///
/// ```
/// use tvarr_expr::{CompiledFilter, Domain, MapRecord};
/// let filter = CompiledFilter::compile(
///     Domain::Stream,
///     r#"group_title equals "sports" AND (channel_name contains "HD" OR tvg_chno >= 100)"#,
/// ).unwrap();
/// let record = MapRecord::from_pairs(Domain::Stream, [("group_title", "Sports"), ("channel_name", "Sky Sports HD")]);
/// assert!(filter.matches(&record));
/// ```
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    root: Node,
}

impl CompiledFilter {
    /// Parses, validates and compiles a filter; on failure returns every problem found.
    pub fn compile(domain: Domain, source: &str) -> Result<Self, ExprError> {
        Self::compile_with_cache(domain, source, &mut RegexCache::new())
    }

    /// Like [`compile`](Self::compile), sharing regexes through `cache`.
    pub fn compile_with_cache(
        domain: Domain,
        source: &str,
        cache: &mut RegexCache,
    ) -> Result<Self, ExprError> {
        let (tree, mut diags) = parse_filter_tree(source);
        let Some(tree) = tree else {
            return Err(ExprError::Invalid(diags));
        };
        let mut compiler = Compiler::new(FieldRegistry::for_domain(domain), cache);
        let root = compiler.condition(&tree);
        diags.append(&mut compiler.diags);
        if diags.is_empty() {
            Ok(Self { root })
        } else {
            diags.sort_by_key(|d| (d.start, d.end));
            Err(ExprError::Invalid(diags))
        }
    }

    /// Whether the record satisfies the filter. A missing field reads as the empty string;
    /// `@time:now` reads the system clock.
    pub fn matches<R: Record + ?Sized>(&self, record: &R) -> bool {
        self.root.eval(record, &mut None, Clock::System)
    }

    /// Like [`matches`](Self::matches), with `@time:now` meaning `now`: read the clock once and
    /// pass the same instant for every record of a run, so they are judged alike.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use tvarr_expr::{CompiledFilter, Domain, MapRecord};
    /// let filter = CompiledFilter::compile(Domain::Epg, r#"programme_stop > "@time:now""#).unwrap();
    /// let record = MapRecord::from_pairs(Domain::Epg, [("programme_stop", "2024-01-15T11:00:00Z")]);
    /// assert!(filter.matches_at(&record, Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap()));
    /// assert!(!filter.matches_at(&record, Utc.with_ymd_and_hms(2024, 1, 15, 11, 30, 0).unwrap()));
    /// ```
    pub fn matches_at<R: Record + ?Sized>(&self, record: &R, now: DateTime<Utc>) -> bool {
        self.root
            .eval(record, &mut None, Clock::Fixed(now.timestamp()))
    }
}
