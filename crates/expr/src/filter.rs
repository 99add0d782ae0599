//! Filters compiled once and evaluated per record.

use crate::compile::{Compiler, Node};
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

    /// Whether the record satisfies the filter. A missing field reads as the empty string.
    pub fn matches<R: Record + ?Sized>(&self, record: &R) -> bool {
        self.root.eval(record, &mut None)
    }
}
