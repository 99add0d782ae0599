//! Dropping channels that an earlier source of the proxy already gives.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

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
    /// Reused for the lower-case forms that are hashed.
    scratch: String,
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
        let url = key(b'u', channel.stream_url.trim().as_bytes());
        let id_name = id_name_key(channel, &mut self.scratch);
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

/// The `tvg-id` + name key: both lower-cased into `scratch`, joined by a byte no text has.
fn id_name_key(channel: &ChannelData, scratch: &mut String) -> Option<u128> {
    let tvg_id = channel.tvg_id.as_deref()?.trim();
    if tvg_id.is_empty() {
        return None;
    }
    scratch.clear();
    push_lower(scratch, tvg_id);
    scratch.push('\u{0}');
    push_lower(scratch, channel.name.trim());
    Some(key(b't', scratch.as_bytes()))
}

fn push_lower(out: &mut String, text: &str) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.extend(text.chars().flat_map(char::to_lowercase));
    }
}

/// Two 64-bit hashes of `kind` and `bytes` under different prefixes.
fn key(kind: u8, bytes: &[u8]) -> u128 {
    let half = |prefix: u8| {
        let mut h = DefaultHasher::new();
        h.write_u8(prefix);
        h.write_u8(kind);
        h.write(bytes);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
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
