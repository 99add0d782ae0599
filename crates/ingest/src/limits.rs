//! How much of one value and one record the parsers hold in memory.
//!
//! A provider controls every byte it sends, and one value without an end (a gzip stream of a
//! billion zeros, a `<title>` of a gigabyte, an M3U line or a JSON string without its closing
//! quote) would otherwise be buffered whole. The parsers stop accumulating at these limits,
//! read on to the value's end without keeping it, count the record as skipped
//! ([`crate::SkipReason::ValueTooLong`], [`crate::SkipReason::RecordTooLarge`]) and go on.

/// Limits on what one parser buffers. The defaults are far above anything a real provider
/// sends and far below what hurts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParserLimits {
    /// The longest single value kept, in bytes: an M3U line, an XML text, tag (with its
    /// attributes), comment or CDATA section, a JSON string. A longer one is skipped, with the
    /// record it belongs to.
    pub max_value_bytes: usize,
    /// The most one record (an M3U entry with its directive lines, an XMLTV channel or
    /// programme, one element of an Xtream listing) may hold in all, in bytes. A larger record
    /// is skipped (XMLTV, M3U) or ends the ingest with an error (an Xtream element, whose JSON
    /// cannot be resumed in the middle).
    pub max_record_bytes: usize,
}

impl ParserLimits {
    /// The default longest value: 1 MiB.
    pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;
    /// The default largest record: 4 MiB.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 4 << 20;

    /// The limits with zero values raised to one byte, and a record at least one value long.
    pub(crate) fn sane(self) -> Self {
        let max_value_bytes = self.max_value_bytes.max(1);
        Self {
            max_value_bytes,
            max_record_bytes: self.max_record_bytes.max(max_value_bytes),
        }
    }
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            max_value_bytes: Self::DEFAULT_MAX_VALUE_BYTES,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}
