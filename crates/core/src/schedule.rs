//! Cron schedules and time zones as people write them: the one reading of an expression, used
//! by the API to validate it and by the scheduler to fire it, so the two never disagree on what
//! a schedule means or how often it runs; and the checks that explain a refused one in plain
//! words.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
pub use cron::Schedule;

/// Parses a cron expression: 5 fields (`min hour day month weekday`, crontab style; a
/// seconds field of `0` is added), 6 fields (with seconds) or 7 (with seconds and years), or
/// an `@hourly`-style shortcut. Times are UTC.
pub fn parse_cron(expr: &str) -> Result<Schedule, String> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    let full = match fields {
        _ if expr.starts_with('@') => expr.to_owned(),
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_owned(),
        0 => return Err("the cron expression is empty".to_owned()),
        n => {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day month weekday), or 6-7 with \
                 seconds and years; this one has {n}"
            ));
        }
    };
    Schedule::from_str(&full).map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

/// How many firings [`shortest_gap`] looks at, at most.
const GAP_FIRINGS: usize = 1_000;

/// How far ahead [`shortest_gap`] looks, at most: a year and a day covers every month length
/// and weekday combination of a year.
const GAP_HORIZON: chrono::Duration = chrono::Duration::days(367);

/// The shortest time between two consecutive firings of `schedule` after `from`, over its
/// next 1,000 firings or the next year, whichever ends first. `None` when it fires once or
/// never.
///
/// Cron expressions can be irregular (`0 0,1 * * *` fires twice a minute apart, then waits
/// 59 minutes; `58 23 * * *` with `1 0 * * *` in one expression meets across midnight), so
/// the first two firings do not tell the interval: every gap is measured. The scheduler also
/// enforces the minimum at each firing, so a pattern rarer than this window cannot slip by.
pub fn shortest_gap(schedule: &Schedule, from: DateTime<Utc>) -> Option<Duration> {
    let horizon = from + GAP_HORIZON;
    let mut previous: Option<DateTime<Utc>> = None;
    let mut shortest: Option<chrono::Duration> = None;
    for firing in schedule.after(&from).take(GAP_FIRINGS) {
        if let Some(previous) = previous {
            let gap = firing - previous;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        }
        if firing > horizon {
            break;
        }
        previous = Some(firing);
    }
    shortest.map(|gap| gap.to_std().unwrap_or(Duration::ZERO))
}

/// Why a cron expression a person wrote is refused. The messages are plain words and an
/// example, not the parser's internals.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronProblem {
    /// The expression does not parse.
    #[error(
        "`{shown}` is not a cron schedule: it {what}. Use 5 fields (minute, hour, day of \
         month, month, day of week), for example `0 */6 * * *` for every six hours"
    )]
    Unreadable {
        /// The expression as shown back: control characters removed, at most 64 characters.
        shown: String,
        /// What is wrong, completing "it …".
        what: String,
    },
    /// The expression fires closer together than the minimum interval allows.
    #[error(
        "`{expr}` runs {} apart at its closest; the minimum interval between two runs is {}{}",
        human(*gap),
        minimum(*min_interval),
        example(*min_interval)
    )]
    TooOften {
        /// The expression, trimmed.
        expr: String,
        /// The shortest time between two of its firings.
        gap: Duration,
        /// The minimum.
        min_interval: Duration,
    },
}

/// Checks a cron expression a person wrote: its schedule, or why it is refused.
pub fn check_cron(expr: &str) -> Result<Schedule, CronProblem> {
    parse_cron(expr).map_err(|_| {
        let shown: String = expr.chars().filter(|c| !c.is_control()).take(64).collect();
        let fields = expr.split_whitespace().count();
        let what = if (5..=7).contains(&fields) {
            "has a field out of range or unreadable".to_owned()
        } else {
            format!("has {fields} fields")
        };
        CronProblem::Unreadable { shown, what }
    })
}

/// Checks that `expr` is a schedule ([`check_cron`]) that never fires twice within
/// `min_interval` (zero allows any). The gaps are measured from now, with [`shortest_gap`].
pub fn check_cron_interval(expr: &str, min_interval: Duration) -> Result<(), CronProblem> {
    let schedule = check_cron(expr)?;
    match shortest_gap(&schedule, Utc::now()) {
        Some(gap) if gap < min_interval => Err(CronProblem::TooOften {
            expr: expr.trim().to_owned(),
            gap,
            min_interval,
        }),
        _ => Ok(()),
    }
}

/// `90 s` → `1 min 30 s`: durations as a person reads them.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// The minimum in seconds, as it is configured, and in words when they differ.
fn minimum(d: Duration) -> String {
    match d.as_secs() {
        s if s < 60 => format!("{s} s"),
        s => format!("{s} s ({})", human(d)),
    }
}

/// A schedule at the minimum, when cron can write one as a minute step.
fn example(min_interval: Duration) -> String {
    match min_interval.as_secs() {
        s if s % 60 == 0 && s < 3600 => format!(" (for example `*/{} * * * *`)", s / 60),
        _ => String::new(),
    }
}

/// A time zone name that is not in the IANA database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone name (for example Europe/London)")]
pub struct UnknownTimeZone(pub String);

/// Checks an IANA time zone name (`Europe/London`), as the guide reader will read it.
pub fn check_time_zone(name: &str) -> Result<(), UnknownTimeZone> {
    match name.parse::<chrono_tz::Tz>() {
        Ok(_) => Ok(()),
        Err(_) => Err(UnknownTimeZone(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_five_and_six_field_forms() {
        assert!(check_cron("*/30 * * * *").is_ok());
        assert!(check_cron("0 0 */6 * * *").is_ok());
        let errors: Vec<String> = ["every day", "61 * * * *"]
            .into_iter()
            .filter_map(|e| check_cron(e).err())
            .map(|p| p.to_string())
            .collect();
        assert_eq!(errors.len(), 2);
        // Plain words, not the parser's internals.
        assert!(errors[0].contains("has 2 fields"), "{}", errors[0]);
        // The scheduler's callers look for the expected count as a number.
        assert!(errors[0].contains("Use 5 fields"), "{}", errors[0]);
        assert!(errors[1].contains("out of range"), "{}", errors[1]);
        for error in &errors {
            assert!(!error.contains("Invalid"), "{error}");
            assert!(!error.contains("Error"), "{error}");
        }
    }

    #[test]
    fn schedules_closer_than_the_minimum_are_refused_naming_it() {
        let five = Duration::from_secs(300);
        let err = check_cron_interval("* * * * * *", five).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CronProblem::TooOften { .. }), "{err:?}");
        assert!(message.contains("1 s apart"), "{message}");
        assert!(message.contains("300 s"), "{message}");
        assert!(message.contains("5 min"), "{message}");
        assert!(message.contains("`*/5 * * * *`"), "{message}");
        assert!(check_cron_interval("*/4 * * * *", five).is_err());
        // Irregular: two runs a minute apart once a day.
        assert!(check_cron_interval("0,1 3 * * *", five).is_err());
        // Across midnight: 23:58 and 00:01.
        assert!(check_cron_interval("1,58 0,23 * * *", five).is_err());
        for ok in ["*/5 * * * *", "0 3 * * *", "@hourly", "0 0 3 1 1 * 2030"] {
            assert_eq!(check_cron_interval(ok, five), Ok(()), "{ok}");
        }
        assert_eq!(check_cron_interval("* * * * * *", Duration::ZERO), Ok(()));
        // An expression that does not parse is unreadable, not too frequent.
        assert!(matches!(
            check_cron_interval("not cron", five),
            Err(CronProblem::Unreadable { .. })
        ));
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(human(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(human(Duration::from_secs(7200)), "2 h");
        assert_eq!(human(Duration::from_secs(3660)), "1 h 1 min");
        assert_eq!(minimum(Duration::from_secs(30)), "30 s");
        assert_eq!(example(Duration::from_secs(3600)), "");
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(check_time_zone("Europe/London"), Ok(()));
        let err = check_time_zone("Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("not an IANA time zone"), "{err}");
        assert!(check_time_zone("Europe/\nLondon").is_err());
    }

    #[test]
    fn accepts_crontab_and_extended_expressions_too() {
        assert!(check_cron("*/5 * * * *").is_ok());
        assert!(check_cron("0 3 * * Mon").is_ok());
        assert!(check_cron("* * * * * *").is_ok());
        assert!(check_cron("0 0 3 * * * 2030").is_ok());
        assert!(check_cron("@daily").is_ok());
    }

    #[test]
    fn check_cron_interval_names_the_minimum() {
        let five = Duration::from_secs(300);
        let err = check_cron_interval("* * * * * *", five)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 s apart"), "{err}");
        assert!(err.contains("5 min"), "{err}");
        assert!(check_cron_interval("*/4 * * * *", five).is_err());
        assert!(check_cron_interval("0,1 3 * * *", five).is_err());
        assert!(check_cron_interval("*/5 * * * *", five).is_ok());
        assert!(check_cron_interval("0 3 * * *", five).is_ok());
        assert!(check_cron_interval("* * * * * *", Duration::ZERO).is_ok());
        assert!(check_cron_interval("not cron", five).is_err());
    }

    #[test]
    fn rejects_bad_expressions_with_a_reason() {
        let err = check_cron("* * *").unwrap_err().to_string();
        assert!(err.contains("5 fields"), "{err}");
        assert!(check_cron("").is_err());
        assert!(check_cron("61 * * * *").is_err());
        assert!(check_cron("a b c d e").is_err());
    }
}
