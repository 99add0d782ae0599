//! Counting what a parser skipped, and why.

use std::collections::BTreeMap;
use std::fmt;

/// Why a line or an element was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// A line where a stream URL was expected is not a URL (`[NO PUBLIC STREAM]`), or a
    /// line of text that belongs to no entry (`=====sudan=====`).
    NotAUrl,
    /// Text in front of the `#EXTM3U` header on the same line.
    StrayText,
    /// An `#EXTINF` with no URL after it (another `#EXTINF` or the end came first).
    ExtinfWithoutUrl,
    /// A programme with no `channel` attribute.
    ProgrammeWithoutChannel,
    /// A programme whose `start` cannot be parsed.
    UnparsableStart,
    /// A channel with no `id` attribute.
    ChannelWithoutId,
    /// An Xtream stream that has no usable id.
    StreamWithoutId,
    /// A value longer than [`crate::ParserLimits::max_value_bytes`] (a line, a text, a tag, a
    /// JSON string): it was read to its end without being kept, and its record skipped.
    ValueTooLong,
    /// A record holding more than [`crate::ParserLimits::max_record_bytes`] in all.
    RecordTooLarge,
}

impl SkipReason {
    /// A short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotAUrl => "not_a_url",
            SkipReason::StrayText => "stray_text",
            SkipReason::ExtinfWithoutUrl => "extinf_without_url",
            SkipReason::ProgrammeWithoutChannel => "programme_without_channel",
            SkipReason::UnparsableStart => "unparsable_start",
            SkipReason::ChannelWithoutId => "channel_without_id",
            SkipReason::StreamWithoutId => "stream_without_id",
            SkipReason::ValueTooLong => "value_too_long",
            SkipReason::RecordTooLarge => "record_too_large",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped line kept as an example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedExample {
    /// Why it was skipped.
    pub reason: SkipReason,
    /// 1-based line number (M3U) or element number (XMLTV, Xtream).
    pub line: u64,
    /// The text, cut to [`SkipReport::EXAMPLE_LEN`] characters.
    pub text: String,
}

/// Counts of skipped lines per reason, and the first few examples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkipReport {
    counts: BTreeMap<SkipReason, u64>,
    examples: Vec<SkippedExample>,
}

impl SkipReport {
    /// How many examples are kept in all.
    pub const MAX_EXAMPLES: usize = 10;
    /// How many characters of a skipped line are kept.
    pub const EXAMPLE_LEN: usize = 120;

    /// Counts one skipped line.
    pub fn record(&mut self, reason: SkipReason, line: u64, text: &str) {
        *self.counts.entry(reason).or_insert(0) += 1;
        if self.examples.len() < Self::MAX_EXAMPLES {
            self.examples.push(SkippedExample {
                reason,
                line,
                text: text.chars().take(Self::EXAMPLE_LEN).collect(),
            });
        }
    }

    /// The count for one reason.
    pub fn count(&self, reason: SkipReason) -> u64 {
        self.counts.get(&reason).copied().unwrap_or(0)
    }

    /// All skipped lines.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Counts per reason, in a stable order.
    pub fn counts(&self) -> impl Iterator<Item = (SkipReason, u64)> + '_ {
        self.counts.iter().map(|(r, c)| (*r, *c))
    }

    /// The first few skipped lines.
    pub fn examples(&self) -> &[SkippedExample] {
        &self.examples
    }

    /// Adds another report's counts (and examples while there is room).
    pub fn merge(&mut self, other: &SkipReport) {
        for (reason, count) in other.counts() {
            *self.counts.entry(reason).or_insert(0) += count;
        }
        for example in &other.examples {
            if self.examples.len() < Self::MAX_EXAMPLES {
                self.examples.push(example.clone());
            }
        }
    }
}

impl fmt::Display for SkipReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (reason, count) in self.counts() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{reason}: {count}")?;
        }
        if first {
            f.write_str("nothing skipped")?;
        }
        Ok(())
    }
}
