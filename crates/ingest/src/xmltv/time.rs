//! XMLTV times (`20010829000500 +0100`) and episode numbers (`xmltv_ns`, `onscreen`).

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How times without an offset are read, and the correction applied to every time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimeRules {
    pub(crate) timezone: Option<Tz>,
    pub(crate) offset: Duration,
}

impl TimeRules {
    /// Parses an XMLTV time into UTC: `YYYYMMDD[hh[mm[ss]]]` then an optional offset
    /// (`+0100`, `-04:00`, `Z`) or zone abbreviation (`BST`, `UTC`, `EST`). A time with no
    /// offset (or an unknown abbreviation) is in the source's timezone, else UTC.
    pub(crate) fn parse(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits < 8 {
            return None;
        }
        let num = |from: usize, len: usize| -> Option<u32> {
            if from + len > digits {
                return Some(0);
            }
            let mut n = 0u32;
            for &b in &bytes[from..from + len] {
                n = n * 10 + u32::from(b - b'0');
            }
            Some(n)
        };
        let year = i32::try_from(num(0, 4)?).ok()?;
        let date = NaiveDate::from_ymd_opt(year, num(4, 2)?, num(6, 2)?)?;
        let naive = date.and_hms_opt(num(8, 2)?, num(10, 2)?, num(12, 2)?.min(59))?;
        // Skip fractional seconds and spaces before the zone.
        let mut rest = &text[digits..];
        if let Some(fraction) = rest.strip_prefix('.') {
            rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        let utc = match zone_offset_seconds(rest.trim()) {
            // A fixed offset needs no zone lookup: shift the naive time.
            Some(seconds) => naive
                .and_utc()
                .checked_sub_signed(Duration::seconds(i64::from(seconds)))?,
            None => self.local_to_utc(naive)?,
        };
        utc.checked_add_signed(self.offset)
    }

    fn local_to_utc(&self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        let Some(tz) = self.timezone else {
            return Some(Utc.from_utc_datetime(&naive));
        };
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
            // In the gap of a spring-forward change: the hour that does not exist is read
            // as the one after it.
            LocalResult::None => tz
                .from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// Seconds east of UTC for `+hhmm`, `-hh:mm`, `+hh`, `Z` or a common abbreviation.
fn zone_offset_seconds(zone: &str) -> Option<i32> {
    if zone.is_empty() {
        return None;
    }
    let bytes = zone.as_bytes();
    if matches!(bytes[0], b'+' | b'-') {
        let sign = if bytes[0] == b'-' { -1 } else { 1 };
        let mut digits = [0i32; 4];
        let mut count = 0;
        for b in bytes[1..].iter().filter(|b| b.is_ascii_digit()) {
            if count == 4 {
                return None;
            }
            digits[count] = i32::from(b - b'0');
            count += 1;
        }
        let (hours, minutes) = match count {
            1 => (digits[0], 0),
            2 => (digits[0] * 10 + digits[1], 0),
            3 => (digits[0], digits[1] * 10 + digits[2]),
            4 => (digits[0] * 10 + digits[1], digits[2] * 10 + digits[3]),
            _ => return None,
        };
        if hours > 14 || minutes > 59 {
            return None;
        }
        return Some(sign * (hours * 3600 + minutes * 60));
    }
    let mut upper = [0u8; 4];
    if zone.len() > upper.len() {
        return None;
    }
    upper[..zone.len()].copy_from_slice(bytes);
    upper.make_ascii_uppercase();
    let hours: i32 = match &upper[..zone.len()] {
        b"Z" | b"UTC" | b"GMT" | b"UT" | b"WET" => 0,
        b"BST" | b"CET" | b"WEST" | b"MET" => 1,
        b"CEST" | b"EET" | b"MEST" | b"SAST" => 2,
        b"EEST" | b"MSK" => 3,
        b"EST" => -5,
        b"EDT" | b"AST" => -4,
        b"CST" => -6,
        b"CDT" => -5,
        b"MST" => -7,
        b"MDT" => -6,
        b"PST" => -8,
        b"PDT" => -7,
        b"AKST" => -9,
        b"AKDT" => -8,
        b"HST" => -10,
        b"JST" | b"KST" => 9,
        b"AEST" => 10,
        b"AEDT" => 11,
        b"NZST" => 12,
        b"NZDT" => 13,
        _ => return None,
    };
    Some(hours * 3600)
}

/// Season and episode (both from 1) of an `xmltv_ns` value: `season.episode.part`, each part
/// 0-based and optionally `/total`, any part may be empty, spaces allowed
/// (`2 . 9 . 0/1` → 3, 10; `.25/0.` → episode 26; `1/10..` → season 2).
pub(crate) fn parse_xmltv_ns(value: &str) -> (Option<u32>, Option<u32>) {
    let mut parts = value.split('.');
    let number = |part: Option<&str>| -> Option<u32> {
        let part = part?;
        let index = part.split('/').next()?.trim();
        index.parse::<u32>().ok().and_then(|n| n.checked_add(1))
    };
    let season = number(parts.next());
    let episode = number(parts.next());
    (season, episode)
}

/// Season and episode of an `onscreen` value such as `S01E01`, `S1 E2` or `1x02`.
pub(crate) fn parse_onscreen(value: &str) -> (Option<u32>, Option<u32>) {
    let upper = value.trim().to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let read_number = |from: usize| -> Option<(u32, usize)> {
        let start = from
            + bytes[from.min(bytes.len())..]
                .iter()
                .take_while(|b| **b == b' ')
                .count();
        let len = bytes[start.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len == 0 {
            return None;
        }
        upper[start..start + len]
            .parse()
            .ok()
            .map(|n| (n, start + len))
    };
    if let Some(s) = memchr::memchr(b'S', bytes)
        && let Some((season, after)) = read_number(s + 1)
    {
        let episode = bytes[after..]
            .iter()
            .position(|b| *b == b'E')
            .and_then(|e| read_number(after + e + 1))
            .map(|(n, _)| n);
        return (Some(season), episode);
    }
    if let Some(x) = memchr::memchr(b'X', bytes) {
        let season = upper[..x].trim().parse().ok();
        let episode = read_number(x + 1).map(|(n, _)| n);
        if season.is_some() && episode.is_some() {
            return (season, episode);
        }
    }
    if let Some(e) = memchr::memchr(b'E', bytes) {
        return (None, read_number(e + 1).map(|(n, _)| n));
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        TimeRules::default().parse(text).unwrap().to_rfc3339()
    }

    #[test]
    fn parses_the_forms_seen_in_real_guides() {
        assert_eq!(utc("20021010090000 +0100"), "2002-10-10T08:00:00+00:00");
        assert_eq!(utc("20010829000500 BST"), "2001-08-28T23:05:00+00:00");
        assert_eq!(utc("200006031633"), "2000-06-03T16:33:00+00:00");
        assert_eq!(utc("200006031633 +0100"), "2000-06-03T15:33:00+00:00");
        assert_eq!(utc("20220331150000 -0400"), "2022-03-31T19:00:00+00:00");
        assert_eq!(utc("20220331150000+03:00"), "2022-03-31T12:00:00+00:00");
        assert_eq!(utc("20220331"), "2022-03-31T00:00:00+00:00");
        assert!(TimeRules::default().parse("yesterday").is_none());
        assert!(TimeRules::default().parse("20221331000000").is_none());
    }

    #[test]
    fn applies_timezone_only_without_offset_and_offset_always() {
        let rules = TimeRules {
            timezone: Some(chrono_tz::Europe::London),
            offset: Duration::minutes(30),
        };
        let t = |s| rules.parse(s).unwrap().to_rfc3339();
        assert_eq!(t("20230701120000"), "2023-07-01T11:30:00+00:00");
        assert_eq!(t("20230701120000 +0000"), "2023-07-01T12:30:00+00:00");
        assert_eq!(t("20230101120000"), "2023-01-01T12:30:00+00:00");
    }

    #[test]
    fn xmltv_ns_odd_forms() {
        assert_eq!(parse_xmltv_ns(".25/0."), (None, Some(26)));
        assert_eq!(parse_xmltv_ns("33.30/32."), (Some(34), Some(31)));
        assert_eq!(parse_xmltv_ns("1/10.."), (Some(2), None));
        assert_eq!(parse_xmltv_ns("2 . 9 . 0/1"), (Some(3), Some(10)));
        assert_eq!(parse_xmltv_ns("5.3/10."), (Some(6), Some(4)));
        assert_eq!(parse_xmltv_ns("..0/2"), (None, None));
        assert_eq!(parse_xmltv_ns("1/10.2/4.0"), (Some(2), Some(3)));
        assert_eq!(parse_xmltv_ns(""), (None, None));
    }

    #[test]
    fn onscreen_forms() {
        assert_eq!(parse_onscreen("S01E01"), (Some(1), Some(1)));
        assert_eq!(parse_onscreen("S2 E13"), (Some(2), Some(13)));
        assert_eq!(parse_onscreen("3x07"), (Some(3), Some(7)));
        assert_eq!(parse_onscreen("E5"), (None, Some(5)));
        assert_eq!(parse_onscreen("Special"), (None, None));
    }
}
