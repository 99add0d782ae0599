//! The shrink guard: whether a freshly parsed result may replace the data that is current, or
//! looks like a broken fetch (nothing, or far less than before) and must not. Pure: it judges
//! two counts.

use tvarr_core::IngestState;

/// Keeps the last good data when a result is empty or shrank by more than `max_shrink`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ShrinkGuard {
    /// The fraction of the current records a result may lose, in `0..=1`.
    max_shrink: f64,
}

/// Why the guard refused a result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Refusal {
    /// The source gave no records.
    Empty,
    /// The result is smaller than `(1 - max_shrink) ×` the current count.
    Shrank {
        /// The current count.
        from: u64,
        /// The parsed count.
        to: u64,
    },
}

impl Refusal {
    /// The state an ingest refused for this is recorded with: `failed` for an empty result,
    /// `suspicious` for a shrunk one.
    pub(super) fn state(self) -> IngestState {
        match self {
            Refusal::Empty => IngestState::Failed,
            Refusal::Shrank { .. } => IngestState::Suspicious,
        }
    }
}

impl ShrinkGuard {
    /// A guard allowing a loss of `max_shrink` of the current records (0.5: half; 1: any);
    /// values outside `0..=1` are clamped.
    pub(super) fn new(max_shrink: f64) -> Self {
        Self {
            max_shrink: max_shrink.clamp(0.0, 1.0),
        }
    }

    /// Whether `parsed` records may replace `previous` ones. An empty result is always
    /// refused; with no current data (`previous` 0) any other result is accepted.
    pub(super) fn check(&self, previous: u64, parsed: u64) -> Result<(), Refusal> {
        if parsed == 0 {
            return Err(Refusal::Empty);
        }
        let floor = (previous as f64) * (1.0 - self.max_shrink);
        if previous > 0 && (parsed as f64) < floor {
            return Err(Refusal::Shrank {
                from: previous,
                to: parsed,
            });
        }
        Ok(())
    }

    /// What to tell about `refusal`, with `unit` naming the records (`channels`, `programmes`).
    pub(super) fn message(&self, refusal: Refusal, unit: &str) -> String {
        match refusal {
            Refusal::Empty => format!("the source returned no {unit}"),
            Refusal::Shrank { from, to } => format!(
                "the source shrank from {from} to {to} {unit} (more than {:.0} %); the previous data is kept",
                self.max_shrink * 100.0
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_exactly_at_the_threshold_is_kept_and_one_below_is_refused() {
        let guard = ShrinkGuard::new(0.5);
        assert_eq!(guard.check(100, 50), Ok(()));
        assert_eq!(
            guard.check(100, 49),
            Err(Refusal::Shrank { from: 100, to: 49 })
        );
        let quarter = ShrinkGuard::new(0.25);
        assert_eq!(quarter.check(8, 6), Ok(()));
        assert_eq!(quarter.check(8, 5), Err(Refusal::Shrank { from: 8, to: 5 }));
    }

    #[test]
    fn an_empty_result_is_refused_whatever_came_before() {
        for previous in [0, 1, 1_000] {
            for max_shrink in [0.0, 0.5, 1.0] {
                assert_eq!(
                    ShrinkGuard::new(max_shrink).check(previous, 0),
                    Err(Refusal::Empty)
                );
            }
        }
    }

    #[test]
    fn with_no_previous_data_any_result_is_kept() {
        let strict = ShrinkGuard::new(0.0);
        assert_eq!(strict.check(0, 1), Ok(()));
        assert_eq!(strict.check(0, 1_000_000), Ok(()));
    }

    #[test]
    fn growth_and_equality_are_always_kept() {
        for max_shrink in [0.0, 0.5, 1.0] {
            let guard = ShrinkGuard::new(max_shrink);
            assert_eq!(guard.check(100, 100), Ok(()));
            assert_eq!(guard.check(100, 101), Ok(()));
            assert_eq!(guard.check(1, u64::MAX), Ok(()));
        }
    }

    #[test]
    fn max_shrink_is_clamped_to_a_fraction() {
        // Above 1: never suspicious (like 1); below 0: any loss is suspicious (like 0).
        assert_eq!(ShrinkGuard::new(7.0).check(1_000, 1), Ok(()));
        assert_eq!(
            ShrinkGuard::new(-1.0).check(1_000, 999),
            Err(Refusal::Shrank {
                from: 1_000,
                to: 999
            })
        );
        assert_eq!(ShrinkGuard::new(-1.0).check(1_000, 1_000), Ok(()));
    }

    #[test]
    fn refusals_are_recorded_as_failed_or_suspicious_with_their_reason() {
        let guard = ShrinkGuard::new(0.5);
        assert_eq!(Refusal::Empty.state(), IngestState::Failed);
        assert_eq!(
            guard.message(Refusal::Empty, "channels"),
            "the source returned no channels"
        );
        let shrank = Refusal::Shrank { from: 10, to: 2 };
        assert_eq!(shrank.state(), IngestState::Suspicious);
        assert_eq!(
            guard.message(shrank, "programmes"),
            "the source shrank from 10 to 2 programmes (more than 50 %); the previous data is kept"
        );
        assert_eq!(
            ShrinkGuard::new(9.0).message(shrank, "channels"),
            "the source shrank from 10 to 2 channels (more than 100 %); the previous data is kept"
        );
    }
}
