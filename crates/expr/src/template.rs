//! Action values: text mixed with field references, capture groups and helpers.

use chrono::format::Item;
use chrono::{DateTime, Utc};

use crate::compile::render_time;
use crate::fields::FieldRef;
use crate::record::Record;

/// What helpers such as `@time:now` and `@logo:ID` need from the caller.
///
/// Pass your own implementation to resolve logo ids into URLs under your server's base URL, or
/// to fix the clock in tests; [`DefaultHelpers`] uses the system clock and relative logo URLs.
pub trait HelperContext {
    /// The current time, for `@time:now`.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The URL for a cached logo id, for `@logo:ID`.
    fn logo_url(&self, id: &str) -> String {
        format!("/api/v1/logos/{id}")
    }
}

/// The system clock, and logo URLs relative to the server root (`/api/v1/logos/{ID}`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHelpers;

impl HelperContext for DefaultHelpers {}

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
