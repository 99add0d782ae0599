//! The fields expressions can read and write, per domain, with their types and aliases.

use serde::{Deserialize, Serialize};

use crate::diagnostic::{nearest, normalise, same_normalised};

/// Which kind of record an expression is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// Channels (M3U entries, Xtream live streams).
    Stream,
    /// Programmes (XMLTV entries).
    Epg,
}

/// The value type of a field, which decides the operators that make sense on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldType {
    /// Free text.
    Text,
    /// A number (integer or decimal) stored as text; ordering operators compare numerically.
    Number,
    /// A point in time; ordering operators compare instants. Accepted forms: RFC 3339,
    /// XMLTV `YYYYMMDDhhmmss +zzzz` (offset optional, UTC assumed) and Unix seconds.
    Time,
    /// A URL (text for every operator).
    Url,
}

/// A built-in field, resolved from its name once at compile time.
///
/// Callers implementing [`Record`](crate::Record) match on this enum to find the value, so no
/// string lookup happens per evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the field of the same name, documented in the registry
pub enum FieldId {
    ChannelName,
    TvgId,
    TvgName,
    TvgLogo,
    TvgChno,
    TvgShift,
    GroupTitle,
    StreamUrl,
    ChannelNumber,
    SourceName,
    SourceType,
    SourceUrl,
    Catchup,
    CatchupDays,
    CatchupSource,
    ProgrammeTitle,
    ProgrammeSubTitle,
    ProgrammeDescription,
    ProgrammeCategory,
    ProgrammeStart,
    ProgrammeStop,
    ProgrammeChannel,
    ProgrammeIcon,
    ProgrammeEpisode,
    ProgrammeSeason,
    ProgrammeRating,
    ProgrammeLanguage,
    ProgrammeCredits,
}

/// A resolved field: a built-in one, or an extra provider attribute kept by ingestion
/// (`tvg-country`, `tvg-language`, any other `#EXTINF` attribute), addressed by its lowercase name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// A built-in field.
    Builtin(FieldId),
    /// An extra attribute, by lowercase attribute name (`tvg-country`).
    Extra(Box<str>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Storage {
    Builtin(FieldId),
    Extra(&'static str),
}

/// The description of one field, as served by the API.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDef {
    /// The canonical name.
    pub name: &'static str,
    /// Other accepted spellings, including the hyphenated M3U attribute or XMLTV element name
    /// (`tvg-id`, `group-title`, `sub-title`) where there is one; matching ignores case and
    /// treats `-` like `_`.
    pub aliases: &'static [&'static str],
    /// The value type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether rules may only test the field, not change it.
    pub read_only: bool,
    /// One sentence for users.
    pub description: &'static str,
    #[serde(skip)]
    pub(crate) storage: Storage,
}

impl FieldDef {
    /// The reference a [`Record`](crate::Record) receives for this field.
    pub fn field_ref(&self) -> FieldRef {
        match self.storage {
            Storage::Builtin(id) => FieldRef::Builtin(id),
            Storage::Extra(name) => FieldRef::Extra(name.into()),
        }
    }
}

const fn field(
    name: &'static str,
    aliases: &'static [&'static str],
    field_type: FieldType,
    read_only: bool,
    id: FieldId,
    description: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        aliases,
        field_type,
        read_only,
        description,
        storage: Storage::Builtin(id),
    }
}

const fn extra(
    name: &'static str,
    aliases: &'static [&'static str],
    attribute: &'static str,
    field_type: FieldType,
    description: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        aliases,
        field_type,
        read_only: false,
        description,
        storage: Storage::Extra(attribute),
    }
}

use FieldId as F;
use FieldType::{Number, Text, Time, Url};

static STREAM_FIELDS: &[FieldDef] = &[
    field(
        "channel_name",
        &["name", "channel", "title", "display_name"],
        Text,
        false,
        F::ChannelName,
        "The channel's display name (the text after the comma of #EXTINF).",
    ),
    field(
        "tvg_id",
        &["tvg-id", "tvgid", "epg_id"],
        Text,
        false,
        F::TvgId,
        "The guide identifier linking the channel to EPG data (tvg-id).",
    ),
    field(
        "tvg_name",
        &["tvg-name", "tvgname"],
        Text,
        false,
        F::TvgName,
        "The provider's tvg-name attribute.",
    ),
    field(
        "tvg_logo",
        &["tvg-logo", "logo", "tvglogo", "icon"],
        Url,
        false,
        F::TvgLogo,
        "The logo URL (tvg-logo).",
    ),
    field(
        "tvg_chno",
        &["tvg-chno", "tvgchno", "provider_number"],
        Number,
        false,
        F::TvgChno,
        "The channel number given by the provider (tvg-chno).",
    ),
    field(
        "tvg_shift",
        &["tvg-shift", "timeshift", "shift", "tvgshift"],
        Number,
        false,
        F::TvgShift,
        "Guide time shift in hours (tvg-shift).",
    ),
    field(
        "group_title",
        &[
            "group-title",
            "group",
            "category",
            "group_name",
            "grouptitle",
        ],
        Text,
        false,
        F::GroupTitle,
        "The group or category (group-title).",
    ),
    field(
        "stream_url",
        &["url", "stream"],
        Url,
        false,
        F::StreamUrl,
        "The stream URL.",
    ),
    field(
        "channel_number",
        &["number", "chno", "channel_num"],
        Number,
        false,
        F::ChannelNumber,
        "The channel number assigned in the proxy output.",
    ),
    field(
        "source_name",
        &["source"],
        Text,
        true,
        F::SourceName,
        "The name of the stream source the channel came from.",
    ),
    field(
        "source_type",
        &[],
        Text,
        true,
        F::SourceType,
        "The kind of stream source: m3u or xtream.",
    ),
    field(
        "source_url",
        &[],
        Url,
        true,
        F::SourceUrl,
        "The URL of the stream source.",
    ),
    field(
        "catchup",
        &["catchup-type", "catchup_type"],
        Text,
        false,
        F::Catchup,
        "The catch-up mode (catchup attribute: default, append, shift, flussonic, xc).",
    ),
    field(
        "catchup_days",
        &["catchup-days", "timeshift_days"],
        Number,
        false,
        F::CatchupDays,
        "How many days of catch-up the provider keeps (catchup-days).",
    ),
    field(
        "catchup_source",
        &["catchup-source"],
        Url,
        false,
        F::CatchupSource,
        "The catch-up URL template (catchup-source).",
    ),
    extra(
        "tvg_country",
        &["tvg-country", "country"],
        "tvg-country",
        Text,
        "Country codes of the channel (tvg-country), an extra attribute.",
    ),
    extra(
        "tvg_language",
        &["tvg-language", "language", "lang"],
        "tvg-language",
        Text,
        "Languages of the channel (tvg-language), an extra attribute.",
    ),
    extra(
        "tvg_url",
        &["tvg-url"],
        "tvg-url",
        Url,
        "A guide URL given on the entry (tvg-url), an extra attribute.",
    ),
    extra(
        "radio",
        &[],
        "radio",
        Text,
        "`true` for radio streams (radio attribute), an extra attribute.",
    ),
];

static EPG_FIELDS: &[FieldDef] = &[
    field(
        "programme_title",
        &["program_title", "title"],
        Text,
        false,
        F::ProgrammeTitle,
        "The programme title.",
    ),
    field(
        "programme_sub_title",
        &[
            "sub-title",
            "program_sub_title",
            "programme_subtitle",
            "program_subtitle",
            "sub_title",
            "subtitle",
            "episode_title",
        ],
        Text,
        false,
        F::ProgrammeSubTitle,
        "The sub-title, often the episode title.",
    ),
    field(
        "programme_description",
        &["program_description", "description", "desc"],
        Text,
        false,
        F::ProgrammeDescription,
        "The description.",
    ),
    field(
        "programme_category",
        &["program_category", "category", "genre"],
        Text,
        false,
        F::ProgrammeCategory,
        "The categories, joined with commas when there are several.",
    ),
    field(
        "programme_start",
        &["program_start", "start", "start_time"],
        Time,
        true,
        F::ProgrammeStart,
        "When the programme starts (UTC).",
    ),
    field(
        "programme_stop",
        &[
            "program_stop",
            "stop",
            "end",
            "end_time",
            "programme_end",
            "program_end",
        ],
        Time,
        true,
        F::ProgrammeStop,
        "When the programme ends (UTC).",
    ),
    field(
        "programme_channel",
        &["program_channel", "channel", "channel_id", "tvg_id"],
        Text,
        false,
        F::ProgrammeChannel,
        "The guide channel id the programme belongs to (matches a channel's tvg_id).",
    ),
    field(
        "programme_icon",
        &["program_icon", "icon", "poster", "image"],
        Url,
        false,
        F::ProgrammeIcon,
        "The programme image URL.",
    ),
    field(
        "programme_episode",
        &["episode-num", "program_episode", "episode", "episode_num"],
        Text,
        false,
        F::ProgrammeEpisode,
        "The episode number as given (xmltv_ns or onscreen).",
    ),
    field(
        "programme_season",
        &["program_season", "season"],
        Text,
        false,
        F::ProgrammeSeason,
        "The season number, when known.",
    ),
    field(
        "programme_rating",
        &["program_rating", "rating"],
        Text,
        false,
        F::ProgrammeRating,
        "The content rating (e.g. PG, TV-14).",
    ),
    field(
        "programme_language",
        &["program_language", "language", "lang"],
        Text,
        false,
        F::ProgrammeLanguage,
        "The programme language.",
    ),
    field(
        "programme_credits",
        &["program_credits", "credits"],
        Text,
        false,
        F::ProgrammeCredits,
        "Directors, actors and presenters, joined with commas.",
    ),
    field(
        "source_name",
        &["source"],
        Text,
        true,
        F::SourceName,
        "The name of the EPG source the programme came from.",
    ),
    field(
        "source_type",
        &[],
        Text,
        true,
        F::SourceType,
        "The kind of EPG source: xmltv or xtream.",
    ),
];

/// The syntax of an explicit extra attribute reference.
pub const EXTRA_ATTRIBUTE_PREFIX: &str = "extra.";

/// Every field of one domain, with aliases, types and read-only flags. Serialises to the JSON
/// served at `GET /api/v1/filters/fields/{stream|epg}`.
#[derive(Debug, Serialize)]
pub struct FieldRegistry {
    domain: Domain,
    fields: &'static [FieldDef],
    /// How to address provider attributes that have no field of their own.
    extra_attributes: &'static str,
}

static STREAM_REGISTRY: FieldRegistry = FieldRegistry {
    domain: Domain::Stream,
    fields: STREAM_FIELDS,
    extra_attributes: "Any other #EXTINF attribute: write `extra.NAME` (e.g. `extra.tvg-rec`), or just \
        its hyphenated name (e.g. `tvg-country`, `catchup-correction`).",
};

static EPG_REGISTRY: FieldRegistry = FieldRegistry {
    domain: Domain::Epg,
    fields: EPG_FIELDS,
    extra_attributes: "Any other programme element kept by ingestion: write `extra.NAME` \
        (e.g. `extra.star-rating`), or just its hyphenated name.",
};

/// A name resolved against a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedField {
    /// What a record is asked for.
    pub field_ref: FieldRef,
    /// The canonical name (`channel_name`), or the attribute name for extras.
    pub canonical: String,
    /// The field's type; extra attributes are text that ordering operators may still read as numbers.
    pub field_type: FieldType,
    /// Whether rules may change it.
    pub read_only: bool,
    /// Whether it is an extra attribute rather than a registry field.
    pub is_extra: bool,
}

impl FieldRegistry {
    /// The registry of a domain.
    pub fn for_domain(domain: Domain) -> &'static FieldRegistry {
        match domain {
            Domain::Stream => &STREAM_REGISTRY,
            Domain::Epg => &EPG_REGISTRY,
        }
    }

    /// The domain this registry describes.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// Every field, canonical ones in a stable order.
    pub fn fields(&self) -> &'static [FieldDef] {
        self.fields
    }

    /// The field with this canonical name or alias (case-insensitive, `-` like `_`).
    pub fn get(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| {
            same_normalised(f.name, name)
                || f.aliases.iter().any(|a| same_normalised(a, name))
                || matches!(f.storage, Storage::Extra(attr) if same_normalised(attr, name))
        })
    }

    /// Resolves a name as written in an expression.
    ///
    /// Known names and aliases resolve to their field; `extra.NAME` and unknown hyphenated names
    /// (`tvg-country`) resolve to an extra attribute, unless they are one typo away from a known
    /// field. On failure returns the nearest known name, if any.
    pub fn resolve(&self, name: &str) -> Result<ResolvedField, Option<String>> {
        if let Some(def) = self.get(name) {
            return Ok(ResolvedField {
                field_ref: def.field_ref(),
                canonical: def.name.to_string(),
                field_type: def.field_type,
                read_only: def.read_only,
                is_extra: false,
            });
        }
        let lower = name.to_ascii_lowercase();
        if let Some(attr) = lower.strip_prefix(EXTRA_ATTRIBUTE_PREFIX) {
            if attr.is_empty() {
                return Err(None);
            }
            return Ok(Self::extra_field(attr));
        }
        let suggestion = self.suggest(name);
        if lower.contains('-') {
            let norm = normalise(&lower);
            let near_miss = self
                .all_names()
                .filter(|n| n.len().abs_diff(norm.len()) <= 1)
                .any(|n| strsim::damerau_levenshtein(&norm, &normalise(n)) <= 1);
            if !near_miss {
                return Ok(Self::extra_field(&lower));
            }
        }
        Err(suggestion)
    }

    fn extra_field(attr: &str) -> ResolvedField {
        ResolvedField {
            field_ref: FieldRef::Extra(attr.into()),
            canonical: attr.to_string(),
            field_type: FieldType::Text,
            read_only: false,
            is_extra: true,
        }
    }

    fn all_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields
            .iter()
            .flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
    }

    /// The canonical name of the field nearest to a misspelt `name`.
    pub fn suggest(&self, name: &str) -> Option<String> {
        let best = nearest(name, self.all_names())?;
        self.get(&best).map(|f| f.name.to_string())
    }
}
