//! Programme guide data: guide channels and programmes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::EpgSourceId;

/// A text with an optional language, as XMLTV writes `<title lang="en">`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangText {
    /// The text.
    pub value: String,
    /// The `lang` attribute, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// A guide channel (`<channel id="…">`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpgChannel {
    /// The guide's channel id, matched against a stream channel's `tvg_id`.
    pub id: String,
    /// Display names, in source order.
    pub display_names: Vec<LangText>,
    /// Icon URL.
    pub icon: Option<String>,
    /// Other elements (`<url>`, `<lcn>`, `x-…`) kept as raw XML for output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_xml: Option<String>,
}

/// An episode number in one system (`xmltv_ns`, `onscreen`, `dd_progid`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeNumber {
    /// The `system` attribute.
    pub system: Option<String>,
    /// The text as given.
    pub value: String,
}

impl EpisodeNumber {
    /// The part of a multi-part episode, from an `xmltv_ns` value's third component:
    /// `(part, total)` counted from 1, so `0.4.0/2` is `(1, Some(2))` and `0.4.1` is
    /// `(2, None)`. `None` for other systems, and when the value gives no part index.
    pub fn xmltv_ns_part(&self) -> Option<(u32, Option<u32>)> {
        if self.system.as_deref() != Some("xmltv_ns") {
            return None;
        }
        let part = self.value.split('.').nth(2)?;
        let (index, total) = match part.split_once('/') {
            Some((index, total)) => (index, Some(total)),
            None => (part, None),
        };
        let index = index.trim().parse::<u32>().ok()?.checked_add(1)?;
        let total = total.and_then(|t| t.trim().parse::<u32>().ok());
        Some((index, total))
    }
}

/// A rating in one system (`<rating system="VCHIP"><value>TV-PG</value>`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The `system` attribute.
    pub system: Option<String>,
    /// The value.
    pub value: String,
}

/// One person in `<credits>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The role element: `director`, `actor`, `presenter`, `guest`, …
    pub role: String,
    /// The person's name.
    pub name: String,
    /// For actors, the character (`role` attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub character: Option<String>,
}

/// What a guide says about one programme, as parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeData {
    /// The guide channel id (`channel` attribute).
    pub channel: String,
    /// Start, in UTC.
    pub start: DateTime<Utc>,
    /// Stop, in UTC. When the guide gives none, the next programme's start on the channel.
    pub stop: DateTime<Utc>,
    /// Titles, the first being the main one.
    pub titles: Vec<LangText>,
    /// Sub-titles (episode titles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_titles: Vec<LangText>,
    /// Descriptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptions: Vec<LangText>,
    /// Categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<LangText>,
    /// Episode numbers as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub episode_numbers: Vec<EpisodeNumber>,
    /// Season, from 1, parsed from `xmltv_ns` or `onscreen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<u32>,
    /// Episode, from 1, parsed from `xmltv_ns` or `onscreen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<u32>,
    /// Icon URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Ratings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratings: Vec<Rating>,
    /// Credits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credits: Vec<Credit>,
    /// `<language>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `<date>` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Every other element (`x-…`, `video`, `audio`, `review`, `previously-shown`, icons after
    /// the first, …) kept as raw XML, written back on output. Attributes of `<programme>`
    /// other than `channel`, `start` and `stop` (`clumpidx`, `pdc-start`, `vps-start`,
    /// `showview`, `videoplus`, `x-…`) are not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_xml: Option<String>,
}

fn opt_len(value: &Option<String>) -> usize {
    value.as_ref().map_or(0, String::len)
}

fn texts_len(values: &[LangText]) -> usize {
    values
        .iter()
        .map(|t| t.value.len() + opt_len(&t.lang))
        .sum()
}

impl EpgChannel {
    /// Bytes of text this channel holds (see [`ProgrammeData::text_bytes`]).
    pub fn text_bytes(&self) -> usize {
        self.id.len()
            + texts_len(&self.display_names)
            + opt_len(&self.icon)
            + opt_len(&self.extra_xml)
    }
}

impl ProgrammeData {
    /// Bytes of text this programme holds: the length of every string it owns, a close lower
    /// bound of its heap size, for bounding batches and caches by memory.
    pub fn text_bytes(&self) -> usize {
        self.channel.len()
            + texts_len(&self.titles)
            + texts_len(&self.sub_titles)
            + texts_len(&self.descriptions)
            + texts_len(&self.categories)
            + self
                .episode_numbers
                .iter()
                .map(|e| e.value.len() + opt_len(&e.system))
                .sum::<usize>()
            + opt_len(&self.icon)
            + self
                .ratings
                .iter()
                .map(|r| r.value.len() + opt_len(&r.system))
                .sum::<usize>()
            + self
                .credits
                .iter()
                .map(|c| c.role.len() + c.name.len() + opt_len(&c.character))
                .sum::<usize>()
            + opt_len(&self.language)
            + opt_len(&self.date)
            + opt_len(&self.extra_xml)
    }

    /// The main title, or the empty string.
    pub fn title(&self) -> &str {
        self.titles.first().map(|t| t.value.as_str()).unwrap_or("")
    }

    /// The main description, if any.
    pub fn description(&self) -> Option<&str> {
        self.descriptions.first().map(|t| t.value.as_str())
    }

    /// The part of a multi-part episode, `(part, total)` counted from 1, from the first
    /// `xmltv_ns` episode number that gives one (see [`EpisodeNumber::xmltv_ns_part`]).
    /// Derived from [`ProgrammeData::episode_numbers`], so stored programmes keep it without a
    /// column of their own.
    pub fn episode_part(&self) -> Option<(u32, Option<u32>)> {
        self.episode_numbers
            .iter()
            .find_map(EpisodeNumber::xmltv_ns_part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_programme_weighs_its_text() {
        let programme = ProgrammeData {
            channel: "c".into(),
            titles: vec![LangText {
                value: "t".into(),
                lang: None,
            }],
            descriptions: vec![LangText {
                value: "d".repeat(1_000),
                lang: Some("en".into()),
            }],
            ..ProgrammeData::default()
        };
        assert_eq!(programme.text_bytes(), 1 + 1 + 1_000 + 2);
    }

    fn ns(value: &str) -> EpisodeNumber {
        EpisodeNumber {
            system: Some("xmltv_ns".into()),
            value: value.into(),
        }
    }

    #[test]
    fn xmltv_ns_part_counts_from_one_with_an_optional_total() {
        assert_eq!(ns("0.4.0/2").xmltv_ns_part(), Some((1, Some(2))));
        assert_eq!(ns("2 . 9 . 0/1").xmltv_ns_part(), Some((1, Some(1))));
        assert_eq!(ns("..1").xmltv_ns_part(), Some((2, None)));
        assert_eq!(ns("1/10.2/4.").xmltv_ns_part(), None, "empty part");
        assert_eq!(ns("1.2").xmltv_ns_part(), None, "no third component");
        assert_eq!(ns("..x/2").xmltv_ns_part(), None, "no part index");
        let onscreen = EpisodeNumber {
            system: Some("onscreen".into()),
            value: "S01E01".into(),
        };
        assert_eq!(onscreen.xmltv_ns_part(), None);
    }

    #[test]
    fn episode_part_comes_from_the_first_xmltv_ns_number_that_gives_one() {
        let programme = ProgrammeData {
            episode_numbers: vec![ns("1.2."), ns("1.2.1/3")],
            ..Default::default()
        };
        assert_eq!(programme.episode_part(), Some((2, Some(3))));
        assert_eq!(ProgrammeData::default().episode_part(), None);
    }
}

/// A stored programme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Programme {
    /// The EPG source it came from.
    pub source_id: EpgSourceId,
    /// What the guide said.
    #[serde(flatten)]
    pub data: ProgrammeData,
}
