//! Stable channel numbers: a channel keeps its number for as long as it stays in a proxy's
//! lineup, and a channel that left keeps its number reserved for a grace period.
//!
//! Media servers key their guides on channel numbers, so a number that moves is a defect:
//! the [`ChannelNumberer`] never changes the number a present channel holds (unless a mapping
//! rule asks for another one), and gives new channels only numbers that are free.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use tvarr_core::{ChannelId, GroupStart, HeldNumber, Numbering};

/// How a proxy numbers its channels (its settings, read once per generation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberingSettings {
    /// `sequential` or `preserve`.
    pub mode: Numbering,
    /// The first number given to channels of groups without a start of their own (0 reads as 1).
    pub starting_number: u32,
    /// First numbers of particular groups (by group title, compared without regard to case).
    pub group_starts: Vec<GroupStart>,
    /// How long a number stays reserved for a channel that left.
    pub grace: Duration,
    /// The generation's instant: released channels are stamped with it, and reservations older
    /// than `grace` at this instant are dropped.
    pub now: DateTime<Utc>,
}

impl NumberingSettings {
    /// The settings of `proxy` at `now`.
    pub fn for_proxy(proxy: &tvarr_core::ProxyInput, now: DateTime<Utc>) -> Self {
        Self {
            mode: proxy.numbering,
            starting_number: proxy.starting_channel_number,
            group_starts: proxy.group_starting_numbers.clone(),
            grace: Duration::days(i64::from(proxy.number_grace_days)),
            now,
        }
    }
}

/// What the numberer needs to know about one lineup channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberCandidate<'a> {
    /// The channel's stable id, the key of its held number.
    pub channel_id: ChannelId,
    /// Its group title, for per-group starting numbers.
    pub group: Option<&'a str>,
    /// The provider's `tvg-chno`, kept in `preserve` mode when it is a whole number that is free.
    pub provider_number: Option<&'a str>,
    /// A number a mapping rule set (`SET channel_number = 7`), taken when free in either mode.
    pub requested: Option<u32>,
}

/// The numbers of one generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignedNumbers {
    /// One number per candidate, in the order given; never two alike.
    pub numbers: Vec<u32>,
    /// What the proxy holds afterwards: every present channel's number (`released_at: None`),
    /// then the reservations of channels that left and are within the grace period, by number.
    pub held: Vec<HeldNumber>,
}

/// Gives channels stable numbers.
///
/// **The rules**, applied in this order, each taking only numbers that are still free (free =
/// not taken by a present channel and not reserved by a channel that left less than the grace
/// period ago):
///
/// 1. reservations of channels that left more than the grace period ago are dropped;
/// 2. a present channel keeps the number it holds (if two held the same number, which storage
///    should never allow, the first in lineup order keeps it);
/// 3. a channel whose mapping rules set `channel_number` takes that number (moving from the one
///    it held, which becomes free at once; if the number is taken it keeps its own);
/// 4. in `preserve` mode, a new channel whose provider `tvg-chno` is a whole number above 0
///    takes it;
/// 5. every channel still without a number takes the lowest free number from its group's
///    starting number (or the proxy's), in lineup order.
///
/// A channel that was present and is gone is released: its number stays reserved, stamped with
/// the generation's instant. Numbers are at least 1.
///
/// ```
/// use chrono::{Duration, Utc};
/// use tvarr_core::{ChannelId, Numbering, StreamSourceId};
/// use tvarr_pipeline::{ChannelNumberer, NumberCandidate, NumberingSettings};
///
/// let source = StreamSourceId::new();
/// let ids: Vec<_> = ["a", "b", "c"].iter().map(|k| ChannelId::stable(source, k)).collect();
/// let candidate = |id: ChannelId, chno: Option<&'static str>| NumberCandidate {
///     channel_id: id, group: None, provider_number: chno, requested: None,
/// };
/// let numberer = ChannelNumberer::new(NumberingSettings {
///     mode: Numbering::Preserve, starting_number: 1, group_starts: vec![],
///     grace: Duration::days(7), now: Utc::now(),
/// });
/// let first = numberer.assign(&[candidate(ids[0], None), candidate(ids[1], Some("1"))], &[]);
/// assert_eq!(first.numbers, [2, 1]);
/// // The provider reorders its list and adds a channel: nobody moves.
/// let second = numberer.assign(
///     &[candidate(ids[2], None), candidate(ids[1], Some("1")), candidate(ids[0], None)],
///     &first.held,
/// );
/// assert_eq!(second.numbers, [3, 1, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct ChannelNumberer {
    settings: NumberingSettings,
}

impl ChannelNumberer {
    /// A numberer with `settings`.
    pub fn new(settings: NumberingSettings) -> Self {
        Self { settings }
    }

    /// The settings it numbers with.
    pub fn settings(&self) -> &NumberingSettings {
        &self.settings
    }

    /// Numbers `channels` (in lineup order) given what the proxy `held` before.
    pub fn assign(&self, channels: &[NumberCandidate<'_>], held: &[HeldNumber]) -> AssignedNumbers {
        let s = &self.settings;
        let present: HashMap<ChannelId, usize> = channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.channel_id, i))
            .collect();
        let mut taken = Taken::default();
        let mut numbers: Vec<Option<u32>> = vec![None; channels.len()];
        // What each present channel held, and the reservations still in force.
        let mut previous: Vec<Option<u32>> = vec![None; channels.len()];
        let mut reserved: Vec<HeldNumber> = Vec::new();
        for h in held {
            if h.number == 0 {
                continue;
            }
            match present.get(&h.channel_id) {
                Some(&i) => {
                    if previous[i].is_none() {
                        previous[i] = Some(h.number);
                    }
                }
                None => {
                    let released_at = h.released_at.unwrap_or(s.now);
                    if s.now.signed_duration_since(released_at) <= s.grace {
                        reserved.push(HeldNumber {
                            channel_id: h.channel_id,
                            number: h.number,
                            released_at: Some(released_at),
                        });
                    }
                }
            }
        }

        // 2. Present channels keep what they hold (unless a rule asks for another number).
        for (i, c) in channels.iter().enumerate() {
            let Some(held) = previous[i] else { continue };
            if c.requested.is_some_and(|r| r != held) {
                continue;
            }
            if taken.take(held) {
                numbers[i] = Some(held);
            }
        }
        // Reservations hold their numbers, unless a present channel has one of them.
        reserved.sort_by_key(|h| h.number);
        reserved.dedup_by_key(|h| h.number);
        reserved.retain(|h| taken.take(h.number));

        // 3. Numbers rules asked for; a channel that cannot have it keeps its own if still free.
        for (i, c) in channels.iter().enumerate() {
            if numbers[i].is_some() {
                continue;
            }
            let Some(requested) = c.requested.filter(|&r| r > 0) else {
                continue;
            };
            if taken.take(requested) {
                numbers[i] = Some(requested);
            } else if let Some(held) = previous[i]
                && taken.take(held)
            {
                numbers[i] = Some(held);
            }
        }

        // 4. Provider numbers of new channels, in preserve mode.
        if s.mode == Numbering::Preserve {
            for (i, c) in channels.iter().enumerate() {
                if numbers[i].is_some() || previous[i].is_some() {
                    continue;
                }
                if let Some(n) = c.provider_number.and_then(provider_number)
                    && taken.take(n)
                {
                    numbers[i] = Some(n);
                }
            }
        }

        // 5. Everyone else: the lowest free number from their start.
        let mut cursors: HashMap<u32, u32> = HashMap::new();
        let mut result = Vec::with_capacity(channels.len());
        for (i, c) in channels.iter().enumerate() {
            let number = match numbers[i] {
                Some(n) => n,
                None => {
                    let base = self.base(c.group);
                    let cursor = cursors.entry(base).or_insert(base);
                    let n = taken.lowest_free(*cursor);
                    *cursor = n;
                    n
                }
            };
            result.push(number);
        }

        let mut out_held: Vec<HeldNumber> = channels
            .iter()
            .zip(&result)
            .map(|(c, &number)| HeldNumber {
                channel_id: c.channel_id,
                number,
                released_at: None,
            })
            .collect();
        out_held.extend(reserved);
        AssignedNumbers {
            numbers: result,
            held: out_held,
        }
    }

    fn base(&self, group: Option<&str>) -> u32 {
        let s = &self.settings;
        group
            .and_then(|g| {
                s.group_starts
                    .iter()
                    .find(|start| same_group(&start.group, g))
                    .map(|start| start.start)
            })
            .unwrap_or(s.starting_number)
            .max(1)
    }
}

/// Group titles compared trimmed and without regard to case (Unicode lower case).
fn same_group(a: &str, b: &str) -> bool {
    a.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .eq(b.trim().chars().flat_map(char::to_lowercase))
}

/// A provider's `tvg-chno` as a number: a whole number above 0 (`007` is 7; `5.1`, `A1` and
/// `0` are not numbers here).
fn provider_number(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|&n| n > 0)
}

/// The numbers given out so far.
#[derive(Default)]
struct Taken {
    numbers: HashSet<u32>,
}

impl Taken {
    /// Takes `n` if it is free; returns whether it was.
    fn take(&mut self, n: u32) -> bool {
        n > 0 && self.numbers.insert(n)
    }

    /// Takes and returns the lowest free number from `from` (wrapping to 1 after `u32::MAX`,
    /// which a lineup far smaller than 2³² numbers always finds).
    fn lowest_free(&mut self, from: u32) -> u32 {
        let mut n = from.max(1);
        while !self.take(n) {
            n = n.checked_add(1).unwrap_or(1);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;
    use tvarr_core::StreamSourceId;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 3, 0, 0).unwrap()
    }

    fn settings(mode: Numbering) -> NumberingSettings {
        NumberingSettings {
            mode,
            starting_number: 1,
            group_starts: Vec::new(),
            grace: Duration::days(7),
            now: now(),
        }
    }

    fn id(key: &str) -> ChannelId {
        let source: StreamSourceId = "00000000-0000-0000-0000-000000000001".parse().unwrap();
        ChannelId::stable(source, key)
    }

    /// A channel `key` of `group` with provider number `chno`.
    #[derive(Clone, Debug)]
    struct Ch {
        key: String,
        group: Option<String>,
        chno: Option<String>,
        requested: Option<u32>,
    }

    fn ch(key: &str) -> Ch {
        Ch {
            key: key.into(),
            group: None,
            chno: None,
            requested: None,
        }
    }

    impl Ch {
        fn chno(mut self, n: &str) -> Self {
            self.chno = Some(n.into());
            self
        }
        fn group(mut self, g: &str) -> Self {
            self.group = Some(g.into());
            self
        }
        fn requested(mut self, n: u32) -> Self {
            self.requested = Some(n);
            self
        }
    }

    fn run(numberer: &ChannelNumberer, channels: &[Ch], held: &[HeldNumber]) -> AssignedNumbers {
        let ids: Vec<ChannelId> = channels.iter().map(|c| id(&c.key)).collect();
        let candidates: Vec<NumberCandidate<'_>> = channels
            .iter()
            .zip(&ids)
            .map(|(c, &channel_id)| NumberCandidate {
                channel_id,
                group: c.group.as_deref(),
                provider_number: c.chno.as_deref(),
                requested: c.requested,
            })
            .collect();
        numberer.assign(&candidates, held)
    }

    fn held_of(result: &AssignedNumbers, key: &str) -> Option<HeldNumber> {
        result
            .held
            .iter()
            .find(|h| h.channel_id == id(key))
            .cloned()
    }

    #[test]
    fn sequential_numbers_from_the_starting_number_in_lineup_order() {
        let mut s = settings(Numbering::Sequential);
        s.starting_number = 100;
        let n = ChannelNumberer::new(s);
        let r = run(&n, &[ch("a").chno("5"), ch("b"), ch("c").chno("1")], &[]);
        assert_eq!(r.numbers, [100, 101, 102], "provider numbers ignored");
        assert!(r.held.iter().all(|h| h.released_at.is_none()));
    }

    #[test]
    fn preserve_keeps_numeric_provider_numbers_and_fills_the_lowest_free() {
        let n = ChannelNumberer::new(settings(Numbering::Preserve));
        let r = run(
            &n,
            &[
                ch("a"),
                ch("b").chno("2"),
                ch("c").chno("007"),
                ch("d").chno("2"),
                ch("e").chno("5.1"),
                ch("f").chno("0"),
                ch("g"),
            ],
            &[],
        );
        // b keeps 2, c keeps 7; d's 2 is taken; e and f are not whole numbers above 0.
        assert_eq!(r.numbers, [1, 2, 7, 3, 4, 5, 6]);
    }

    #[test]
    fn group_starting_numbers_apply_without_regard_to_case() {
        let mut s = settings(Numbering::Sequential);
        s.group_starts = vec![GroupStart {
            group: "Sports".into(),
            start: 100,
        }];
        let n = ChannelNumberer::new(s);
        let r = run(
            &n,
            &[
                ch("news1").group("News"),
                ch("sport1").group("SPORTS"),
                ch("news2"),
                ch("sport2").group(" sports "),
            ],
            &[],
        );
        assert_eq!(r.numbers, [1, 100, 2, 101]);
    }

    #[test]
    fn present_channels_keep_their_numbers_and_new_ones_take_free_numbers() {
        let n = ChannelNumberer::new(settings(Numbering::Sequential));
        let first = run(&n, &[ch("a"), ch("b"), ch("c")], &[]);
        assert_eq!(first.numbers, [1, 2, 3]);
        // b leaves, d arrives first in the list: d may not take 2 (reserved for b).
        let second = run(&n, &[ch("d"), ch("c"), ch("a")], &first.held);
        assert_eq!(second.numbers, [4, 3, 1]);
        let b = held_of(&second, "b").unwrap();
        assert_eq!((b.number, b.released_at), (2, Some(now())));
        // b comes back within the grace period: its number again.
        let third = run(&n, &[ch("b"), ch("d"), ch("c"), ch("a")], &second.held);
        assert_eq!(third.numbers, [2, 4, 3, 1]);
        assert_eq!(held_of(&third, "b").unwrap().released_at, None);
    }

    #[test]
    fn reservations_older_than_the_grace_period_are_dropped() {
        let mut s = settings(Numbering::Sequential);
        let n = ChannelNumberer::new(s.clone());
        let first = run(&n, &[ch("a"), ch("b")], &[]);
        let second = run(&n, &[ch("a")], &first.held);
        assert!(held_of(&second, "b").is_some());
        // Exactly the grace period later the number is still reserved…
        s.now = now() + Duration::days(7);
        let at_grace = run(
            &ChannelNumberer::new(s.clone()),
            &[ch("a"), ch("c")],
            &second.held,
        );
        assert_eq!(at_grace.numbers, [1, 3]);
        // …a second after it, it is free again, and the reservation is gone.
        s.now = now() + Duration::days(7) + Duration::seconds(1);
        let after = run(&ChannelNumberer::new(s), &[ch("a"), ch("c")], &second.held);
        assert_eq!(after.numbers, [1, 2]);
        assert!(held_of(&after, "b").is_none());
    }

    #[test]
    fn a_rule_set_number_is_taken_when_free_and_otherwise_the_held_one_stays() {
        let n = ChannelNumberer::new(settings(Numbering::Sequential));
        let first = run(&n, &[ch("a"), ch("b"), ch("c")], &[]);
        // b asks for 10 (free): it moves, and 2 is free for the newcomer.
        let second = run(
            &n,
            &[ch("a"), ch("b").requested(10), ch("c"), ch("d")],
            &first.held,
        );
        assert_eq!(second.numbers, [1, 10, 3, 2]);
        // c asks for 1 (held by a): c keeps 3.
        let third = run(
            &n,
            &[
                ch("a"),
                ch("b").requested(10),
                ch("c").requested(1),
                ch("d"),
            ],
            &second.held,
        );
        assert_eq!(third.numbers, [1, 10, 3, 2]);
    }

    #[test]
    fn duplicate_held_numbers_are_resolved_first_come() {
        let n = ChannelNumberer::new(settings(Numbering::Sequential));
        let held = [
            HeldNumber {
                channel_id: id("a"),
                number: 5,
                released_at: None,
            },
            HeldNumber {
                channel_id: id("b"),
                number: 5,
                released_at: None,
            },
            HeldNumber {
                channel_id: id("gone"),
                number: 1,
                released_at: Some(now()),
            },
            HeldNumber {
                channel_id: id("gone2"),
                number: 5,
                released_at: Some(now()),
            },
        ];
        let r = run(&n, &[ch("a"), ch("b")], &held);
        assert_eq!(r.numbers, [5, 2]);
        assert_eq!(held_of(&r, "gone").unwrap().number, 1);
        assert!(held_of(&r, "gone2").is_none(), "5 is a present channel's");
    }

    #[test]
    fn numbers_wrap_instead_of_overflowing() {
        let mut s = settings(Numbering::Sequential);
        s.starting_number = u32::MAX;
        let r = run(&ChannelNumberer::new(s), &[ch("a"), ch("b")], &[]);
        assert_eq!(r.numbers, [u32::MAX, 1]);
    }

    fn channels_strategy() -> impl Strategy<Value = Vec<Ch>> {
        prop::collection::vec(
            (
                0u32..60,
                prop::option::of(0u32..40),
                prop::option::of(prop::sample::select(vec!["News", "Sports", "sports"])),
            ),
            0..40,
        )
        .prop_map(|items| {
            let mut seen = HashSet::new();
            items
                .into_iter()
                .filter(|(k, _, _)| seen.insert(*k))
                .map(|(k, chno, group)| Ch {
                    key: format!("k{k}"),
                    group: group.map(str::to_string),
                    chno: chno.map(|n| n.to_string()),
                    requested: None,
                })
                .collect()
        })
    }

    fn settings_strategy() -> impl Strategy<Value = NumberingSettings> {
        (any::<bool>(), 0u32..5, prop::option::of(1u32..30)).prop_map(
            |(preserve, start, sports)| NumberingSettings {
                mode: if preserve {
                    Numbering::Preserve
                } else {
                    Numbering::Sequential
                },
                starting_number: start,
                group_starts: sports
                    .map(|start| GroupStart {
                        group: "Sports".into(),
                        start,
                    })
                    .into_iter()
                    .collect(),
                grace: Duration::days(7),
                now: now(),
            },
        )
    }

    fn assert_no_duplicates(r: &AssignedNumbers) -> Result<(), TestCaseError> {
        let mut all = HashSet::new();
        for h in &r.held {
            prop_assert!(h.number > 0);
            prop_assert!(
                all.insert(h.number),
                "number {} twice in {:?}",
                h.number,
                r.held
            );
        }
        let present: HashSet<u32> = r.numbers.iter().copied().collect();
        prop_assert_eq!(present.len(), r.numbers.len());
        Ok(())
    }

    proptest! {
        #[test]
        fn never_gives_a_number_twice(
            s in settings_strategy(),
            first in channels_strategy(),
            second in channels_strategy(),
        ) {
            let n = ChannelNumberer::new(s);
            let a = run(&n, &first, &[]);
            assert_no_duplicates(&a)?;
            let b = run(&n, &second, &a.held);
            assert_no_duplicates(&b)?;
        }

        #[test]
        fn running_again_on_the_same_input_changes_nothing(
            s in settings_strategy(),
            channels in channels_strategy(),
        ) {
            let n = ChannelNumberer::new(s);
            let a = run(&n, &channels, &[]);
            let b = run(&n, &channels, &a.held);
            prop_assert_eq!(&a.numbers, &b.numbers);
            let mut held_a = a.held.clone();
            let mut held_b = b.held.clone();
            held_a.sort_by_key(|h| h.number);
            held_b.sort_by_key(|h| h.number);
            prop_assert_eq!(held_a, held_b);
        }

        #[test]
        fn reordering_and_adding_a_channel_moves_no_number(
            s in settings_strategy(),
            channels in channels_strategy(),
            shuffle in any::<u64>(),
            position in any::<prop::sample::Index>(),
            new_chno in prop::option::of(0u32..40),
        ) {
            let n = ChannelNumberer::new(s);
            let a = run(&n, &channels, &[]);
            let mut reordered = channels.clone();
            // A deterministic shuffle from the seed.
            let mut seed = shuffle | 1;
            for i in (1..reordered.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                reordered.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            let newcomer = Ch {
                key: "newcomer".into(),
                group: None,
                chno: new_chno.map(|c| c.to_string()),
                requested: None,
            };
            reordered.insert(position.index(reordered.len() + 1), newcomer);
            let b = run(&n, &reordered, &a.held);
            assert_no_duplicates(&b)?;
            for (c, number) in channels.iter().zip(&a.numbers) {
                let j = reordered.iter().position(|r| r.key == c.key).unwrap();
                prop_assert_eq!(b.numbers[j], *number, "{} moved", c.key);
            }
        }
    }
}
