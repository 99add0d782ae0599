//! Action values: text mixed with field references, capture groups and helpers.

use chrono::format::Item;
use chrono::{DateTime, Utc};

use crate::compile::render_time;
use crate::fields::FieldRef;
use crate::record::Record;

/// What helpers such as `@time:now` and `@logo:ID` need from the caller.
///
/// Pass your own implementation to resolve logo ids into URLs under your server's base URL, or
/// to fix the clock in tests; [`DefaultHelpers`] uses the system clock and relative logo URLs,
/// and [`RunHelpers`] one clock reading and a base URL for a whole run.
pub trait HelperContext {
    /// The current time, for `@time:now` (in action values, and in the conditions of rules
    /// applied with this context).
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The URL for a cached logo id, for `@logo:ID`: by default `/logos/{ID}.png`, where the
    /// server serves its cached logos.
    fn logo_url(&self, id: &str) -> String {
        format!("{LOGO_PATH}{id}.png")
    }
}

/// Where the server serves cached logos, relative to its root.
const LOGO_PATH: &str = "/logos/";

/// The system clock, and logo URLs relative to the server root (`/logos/{ID}.png`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHelpers;

impl HelperContext for DefaultHelpers {}

/// Helper values for one run over many records: a clock read once, so every record sees the
/// same `@time:now`, and logo URLs under the server's base URL.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use tvarr_expr::{HelperContext, RunHelpers};
///
/// let now = Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap();
/// let helpers = RunHelpers::at("https://tv.example/", now);
/// assert_eq!(helpers.logo_url("01ARZ3NDEK"), "https://tv.example/logos/01ARZ3NDEK.png");
/// assert_eq!(helpers.now(), now);
/// assert_eq!(RunHelpers::new("").logo_url("x"), "/logos/x.png");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHelpers {
    base_url: Box<str>,
    now: DateTime<Utc>,
}

impl RunHelpers {
    /// Logo URLs under `base_url` (`https://tv.example`, or `""` for URLs relative to the
    /// server root), and the system clock read now.
    pub fn new(base_url: &str) -> Self {
        Self::at(base_url, Utc::now())
    }

    /// Logo URLs under `base_url`, and `now` as the current time.
    pub fn at(base_url: &str, now: DateTime<Utc>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').into(),
            now,
        }
    }

    /// The base URL logo URLs start with (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Default for RunHelpers {
    /// Relative logo URLs, and the system clock read now.
    fn default() -> Self {
        Self::new("")
    }
}

impl HelperContext for RunHelpers {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn logo_url(&self, id: &str) -> String {
        format!("{}{LOGO_PATH}{id}.png", self.base_url)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(Box<str>),
    Field(FieldRef),
    Capture(u8),
    Time {
        offset: i64,
        format: Option<Vec<Item<'static>>>,
    },
    Logo(Box<str>),
}

#[derive(Debug, Clone)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub(crate) fn new(pieces: Vec<Piece>) -> Self {
        Self { pieces }
    }

    pub(crate) fn uses_captures(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Capture(_)))
    }

    /// Appends the rendered value to `out`. Missing fields and capture groups render empty.
    pub(crate) fn render<R: Record + ?Sized>(
        &self,
        record: &R,
        captures: &[String],
        helpers: &dyn HelperContext,
        out: &mut String,
    ) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(record.field(f).unwrap_or("")),
                Piece::Capture(n) => {
                    out.push_str(captures.get(usize::from(*n)).map_or("", String::as_str))
                }
                Piece::Time { offset, format } => {
                    render_time(helpers, *offset, format.as_deref(), out)
                }
                Piece::Logo(id) => out.push_str(&helpers.logo_url(id)),
            }
        }
    }
}
