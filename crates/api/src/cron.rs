//! Checking cron expressions given by people.

use tvarr_core::FieldError;
use tvarr_core::schedule::{parse_cron, shortest_gap};

/// Adds an `update_cron` error when `expr` is set and not a valid schedule. The message is
/// plain words and an example, not the parser's internals.
pub fn check_cron(expr: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(expr) = expr else { return };
    if parse_cron(expr).is_ok() {
        return;
    }
    let shown: String = expr.chars().filter(|c| !c.is_control()).take(64).collect();
    let fields = expr.split_whitespace().count();
    let problem = if (5..=7).contains(&fields) {
        "has a field out of range or unreadable".to_string()
    } else {
        format!("has {fields} fields")
    };
    errors.push(FieldError::new(
        "update_cron",
        format!(
            "`{shown}` is not a cron schedule: it {problem}. Use five fields (minute, hour, \
             day of month, month, day of week), for example `0 */6 * * *` for every six hours"
        ),
    ));
}

/// Adds an `update_cron` error when `expr` would run more often than once per `min_interval`
/// (an expression that does not parse is left to [`check_cron`]).
pub fn check_cron_interval(
    expr: Option<&str>,
    min_interval: std::time::Duration,
    errors: &mut Vec<FieldError>,
) {
    let Some(expr) = expr else { return };
    let Ok(schedule) = parse_cron(expr) else {
        return;
    };
    if let Some(gap) = shortest_gap(&schedule, chrono::Utc::now())
        && gap < min_interval
    {
        errors.push(FieldError::new(
            "update_cron",
            format!(
                "`{}` runs {} s apart at its closest; the minimum interval between two runs \
                 is {} s{}",
                expr.trim(),
                gap.as_secs(),
                min_interval.as_secs(),
                match min_interval.as_secs() {
                    s if s % 60 == 0 && s < 3600 => {
                        format!(" (for example `*/{} * * * *`)", s / 60)
                    }
                    _ => String::new(),
                },
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_five_and_six_field_forms() {
        let mut errors = Vec::new();
        check_cron(Some("*/30 * * * *"), &mut errors);
        check_cron(Some("0 0 */6 * * *"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        check_cron(Some("every day"), &mut errors);
        check_cron(Some("61 * * * *"), &mut errors);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "update_cron");
        // Plain words, not the parser's internals.
        assert!(
            errors[0].message.contains("has 2 fields"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[1].message.contains("out of range"),
            "{}",
            errors[1].message
        );
        for error in &errors {
            assert!(!error.message.contains("Invalid"), "{}", error.message);
            assert!(!error.message.contains("Error"), "{}", error.message);
        }
    }

    #[test]
    fn schedules_closer_than_the_minimum_are_refused_naming_it() {
        let five = std::time::Duration::from_secs(300);
        let mut errors = Vec::new();
        check_cron_interval(Some("* * * * * *"), five, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "update_cron");
        assert!(errors[0].message.contains("300 s"), "{errors:?}");
        // Irregular: two runs a minute apart once a day.
        check_cron_interval(Some("0,1 3 * * *"), five, &mut errors);
        // Across midnight: 23:58 and 00:01.
        check_cron_interval(Some("1,58 0,23 * * *"), five, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        for ok in ["*/5 * * * *", "0 3 * * *", "@hourly", "0 0 3 1 1 * 2030"] {
            check_cron_interval(Some(ok), five, &mut errors);
        }
        check_cron_interval(Some("* * * * * *"), std::time::Duration::ZERO, &mut errors);
        check_cron_interval(Some("not cron"), five, &mut errors);
        check_cron_interval(None, five, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
