//! Checking cron expressions given by people.

use std::str::FromStr;

use tvarr_core::FieldError;

/// Accepts the 5-field crontab form (`*/30 * * * *`) by adding a seconds field, and the
/// 6- and 7-field forms as the `cron` crate reads them.
pub fn normalise_cron(expr: &str) -> String {
    let fields = expr.split_whitespace().count();
    if fields == 5 {
        format!("0 {}", expr.trim())
    } else {
        expr.trim().to_string()
    }
}

/// Adds an `update_cron` error when `expr` is set and not a valid schedule. The message is
/// plain words and an example, not the parser's internals.
pub fn check_cron(expr: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(expr) = expr else { return };
    if cron::Schedule::from_str(&normalise_cron(expr)).is_ok() {
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
        assert!(errors[0].message.contains("has 2 fields"), "{}", errors[0].message);
        assert!(errors[1].message.contains("out of range"), "{}", errors[1].message);
        for error in &errors {
            assert!(!error.message.contains("Invalid"), "{}", error.message);
            assert!(!error.message.contains("Error"), "{}", error.message);
        }
    }
}
