//! Cron schedules as people write them: the one reading of an expression, used by the API to
//! validate it and by the scheduler to fire it, so the two never disagree on what a schedule
//! means or how often it runs.

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
