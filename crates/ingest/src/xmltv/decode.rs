//! Turning an XMLTV byte stream into UTF-8 for the XML reader, whatever its encoding claims.
//!
//! Rules, in order:
//! 1. A UTF-16 BOM means UTF-16; a UTF-8 BOM means UTF-8 (the BOM is dropped).
//! 2. Otherwise the `encoding` of the XML declaration is read. UTF-8 or none: the bytes are
//!    UTF-8, and any invalid sequence becomes U+FFFD (counted).
//! 3. A declared single-byte encoding (ISO-8859-x, windows-125x, KOI8…) is trusted only where the
//!    bytes are not valid UTF-8: guides that declare ISO-8859-1 but are written in UTF-8 (a common
//!    generator bug, `UK_Data.xml`) decode without mojibake, and genuine ISO-8859-1 bytes
//!    (`0xA3` for `£`, `test_livre.xml`) decode through the declared encoding.
//! 4. A declared multi-byte encoding (Shift_JIS, EUC-KR, GBK…) is decoded with `encoding_rs`.

use std::io::{self, BufRead, Read};

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// Bytes examined for a BOM and an XML declaration.
const SNIFF_LEN: usize = 512;
/// Most bytes taken from the inner reader per refill.
const CHUNK: usize = 64 * 1024;

#[derive(Debug)]
enum Mode {
    /// UTF-8, invalid sequences replaced.
    Utf8,
    /// Valid UTF-8 passes; every other byte is decoded through this single-byte table.
    Hybrid(Box<[char; 128]>),
    /// A full decoder (UTF-16, multi-byte legacy encodings).
    Full(encoding_rs::Decoder),
}

/// A [`BufRead`] that yields valid UTF-8 decoded from `inner` by the rules above.
#[derive(Debug)]
pub(crate) struct Utf8Input<R> {
    inner: R,
    mode: Mode,
    label: &'static str,
    out: Vec<u8>,
    pos: usize,
    work: Vec<u8>,
    carry: Vec<u8>,
    eof: bool,
    finished: bool,
    /// Bytes at the front of the inner reader's buffer already checked to be valid UTF-8
    /// and handed out without copying.
    passthrough: usize,
    replaced: u64,
    transcoded: u64,
}

impl<R: BufRead> Utf8Input<R> {
    /// Sniffs the start of `inner` and picks a mode.
    pub(crate) fn new(mut inner: R) -> io::Result<Self> {
        let mut head = Vec::with_capacity(SNIFF_LEN);
        let mut eof = false;
        while head.len() < SNIFF_LEN {
            let available = match inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                eof = true;
                break;
            }
            let take = available.len().min(SNIFF_LEN - head.len());
            head.extend_from_slice(&available[..take]);
            inner.consume(take);
        }
        let (mode, label, bom) = pick_mode(&head);
        let mut input = Self {
            inner,
            mode,
            label,
            out: Vec::with_capacity(CHUNK + 16),
            pos: 0,
            work: Vec::with_capacity(CHUNK + 8),
            carry: head.split_off(bom.min(head.len())),
            eof,
            finished: false,
            passthrough: 0,
            replaced: 0,
            transcoded: 0,
        };
        // The sniffed bytes (minus the BOM) are decoded first.
        input.decode_pending(false);
        Ok(input)
    }

    /// The encoding that was chosen (`UTF-8`, `ISO-8859-1 (where not UTF-8)`, `Shift_JIS`…).
    pub(crate) fn label(&self) -> &'static str {
        self.label
    }

    /// Invalid UTF-8 sequences replaced with U+FFFD.
    pub(crate) fn replaced(&self) -> u64 {
        self.replaced
    }

    /// Bytes decoded through a declared single-byte encoding.
    pub(crate) fn transcoded(&self) -> u64 {
        self.transcoded
    }

    /// Decodes `self.carry` into `self.out`, keeping an incomplete trailing sequence unless `last`.
    fn decode_pending(&mut self, last: bool) {
        std::mem::swap(&mut self.work, &mut self.carry);
        self.carry.clear();
        let mut rest = &self.work[..];
        match &mut self.mode {
            Mode::Full(decoder) => {
                let needed = decoder
                    .max_utf8_buffer_length(rest.len())
                    .unwrap_or(rest.len() * 4 + 16);
                let start = self.out.len();
                self.out.resize(start + needed, 0);
                let (_, _, written, had_errors) =
                    decoder.decode_to_utf8(rest, &mut self.out[start..], last);
                self.out.truncate(start + written);
                if had_errors {
                    self.replaced += 1;
                }
            }
            Mode::Utf8 | Mode::Hybrid(_) => loop {
                match std::str::from_utf8(rest) {
                    Ok(valid) => {
                        self.out.extend_from_slice(valid.as_bytes());
                        break;
                    }
                    Err(e) => {
                        let valid = e.valid_up_to();
                        self.out.extend_from_slice(&rest[..valid]);
                        let bad_len = match e.error_len() {
                            Some(len) => len,
                            None if !last => {
                                self.carry.extend_from_slice(&rest[valid..]);
                                break;
                            }
                            None => rest.len() - valid,
                        };
                        let bad = &rest[valid..valid + bad_len];
                        match &self.mode {
                            Mode::Hybrid(table) => {
                                for &byte in bad {
                                    let ch = if byte < 0x80 {
                                        char::from(byte)
                                    } else {
                                        table[usize::from(byte - 0x80)]
                                    };
                                    let mut utf8 = [0; 4];
                                    self.out
                                        .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                                }
                                self.transcoded += bad.len() as u64;
                            }
                            _ => {
                                self.out.extend_from_slice("\u{fffd}".as_bytes());
                                self.replaced += 1;
                            }
                        }
                        rest = &rest[valid + bad_len..];
                    }
                }
            },
        }
        self.work.clear();
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            if self.eof {
                if !self.finished {
                    // Flush an incomplete trailing sequence and the decoder's state, once.
                    self.finished = true;
                    self.decode_pending(true);
                }
                return Ok(());
            }
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.eof = true;
                continue;
            }
            let take = available.len().min(CHUNK);
            self.carry.extend_from_slice(&available[..take]);
            self.inner.consume(take);
            self.decode_pending(false);
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Utf8Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Utf8Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.out.len() {
            return Ok(&self.out[self.pos..]);
        }
        // Fast path: valid UTF-8 in the inner buffer is handed out as is, checked once.
        if self.passthrough == 0
            && self.carry.is_empty()
            && !self.eof
            && !matches!(self.mode, Mode::Full(_))
        {
            let available = loop {
                match self.inner.fill_buf() {
                    Ok(available) => break available,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.passthrough = match std::str::from_utf8(available) {
                Ok(_) => available.len(),
                Err(e) => e.valid_up_to(),
            };
        }
        if self.passthrough > 0 {
            let available = self.inner.fill_buf()?;
            return Ok(&available[..self.passthrough.min(available.len())]);
        }
        self.refill()?;
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        if self.passthrough > 0 {
            let amount = amount.min(self.passthrough);
            self.inner.consume(amount);
            self.passthrough -= amount;
        } else {
            self.pos = (self.pos + amount).min(self.out.len());
        }
    }
}

fn pick_mode(head: &[u8]) -> (Mode, &'static str, usize) {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return (Mode::Utf8, "UTF-8", 3);
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return (
            Mode::Full(UTF_16LE.new_decoder_without_bom_handling()),
            "UTF-16LE",
            2,
        );
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return (
            Mode::Full(UTF_16BE.new_decoder_without_bom_handling()),
            "UTF-16BE",
            2,
        );
    }
    if head.starts_with(&[b'<', 0, b'?', 0]) {
        return (
            Mode::Full(UTF_16LE.new_decoder_without_bom_handling()),
            "UTF-16LE",
            0,
        );
    }
    if head.starts_with(&[0, b'<', 0, b'?']) {
        return (
            Mode::Full(UTF_16BE.new_decoder_without_bom_handling()),
            "UTF-16BE",
            0,
        );
    }
    let Some(encoding) = declared_encoding(head) else {
        return (Mode::Utf8, "UTF-8", 0);
    };
    if encoding == UTF_8 || encoding == UTF_16LE || encoding == UTF_16BE {
        // A UTF-16 declaration on bytes that sniff as ASCII is wrong: read as UTF-8.
        return (Mode::Utf8, "UTF-8", 0);
    }
    if encoding.is_single_byte() {
        let mut table = Box::new(['\u{fffd}'; 128]);
        for (i, slot) in table.iter_mut().enumerate() {
            let byte = [0x80 + i as u8];
            let (text, _) = encoding.decode_without_bom_handling(&byte);
            *slot = text.chars().next().unwrap_or('\u{fffd}');
        }
        return (Mode::Hybrid(table), hybrid_label(encoding), 0);
    }
    (
        Mode::Full(encoding.new_decoder_without_bom_handling()),
        encoding.name(),
        0,
    )
}

fn hybrid_label(encoding: &'static Encoding) -> &'static str {
    // encoding_rs maps ISO-8859-1 to windows-1252, which is a superset.
    if encoding == encoding_rs::WINDOWS_1252 {
        "windows-1252 (declared ISO-8859-1/windows-1252; UTF-8 where valid)"
    } else {
        "declared single-byte encoding (UTF-8 where valid)"
    }
}

/// The `encoding="…"` of an XML declaration at the start of `head`.
fn declared_encoding(head: &[u8]) -> Option<&'static Encoding> {
    let head = head.trim_ascii_start();
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = memchr::memmem::find(head, b"?>")?;
    let decl = &head[..end];
    let at = memchr::memmem::find(decl, b"encoding")?;
    let rest = decl[at + "encoding".len()..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let close = memchr::memchr(quote, value)?;
    Encoding::for_label(&value[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (String, u64, u64) {
        let mut input = Utf8Input::new(bytes).unwrap();
        let mut out = String::new();
        input.read_to_string(&mut out).unwrap();
        (out, input.replaced(), input.transcoded())
    }

    #[test]
    fn latin1_declared_and_latin1_bytes_are_transcoded() {
        let (text, replaced, transcoded) =
            decode(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>\xa3 5</t>");
        assert!(text.ends_with("<t>£ 5</t>"));
        assert_eq!((replaced, transcoded), (0, 1));
    }

    #[test]
    fn latin1_declared_on_utf8_bytes_keeps_utf8() {
        let (text, _, transcoded) =
            decode("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>£ 5 é</t>".as_bytes());
        assert!(text.ends_with("<t>£ 5 é</t>"));
        assert_eq!(transcoded, 0);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let (text, replaced, _) = decode(b"<t>a\xffb</t>");
        assert_eq!(text, "<t>a\u{fffd}b</t>");
        assert_eq!(replaced, 1);
    }

    #[test]
    fn mixed_valid_and_invalid_bytes_through_small_reads() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>".to_vec();
        for _ in 0..2_000 {
            bytes.extend_from_slice("caf\u{e9} ".as_bytes());
            bytes.extend_from_slice(b"\xa35 ");
        }
        bytes.extend_from_slice(b"</t>");
        let reader = io::BufReader::with_capacity(5, &bytes[..]);
        let mut input = Utf8Input::new(reader).unwrap();
        let mut out = String::new();
        input.read_to_string(&mut out).unwrap();
        assert_eq!(out.matches("café £5 ").count(), 2_000);
        assert_eq!(input.transcoded(), 2_000);
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "<t>é</t>".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode(&bytes).0, "<t>é</t>");
    }

    #[test]
    fn a_sequence_split_across_reads_is_kept_whole() {
        let text = "<t>".to_owned() + &"€".repeat(40_000) + "</t>";
        let reader = io::BufReader::with_capacity(7, text.as_bytes());
        let mut input = Utf8Input::new(reader).unwrap();
        let mut out = String::new();
        input.read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
        assert_eq!(input.replaced(), 0);
    }
}
