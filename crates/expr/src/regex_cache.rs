//! Compiled regexes shared between expressions that use the same pattern.

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

/// Largest compiled program for one user pattern; larger patterns are refused at validation.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_DFA_SIZE_LIMIT: usize = 4 << 20;
const REGEX_NEST_LIMIT: u32 = 100;

/// A cache of compiled regexes keyed by pattern and case mode, owned by the caller.
///
/// Compiling many filters and rules with one cache (for example all the rules of a proxy)
/// builds each distinct pattern once; the compiled expressions share the regex.
#[derive(Debug, Default, Clone)]
pub struct RegexCache {
    regexes: HashMap<(Box<str>, bool), Regex>,
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

    /// The compiled regex for a pattern; case-insensitive unless `case_sensitive` (inline flags
    /// such as `(?-i)` in the pattern still apply). Errors are one line, for users.
    pub(crate) fn get(&mut self, pattern: &str, case_sensitive: bool) -> Result<Regex, String> {
        if let Some(re) = self.regexes.get(&(pattern.into(), case_sensitive)) {
            return Ok(re.clone());
        }
        let re = RegexBuilder::new(pattern)
            .case_insensitive(!case_sensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
            .map_err(|e| regex_message(&e))?;
        self.regexes
            .insert((pattern.into(), case_sensitive), re.clone());
        Ok(re)
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
