//! Channel identities: each parsed channel's stable key and position within its source, and
//! the batches they are written in. Pure: no I/O, the same input gives the same keys.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use tvarr_core::{Channel, ChannelData, StreamSourceId};

use crate::weight::Batcher;

/// Gives parsed channels their identity and position, and groups them in batches.
pub(super) struct ChannelIdentities {
    source_id: StreamSourceId,
    /// Every key given out so far, by a 64-bit hash of the key (plenty for one source's
    /// keys, and far smaller than the keys themselves).
    given: HashSet<u64>,
    /// The last occurrence suffix given to each repeated key, by the same hash.
    last_suffix: HashMap<u64, u32>,
    batch: Batcher<Channel>,
    count: u64,
}

impl ChannelIdentities {
    /// Identities within `source_id`, in batches of at most `batch_size` channels and about
    /// `batch_bytes` bytes of text.
    pub(super) fn new(source_id: StreamSourceId, batch_size: usize, batch_bytes: usize) -> Self {
        Self {
            source_id,
            given: HashSet::new(),
            last_suffix: HashMap::new(),
            batch: Batcher::new(batch_size, batch_bytes),
            count: 0,
        }
    }

    /// The identity key, made unique within the playlist: the second channel with the same
    /// key gets `#2`, the third `#3`, in order of appearance. A suffixed key that another
    /// channel already has (a provider id that itself ends in `#2`) takes the next suffix, so
    /// no two channels of a source ever share a key.
    pub(super) fn push(&mut self, data: ChannelData) -> Option<Vec<Channel>> {
        let key = self.unique_key(data.identity_key());
        let position = u32::try_from(self.count).unwrap_or(u32::MAX);
        self.count += 1;
        let weight = data.text_bytes() + key.len();
        self.batch
            .push(weight, Channel::new(self.source_id, key, position, data))
    }

    fn unique_key(&mut self, key: String) -> String {
        let hash = |key: &str| BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        let base = hash(&key);
        if self.given.insert(base) {
            return key;
        }
        let suffix = self.last_suffix.entry(base).or_insert(1);
        loop {
            *suffix += 1;
            let candidate = format!("{key}#{suffix}");
            if self.given.insert(hash(&candidate)) {
                return candidate;
            }
        }
    }

    /// The channels not yet handed out in a full batch.
    pub(super) fn take(&mut self) -> Option<Vec<Channel>> {
        self.batch.take()
    }

    /// Channels pushed so far.
    pub(super) fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use tvarr_core::ChannelId;

    use super::*;

    fn with_id(id: &str) -> ChannelData {
        ChannelData {
            provider_id: Some(id.to_owned()),
            name: format!("Channel {id}"),
            stream_url: format!("http://h/{id}.ts"),
            ..ChannelData::default()
        }
    }

    fn with_url(url: &str) -> ChannelData {
        ChannelData {
            name: "By URL".to_owned(),
            stream_url: url.to_owned(),
            ..ChannelData::default()
        }
    }

    /// Every channel of `input`, through identities batching by `batch_size`.
    fn identify(
        source: StreamSourceId,
        batch_size: usize,
        input: Vec<ChannelData>,
    ) -> Vec<Channel> {
        let mut identities = ChannelIdentities::new(source, batch_size, usize::MAX);
        let mut out = Vec::new();
        for data in input {
            out.extend(identities.push(data).into_iter().flatten());
        }
        out.extend(identities.take().into_iter().flatten());
        out
    }

    #[test]
    fn repeated_keys_get_their_occurrence_in_order_of_appearance() {
        let source = StreamSourceId::new();
        let channels = identify(
            source,
            100,
            vec![
                with_id("a"),
                with_id("b"),
                with_id("a"),
                with_url("http://h/x.ts"),
                with_id("a"),
                with_url("http://h/x.ts"),
            ],
        );
        let keys: Vec<&str> = channels.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "id:a",
                "id:b",
                "id:a#2",
                "url:http://h/x.ts",
                "id:a#3",
                "url:http://h/x.ts#2"
            ]
        );
        let ids: std::collections::HashSet<ChannelId> = channels.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), channels.len(), "every identity is distinct");
    }

    #[test]
    fn a_provider_id_that_looks_like_a_repeat_does_not_take_a_repeats_key() {
        // `a`, `a` again (`id:a#2`), then a channel whose own id is `a#2`: the old rule gave
        // it `id:a#2` too, one id for two channels.
        let channels = identify(
            StreamSourceId::new(),
            100,
            vec![
                with_id("a"),
                with_id("a"),
                with_id("a#2"),
                with_id("a"),
                with_id("a#2"),
            ],
        );
        let keys: Vec<&str> = channels.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["id:a", "id:a#2", "id:a#2#2", "id:a#3", "id:a#2#3"]);
        let ids: std::collections::HashSet<ChannelId> = channels.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), channels.len(), "every identity is distinct");
    }

    #[test]
    fn positions_follow_the_source_order_across_batches() {
        let input: Vec<ChannelData> = (0..7).map(|i| with_id(&i.to_string())).collect();
        let channels = identify(StreamSourceId::new(), 3, input);
        let positions: Vec<u32> = channels.iter().map(|c| c.position).collect();
        assert_eq!(positions, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn full_batches_are_handed_out_and_the_rest_on_take() {
        let mut identities = ChannelIdentities::new(StreamSourceId::new(), 2, usize::MAX);
        assert!(
            identities.take().is_none(),
            "nothing pushed, nothing to take"
        );
        assert!(identities.push(with_id("1")).is_none());
        assert_eq!(identities.push(with_id("2")).map(|b| b.len()), Some(2));
        assert!(identities.push(with_id("3")).is_none());
        assert_eq!(identities.count(), 3);
        assert_eq!(identities.take().map(|b| b.len()), Some(1));
        assert!(identities.take().is_none());
    }

    #[test]
    fn the_same_channel_gets_the_same_id_in_every_run_of_its_source_only() {
        let source = StreamSourceId::new();
        let run = |source| identify(source, 10, vec![with_id("a"), with_id("a")]);
        let (first, second) = (run(source), run(source));
        assert_eq!(first[0].id, second[0].id);
        assert_eq!(first[1].id, second[1].id);
        assert_eq!(first[0].source_id, source);
        let elsewhere = run(StreamSourceId::new());
        assert_ne!(first[0].id, elsewhere[0].id);
    }
}
