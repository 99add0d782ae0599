//! Finding each lineup channel's guide: by `tvg-id`, then by name.

use std::collections::HashMap;
use std::sync::OnceLock;

use tvarr_core::{EpgChannel, EpgSourceId, GuideMatch, MatchMethod};

/// Confidence of an exact `tvg-id` match.
pub const CONFIDENCE_TVG_ID: u8 = 100;
/// Confidence of a `tvg-id` match but for case.
pub const CONFIDENCE_TVG_ID_CASE: u8 = 95;
/// Confidence of names equal but for case and spacing.
pub const CONFIDENCE_NAME_CASE: u8 = 90;
/// Confidence of names equal once accents, punctuation and spaces are removed.
pub const CONFIDENCE_NAME_FOLDED: u8 = 85;
/// Confidence of names equal once quality and region tags are removed too.
pub const CONFIDENCE_NAME_TAGS: u8 = 75;
/// Confidence of names equal only once a time-shift tag (`+1`) is removed: the guide is
/// the channel's but its times are an hour or more off (`tvg-shift` can correct them).
pub const CONFIDENCE_NAME_TIMESHIFT: u8 = 65;

/// The name forms compared, strictest first, with the confidence of a match in each.
const NAME_TIERS: [u8; 4] = [
    CONFIDENCE_NAME_CASE,
    CONFIDENCE_NAME_FOLDED,
    CONFIDENCE_NAME_TAGS,
    CONFIDENCE_NAME_TIMESHIFT,
];

/// A guide channel found for a lineup channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuideFound<'a> {
    /// The EPG source's position among the proxy's `epg_source_ids`.
    pub source_index: usize,
    /// The EPG source.
    pub source_id: EpgSourceId,
    /// The guide channel.
    pub channel: &'a EpgChannel,
    /// How it was found.
    pub method: MatchMethod,
    /// How sure the match is, 0–100.
    pub confidence: u8,
}

impl GuideFound<'_> {
    /// The match as a lineup channel records it.
    pub fn to_match(&self) -> GuideMatch {
        GuideMatch {
            epg_source_id: self.source_id,
            epg_channel: self.channel.id.clone(),
            method: self.method,
            confidence: self.confidence,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Loc {
    source: u32,
    channel: u32,
}

/// The guide channels of a proxy's EPG sources, indexed for matching.
///
/// **How a channel is matched**, first success wins:
///
/// 1. its `tvg-id` equals a guide channel's id ([`MatchMethod::TvgId`], confidence 100);
/// 2. the same, but for case ([`MatchMethod::TvgIdCaseInsensitive`], 95);
/// 3. its name (then its `tvg-name`) equals one of a guide channel's display names
///    ([`MatchMethod::Name`]), compared in ever looser forms: but for case and spacing (90);
///    with accents folded (`é` → `e`), punctuation and spaces removed (85); with quality and
///    region tags removed as well (`HD`, `FHD`, `UHD`, `4K`, `SD`, `HEVC`, `1080p`…, a trailing
///    `UK`/`(DE)`/`[FR]`, a leading `UK:`/`|UK|`) (75); and with a time-shift tag (`+1`, `+2`…)
///    removed (65).
///
/// At each of these steps the EPG sources are tried in the proxy's order, so the first source
/// wins between guides that match equally well; a guide that knows the channel by its id beats
/// one that merely has a channel of the same name. Within one source, the first guide channel
/// with a given id or name wins.
///
/// ```
/// use tvarr_core::{EpgChannel, EpgSourceId, LangText, MatchMethod};
/// use tvarr_pipeline::GuideMatcher;
///
/// let guide = |id: &str, name: &str| EpgChannel {
///     id: id.into(),
///     display_names: vec![LangText { value: name.into(), lang: None }],
///     ..Default::default()
/// };
/// let mut matcher = GuideMatcher::new();
/// matcher.add_source(EpgSourceId::new(), vec![guide("bbc1.uk", "BBC One"), guide("arte.fr", "Arte")]);
/// let found = matcher.find(Some("BBC1.uk"), &[]).unwrap();
/// assert_eq!((found.channel.id.as_str(), found.method), ("bbc1.uk", MatchMethod::TvgIdCaseInsensitive));
/// let found = matcher.find(None, &["ARTE FHD"]).unwrap();
/// assert_eq!((found.channel.id.as_str(), found.method, found.confidence), ("arte.fr", MatchMethod::Name, 75));
/// assert!(matcher.find(Some("nope"), &["Nope"]).is_none());
/// ```
#[derive(Debug, Default)]
pub struct GuideMatcher {
    sources: Vec<(EpgSourceId, Vec<EpgChannel>)>,
    by_id: HashMap<String, Loc>,
    by_id_lower: HashMap<String, Loc>,
    /// Built when a first channel is not found by id: lineups whose channels all carry a
    /// guide's ids never pay for it.
    by_name: OnceLock<[HashMap<String, Loc>; 4]>,
}

impl GuideMatcher {
    /// A matcher that knows no guide.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the guide channels of the next EPG source, in the proxy's priority order.
    pub fn add_source(&mut self, source: EpgSourceId, channels: Vec<EpgChannel>) {
        let source_index = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        for (i, channel) in channels.iter().enumerate() {
            let loc = Loc {
                source: source_index,
                channel: u32::try_from(i).unwrap_or(u32::MAX),
            };
            if !channel.id.is_empty() {
                self.by_id.entry(channel.id.clone()).or_insert(loc);
                self.by_id_lower
                    .entry(channel.id.to_lowercase())
                    .or_insert(loc);
            }
        }
        self.sources.push((source, channels));
        self.by_name = OnceLock::new();
    }

    /// The display-name indexes, one per name form, sources in priority order.
    fn by_name(&self) -> &[HashMap<String, Loc>; 4] {
        self.by_name.get_or_init(|| {
            let mut maps: [HashMap<String, Loc>; 4] = Default::default();
            for (source, (_, channels)) in self.sources.iter().enumerate() {
                for (i, channel) in channels.iter().enumerate() {
                    let loc = Loc {
                        source: u32::try_from(source).unwrap_or(u32::MAX),
                        channel: u32::try_from(i).unwrap_or(u32::MAX),
                    };
                    for name in &channel.display_names {
                        let keys = NameForms::of(&name.value).keys();
                        for (tier, key) in keys.into_iter().enumerate() {
                            if let Some(key) = key {
                                maps[tier].entry(key).or_insert(loc);
                            }
                        }
                    }
                }
            }
            maps
        })
    }

    /// How many EPG sources it knows.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// How many guide channels it knows, over every source.
    pub fn channel_count(&self) -> usize {
        self.sources.iter().map(|(_, c)| c.len()).sum()
    }

    /// The guide channel of a channel with `tvg_id` and `names` (its name, then its
    /// `tvg-name`), if any guide has it.
    pub fn find(&self, tvg_id: Option<&str>, names: &[&str]) -> Option<GuideFound<'_>> {
        if let Some(id) = tvg_id.map(str::trim).filter(|id| !id.is_empty()) {
            if let Some(&loc) = self.by_id.get(id) {
                return self.found(loc, MatchMethod::TvgId, CONFIDENCE_TVG_ID);
            }
            if let Some(&loc) = self.by_id_lower.get(&id.to_lowercase()) {
                return self.found(
                    loc,
                    MatchMethod::TvgIdCaseInsensitive,
                    CONFIDENCE_TVG_ID_CASE,
                );
            }
        }
        let by_name = self.by_name();
        if by_name[0].is_empty() {
            return None;
        }
        let forms: Vec<[Option<String>; 4]> = names
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| NameForms::of(n).keys())
            .collect();
        for (tier, confidence) in NAME_TIERS.iter().enumerate() {
            for keys in &forms {
                if let Some(key) = &keys[tier]
                    && let Some(&loc) = by_name[tier].get(key)
                {
                    return self.found(loc, MatchMethod::Name, *confidence);
                }
            }
        }
        None
    }

    /// The guide channel `epg_channel` of the source at `source_index`.
    pub fn channel(&self, source_index: usize, epg_channel: &str) -> Option<&EpgChannel> {
        let loc = self.by_id.get(epg_channel)?;
        if loc.source as usize == source_index {
            return self.at(*loc);
        }
        self.sources
            .get(source_index)?
            .1
            .iter()
            .find(|c| c.id == epg_channel)
    }

    /// The position of `source` among the sources added.
    pub fn source_index(&self, source: EpgSourceId) -> Option<usize> {
        self.sources.iter().position(|(id, _)| *id == source)
    }

    fn at(&self, loc: Loc) -> Option<&EpgChannel> {
        self.sources
            .get(loc.source as usize)?
            .1
            .get(loc.channel as usize)
    }

    fn found(&self, loc: Loc, method: MatchMethod, confidence: u8) -> Option<GuideFound<'_>> {
        let (source_id, _) = self.sources.get(loc.source as usize)?;
        Some(GuideFound {
            source_index: loc.source as usize,
            source_id: *source_id,
            channel: self.at(loc)?,
            method,
            confidence,
        })
    }
}

/// One token of a name.
#[derive(Debug, PartialEq, Eq)]
struct Token {
    text: String,
    /// A time-shift tag: `+` and digits.
    timeshift: bool,
    /// Followed by `:` or `|`, or closed by `]` or `)`: a prefix like `UK:` or `[UK]`.
    delimited: bool,
}

/// The forms of one name compared by [`GuideMatcher`], strictest first.
struct NameForms {
    spaced: String,
    tokens: Vec<Token>,
}

impl NameForms {
    fn of(name: &str) -> Self {
        let spaced = name
            .split_whitespace()
            .flat_map(|word| std::iter::once(" ").chain(std::iter::once(word)))
            .skip(1)
            .collect::<String>()
            .to_lowercase();
        Self {
            spaced,
            tokens: tokens(name),
        }
    }

    /// The keys of the four tiers; `None` where a tier would leave nothing (a name of tags
    /// only is not matched by its tags).
    fn keys(&self) -> [Option<String>; 4] {
        let t = &self.tokens;
        let folded = join(t.iter());
        if folded.is_empty() {
            // Punctuation only: nothing to match by.
            return [None, None, None, None];
        }
        let last_kept = |keep_timeshift: bool| {
            let mut kept: Vec<&Token> = Vec::with_capacity(t.len());
            for (i, token) in t.iter().enumerate() {
                if token.timeshift && !keep_timeshift {
                    continue;
                }
                if i == 0 && token.delimited && is_region(&token.text) && t.len() > 1 {
                    continue;
                }
                if !kept.is_empty() && is_quality(&token.text) {
                    continue;
                }
                kept.push(token);
            }
            // A trailing region tag (before any time-shift tag).
            let end = kept.iter().rposition(|k| !k.timeshift).unwrap_or(0);
            if end > 0 && is_region(&kept[end].text) {
                kept.remove(end);
            }
            join(kept.into_iter())
        };
        let tagged = last_kept(true);
        let unshifted = last_kept(false);
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        [
            non_empty(self.spaced.clone()),
            non_empty(folded),
            non_empty(tagged),
            non_empty(unshifted),
        ]
    }
}

fn join<'a>(tokens: impl Iterator<Item = &'a Token>) -> String {
    tokens.map(|t| t.text.as_str()).collect()
}

/// Splits a name into lower-case, accent-folded alphanumeric tokens and `+N` tags.
fn tokens(name: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut current = String::new();
    let mut timeshift = false;
    let mut chars = name.chars().peekable();
    let close = |current: &mut String, timeshift: &mut bool, out: &mut Vec<Token>| {
        if !current.is_empty() && current != "+" {
            out.push(Token {
                text: std::mem::take(current),
                timeshift: *timeshift,
                delimited: false,
            });
        }
        current.clear();
        *timeshift = false;
    };
    while let Some(c) = chars.next() {
        if c == '+' && chars.peek().is_some_and(char::is_ascii_digit) {
            close(&mut current, &mut timeshift, &mut out);
            current.push('+');
            timeshift = true;
            continue;
        }
        if timeshift && !c.is_ascii_digit() {
            close(&mut current, &mut timeshift, &mut out);
        }
        let mut any = false;
        for lower in c.to_lowercase() {
            if is_combining(lower) {
                any = true;
                continue;
            }
            if lower.is_alphanumeric() {
                match fold(lower) {
                    Some(ascii) => current.push_str(ascii),
                    None => current.push(lower),
                }
                any = true;
            }
        }
        if !any {
            close(&mut current, &mut timeshift, &mut out);
            if matches!(c, ':' | '|' | ']' | ')')
                && let Some(last) = out.last_mut()
            {
                last.delimited = true;
            }
        }
    }
    close(&mut current, &mut timeshift, &mut out);
    out
}

fn is_combining(c: char) -> bool {
    ('\u{0300}'..='\u{036f}').contains(&c)
}

/// Quality tags, removed after a name's first word.
fn is_quality(token: &str) -> bool {
    matches!(
        token,
        "hd" | "fhd"
            | "uhd"
            | "sd"
            | "hq"
            | "lq"
            | "4k"
            | "8k"
            | "hdr"
            | "fullhd"
            | "hevc"
            | "h264"
            | "h265"
            | "x264"
            | "x265"
            | "480p"
            | "576p"
            | "720p"
            | "1080i"
            | "1080p"
            | "2160p"
            | "50fps"
            | "60fps"
    )
}

/// Region tags, removed at a name's end or as a delimited prefix.
fn is_region(token: &str) -> bool {
    matches!(
        token,
        "uk" | "gb"
            | "us"
            | "usa"
            | "ca"
            | "au"
            | "nz"
            | "ie"
            | "de"
            | "at"
            | "ch"
            | "fr"
            | "be"
            | "nl"
            | "es"
            | "pt"
            | "it"
            | "pl"
            | "tr"
            | "gr"
            | "se"
            | "no"
            | "dk"
            | "fi"
            | "ro"
            | "hu"
            | "cz"
            | "sk"
            | "hr"
            | "rs"
            | "bg"
            | "ru"
            | "ua"
            | "br"
            | "mx"
            | "ar"
            | "in"
            | "eu"
            | "latam"
    )
}

/// Latin letters with diacritics, as plain ASCII (applied to lower case).
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use tvarr_core::LangText;

    use super::*;

    fn guide(id: &str, names: &[&str]) -> EpgChannel {
        EpgChannel {
            id: id.into(),
            display_names: names
                .iter()
                .map(|n| LangText {
                    value: (*n).into(),
                    lang: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn keys(name: &str) -> [Option<String>; 4] {
        NameForms::of(name).keys()
    }

    fn key(s: &str) -> Option<String> {
        Some(s.into())
    }

    #[test]
    fn name_forms_fold_case_accents_punctuation_tags_and_timeshift() {
        assert_eq!(
            keys("  Télé  Québec HD "),
            [
                key("télé québec hd"),
                key("telequebechd"),
                key("telequebec"),
                key("telequebec")
            ]
        );
        assert_eq!(
            keys("UK: BBC One FHD +1"),
            [
                key("uk: bbc one fhd +1"),
                key("ukbbconefhd+1"),
                key("bbcone+1"),
                key("bbcone")
            ]
        );
        assert_eq!(keys("[DE] Das Erste")[2], key("daserste"));
        assert_eq!(keys("Das Erste (DE)")[2], key("daserste"));
        assert_eq!(keys("Channel 4")[3], key("channel4"), "a number is no tag");
        assert_eq!(keys("Film4+1")[1], key("film4+1"));
        assert_eq!(keys("HD")[2], key("hd"), "a lone tag stays");
        assert_eq!(keys("ÇA Ñ ß")[1], key("canss"));
        assert_eq!(keys("Первый канал")[1], key("первыйканал"));
        assert_eq!(keys("İstanbul")[1], key("istanbul"));
        assert_eq!(keys(" ! "), [None, None, None, None]);
    }

    #[test]
    fn tvg_id_beats_names_and_sources_are_tried_in_order() {
        let first = EpgSourceId::new();
        let second = EpgSourceId::new();
        let mut m = GuideMatcher::new();
        m.add_source(
            first,
            vec![guide("one.a", &["One"]), guide("two.a", &["Two HD"])],
        );
        m.add_source(
            second,
            vec![
                guide("two.b", &["Two"]),
                guide("three.b", &["Three"]),
                guide("ONE.B", &[]),
            ],
        );
        assert_eq!(m.channel_count(), 5);

        let f = m.find(Some("two.b"), &["One"]).unwrap();
        assert_eq!(
            (f.source_id, f.channel.id.as_str(), f.method, f.confidence),
            (second, "two.b", MatchMethod::TvgId, 100)
        );
        let f = m.find(Some("one.b"), &[]).unwrap();
        assert_eq!(
            (f.channel.id.as_str(), f.method, f.confidence),
            ("ONE.B", MatchMethod::TvgIdCaseInsensitive, 95)
        );
        // "Two" is exact in the second source but only a tag away in the first: the
        // stricter form wins first, whatever the source.
        let f = m.find(None, &["Two"]).unwrap();
        assert_eq!((f.channel.id.as_str(), f.confidence), ("two.b", 90));
        let f = m.find(None, &["TWO FHD"]).unwrap();
        assert_eq!((f.channel.id.as_str(), f.confidence), ("two.a", 75));
        // Equally good in both: the first source's.
        let f = m.find(None, &["one"]).unwrap();
        assert_eq!((f.source_index, f.channel.id.as_str()), (0, "one.a"));
        let f = m.find(Some("unknown"), &["nothing", "Three +1"]).unwrap();
        assert_eq!(
            (f.channel.id.as_str(), f.method, f.confidence),
            ("three.b", MatchMethod::Name, 65)
        );
        assert!(m.find(Some("unknown"), &["nothing"]).is_none());
        assert_eq!(m.channel(1, "three.b").unwrap().id, "three.b");
        assert_eq!(m.channel(0, "one.a").unwrap().id, "one.a");
        assert!(m.channel(0, "three.b").is_none());
        assert_eq!(m.source_index(second), Some(1));
    }

    #[test]
    fn a_timeshift_channel_prefers_its_own_guide() {
        let mut m = GuideMatcher::new();
        m.add_source(
            EpgSourceId::new(),
            vec![guide("film4", &["Film4"]), guide("film4p1", &["Film4 +1"])],
        );
        assert_eq!(m.find(None, &["Film4+1 HD"]).unwrap().channel.id, "film4p1");
        assert_eq!(m.find(None, &["Film4 HD"]).unwrap().channel.id, "film4");
    }
}
