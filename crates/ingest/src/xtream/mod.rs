//! Xtream Codes panels: the `player_api.php` answers as types, the URLs a panel expects, and
//! the mapping of live streams to channels.
//!
//! Real panels type loosely (see `fixtures/external/SOURCES.md`); every field is read leniently
//! and a field of an unexpected shape becomes `None` rather than failing the whole listing.
//!
//! Listings are read one element at a time ([`read_array`]) through a layer that keeps every
//! JSON string within [`ParserLimits::max_value_bytes`] and every element within
//! [`ParserLimits::max_record_bytes`], so a hostile panel cannot make the reader buffer a
//! gigabyte string.
//!
//! Nothing here makes a request: an embedder fetches the answers its own way (the URLs come
//! from [`XtreamEndpoint`]) and hands the bodies to [`read_json`] and [`read_array`], which
//! build with `tvarr-ingest = { default-features = false }`.
//!
//! ```
//! use tvarr_core::Secret;
//! use tvarr_ingest::{ParseError, ParserLimits};
//! use tvarr_ingest::xtream::{Category, LiveStream, XtreamEndpoint, category_names, read_array};
//!
//! # fn main() -> Result<(), ParseError> {
//! let endpoint = XtreamEndpoint::new(
//!     "http://panel.example:8080/player_api.php",
//!     "user",
//!     Secret::new("pass"),
//! )?;
//! let categories: Vec<Category> =
//!     tvarr_ingest::xtream::read_json(&br#"[{"category_id":"7","category_name":"News"}]"#[..])?;
//! let names = category_names(&categories);
//! // Panels type loosely: `stream_id` as a string, `num` as a number.
//! let streams = br#"[{"num":1,"name":"News HD","stream_id":"42","category_id":"7"}, 5]"#;
//! let mut channels = Vec::new();
//! let skipped = read_array::<LiveStream, _, _>(&streams[..], ParserLimits::default(), |stream| {
//!     channels.extend(endpoint.channel(stream, &names, "ts"));
//!     Ok(())
//! })?;
//! assert_eq!(skipped.odd, 1, "the bare 5 is not a stream");
//! assert_eq!(channels[0].name, "News HD");
//! assert_eq!(channels[0].group_title.as_deref(), Some("News"));
//! assert_eq!(channels[0].stream_url, "http://panel.example:8080/live/user/pass/42.ts");
//! # Ok(())
//! # }
//! ```

mod bounded;
mod lenient;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use tvarr_core::{ChannelData, Secret};
use url::Url;

use crate::error::ParseError;
use crate::limits::ParserLimits;
use bounded::BoundedJson;
use lenient::{SeasonOf, base64_text, decimal, flag, number, text, text_list};

/// `player_api.php` with no action: the account and the server.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct XtreamAccount {
    /// The account.
    #[serde(default, deserialize_with = "lenient::object_or_empty")]
    pub user_info: UserInfo,
    /// The server.
    #[serde(default, deserialize_with = "lenient::object_or_empty")]
    pub server_info: ServerInfo,
}

/// The account part of the authentication answer.
#[derive(Clone, Default, Deserialize)]
pub struct UserInfo {
    /// User name.
    #[serde(default, deserialize_with = "text")]
    pub username: Option<String>,
    /// A message from the panel.
    #[serde(default, deserialize_with = "text")]
    pub message: Option<String>,
    /// 1 when the credentials are accepted.
    #[serde(default, deserialize_with = "number")]
    pub auth: Option<i64>,
    /// `Active`, `Expired`, `Banned`, `Disabled`.
    #[serde(default, deserialize_with = "text")]
    pub status: Option<String>,
    /// Expiry as a Unix timestamp; `None` for no expiry.
    #[serde(default, deserialize_with = "number")]
    pub exp_date: Option<i64>,
    /// Whether this is a trial account.
    #[serde(default, deserialize_with = "flag")]
    pub is_trial: bool,
    /// Connections in use.
    #[serde(default, deserialize_with = "number")]
    pub active_cons: Option<i64>,
    /// Creation as a Unix timestamp.
    #[serde(default, deserialize_with = "number")]
    pub created_at: Option<i64>,
    /// Connections allowed.
    #[serde(default, deserialize_with = "number")]
    pub max_connections: Option<i64>,
    /// Stream formats the panel serves (`ts`, `m3u8`, `rtmp`).
    #[serde(default, deserialize_with = "text_list")]
    pub allowed_output_formats: Vec<String>,
}

impl fmt::Debug for UserInfo {
    // The password is never read into this type; the user name is left out of logs too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("auth", &self.auth)
            .field("status", &self.status)
            .field("exp_date", &self.exp_date)
            .field("is_trial", &self.is_trial)
            .field("max_connections", &self.max_connections)
            .field("allowed_output_formats", &self.allowed_output_formats)
            .finish_non_exhaustive()
    }
}

/// The server part of the authentication answer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServerInfo {
    /// Host name.
    #[serde(default, deserialize_with = "text")]
    pub url: Option<String>,
    /// HTTP port.
    #[serde(default, deserialize_with = "number")]
    pub port: Option<i64>,
    /// HTTPS port.
    #[serde(default, deserialize_with = "number")]
    pub https_port: Option<i64>,
    /// `http` or `https`.
    #[serde(default, deserialize_with = "text")]
    pub server_protocol: Option<String>,
    /// RTMP port.
    #[serde(default, deserialize_with = "number")]
    pub rtmp_port: Option<i64>,
    /// The panel's timezone (IANA name).
    #[serde(default, deserialize_with = "text")]
    pub timezone: Option<String>,
    /// The panel's clock, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub timestamp_now: Option<i64>,
    /// The panel's clock, as text.
    #[serde(default, deserialize_with = "text")]
    pub time_now: Option<String>,
}

impl XtreamAccount {
    /// Checks that the panel accepted the account: `auth` is 1, the status (when given) is
    /// `Active`, and the account has not expired at `now` (Unix time).
    pub fn check(&self, now: i64) -> Result<(), ParseError> {
        let user = &self.user_info;
        if user.auth != Some(1) {
            let message = user.message.as_deref().unwrap_or("credentials refused");
            return Err(ParseError::XtreamAuth(format!(
                "auth: {} ({message})",
                user.auth.unwrap_or(0)
            )));
        }
        if let Some(status) = user.status.as_deref()
            && !status.eq_ignore_ascii_case("active")
        {
            return Err(ParseError::XtreamAuth(format!(
                "account status is {status}"
            )));
        }
        if let Some(expiry) = user.exp_date.filter(|e| *e > 0)
            && expiry < now
        {
            let when = chrono::DateTime::from_timestamp(expiry, 0)
                .map_or_else(|| expiry.to_string(), |t| t.to_rfc3339());
            return Err(ParseError::XtreamAuth(format!("account expired on {when}")));
        }
        Ok(())
    }

    /// The extension of live stream URLs: `ts` when the panel serves it (or says nothing),
    /// else `m3u8`.
    pub fn live_extension(&self) -> &'static str {
        let formats = &self.user_info.allowed_output_formats;
        if formats.is_empty() || formats.iter().any(|f| f.eq_ignore_ascii_case("ts")) {
            "ts"
        } else if formats.iter().any(|f| f.eq_ignore_ascii_case("m3u8")) {
            "m3u8"
        } else {
            "ts"
        }
    }
}

/// A live, VOD or series category.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Category {
    /// Id (a string in real panels).
    #[serde(default, deserialize_with = "text")]
    pub category_id: Option<String>,
    /// Name (becomes the channel's group).
    #[serde(default, deserialize_with = "text")]
    pub category_name: Option<String>,
    /// Parent category, 0 for none.
    #[serde(default, deserialize_with = "number")]
    pub parent_id: Option<i64>,
}

/// One entry of `get_live_streams`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LiveStream {
    /// The panel's channel number.
    #[serde(default, deserialize_with = "number")]
    pub num: Option<i64>,
    /// Name.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// `live`.
    #[serde(default, deserialize_with = "text")]
    pub stream_type: Option<String>,
    /// The stream id used in URLs.
    #[serde(default, deserialize_with = "number")]
    pub stream_id: Option<i64>,
    /// Logo URL.
    #[serde(default, deserialize_with = "text")]
    pub stream_icon: Option<String>,
    /// Guide channel id.
    #[serde(default, deserialize_with = "text")]
    pub epg_channel_id: Option<String>,
    /// When added, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub added: Option<i64>,
    /// Category id.
    #[serde(default, deserialize_with = "text")]
    pub category_id: Option<String>,
    /// Custom service id.
    #[serde(default, deserialize_with = "text")]
    pub custom_sid: Option<String>,
    /// 1 when catch-up is available.
    #[serde(default, deserialize_with = "number")]
    pub tv_archive: Option<i64>,
    /// The upstream URL the panel relays, if it says.
    #[serde(default, deserialize_with = "text")]
    pub direct_source: Option<String>,
    /// Catch-up days.
    #[serde(default, deserialize_with = "number")]
    pub tv_archive_duration: Option<i64>,
}

/// One entry of `get_vod_streams`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VodStream {
    /// Number.
    #[serde(default, deserialize_with = "number")]
    pub num: Option<i64>,
    /// Name.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// `movie`.
    #[serde(default, deserialize_with = "text")]
    pub stream_type: Option<String>,
    /// Stream id.
    #[serde(default, deserialize_with = "number")]
    pub stream_id: Option<i64>,
    /// Poster URL.
    #[serde(default, deserialize_with = "text")]
    pub stream_icon: Option<String>,
    /// Rating out of 10, as text.
    #[serde(default, deserialize_with = "text")]
    pub rating: Option<String>,
    /// Rating out of 5 (an int or a float).
    #[serde(default, deserialize_with = "decimal")]
    pub rating_5based: Option<f64>,
    /// When added, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub added: Option<i64>,
    /// Category id.
    #[serde(default, deserialize_with = "text")]
    pub category_id: Option<String>,
    /// `mp4`, `mkv`, …
    #[serde(default, deserialize_with = "text")]
    pub container_extension: Option<String>,
    /// Custom service id.
    #[serde(default, deserialize_with = "text")]
    pub custom_sid: Option<String>,
    /// Upstream URL.
    #[serde(default, deserialize_with = "text")]
    pub direct_source: Option<String>,
}

/// One entry of `get_series`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Series {
    /// Number.
    #[serde(default, deserialize_with = "number")]
    pub num: Option<i64>,
    /// Name.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// Series id.
    #[serde(default, deserialize_with = "number")]
    pub series_id: Option<i64>,
    /// Cover URL.
    #[serde(default, deserialize_with = "text")]
    pub cover: Option<String>,
    /// Plot.
    #[serde(default, deserialize_with = "text")]
    pub plot: Option<String>,
    /// Cast.
    #[serde(default, deserialize_with = "text")]
    pub cast: Option<String>,
    /// Director.
    #[serde(default, deserialize_with = "text")]
    pub director: Option<String>,
    /// Genre.
    #[serde(default, deserialize_with = "text")]
    pub genre: Option<String>,
    /// Release date as given.
    #[serde(default, rename = "releaseDate", deserialize_with = "text")]
    pub release_date: Option<String>,
    /// Last change, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub last_modified: Option<i64>,
    /// Rating out of 10.
    #[serde(default, deserialize_with = "text")]
    pub rating: Option<String>,
    /// Rating out of 5.
    #[serde(default, deserialize_with = "decimal")]
    pub rating_5based: Option<f64>,
    /// Backdrop URLs (an array, a string or null in real panels).
    #[serde(default, deserialize_with = "text_list")]
    pub backdrop_path: Vec<String>,
    /// YouTube trailer id.
    #[serde(default, deserialize_with = "text")]
    pub youtube_trailer: Option<String>,
    /// Minutes per episode.
    #[serde(default, deserialize_with = "number")]
    pub episode_run_time: Option<i64>,
    /// Category id.
    #[serde(default, deserialize_with = "text")]
    pub category_id: Option<String>,
}

/// `get_series_info`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SeriesInfo {
    /// Seasons.
    #[serde(default)]
    pub seasons: Vec<Season>,
    /// The series (`[]` when the panel has nothing).
    #[serde(default, deserialize_with = "lenient::object_or_empty")]
    pub info: Series,
    /// Episodes by season number (as text).
    #[serde(default, deserialize_with = "lenient::episodes_by_season")]
    pub episodes: BTreeMap<String, Vec<Episode>>,
}

/// One season of a series.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Season {
    /// Season number.
    #[serde(default, deserialize_with = "number")]
    pub season_number: Option<i64>,
    /// Name.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// Episodes in the season.
    #[serde(default, deserialize_with = "number")]
    pub episode_count: Option<i64>,
    /// First air date.
    #[serde(default, deserialize_with = "text")]
    pub air_date: Option<String>,
    /// Overview.
    #[serde(default, deserialize_with = "text")]
    pub overview: Option<String>,
    /// Cover URL.
    #[serde(default, deserialize_with = "text")]
    pub cover: Option<String>,
}

/// One episode of a series.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Episode {
    /// Episode stream id (a string in real panels).
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    /// Episode number.
    #[serde(default, deserialize_with = "number")]
    pub episode_num: Option<i64>,
    /// Title.
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    /// `mkv`, `mp4`, …
    #[serde(default, deserialize_with = "text")]
    pub container_extension: Option<String>,
    /// Season number.
    #[serde(default, deserialize_with = "number")]
    pub season: Option<i64>,
    /// When added, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub added: Option<i64>,
    /// Details (`[]` when empty).
    #[serde(default, deserialize_with = "lenient::object_or_empty")]
    pub info: EpisodeDetails,
}

impl SeasonOf for Episode {
    fn season(&self) -> Option<i64> {
        self.season
    }
}

/// Details of an episode.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EpisodeDetails {
    /// Still image URL.
    #[serde(default, deserialize_with = "text")]
    pub movie_image: Option<String>,
    /// Plot.
    #[serde(default, deserialize_with = "text")]
    pub plot: Option<String>,
    /// Release date.
    #[serde(default, deserialize_with = "text")]
    pub releasedate: Option<String>,
    /// Rating.
    #[serde(default, deserialize_with = "text")]
    pub rating: Option<String>,
    /// Duration in seconds.
    #[serde(default, deserialize_with = "number")]
    pub duration_secs: Option<i64>,
}

/// `get_vod_info`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VodInfo {
    /// Details (`[]` when empty).
    #[serde(default, deserialize_with = "lenient::object_or_empty")]
    pub info: VodDetails,
    /// The stream.
    #[serde(default, deserialize_with = "lenient::object_or_empty")]
    pub movie_data: VodStream,
}

/// Details of a VOD item.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VodDetails {
    /// Poster URL.
    #[serde(default, deserialize_with = "text")]
    pub movie_image: Option<String>,
    /// TMDB id.
    #[serde(default, deserialize_with = "text")]
    pub tmdb_id: Option<String>,
    /// Backdrop URLs.
    #[serde(default, deserialize_with = "text_list")]
    pub backdrop_path: Vec<String>,
    /// Genre.
    #[serde(default, deserialize_with = "text")]
    pub genre: Option<String>,
    /// Plot.
    #[serde(default, deserialize_with = "text")]
    pub plot: Option<String>,
    /// Cast.
    #[serde(default, deserialize_with = "text")]
    pub cast: Option<String>,
    /// Director.
    #[serde(default, deserialize_with = "text")]
    pub director: Option<String>,
    /// Rating.
    #[serde(default, deserialize_with = "text")]
    pub rating: Option<String>,
    /// Release date.
    #[serde(default, deserialize_with = "text")]
    pub releasedate: Option<String>,
    /// Duration in seconds.
    #[serde(default, deserialize_with = "number")]
    pub duration_secs: Option<i64>,
}

/// `get_short_epg` / `get_simple_data_table`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ShortEpg {
    /// Listings.
    #[serde(default)]
    pub epg_listings: Vec<EpgListing>,
}

/// One short-EPG listing. Titles and descriptions are base64 in real panels and plain text
/// in some; [`EpgListing::title_text`] and [`EpgListing::description_text`] decode either.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EpgListing {
    /// Listing id.
    #[serde(default, deserialize_with = "text")]
    pub id: Option<String>,
    /// Guide channel id.
    #[serde(default, deserialize_with = "text")]
    pub channel_id: Option<String>,
    /// Title as sent.
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    /// Description as sent.
    #[serde(default, deserialize_with = "text")]
    pub description: Option<String>,
    /// Language.
    #[serde(default, deserialize_with = "text")]
    pub lang: Option<String>,
    /// Start, in the panel's local time, as text.
    #[serde(default, deserialize_with = "text")]
    pub start: Option<String>,
    /// End, as text.
    #[serde(default, deserialize_with = "text")]
    pub end: Option<String>,
    /// Start, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub start_timestamp: Option<i64>,
    /// Stop, Unix time.
    #[serde(default, deserialize_with = "number")]
    pub stop_timestamp: Option<i64>,
}

impl EpgListing {
    /// The title, decoded from base64 when it is base64.
    pub fn title_text(&self) -> Option<String> {
        self.title
            .as_deref()
            .map(|t| base64_text(t).unwrap_or_else(|| t.to_owned()))
    }

    /// The description, decoded from base64 when it is base64.
    pub fn description_text(&self) -> Option<String> {
        self.description
            .as_deref()
            .map(|t| base64_text(t).unwrap_or_else(|| t.to_owned()))
    }
}

/// Reads a JSON value from `input`.
pub fn read_json<T: DeserializeOwned, R: Read>(input: R) -> Result<T, ParseError> {
    Ok(serde_json::from_reader(input)?)
}

/// Reads a JSON array from `input` one element at a time, calling `on_item` for each, with the
/// default [`ParserLimits`]; returns how many elements were skipped (see [`read_array`]).
pub fn for_each_in_array<T, R, F>(input: R, on_item: F) -> Result<u64, ParseError>
where
    T: DeserializeOwned,
    R: Read,
    F: FnMut(T) -> Result<(), ParseError>,
{
    let skipped = read_array(BufReader::new(input), ParserLimits::default(), on_item)?;
    Ok(skipped.odd + skipped.too_long)
}

/// The elements [`read_array`] skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArraySkips {
    /// Elements of an unexpected shape (not objects, or objects that are not a `T`).
    pub odd: u64,
    /// Elements holding a string longer than [`ParserLimits::max_value_bytes`]: the string was
    /// read to its end without being kept, and the element skipped.
    pub too_long: u64,
}

/// Reads a JSON array from `input` one element at a time, calling `on_item` for each: memory
/// stays bounded by one element, however long the listing, and by `limits` however long one
/// string. An empty object (`{}`), which some panels send for an empty listing, counts as an
/// empty array. Elements of an unexpected shape, and elements with an over-long string, are
/// skipped and counted; an element larger than [`ParserLimits::max_record_bytes`] is an error.
pub fn read_array<T, R, F>(
    input: R,
    limits: ParserLimits,
    on_item: F,
) -> Result<ArraySkips, ParseError>
where
    T: DeserializeOwned,
    R: BufRead,
    F: FnMut(T) -> Result<(), ParseError>,
{
    let limits = limits.sane();
    let cuts = Rc::new(Cell::new(0));
    let input = BoundedJson::new(
        input,
        limits.max_value_bytes,
        limits.max_record_bytes,
        cuts.clone(),
    );
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    let mut state = ArrayState {
        on_item,
        failure: None,
        skips: ArraySkips::default(),
        cuts,
        marker: std::marker::PhantomData,
    };
    let result = (&mut state).deserialize(&mut deserializer);
    if let Some(failure) = state.failure {
        return Err(failure);
    }
    result?;
    deserializer.end()?;
    Ok(state.skips)
}

struct ArrayState<T, F> {
    on_item: F,
    failure: Option<ParseError>,
    skips: ArraySkips,
    /// Strings cut by the layer underneath, in all.
    cuts: Rc<Cell<u64>>,
    marker: std::marker::PhantomData<fn() -> T>,
}

impl<'de, T, F> DeserializeSeed<'de> for &mut ArrayState<T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), ParseError>,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T, F> Visitor<'de> for &mut ArrayState<T, F>
where
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), ParseError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut cuts = self.cuts.get();
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            if self.cuts.get() != cuts {
                // A string of this element was cut: the element is skipped, not misread.
                cuts = self.cuts.get();
                self.skips.too_long += 1;
                continue;
            }
            if !value.is_object() {
                self.skips.odd += 1;
                continue;
            }
            match T::deserialize(value) {
                Ok(item) => {
                    if let Err(e) = (self.on_item)(item) {
                        self.failure = Some(e);
                        return Err(serde::de::Error::custom("stopped by the consumer"));
                    }
                }
                Err(_) => self.skips.odd += 1,
            }
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = 0;
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {
            keys += 1;
        }
        if keys == 0 {
            Ok(())
        } else {
            Err(serde::de::Error::custom(
                "expected a JSON array, found an object (is the account valid?)",
            ))
        }
    }
}

/// The URLs of one Xtream account on one panel.
#[derive(Clone)]
pub struct XtreamEndpoint {
    base: Url,
    username: String,
    password: Secret,
}

impl fmt::Debug for XtreamEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XtreamEndpoint")
            .field("base", &crate::redact_url(self.base.as_str()))
            .finish_non_exhaustive()
    }
}

impl XtreamEndpoint {
    /// An endpoint from the panel URL as a person typed it: `http://host:port`, with or
    /// without a trailing `/`, `/player_api.php`, `/get.php` or a query.
    pub fn new(panel_url: &str, username: &str, password: Secret) -> Result<Self, ParseError> {
        let mut base = Url::parse(panel_url.trim())
            .map_err(|_| ParseError::InvalidLocation(crate::redact_url(panel_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ParseError::InvalidLocation(crate::redact_url(panel_url)));
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/').to_owned();
        let path = path
            .strip_suffix("/player_api.php")
            .or_else(|| path.strip_suffix("/get.php"))
            .or_else(|| path.strip_suffix("/xmltv.php"))
            .unwrap_or(&path)
            .to_owned();
        base.set_path(&path);
        Ok(Self {
            base,
            username: username.to_owned(),
            password,
        })
    }

    fn base_str(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `player_api.php` with the credentials and an optional `action`.
    pub fn player_api(&self, action: Option<&str>) -> Url {
        self.endpoint("player_api.php", action)
    }

    /// `xmltv.php`: the full guide of the account.
    pub fn xmltv(&self) -> Url {
        self.endpoint("xmltv.php", None)
    }

    fn endpoint(&self, file: &str, action: Option<&str>) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}/{file}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("username", &self.username);
            query.append_pair("password", self.password.expose());
            if let Some(action) = action {
                query.append_pair("action", action);
            }
        }
        url
    }

    /// A live stream URL as the panel expects it: `{base}/live/{user}/{pass}/{id}.{ext}`.
    pub fn live_stream_url(&self, stream_id: i64, extension: &str) -> String {
        format!(
            "{}/live/{}/{}/{stream_id}.{extension}",
            self.base_str(),
            path_segment(&self.username),
            path_segment(self.password.expose())
        )
    }

    /// A VOD stream URL: `{base}/movie/{user}/{pass}/{id}.{ext}`.
    pub fn movie_url(&self, stream_id: i64, extension: &str) -> String {
        format!(
            "{}/movie/{}/{}/{stream_id}.{extension}",
            self.base_str(),
            path_segment(&self.username),
            path_segment(self.password.expose())
        )
    }

    /// A series episode URL: `{base}/series/{user}/{pass}/{id}.{ext}`.
    pub fn episode_url(&self, episode_id: &str, extension: &str) -> String {
        format!(
            "{}/series/{}/{}/{}.{extension}",
            self.base_str(),
            path_segment(&self.username),
            path_segment(self.password.expose()),
            path_segment(episode_id)
        )
    }

    /// A live stream as a channel: the category name becomes the group, `stream_id` the
    /// provider id, `epg_channel_id` the guide id, `num` the channel number, and catch-up
    /// comes from `tv_archive`. `None` when the stream has no id.
    pub fn channel(
        &self,
        stream: LiveStream,
        categories: &HashMap<String, String>,
        extension: &str,
    ) -> Option<ChannelData> {
        let stream_id = stream.stream_id?;
        let group_title = stream
            .category_id
            .as_ref()
            .and_then(|id| categories.get(id))
            .cloned();
        let archive = stream.tv_archive.unwrap_or(0) > 0;
        let mut extra = Vec::new();
        if let Some(sid) = stream.custom_sid {
            extra.push(("custom-sid".to_owned(), sid));
        }
        if let Some(source) = stream.direct_source {
            extra.push(("direct-source".to_owned(), source));
        }
        let name = stream.name.unwrap_or_else(|| format!("Stream {stream_id}"));
        Some(ChannelData {
            provider_id: Some(stream_id.to_string()),
            tvg_name: Some(name.clone()),
            name,
            tvg_id: stream.epg_channel_id,
            tvg_logo: stream.stream_icon,
            group_title,
            tvg_chno: stream.num.map(|n| n.to_string()),
            tvg_shift: None,
            stream_url: self.live_stream_url(stream_id, extension),
            catchup: archive.then(|| "xc".to_owned()),
            catchup_days: if archive {
                stream.tv_archive_duration.map(|d| d.to_string())
            } else {
                None
            },
            catchup_source: None,
            extra,
        })
    }
}

/// Category id → name, for [`XtreamEndpoint::channel`].
pub fn category_names(categories: &[Category]) -> HashMap<String, String> {
    categories
        .iter()
        .filter_map(|c| Some((c.category_id.clone()?, c.category_name.clone()?)))
        .collect()
}

fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
