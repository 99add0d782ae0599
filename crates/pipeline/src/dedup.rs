//! Dropping channels that an earlier source of the proxy already gives.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use tvarr_core::ChannelData;

/// Removes duplicates across a proxy's stream sources, by source priority.
///
/// Two channels are the same when they have the same `tvg-id` and name (both compared without
/// regard to case, the name trimmed; a channel without `tvg-id` has no such key), or the same
/// stream URL. Sources are seen in the proxy's order (`stream_source_ids`), so the first source
/// that gives a channel keeps it and later sources' copies are dropped. Repeats *within* one
/// source are kept: the provider listed them, and the proxy's filters can remove them.
///
/// Keys are kept as 128-bit hashes, not strings: memory stays a few bytes per channel.
///
/// ```
/// use tvarr_core::ChannelData;
/// use tvarr_pipeline::Deduplicator;
///
/// let channel = |name: &str, url: &str| ChannelData {
///     name: name.into(), tvg_id: Some("bbc1.uk".into()), stream_url: url.into(), ..Default::default()
/// };
/// let mut dedup = Deduplicator::new();
/// assert!(dedup.keep(0, &channel("BBC One", "http://a/1")));
/// assert!(!dedup.keep(1, &channel("bbc one", "http://b/1")), "same tvg-id and name");
/// assert!(!dedup.keep(1, &channel("Other", "http://a/1")), "same URL");
/// assert!(dedup.keep(1, &channel("BBC One HD", "http://b/2")));
/// ```
#[derive(Debug, Default)]
pub struct Deduplicator {
    /// Key hash → the position of the source that gave it first.
    seen: HashMap<u128, usize>,
}

impl Deduplicator {
    /// A deduplicator that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `channel` of the proxy's source at `source_index` (its position in
    /// `stream_source_ids`; call with sources in that order) is kept; a kept channel's keys
    /// are remembered.
    pub fn keep(&mut self, source_index: usize, channel: &ChannelData) -> bool {
        let url = url_key(&channel.stream_url);
        let id_name = id_name_key(channel);
        let earlier = |key: &u128| self.seen.get(key).is_some_and(|&s| s < source_index);
        if earlier(&url) || id_name.as_ref().is_some_and(earlier) {
            return false;
        }
        self.seen.entry(url).or_insert(source_index);
        if let Some(key) = id_name {
            self.seen.entry(key).or_insert(source_index);
        }
        true
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether it has seen nothing.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

fn url_key(url: &str) -> u128 {
    key(|h| {
        b'u'.hash(h);
        url.trim().hash(h);
    })
}

fn id_name_key(channel: &ChannelData) -> Option<u128> {
    let tvg_id = channel.tvg_id.as_deref()?.trim();
    if tvg_id.is_empty() {
        return None;
    }
    Some(key(|h| {
        b't'.hash(h);
        hash_folded(tvg_id, h);
        0xffu8.hash(h);
        hash_folded(channel.name.trim(), h);
    }))
}

fn hash_folded(text: &str, h: &mut DefaultHasher) {
    for c in text.chars().flat_map(char::to_lowercase) {
        c.hash(h);
    }
}

/// Two 64-bit hashes of the same input under different prefixes.
fn key(feed: impl Fn(&mut DefaultHasher)) -> u128 {
    let mut a = DefaultHasher::new();
    0u8.hash(&mut a);
    feed(&mut a);
    let mut b = DefaultHasher::new();
    1u8.hash(&mut b);
    feed(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str, tvg_id: Option<&str>, url: &str) -> ChannelData {
        ChannelData {
            name: name.into(),
            tvg_id: tvg_id.map(Into::into),
            stream_url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_first_source_wins_and_repeats_within_a_source_stay() {
        let mut d = Deduplicator::new();
        assert!(d.keep(0, &ch("One", Some("one"), "http://a/1")));
        assert!(
            d.keep(0, &ch("One", Some("one"), "http://a/1")),
            "same source"
        );
        assert!(!d.keep(1, &ch(" ONE ", Some("One"), "http://b/1")));
        assert!(!d.keep(2, &ch("x", None, " http://a/1")));
        assert!(
            d.keep(1, &ch("One", Some("one.hd"), "http://b/2")),
            "other tvg-id"
        );
        assert!(d.keep(1, &ch("Two", None, "http://b/3")));
        assert!(
            d.keep(1, &ch("Two", None, "http://b/3")),
            "source 1 gave it first"
        );
        assert!(!d.keep(2, &ch("Two", None, "http://b/3")));
    }

    #[test]
    fn channels_without_tvg_id_are_the_same_only_by_url() {
        let mut d = Deduplicator::new();
        assert!(d.keep(0, &ch("News", None, "http://a/1")));
        assert!(d.keep(1, &ch("News", None, "http://b/1")));
        assert!(d.keep(1, &ch("News", Some(""), "http://b/2")));
    }
}
