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

/// Adds an `update_cron` error when `expr` is set and not a valid schedule.
pub fn check_cron(expr: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(expr) = expr else { return };
    if let Err(e) = cron::Schedule::from_str(&normalise_cron(expr)) {
        errors.push(FieldError::new(
            "update_cron",
            format!("`{expr}` is not a cron schedule ({e}); for example `0 */6 * * *` runs every six hours"),
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
    }
}
