//! A layer under serde_json that keeps every JSON string, and every element of a listing,
//! within a byte budget.
//!
//! serde_json buffers a string whole before handing it to a visitor, and the listing reader
//! builds each element as a `serde_json::Value`, so one string without its closing quote (or
//! a gigabyte long) would be held whole, twice. [`BoundedJson`] follows the JSON lexically
//! (strings, escapes, nesting) while serde_json reads it: a string that reaches
//! `max_value_bytes` is cut there (never inside an escape, a surrogate pair or a UTF-8
//! sequence), the rest of it is read without being handed on, and its closing quote is handed
//! on, so serde_json sees a short, valid string; the cut is counted, for the caller to skip the
//! element it belongs to. An element of the top-level array larger than `max_record_bytes` in
//! all (millions of small keys) cannot be resumed in the middle: it is an I/O error, which ends
//! the read.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// A [`Read`] over JSON that cuts long strings and refuses huge elements.
#[derive(Debug)]
pub(crate) struct BoundedJson<R> {
    inner: R,
    max_string: usize,
    max_element: usize,
    /// Open arrays and objects.
    depth: u32,
    in_string: bool,
    /// 0: no escape; 1: after `\`; 2..=5: hex digits of `\u` still to come.
    escape: u8,
    /// The value of the `\u` escape being read.
    hex: u32,
    /// The last escape was a leading surrogate: its trailing one must follow uncut.
    surrogate: bool,
    /// Bytes of the current string handed on.
    string_len: usize,
    /// The rest of a cut string is being read without being handed on.
    skipping: bool,
    /// The cut string's closing quote is still to be handed on.
    close_quote: bool,
    /// Bytes of the current element of the top-level array.
    element_len: usize,
    cuts: Rc<Cell<u64>>,
}

impl<R: BufRead> BoundedJson<R> {
    /// A layer over `inner`; `cuts` counts the strings cut.
    pub(crate) fn new(
        inner: R,
        max_string: usize,
        max_element: usize,
        cuts: Rc<Cell<u64>>,
    ) -> Self {
        Self {
            inner,
            max_string: max_string.max(1),
            max_element: max_element.max(1),
            depth: 0,
            in_string: false,
            escape: 0,
            hex: 0,
            surrogate: false,
            string_len: 0,
            skipping: false,
            close_quote: false,
            element_len: 0,
            cuts,
        }
    }

    /// Reads the rest of a cut string without handing it on, through its closing quote.
    fn skip_string(&mut self) -> io::Result<()> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                // The document ends inside the string: serde_json reports it.
                self.skipping = false;
                return Ok(());
            }
            let mut i = 0;
            let mut closed = false;
            if self.escape > 0 {
                // The byte after a `\` (the hex digits of `\u` hold no quote nor backslash).
                self.escape = 0;
                i = 1;
            }
            while i < available.len() {
                match memchr::memchr2(b'"', b'\\', &available[i..]) {
                    Some(at) if available[i + at] == b'"' => {
                        i += at + 1;
                        closed = true;
                        break;
                    }
                    Some(at) => {
                        if i + at + 1 < available.len() {
                            i += at + 2;
                        } else {
                            self.escape = 1;
                            i = available.len();
                        }
                    }
                    None => i = available.len(),
                }
            }
            self.inner.consume(i);
            if closed {
                self.skipping = false;
                self.close_quote = true;
                return Ok(());
            }
        }
    }

    /// Follows one byte handed on; `false` when the string must be cut before it.
    fn follow(&mut self, byte: u8) -> io::Result<bool> {
        if self.in_string {
            if self.escape == 1 {
                self.escape = if byte == b'u' { 5 } else { 0 };
                self.hex = 0;
                if byte != b'u' {
                    self.surrogate = false;
                }
            } else if self.escape > 1 {
                let digit = char::from(byte).to_digit(16).unwrap_or(0);
                self.hex = (self.hex << 4) | digit;
                self.escape -= 1;
                if self.escape == 1 {
                    self.escape = 0;
                    let leading = (0xD800..0xDC00).contains(&self.hex);
                    self.surrogate = leading && !self.surrogate;
                }
            } else if byte == b'"' {
                self.in_string = false;
                self.surrogate = false;
            } else {
                let cut_here =
                    self.string_len >= self.max_string && !self.surrogate && byte & 0xC0 != 0x80;
                if cut_here {
                    return Ok(false);
                }
                if byte == b'\\' {
                    self.escape = 1;
                } else {
                    self.surrogate = false;
                }
            }
            self.string_len += 1;
        } else {
            match byte {
                b'"' => {
                    self.in_string = true;
                    self.string_len = 0;
                }
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        if self.depth >= 2 || (self.depth == 1 && self.in_string) {
            self.element_len += 1;
            if self.element_len > self.max_element {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "an element of the listing is larger than {} bytes",
                        self.max_element
                    ),
                ));
            }
        } else {
            self.element_len = 0;
        }
        Ok(true)
    }
}

impl<R: BufRead> Read for BoundedJson<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.skipping {
            self.skip_string()?;
        }
        if self.close_quote {
            self.close_quote = false;
            self.in_string = false;
            self.surrogate = false;
            buf[0] = b'"';
            return Ok(1);
        }
        let available = loop {
            match self.inner.fill_buf() {
                Ok(available) => break available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let len = available.len().min(buf.len());
        // Copied first: `follow` needs `self` while the inner buffer is borrowed.
        buf[..len].copy_from_slice(&available[..len]);
        let mut n = 0;
        while n < len {
            if !self.follow(buf[n])? {
                self.skipping = true;
                self.cuts.set(self.cuts.get() + 1);
                break;
            }
            n += 1;
        }
        self.inner.consume(n);
        if n == 0 && self.skipping {
            // Cut at the first byte: hand on the closing quote now rather than report an end.
            return self.read(buf);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(json: &str, max_string: usize, max_element: usize) -> (io::Result<String>, u64) {
        let cuts = Rc::new(Cell::new(0));
        let mut reader = BoundedJson::new(
            io::BufReader::with_capacity(3, json.as_bytes()),
            max_string,
            max_element,
            cuts.clone(),
        );
        let mut out = Vec::new();
        // One byte at a time, as serde_json reads.
        let result = loop {
            let mut byte = [0u8; 1];
            match reader.read(&mut byte) {
                Ok(0) => break Ok(String::from_utf8(out).unwrap()),
                Ok(_) => out.push(byte[0]),
                Err(e) => break Err(e),
            }
        };
        (result, cuts.get())
    }

    #[test]
    fn short_strings_pass_unchanged() {
        let json = r#"[{"a":"b\"c\\","d":[1,2,{"e":"\u00e9"}]},"x"]"#;
        let (out, cuts) = through(json, 100, 1000);
        assert_eq!(out.unwrap(), json);
        assert_eq!(cuts, 0);
    }

    #[test]
    fn a_long_string_is_cut_and_closed() {
        let (out, cuts) = through(r#"[{"a":"0123456789\"x","b":1}]"#, 4, 1000);
        assert_eq!(out.unwrap(), r#"[{"a":"0123","b":1}]"#);
        assert_eq!(cuts, 1);
    }

    #[test]
    fn cuts_never_split_escapes_surrogates_or_characters() {
        let (out, _) = through(r#"["ab\u00e9cd"]"#, 3, 1000);
        assert_eq!(out.unwrap(), r#"["ab\u00e9"]"#);
        let (out, _) = through(r#"["a\ud83d\ude00bc"]"#, 2, 1000);
        assert_eq!(out.unwrap(), r#"["a\ud83d\ude00"]"#);
        let (out, _) = through("[\"aé€b\"]", 2, 1000);
        assert_eq!(out.unwrap(), "[\"aé\"]");
        for cut in 1..20 {
            let (out, _) = through(r#"["a\"\\\ud83d\ude00é€\n\u0041z"]"#, cut, 1000);
            let value: Vec<String> = serde_json::from_str(&out.unwrap()).unwrap();
            assert!(value[0].len() <= cut + 4, "{cut}: {value:?}");
        }
    }

    #[test]
    fn a_huge_element_is_an_error() {
        let (out, _) = through(r#"[{"a":1},{"b":[1,2,3,4,5,6,7,8,9]}]"#, 100, 10);
        assert!(
            out.unwrap_err()
                .to_string()
                .contains("larger than 10 bytes")
        );
    }
}
