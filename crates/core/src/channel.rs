//! Channels: one stream from one source.

use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, StreamSourceId};

/// What a provider says about one channel, as parsed, before it is given an identity.
///
/// Empty provider attributes are kept as `None`. Attributes tvarr does not model are kept, in
/// their original order and spelling, in [`ChannelData::extra`], and written back on output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelData {
    /// The provider's own id for this stream (an Xtream `stream_id`), when it has one.
    pub provider_id: Option<String>,
    /// The display name (the text after the comma of `#EXTINF`).
    pub name: String,
    /// `tvg-id`: the guide channel id.
    pub tvg_id: Option<String>,
    /// `tvg-name`.
    pub tvg_name: Option<String>,
    /// `tvg-logo`: the logo URL.
    pub tvg_logo: Option<String>,
    /// `group-title`, or `#EXTGRP` when there is no group-title.
    pub group_title: Option<String>,
    /// `tvg-chno`: the provider's channel number, which need not be numeric.
    pub tvg_chno: Option<String>,
    /// `tvg-shift`: a guide time shift in hours.
    pub tvg_shift: Option<String>,
    /// The stream URL (absolute; relative URLs are resolved against the playlist URL).
    pub stream_url: String,
    /// `catchup` (for example `default`, `append`, `shift`, `flussonic`).
    pub catchup: Option<String>,
    /// `catchup-days`.
    pub catchup_days: Option<String>,
    /// `catchup-source`: the URL template for catch-up.
    pub catchup_source: Option<String>,
    /// Every other attribute and per-entry option, as `(name, value)` pairs in source order:
    /// unknown `#EXTINF` attributes (`tvg-country`), `#EXTVLCOPT` options (`http-user-agent`),
    /// `#KODIPROP` properties, and headers given after `|` in the URL.
    pub extra: Vec<(String, String)>,
}

impl ChannelData {
    /// The key that identifies this channel within its source across re-ingests: the provider's
    /// id when it has one, else the stream URL.
    pub fn identity_key(&self) -> String {
        match &self.provider_id {
            Some(id) => format!("id:{id}"),
            None => format!("url:{}", self.stream_url),
        }
    }

    /// Bytes of text this channel holds: the length of every string it owns, a close lower
    /// bound of its heap size, for bounding batches and caches by memory.
    pub fn text_bytes(&self) -> usize {
        let opt = |v: &Option<String>| v.as_ref().map_or(0, String::len);
        opt(&self.provider_id)
            + self.name.len()
            + opt(&self.tvg_id)
            + opt(&self.tvg_name)
            + opt(&self.tvg_logo)
            + opt(&self.group_title)
            + opt(&self.tvg_chno)
            + opt(&self.tvg_shift)
            + self.stream_url.len()
            + opt(&self.catchup)
            + opt(&self.catchup_days)
            + opt(&self.catchup_source)
            + self
                .extra
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum::<usize>()
    }

    /// The value of an extra attribute, compared without regard to ASCII case.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A stored channel: what the provider said, with its stable identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Stable id: derived from `source_id` and `key`.
    pub id: ChannelId,
    /// The source the channel came from.
    pub source_id: StreamSourceId,
    /// The identity key within the source (see [`ChannelData::identity_key`]), disambiguated
    /// when a playlist repeats it.
    pub key: String,
    /// Position of the channel in the provider's list, from 0.
    pub position: u32,
    /// What the provider said.
    #[serde(flatten)]
    pub data: ChannelData,
}

impl Channel {
    /// Gives `data` its identity within `source_id`.
    pub fn new(source_id: StreamSourceId, key: String, position: u32, data: ChannelData) -> Self {
        Self {
            id: ChannelId::stable(source_id, &key),
            source_id,
            key,
            position,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_prefers_provider_id_over_url() {
        let mut data = ChannelData {
            stream_url: "http://a/1.ts".into(),
            ..Default::default()
        };
        assert_eq!(data.identity_key(), "url:http://a/1.ts");
        data.provider_id = Some("42".into());
        assert_eq!(data.identity_key(), "id:42");
    }

    #[test]
    fn extra_lookup_ignores_case() {
        let data = ChannelData {
            extra: vec![("tvg-country".into(), "JP".into())],
            ..Default::default()
        };
        assert_eq!(data.extra("TVG-Country"), Some("JP"));
        assert_eq!(data.extra("tvg-language"), None);
    }
}
