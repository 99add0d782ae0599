//! Text comparison with the needle prepared once: case-insensitive by Unicode lowercase, with an
//! allocation-free ASCII fast path.

use memchr::memmem;

/// A needle for `equals`, `contains`, `starts_with`, `ends_with` and `REMOVE`.
#[derive(Debug, Clone)]
pub(crate) struct TextNeedle {
    /// The needle as written (case-sensitive) or lowercased char by char (case-insensitive).
    text: Box<str>,
    case_sensitive: bool,
    /// Lowercased needle is ASCII without `i` or `k`: no non-ASCII character lowercases into it,
    /// so byte-wise comparison is exact even on non-ASCII haystacks.
    byte_safe: bool,
    finder: Option<Box<memmem::Finder<'static>>>,
}

/// Lowercases char by char (no final-sigma context), the same way for needles and haystacks.
pub(crate) fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

impl TextNeedle {
    pub(crate) fn new(text: &str, case_sensitive: bool) -> Self {
        let text: Box<str> = if case_sensitive {
            text.into()
        } else {
            fold(text).into()
        };
        let byte_safe = text.is_ascii() && !text.bytes().any(|b| b == b'i' || b == b'k');
        let finder =
            case_sensitive.then(|| Box::new(memmem::Finder::new(text.as_bytes()).into_owned()));
        Self {
            text,
            case_sensitive,
            byte_safe,
            finder,
        }
    }

    fn fast(&self, hay: &str) -> bool {
        self.byte_safe || (hay.is_ascii() && self.text.is_ascii())
    }

    pub(crate) fn equals(&self, hay: &str) -> bool {
        if self.case_sensitive {
            return hay == &*self.text;
        }
        if self.fast(hay) {
            return hay.len() == self.text.len()
                && hay.as_bytes().eq_ignore_ascii_case(self.text.as_bytes());
        }
        if hay.is_ascii() {
            return false; // a non-ASCII needle cannot equal ASCII text
        }
        hay.chars()
            .flat_map(char::to_lowercase)
            .eq(self.text.chars())
    }

    pub(crate) fn starts_with(&self, hay: &str) -> bool {
        if self.case_sensitive {
            return hay.starts_with(&*self.text);
        }
        if self.fast(hay) {
            let n = self.text.len();
            return hay.len() >= n
                && hay.as_bytes()[..n].eq_ignore_ascii_case(self.text.as_bytes());
        }
        prefix_len(hay, &self.text).is_some()
    }

    pub(crate) fn ends_with(&self, hay: &str) -> bool {
        if self.case_sensitive {
            return hay.ends_with(&*self.text);
        }
        if self.fast(hay) {
            let n = self.text.len();
            return hay.len() >= n
                && hay.as_bytes()[hay.len() - n..].eq_ignore_ascii_case(self.text.as_bytes());
        }
        let mut hay_chars = hay.chars().rev().flat_map(|c| c.to_lowercase().rev());
        self.text.chars().rev().all(|n| hay_chars.next() == Some(n))
    }

    pub(crate) fn contains(&self, hay: &str) -> bool {
        self.find(hay, 0).is_some()
    }

    /// The byte range of the first match at or after `from` (a char boundary).
    pub(crate) fn find(&self, hay: &str, from: usize) -> Option<(usize, usize)> {
        let n = self.text.len();
        let rest = hay.get(from..)?;
        if let Some(finder) = &self.finder {
            return finder
                .find(rest.as_bytes())
                .map(|i| (from + i, from + i + n));
        }
        if self.fast(hay) {
            return ascii_ci_find(rest.as_bytes(), self.text.as_bytes())
                .map(|i| (from + i, from + i + n));
        }
        for (i, _) in rest.char_indices() {
            if let Some(len) = prefix_len(&rest[i..], &self.text) {
                return Some((from + i, from + i + len));
            }
        }
        if self.text.is_empty() {
            Some((hay.len(), hay.len()))
        } else {
            None
        }
    }
}

/// If the lowercased `hay` starts with `folded`, the byte length of `hay` that covers it
/// (the match must end on a character boundary of `hay`).
fn prefix_len(hay: &str, folded: &str) -> Option<usize> {
    let mut needle = folded.chars().peekable();
    if needle.peek().is_none() {
        return Some(0);
    }
    for (i, c) in hay.char_indices() {
        for lc in c.to_lowercase() {
            match needle.next() {
                Some(n) if n == lc => {}
                _ => return None,
            }
        }
        if needle.peek().is_none() {
            return Some(i + c.len_utf8());
        }
    }
    None
}

fn ascii_ci_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, tail)) = needle.split_first() else {
        return Some(0);
    };
    if hay.len() < needle.len() {
        return None;
    }
    let last_start = hay.len() - needle.len();
    let upper = first.to_ascii_uppercase();
    memchr::memchr2_iter(first, upper, &hay[..=last_start])
        .find(|&i| hay[i + 1..i + needle.len()].eq_ignore_ascii_case(tail))
}

#[cfg(test)]
mod tests {
    use super::TextNeedle;

    #[test]
    fn folds_cyrillic_both_ways() {
        let n = TextNeedle::new("ПЕРВЫЙ", false);
        assert!(n.contains("Первый канал"));
        assert!(n.starts_with("первый канал"));
        assert!(!n.ends_with("первый канал"));
        assert!(TextNeedle::new("КАНАЛ", false).ends_with("Первый канал"));
        assert!(TextNeedle::new("первый канал", false).equals("ПЕРВЫЙ КАНАЛ"));
    }

    #[test]
    fn ascii_needle_finds_text_after_non_ascii() {
        let n = TextNeedle::new("hd", false);
        assert!(n.contains("Première HD"));
        assert!(n.ends_with("Première HD"));
        assert_eq!(n.find("Première HD", 0), Some((10, 12)));
    }

    #[test]
    fn kelvin_sign_and_dotted_i_fold_like_their_letters() {
        // U+212A KELVIN SIGN lowercases to ASCII `k`; the fast path must not miss it.
        assert!(TextNeedle::new("kanal", false).contains("\u{212A}anal"));
        assert!(!TextNeedle::new("istanbul", false).equals("\u{0130}stanbul"));
        assert!(TextNeedle::new("\u{0130}stanbul", false).equals("\u{0130}STANBUL"));
    }

    #[test]
    fn case_sensitive_needles_compare_exactly() {
        let n = TextNeedle::new("BBC", true);
        assert!(n.contains("The BBC One"));
        assert!(!n.contains("the bbc one"));
        assert!(!n.equals("bbc"));
    }

    #[test]
    fn find_reports_byte_ranges_of_unicode_matches() {
        let n = TextNeedle::new("КАНАЛ", false);
        let hay = "Первый канал";
        let (s, e) = n.find(hay, 0).unwrap();
        assert_eq!(&hay[s..e], "канал");
    }
}
