//! The time, as something a component is given rather than reads: production passes the
//! system clock, tests a clock they move by hand, so what happens "every second" or "after five
//! minutes" is tested without waiting for it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Tells the time and waits for a moment to come.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The time now.
    fn now(&self) -> DateTime<Utc>;
    /// Returns once the time is `at` or later (at once when it has passed). Dropping the future
    /// stops the wait.
    async fn sleep_until(&self, at: DateTime<Utc>);
}
