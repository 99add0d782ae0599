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
    /// Every other element (`x-…`, `video`, `audio`, `review`, `previously-shown`, …) and
    /// attribute kept as raw XML, written back on output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_xml: Option<String>,
}

impl ProgrammeData {
    /// The main title, or the empty string.
    pub fn title(&self) -> &str {
        self.titles.first().map(|t| t.value.as_str()).unwrap_or("")
    }

    /// The main description, if any.
    pub fn description(&self) -> Option<&str> {
        self.descriptions.first().map(|t| t.value.as_str())
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
