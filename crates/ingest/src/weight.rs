//! Batches bounded twice: by their count, and by the bytes of text their records hold.
//!
//! A batch of 2,000 ordinary programmes holds about a megabyte, but each record may hold up to
//! [`crate::ParserLimits::max_record_bytes`] (4 MiB), so a count alone would let a hostile
//! guide fill a batch with gigabytes. The figure is the length of every string a record owns,
//! a close lower bound of its heap size; the fixed part of each record is small beside it.

/// Records gathered into batches of at most `records` records and about `bytes` bytes of
/// text (a batch is sent once it reaches either; a single record over `bytes` goes alone).
#[derive(Debug)]
pub(crate) struct Batcher<T> {
    batch: Vec<T>,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
}

impl<T> Batcher<T> {
    pub(crate) fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            batch: Vec::new(),
            bytes: 0,
            max_records: max_records.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// Adds `record`, holding `weight` bytes of text (`text_bytes` of the core types);
    /// returns the batch when it is full.
    pub(crate) fn push(&mut self, weight: usize, record: T) -> Option<Vec<T>> {
        if self.batch.capacity() == 0 {
            self.batch.reserve(self.max_records.min(4_096));
        }
        self.bytes += weight;
        self.batch.push(record);
        if self.batch.len() >= self.max_records || self.bytes >= self.max_bytes {
            self.take()
        } else {
            None
        }
    }

    /// What is gathered, if anything.
    pub(crate) fn take(&mut self) -> Option<Vec<T>> {
        self.bytes = 0;
        if self.batch.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.batch))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tvarr_core::{LangText, ProgrammeData};

    fn programme(description_bytes: usize) -> ProgrammeData {
        ProgrammeData {
            channel: "c".into(),
            titles: vec![LangText {
                value: "t".into(),
                lang: None,
            }],
            descriptions: vec![LangText {
                value: "d".repeat(description_bytes),
                lang: Some("en".into()),
            }],
            ..ProgrammeData::default()
        }
    }

    #[test]
    fn a_batch_ends_at_its_count_or_its_bytes_whichever_comes_first() {
        let mut by_count = Batcher::new(3, 1 << 20);
        let small = || programme(10);
        assert!(by_count.push(14, small()).is_none());
        assert!(by_count.push(14, small()).is_none());
        assert_eq!(by_count.push(14, small()).map(|b| b.len()), Some(3));
        assert!(by_count.take().is_none());

        // Records of ~1 MiB each in batches of at most 4 MiB: 4 records, not 2,000.
        let mut by_bytes = Batcher::new(2_000, 4 << 20);
        let mut sizes = Vec::new();
        for _ in 0..10 {
            let p = programme(1 << 20);
            if let Some(batch) = by_bytes.push(p.text_bytes(), p) {
                sizes.push(batch.len());
            }
        }
        sizes.extend(by_bytes.take().map(|b| b.len()));
        assert_eq!(sizes, vec![4, 4, 2]);
    }
}
