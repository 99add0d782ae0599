//! Reading points in time from field text, for ordering operators on time fields.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parses the time forms found in guides and APIs into Unix seconds (UTC):
/// RFC 3339 (`2024-01-15T10:30:00Z`), XMLTV (`20240115103000 +0100`, offset optional, UTC
/// assumed), `2024-01-15 10:30:00` (UTC), and plain Unix seconds (`1705314600`).
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 14 || digits == 12 {
        return parse_xmltv(text, digits);
    }
    if digits == bytes.len() && (1..=11).contains(&digits) {
        return text.parse().ok();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn num(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

fn parse_xmltv(text: &str, digits: usize) -> Option<i64> {
    let b = text.as_bytes();
    let year = i32::try_from(num(&b[0..4])).ok()?;
    let seconds = if digits == 14 { num(&b[12..14]) } else { 0 };
    let local = NaiveDate::from_ymd_opt(year, num(&b[4..6]), num(&b[6..8]))?
        .and_hms_opt(num(&b[8..10]), num(&b[10..12]), seconds)?
        .and_utc()
        .timestamp();
    let rest = text[digits..].trim_start();
    if rest.is_empty() {
        return Some(local);
    }
    let rb = rest.as_bytes();
    if rb.len() != 5 || !rb[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let offset = i64::from(num(&rb[1..3])) * 3600 + i64::from(num(&rb[3..5])) * 60;
    match rb[0] {
        b'+' => Some(local - offset),
        b'-' => Some(local + offset),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn reads_every_supported_form_as_the_same_instant() {
        let expected = Some(1_705_314_600);
        assert_eq!(parse_time("2024-01-15T10:30:00Z"), expected);
        assert_eq!(parse_time("2024-01-15T11:30:00+01:00"), expected);
        assert_eq!(parse_time("20240115103000"), expected);
        assert_eq!(parse_time("20240115113000 +0100"), expected);
        assert_eq!(parse_time("20240115053000 -0500"), expected);
        assert_eq!(parse_time("202401151030"), expected);
        assert_eq!(parse_time("2024-01-15 10:30:00"), expected);
        assert_eq!(parse_time("1705314600"), expected);
    }

    #[test]
    fn rejects_malformed_times() {
        assert_eq!(parse_time("20241315103000"), None);
        assert_eq!(parse_time("20240115103000 +01"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }
}
