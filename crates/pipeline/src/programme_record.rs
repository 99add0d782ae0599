//! Programmes as expression records.

use std::cell::OnceCell;
use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Datelike, Timelike, Utc};
use tvarr_core::{Credit, EpgSourceType, EpisodeNumber, LangText, ProgrammeData, Rating};
use tvarr_expr::{FieldId, FieldRef, Record, RecordMut};

use crate::channel_record::non_empty;
use crate::inline_text::InlineText;

/// The read-only context fields of a programme: where it came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgrammeContext<'a> {
    /// The name of the EPG source.
    pub source_name: Option<&'a str>,
    /// The kind of that source.
    pub source_type: Option<EpgSourceType>,
}

/// The name expressions see for an EPG source kind (`xmltv`, `xtream`).
pub fn epg_source_type_name(kind: EpgSourceType) -> &'static str {
    match kind {
        EpgSourceType::Xmltv => "xmltv",
        EpgSourceType::Xtream => "xtream",
    }
}

/// Text derived from the data on first use, and forgotten when a rule changes the data.
#[derive(Debug, Default)]
struct Derived {
    categories: OnceCell<String>,
    credits: OnceCell<String>,
    start: OnceCell<Option<InlineText<24>>>,
    stop: OnceCell<Option<InlineText<24>>>,
    season: OnceCell<Option<InlineText<12>>>,
}

/// A programme seen by filters and mapping rules: [`ProgrammeData`] plus its
/// [`ProgrammeContext`].
///
/// Built over `&ProgrammeData` it is a [`Record`]; over `&mut ProgrammeData` also a
/// [`RecordMut`]. Field mapping:
///
/// | field | reads | a rule's `SET` |
/// |---|---|---|
/// | `programme_title`, `programme_sub_title`, `programme_description` | the first (main) entry | replaces the first entry's text, keeping its language; `DELETE` removes every entry |
/// | `programme_category` | every category, joined with `", "` | splits the value at commas into categories |
/// | `programme_credits` | every credited name, joined with `", "` | splits at commas; each name keeps the role at its position, new ones are `actor` |
/// | `programme_start`, `programme_stop` | RFC 3339 UTC (`2024-01-15T10:30:00Z`); ordering operators use the instant | read-only |
/// | `programme_channel`, `programme_icon`, `programme_language` | the field | the field |
/// | `programme_episode` | the first episode number, as given | replaces its text |
/// | `programme_season` | the season number | a whole number; anything else is ignored |
/// | `programme_rating` | the first rating's value | replaces its value |
/// | `source_name`, `source_type` | the context | read-only |
/// | `extra.date` | `<date>` | the field |
/// | `extra.NAME` | the text of the first `<NAME>` element kept in the raw XML | ignored (raw elements are written back as they came) |
///
/// Filters allocate nothing, except when they read `programme_category` or `programme_credits`
/// of a programme with several of them: the joined text is built once per record.
#[derive(Debug)]
pub struct ProgrammeRecord<'c, D> {
    data: D,
    context: ProgrammeContext<'c>,
    derived: Derived,
}

impl<'c, D: Deref<Target = ProgrammeData>> ProgrammeRecord<'c, D> {
    /// A record over `data` (`&ProgrammeData` to read, `&mut ProgrammeData` to change).
    pub fn new(data: D, context: ProgrammeContext<'c>) -> Self {
        Self {
            data,
            context,
            derived: Derived::default(),
        }
    }

    /// The programme data, with any changes rules made.
    pub fn data(&self) -> &ProgrammeData {
        &self.data
    }
}

fn first(list: &[LangText]) -> Option<&str> {
    list.first().map(|t| t.value.as_str())
}

/// One entry's text, or several joined with `", "` (built once, on first use).
fn joined<'a, T>(
    list: &'a [T],
    text: impl Fn(&'a T) -> &'a str,
    cache: &'a OnceCell<String>,
) -> Option<&'a str> {
    match list {
        [] => None,
        [one] => Some(text(one)),
        many => Some(cache.get_or_init(|| {
            let mut out = String::new();
            for (i, item) in many.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(text(item));
            }
            out
        })),
    }
}

fn time_text(t: &DateTime<Utc>) -> Option<InlineText<24>> {
    InlineText::format(format_args!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// The inner text of the first `<name …>…</name>` element in `xml`, trimmed; entities are
/// left as written.
fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = xml[from..].find('<') {
        let open = from + at + 1;
        from = open;
        let rest = &xml[open..];
        let after = rest.get(..name.len())?;
        if !after.eq_ignore_ascii_case(name) {
            continue;
        }
        let tail = &rest[name.len()..];
        if !tail.starts_with(['>', ' ', '\t', '\n', '\r', '/']) {
            continue;
        }
        let close = tail.find('>')?;
        if tail[..close].ends_with('/') {
            return Some("");
        }
        let body = &tail[close + 1..];
        let end = body.find("</").unwrap_or(body.len());
        return Some(body[..end].trim());
    }
    None
}

impl<D: Deref<Target = ProgrammeData>> Record for ProgrammeRecord<'_, D> {
    fn field(&self, field: &FieldRef) -> Option<&str> {
        let d: &ProgrammeData = &self.data;
        match field {
            FieldRef::Builtin(id) => match id {
                FieldId::ProgrammeTitle => first(&d.titles),
                FieldId::ProgrammeSubTitle => first(&d.sub_titles),
                FieldId::ProgrammeDescription => first(&d.descriptions),
                FieldId::ProgrammeCategory => joined(
                    &d.categories,
                    |c| c.value.as_str(),
                    &self.derived.categories,
                ),
                FieldId::ProgrammeCredits => {
                    joined(&d.credits, |c| c.name.as_str(), &self.derived.credits)
                }
                FieldId::ProgrammeStart => self
                    .derived
                    .start
                    .get_or_init(|| time_text(&d.start))
                    .as_ref()
                    .map(InlineText::as_str),
                FieldId::ProgrammeStop => self
                    .derived
                    .stop
                    .get_or_init(|| time_text(&d.stop))
                    .as_ref()
                    .map(InlineText::as_str),
                FieldId::ProgrammeChannel => Some(d.channel.as_str()),
                FieldId::ProgrammeIcon => d.icon.as_deref(),
                FieldId::ProgrammeEpisode => d.episode_numbers.first().map(|e| e.value.as_str()),
                FieldId::ProgrammeSeason => self
                    .derived
                    .season
                    .get_or_init(|| {
                        d.season
                            .and_then(|s| InlineText::format(format_args!("{s}")))
                    })
                    .as_ref()
                    .map(InlineText::as_str),
                FieldId::ProgrammeRating => d.ratings.first().map(|r| r.value.as_str()),
                FieldId::ProgrammeLanguage => d.language.as_deref(),
                FieldId::SourceName => self.context.source_name,
                FieldId::SourceType => self.context.source_type.map(epg_source_type_name),
                _ => None,
            },
            FieldRef::Extra(name) if name.eq_ignore_ascii_case("date") => d.date.as_deref(),
            FieldRef::Extra(name) => d
                .extra_xml
                .as_deref()
                .and_then(|xml| element_text(xml, name)),
        }
    }

    fn number(&self, field: &FieldRef) -> Option<f64> {
        match field {
            FieldRef::Builtin(FieldId::ProgrammeSeason) => self.data.season.map(f64::from),
            _ => self.field(field).and_then(|t| t.trim().parse().ok()),
        }
    }

    fn time(&self, field: &FieldRef) -> Option<i64> {
        match field {
            FieldRef::Builtin(FieldId::ProgrammeStart) => Some(self.data.start.timestamp()),
            FieldRef::Builtin(FieldId::ProgrammeStop) => Some(self.data.stop.timestamp()),
            _ => self.field(field).and_then(tvarr_expr::parse_time),
        }
    }
}

fn set_first(list: &mut Vec<LangText>, value: String) {
    if value.is_empty() {
        list.clear();
    } else if let Some(first) = list.first_mut() {
        first.value = value;
    } else {
        list.push(LangText { value, lang: None });
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl<D: DerefMut<Target = ProgrammeData>> RecordMut for ProgrammeRecord<'_, D> {
    fn set_field(&mut self, field: &FieldRef, value: String) {
        self.derived = Derived::default();
        let d: &mut ProgrammeData = &mut self.data;
        match field {
            FieldRef::Builtin(id) => match id {
                FieldId::ProgrammeTitle => set_first(&mut d.titles, value),
                FieldId::ProgrammeSubTitle => set_first(&mut d.sub_titles, value),
                FieldId::ProgrammeDescription => set_first(&mut d.descriptions, value),
                FieldId::ProgrammeCategory => {
                    let old = std::mem::take(&mut d.categories);
                    d.categories = split_list(&value)
                        .enumerate()
                        .map(|(i, v)| LangText {
                            value: v.to_string(),
                            lang: old.get(i).and_then(|o| o.lang.clone()),
                        })
                        .collect();
                }
                FieldId::ProgrammeCredits => {
                    let old = std::mem::take(&mut d.credits);
                    d.credits = split_list(&value)
                        .enumerate()
                        .map(|(i, name)| Credit {
                            role: old
                                .get(i)
                                .map_or_else(|| "actor".into(), |o| o.role.clone()),
                            name: name.to_string(),
                            character: old.get(i).and_then(|o| o.character.clone()),
                        })
                        .collect();
                }
                FieldId::ProgrammeChannel => d.channel = value,
                FieldId::ProgrammeIcon => d.icon = non_empty(value),
                FieldId::ProgrammeLanguage => d.language = non_empty(value),
                FieldId::ProgrammeEpisode => match d.episode_numbers.first_mut() {
                    _ if value.is_empty() => d.episode_numbers.clear(),
                    Some(e) => e.value = value,
                    None => d.episode_numbers.push(EpisodeNumber {
                        system: None,
                        value,
                    }),
                },
                FieldId::ProgrammeSeason => {
                    if let Ok(n) = value.trim().parse::<u32>() {
                        d.season = Some(n);
                    }
                }
                FieldId::ProgrammeRating => match d.ratings.first_mut() {
                    _ if value.is_empty() => d.ratings.clear(),
                    Some(r) => r.value = value,
                    None => d.ratings.push(Rating {
                        system: None,
                        value,
                    }),
                },
                // Start, stop and the source fields are read-only; channel fields do not apply.
                _ => {}
            },
            FieldRef::Extra(name) if name.eq_ignore_ascii_case("date") => d.date = non_empty(value),
            FieldRef::Extra(_) => {}
        }
    }

    fn clear_field(&mut self, field: &FieldRef) {
        self.derived = Derived::default();
        let d: &mut ProgrammeData = &mut self.data;
        match field {
            FieldRef::Builtin(id) => match id {
                FieldId::ProgrammeTitle => d.titles.clear(),
                FieldId::ProgrammeSubTitle => d.sub_titles.clear(),
                FieldId::ProgrammeDescription => d.descriptions.clear(),
                FieldId::ProgrammeCategory => d.categories.clear(),
                FieldId::ProgrammeCredits => d.credits.clear(),
                FieldId::ProgrammeChannel => d.channel.clear(),
                FieldId::ProgrammeIcon => d.icon = None,
                FieldId::ProgrammeLanguage => d.language = None,
                FieldId::ProgrammeEpisode => d.episode_numbers.clear(),
                FieldId::ProgrammeSeason => d.season = None,
                FieldId::ProgrammeRating => d.ratings.clear(),
                _ => {}
            },
            FieldRef::Extra(name) if name.eq_ignore_ascii_case("date") => d.date = None,
            FieldRef::Extra(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tvarr_expr::{CompiledFilter, Domain, FieldRegistry, RuleSet};

    use super::*;

    fn text(value: &str) -> LangText {
        LangText {
            value: value.into(),
            lang: Some("en".into()),
        }
    }

    /// A programme as an XMLTV guide would give it.
    fn news() -> ProgrammeData {
        ProgrammeData {
            channel: "bbc1.uk".into(),
            start: Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap(),
            stop: Utc.with_ymd_and_hms(2024, 1, 15, 11, 0, 0).unwrap(),
            titles: vec![text("BBC News at Ten"), text("Nachrichten")],
            sub_titles: vec![text("Evening edition")],
            descriptions: vec![text("The latest national and international news.")],
            categories: vec![text("News"), text("Current affairs")],
            episode_numbers: vec![EpisodeNumber {
                system: Some("xmltv_ns".into()),
                value: "11.41.".into(),
            }],
            season: Some(12),
            episode: Some(42),
            icon: Some("http://img.example/news.png".into()),
            ratings: vec![Rating {
                system: Some("VCHIP".into()),
                value: "TV-PG".into(),
            }],
            credits: vec![
                Credit {
                    role: "presenter".into(),
                    name: "Huw Edwards".into(),
                    character: None,
                },
                Credit {
                    role: "director".into(),
                    name: "Jane Doe".into(),
                    character: None,
                },
            ],
            language: Some("en".into()),
            date: Some("20240115".into()),
            extra_xml: Some(r#"<star-rating system="imdb"><value>7/10</value></star-rating><video><quality>HDTV</quality></video>"#.into()),
        }
    }

    fn context() -> ProgrammeContext<'static> {
        ProgrammeContext {
            source_name: Some("Radio Times"),
            source_type: Some(EpgSourceType::Xmltv),
        }
    }

    #[test]
    fn every_epg_field_of_the_registry_reads_its_domain_field() {
        let data = news();
        let record = ProgrammeRecord::new(&data, context());
        for def in FieldRegistry::for_domain(Domain::Epg).fields() {
            let expected = match def.name {
                "programme_title" => "BBC News at Ten",
                "programme_sub_title" => "Evening edition",
                "programme_description" => "The latest national and international news.",
                "programme_category" => "News, Current affairs",
                "programme_start" => "2024-01-15T10:30:00Z",
                "programme_stop" => "2024-01-15T11:00:00Z",
                "programme_channel" => "bbc1.uk",
                "programme_icon" => "http://img.example/news.png",
                "programme_episode" => "11.41.",
                "programme_season" => "12",
                "programme_rating" => "TV-PG",
                "programme_language" => "en",
                "programme_credits" => "Huw Edwards, Jane Doe",
                "source_name" => "Radio Times",
                "source_type" => "xmltv",
                other => panic!("field `{other}` is not mapped by this test"),
            };
            assert_eq!(
                record.field(&def.field_ref()),
                Some(expected),
                "field {}",
                def.name
            );
        }
    }

    #[test]
    fn times_read_back_with_parse_time_and_compare_as_instants() {
        let data = news();
        let record = ProgrammeRecord::new(&data, context());
        let start = record.field(&FieldRef::Builtin(FieldId::ProgrammeStart));
        assert_eq!(
            start.and_then(tvarr_expr::parse_time),
            Some(data.start.timestamp())
        );
        let filter = CompiledFilter::compile(
            Domain::Epg,
            r#"start >= "20240115113000 +0100" AND stop < "2024-01-15T12:00:00Z" AND season == "12""#,
        )
        .unwrap();
        assert!(filter.matches(&record));
    }

    #[test]
    fn filters_read_categories_credits_and_raw_elements() {
        let data = news();
        let record = ProgrammeRecord::new(&data, context());
        let yes = |e: &str| {
            CompiledFilter::compile(Domain::Epg, e)
                .unwrap()
                .matches(&record)
        };
        assert!(yes(r#"category contains "current affairs""#));
        assert!(yes(r#"credits contains "huw""#));
        assert!(yes(
            r#"extra.star-rating contains "7/10" AND extra.quality == "hdtv""#
        ));
        assert!(yes(r#"extra.date starts_with "2024""#));
        assert!(!yes(r#"extra.review != """#));
    }

    #[test]
    fn rules_change_programmes_and_reread_derived_text() {
        let rules = RuleSet::compile(
            Domain::Epg,
            [
                (
                    "title",
                    r#"title matches "^(.+) at Ten$" SET title = "$1", category = "News, Late""#,
                ),
                (
                    "credits",
                    r#"SET credits = "Clive Myrie, Jane Doe, Sam Roe""#,
                ),
                ("tidy", "DELETE sub_title, rating"),
                ("season", r#"SET season = "13", episode = "12.0.""#),
                ("tag", r#"APPEND category = ", Tagged""#),
            ],
        )
        .unwrap();
        let mut data = news();
        let mut record = ProgrammeRecord::new(&mut data, context());
        let report = rules.apply(&mut record);
        assert_eq!(report.rules.len(), 5);
        assert_eq!(data.title(), "BBC News");
        assert_eq!(data.titles[0].lang.as_deref(), Some("en"));
        let categories: Vec<_> = data.categories.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(categories, ["News", "Late", "Tagged"]);
        let roles: Vec<_> = data.credits.iter().map(|c| c.role.as_str()).collect();
        assert_eq!(roles, ["presenter", "director", "actor"]);
        assert!(data.sub_titles.is_empty() && data.ratings.is_empty());
        assert_eq!(data.season, Some(13));
        assert_eq!(data.episode_numbers[0].value, "12.0.");
    }

    #[test]
    fn element_text_finds_whole_element_names_only() {
        let xml = r#"<video-x>no</video-x><video><present>yes</present></video><new />"#;
        assert_eq!(element_text(xml, "present"), Some("yes"));
        assert_eq!(element_text(xml, "new"), Some(""));
        assert_eq!(element_text(xml, "vid"), None);
    }
}
