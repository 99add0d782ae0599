//! Query parameters: the extractor that names the parameter it cannot read, `limit`/`offset`
//! and time parameters with their ranges, and the `{items, total}` list shape.
//!
//! Every numeric and time parameter is range-checked here before it reaches storage, so a
//! hostile query string gets a 400 naming the parameter, never a panic or a database error.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tvarr_core::{Page, PageRequest, limits};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};

/// Query parameters read into `T`. Unlike actix's `web::Query`, a value that cannot be read
/// is answered with a 400 problem naming the parameter (`errors[0].field`).
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T> Deref for Params<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(Params))
    }
}

/// Reads a query string into `T`, naming the parameter that does not fit.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> ApiResult<T> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        if let Some(missing) = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            return ApiError::parameter(missing, "is required");
        }
        let name = if path.is_empty() || path == "." {
            "query".to_string()
        } else {
            path
        };
        let value = form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| *key == name)
            .map(|(_, value)| shown(&value));
        match value {
            Some(value) => {
                ApiError::parameter(&name, format!("`{value}` is not a valid value ({inner})"))
            }
            None => ApiError::parameter(&name, format!("is not valid ({inner})")),
        }
    })
}

/// A value as an error message may quote it: at most 64 characters, no control characters.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().filter(|c| !c.is_control()).take(64).collect();
    if value.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// Which page of a list to return.
#[derive(Clone, Copy, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many items: 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
    /// Skip this many items: 0 to 9223372036854775807 (default 0).
    #[param(minimum = 0)]
    pub offset: Option<u64>,
}

impl PageParams {
    /// The repository's page request, or a 400 naming `limit` or `offset` when out of range.
    pub fn request(&self) -> ApiResult<PageRequest> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::parameter(
                "limit",
                format!("must be between 1 and {}", PageRequest::MAX_LIMIT),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > PageRequest::MAX_OFFSET {
            return Err(ApiError::parameter(
                "offset",
                format!("must be between 0 and {}", PageRequest::MAX_OFFSET),
            ));
        }
        Ok(PageRequest::new(limit, offset))
    }
}

/// The earliest year a time parameter may name.
pub(crate) const MIN_YEAR: i32 = 1970;
/// The latest year a time parameter may name.
pub(crate) const MAX_YEAR: i32 = 9999;
/// The longest `from`..`to` window of a guide query, in days.
pub(crate) const MAX_WINDOW_DAYS: i64 = 366;

/// A time parameter, or a 400 naming it when outside the years 1970 to 9999.
pub(crate) fn check_time(name: &str, at: DateTime<Utc>) -> ApiResult<DateTime<Utc>> {
    if (MIN_YEAR..=MAX_YEAR).contains(&at.year()) {
        Ok(at)
    } else {
        Err(ApiError::parameter(
            name,
            format!("must be a time in the years {MIN_YEAR} to {MAX_YEAR}"),
        ))
    }
}

/// A `from`..`to` window: both in range, `to` later than `from`, at most
/// [`MAX_WINDOW_DAYS`] apart.
pub(crate) fn check_window(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let from = check_time("from", from)?;
    let to = check_time("to", to)?;
    if to <= from {
        return Err(ApiError::parameter("to", "must be later than `from`"));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::parameter(
            "to",
            format!("must be at most {MAX_WINDOW_DAYS} days after `from`"),
        ));
    }
    Ok((from, to))
}

/// An optional text parameter, as given: blank reads as absent; longer than
/// [`limits::QUERY_TEXT_MAX_BYTES`] or holding control characters is a 400 naming it.
pub(crate) fn check_text(name: &str, value: Option<&str>) -> ApiResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if value.len() > limits::QUERY_TEXT_MAX_BYTES {
        return Err(ApiError::parameter(
            name,
            format!("must be at most {} bytes", limits::QUERY_TEXT_MAX_BYTES),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::parameter(
            name,
            "must not contain control characters",
        ));
    }
    Ok((!value.trim().is_empty()).then(|| value.to_string()))
}

/// A page of a list and the size of the whole list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: u64,
}

impl<T: ToSchema> ListResponse<T> {
    /// Converts a repository page item by item.
    pub fn from_page<U>(page: Page<U>, convert: impl FnMut(U) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(convert).collect(),
            total: page.total,
        }
    }

    /// A whole list as one page.
    pub fn all(items: Vec<T>) -> Self {
        let total = items.len() as u64;
        Self { items, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(query: &str) -> ApiResult<PageRequest> {
        parse_query::<PageParams>(query)?.request()
    }

    fn refused(result: ApiResult<impl std::fmt::Debug>) -> (u16, String) {
        let problem = result.unwrap_err().problem();
        (problem.status, problem.errors[0].field.clone())
    }

    #[test]
    fn pages_are_range_checked_and_name_the_parameter() {
        assert_eq!(page("").unwrap(), PageRequest::new(100, 0));
        assert_eq!(
            page("limit=10000&offset=9223372036854775807").unwrap(),
            PageRequest::new(10_000, i64::MAX as u64)
        );
        for (query, field) in [
            ("offset=9223372036854775808", "offset"),
            ("offset=18446744073709551616", "offset"),
            ("offset=-1", "offset"),
            ("offset=NaN", "offset"),
            ("offset=1e3", "offset"),
            ("offset=", "offset"),
            ("limit=0", "limit"),
            ("limit=10001", "limit"),
            ("limit=-5", "limit"),
            ("limit=abc", "limit"),
            ("limit=99999999999999999999999999", "limit"),
        ] {
            assert_eq!(refused(page(query)), (400, field.to_string()), "{query}");
        }
    }

    #[test]
    fn a_bad_value_is_quoted_and_named_not_bare_serde_text() {
        let problem = page("offset=abc").unwrap_err().problem();
        assert!(problem.detail.contains("`offset`"), "{}", problem.detail);
        assert!(problem.detail.contains("`abc`"), "{}", problem.detail);
    }

    #[test]
    fn times_and_windows_are_bounded() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(check_time("from", t("2026-01-01T00:00:00Z")).is_ok());
        assert_eq!(
            refused(check_time("from", t("+262142-12-31T12:00:00Z"))),
            (400, "from".to_string())
        );
        assert_eq!(
            refused(check_time("to", t("1969-12-31T23:59:59Z"))),
            (400, "to".to_string())
        );
        assert!(check_window(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z")).is_ok());
        assert_eq!(
            refused(check_window(
                t("2026-01-01T00:00:00Z"),
                t("2026-01-01T00:00:00Z")
            )),
            (400, "to".to_string())
        );
        assert_eq!(
            refused(check_window(
                t("2026-01-01T00:00:00Z"),
                t("2028-01-01T00:00:00Z")
            )),
            (400, "to".to_string())
        );
    }

    #[test]
    fn text_parameters_are_bounded() {
        assert_eq!(
            check_text("q", Some(" news")).unwrap().as_deref(),
            Some(" news")
        );
        assert_eq!(check_text("q", Some("  ")).unwrap(), None);
        assert!(check_text("q", Some("a\0b")).is_err());
        assert!(check_text("q", Some(&"x".repeat(2000))).is_err());
    }
}
