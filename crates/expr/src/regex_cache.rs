//! Compiled regexes shared between expressions that use the same pattern.

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

/// Largest compiled program for one user pattern; larger patterns are refused at validation.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most real patterns compile far below this; those that do are charged only this much of an
/// expression's budget, so a budget sized for a few large patterns still admits many small ones.
const SMALL_REGEX_LIMIT: usize = 64 << 10;
const REGEX_DFA_SIZE_LIMIT: usize = 4 << 20;
const REGEX_NEST_LIMIT: u32 = 100;

/// The most distinct regular expressions (`matches` patterns and `REMOVE` regexes) one
/// expression may use.
pub const MAX_REGEXES_PER_EXPRESSION: usize = 64;

/// The most compiled regex program one expression may hold, in bytes. Each distinct pattern is
/// charged the compile size limit it fitted in (64 KiB, or 1 MiB for large patterns), so this is
/// an upper bound on the real total.
pub const MAX_REGEX_BYTES_PER_EXPRESSION: usize = 8 << 20;

/// Why a pattern was not compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegexRefusal {
    /// The pattern does not compile; a one-line message for users.
    Invalid(String),
    /// Compiling it would charge more than the expression has left of its budget.
    OverBudget,
}

/// A cache of compiled regexes keyed by pattern and case mode, owned by the caller.
///
/// Compiling many filters and rules with one cache (for example all the rules of a proxy)
/// builds each distinct pattern once; the compiled expressions share the regex.
#[derive(Debug, Default, Clone)]
pub struct RegexCache {
    /// Each regex with the size limit it compiled under (its charge against a budget).
    regexes: HashMap<(Box<str>, bool), (Regex, usize)>,
}

impl RegexCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many distinct regexes the cache holds.
    pub fn len(&self) -> usize {
        self.regexes.len()
    }

    /// Whether the cache holds no regex.
    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty()
    }

    /// The compiled regex for a pattern and its charge in bytes; case-insensitive unless
    /// `case_sensitive` (inline flags such as `(?-i)` in the pattern still apply). A pattern
    /// whose charge would exceed `allowance` is refused without being compiled past it.
    pub(crate) fn get(
        &mut self,
        pattern: &str,
        case_sensitive: bool,
        allowance: usize,
    ) -> Result<(Regex, usize), RegexRefusal> {
        if let Some((re, charge)) = self.regexes.get(&(pattern.into(), case_sensitive)) {
            return if *charge <= allowance {
                Ok((re.clone(), *charge))
            } else {
                Err(RegexRefusal::OverBudget)
            };
        }
        // Try the small limit first: compilation stops as soon as it is exceeded, so a large
        // pattern costs little extra, and a small one is charged little.
        let mut last_error = None;
        for limit in [SMALL_REGEX_LIMIT, REGEX_SIZE_LIMIT] {
            if limit > allowance {
                return Err(RegexRefusal::OverBudget);
            }
            match RegexBuilder::new(pattern)
                .case_insensitive(!case_sensitive)
                .size_limit(limit)
                .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
                .nest_limit(REGEX_NEST_LIMIT)
                .build()
            {
                Ok(re) => {
                    self.regexes
                        .insert((pattern.into(), case_sensitive), (re.clone(), limit));
                    return Ok((re, limit));
                }
                Err(regex::Error::CompiledTooBig(n)) => {
                    last_error = Some(regex::Error::CompiledTooBig(n));
                }
                Err(e) => return Err(RegexRefusal::Invalid(regex_message(&e))),
            }
        }
        Err(RegexRefusal::Invalid(last_error.map_or_else(
            || "pattern is too large".to_string(),
            |e| regex_message(&e),
        )))
    }
}

fn regex_message(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or("syntax error")
            .to_string(),
        regex::Error::CompiledTooBig(limit) => {
            format!("pattern is too large (compiled size over {limit} bytes)")
        }
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_patterns_are_charged_the_small_limit_and_large_ones_the_full_limit() {
        let mut cache = RegexCache::new();
        let (_, small) = cache.get(r"^(.+) HD$", false, usize::MAX).unwrap();
        assert_eq!(small, SMALL_REGEX_LIMIT);
        let (_, large) = cache.get(r"\w{15}", false, usize::MAX).unwrap();
        assert_eq!(large, REGEX_SIZE_LIMIT);
    }

    #[test]
    fn a_pattern_over_the_allowance_is_refused_even_when_cached() {
        let mut cache = RegexCache::new();
        assert_eq!(
            cache.get(r"\w{15}", false, SMALL_REGEX_LIMIT).unwrap_err(),
            RegexRefusal::OverBudget
        );
        cache.get(r"\w{15}", false, usize::MAX).unwrap();
        assert_eq!(
            cache.get(r"\w{15}", false, SMALL_REGEX_LIMIT).unwrap_err(),
            RegexRefusal::OverBudget
        );
        assert!(matches!(
            cache.get(r"\w{100}", false, usize::MAX),
            Err(RegexRefusal::Invalid(m)) if m.contains("too large")
        ));
    }
}
