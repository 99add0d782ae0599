//! What a generation changes against the previous publication, and the guard that keeps a
//! provider's outage from emptying a proxy.

use std::collections::HashMap;

use tvarr_core::{
    CHANGE_SAMPLE, ChangeList, ChangeReport, ChangedChannel, ChannelId, LineupChannel,
};

/// Compares a new lineup with the previous one, read page by page.
///
/// The previous lineup is never held whole: [`ChangeTracker::previous`] takes it a page at a
/// time (in number order, as [`LineupRepository::list`](tvarr_core::LineupRepository::list)
/// returns it) and keeps only counts and the first [`CHANGE_SAMPLE`] channels of each kind of
/// change. Added and removed channels are named in number order (the new number for added
/// ones, the last number for removed ones); renamed and renumbered ones by their new number.
///
/// ```
/// use tvarr_core::{ChannelData, ChannelId, LineupChannel, StreamSourceId};
/// use tvarr_pipeline::ChangeTracker;
///
/// let source = StreamSourceId::new();
/// let channel = |key: &str, name: &str, number| LineupChannel {
///     channel_id: ChannelId::stable(source, key),
///     source_id: source,
///     number,
///     guide_id: key.into(),
///     data: ChannelData { name: name.into(), ..Default::default() },
///     guide: None,
/// };
/// let previous = [channel("a", "One", 1), channel("b", "Two", 2)];
/// let lineup = [channel("a", "One HD", 1), channel("c", "Three", 3)];
/// let mut tracker = ChangeTracker::new(&lineup);
/// tracker.previous(&previous);
/// let changes = tracker.finish();
/// assert_eq!((changes.report.added.count, changes.report.removed.count), (1, 1));
/// assert_eq!(changes.report.renamed.channels[0].previous_name.as_deref(), Some("One"));
/// assert_eq!(changes.previous_total, 2);
/// ```
#[derive(Debug)]
pub struct ChangeTracker<'a> {
    lineup: &'a [LineupChannel],
    index: HashMap<ChannelId, usize>,
    seen: Vec<bool>,
    removed: ChangeList,
    renamed: Sample,
    renumbered: Sample,
    previous_total: u64,
}

/// The outcome of a [`ChangeTracker`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// What changed.
    pub report: ChangeReport,
    /// How many channels the previous lineup had.
    pub previous_total: u64,
}

impl<'a> ChangeTracker<'a> {
    /// A tracker for the new `lineup` (in number order).
    pub fn new(lineup: &'a [LineupChannel]) -> Self {
        Self {
            lineup,
            index: lineup
                .iter()
                .enumerate()
                .map(|(i, c)| (c.channel_id, i))
                .collect(),
            seen: vec![false; lineup.len()],
            removed: ChangeList::default(),
            renamed: Sample::default(),
            renumbered: Sample::default(),
            previous_total: 0,
        }
    }

    /// Compares the next page of the previous lineup.
    pub fn previous(&mut self, page: &[LineupChannel]) {
        for old in page {
            self.previous_total += 1;
            let Some(&i) = self.index.get(&old.channel_id) else {
                self.removed.push(ChangedChannel {
                    channel_id: old.channel_id,
                    name: old.data.name.clone(),
                    number: old.number,
                    previous_name: None,
                    previous_number: None,
                });
                continue;
            };
            if std::mem::replace(&mut self.seen[i], true) {
                continue;
            }
            let new = &self.lineup[i];
            if new.data.name != old.data.name {
                self.renamed.offer(new.number, || ChangedChannel {
                    channel_id: new.channel_id,
                    name: new.data.name.clone(),
                    number: new.number,
                    previous_name: Some(old.data.name.clone()),
                    previous_number: None,
                });
            }
            if new.number != old.number {
                self.renumbered.offer(new.number, || ChangedChannel {
                    channel_id: new.channel_id,
                    name: new.data.name.clone(),
                    number: new.number,
                    previous_name: None,
                    previous_number: Some(old.number),
                });
            }
        }
    }

    /// How many channels of the previous lineup are gone so far.
    pub fn removed(&self) -> u64 {
        self.removed.count
    }

    /// The report, once every page of the previous lineup was compared.
    pub fn finish(self) -> Changes {
        let mut added = ChangeList::default();
        for (new, seen) in self.lineup.iter().zip(&self.seen) {
            if !seen {
                added.push(ChangedChannel {
                    channel_id: new.channel_id,
                    name: new.data.name.clone(),
                    number: new.number,
                    previous_name: None,
                    previous_number: None,
                });
            }
        }
        Changes {
            report: ChangeReport {
                added,
                removed: self.removed,
                renamed: self.renamed.into_list(),
                renumbered: self.renumbered.into_list(),
            },
            previous_total: self.previous_total,
        }
    }
}

/// The [`CHANGE_SAMPLE`] lowest-numbered of a stream of changes, and their count.
#[derive(Debug, Default)]
struct Sample {
    count: u64,
    channels: Vec<ChangedChannel>,
}

impl Sample {
    fn offer(&mut self, number: u32, channel: impl FnOnce() -> ChangedChannel) {
        self.count += 1;
        if self.channels.len() < CHANGE_SAMPLE {
            self.channels.push(channel());
            return;
        }
        let Some((max_at, max)) = self
            .channels
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| c.number)
            .map(|(i, c)| (i, c.number))
        else {
            return;
        };
        if number < max {
            self.channels[max_at] = channel();
        }
    }

    fn into_list(mut self) -> ChangeList {
        self.channels.sort_by_key(|c| c.number);
        ChangeList {
            count: self.count,
            channels: self.channels,
        }
    }
}

/// Whether removing `removed` of `previous` channels is more than `max_percent` percent of
/// them. 100 (or more) turns the guard off; a previous lineup of no channel has nothing to
/// protect.
///
/// ```
/// use tvarr_pipeline::removal_exceeds;
///
/// assert!(!removal_exceeds(50, 100, 50), "exactly half may go");
/// assert!(removal_exceeds(51, 100, 50));
/// assert!(!removal_exceeds(100, 100, 100), "guard off");
/// assert!(!removal_exceeds(0, 0, 0));
/// ```
pub fn removal_exceeds(removed: u64, previous: u64, max_percent: u32) -> bool {
    if max_percent >= 100 || previous == 0 {
        return false;
    }
    u128::from(removed) * 100 > u128::from(max_percent) * u128::from(previous)
}

#[cfg(test)]
mod tests {
    use tvarr_core::{ChannelData, StreamSourceId};

    use super::*;

    fn source() -> StreamSourceId {
        "00000000-0000-0000-0000-000000000001".parse().unwrap()
    }

    fn channel(key: &str, name: &str, number: u32) -> LineupChannel {
        LineupChannel {
            channel_id: ChannelId::stable(source(), key),
            source_id: source(),
            number,
            guide_id: key.into(),
            data: ChannelData {
                name: name.into(),
                ..Default::default()
            },
            guide: None,
        }
    }

    #[test]
    fn counts_each_kind_of_change_across_pages() {
        let previous = [
            channel("a", "A", 1),
            channel("b", "B", 2),
            channel("c", "C", 3),
            channel("d", "D", 4),
        ];
        let lineup = [
            channel("a", "A", 1),
            channel("c", "C2", 5),
            channel("d", "D", 6),
            channel("e", "E", 7),
        ];
        let mut t = ChangeTracker::new(&lineup);
        t.previous(&previous[..2]);
        assert_eq!(t.removed(), 1);
        t.previous(&previous[2..]);
        let c = t.finish();
        assert_eq!(c.previous_total, 4);
        let names = |l: &ChangeList| {
            l.channels
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&c.report.added), ["E"]);
        assert_eq!(names(&c.report.removed), ["B"]);
        assert_eq!(c.report.removed.channels[0].number, 2);
        assert_eq!(names(&c.report.renamed), ["C2"]);
        assert_eq!(names(&c.report.renumbered), ["C2", "D"]);
        assert_eq!(c.report.renumbered.channels[1].previous_number, Some(4));
    }

    #[test]
    fn samples_keep_the_lowest_numbers_and_count_all() {
        let previous: Vec<_> = (0..300)
            .map(|i| channel(&format!("k{i}"), "old", 1000 - i))
            .collect();
        let lineup: Vec<_> = (0..300)
            .map(|i| channel(&format!("k{i}"), "new", 1000 - i))
            .collect();
        let mut t = ChangeTracker::new(&lineup);
        t.previous(&previous);
        let c = t.finish();
        assert_eq!(c.report.renamed.count, 300);
        assert_eq!(c.report.renamed.channels.len(), CHANGE_SAMPLE);
        let numbers: Vec<u32> = c.report.renamed.channels.iter().map(|c| c.number).collect();
        assert_eq!(numbers, (701..=800).collect::<Vec<u32>>());
        assert_eq!(c.report.renumbered.count, 0);
    }

    #[test]
    fn the_guard_compares_shares_without_overflow() {
        assert!(removal_exceeds(u64::MAX, u64::MAX, 99));
        assert!(!removal_exceeds(u64::MAX / 2, u64::MAX, 50));
        assert!(removal_exceeds(1, 1, 0));
        assert!(!removal_exceeds(0, 1, 0));
    }
}
