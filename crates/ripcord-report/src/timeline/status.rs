//! The timeline model's statuses: enums inside, the same lower-case words in JSON and text.

use std::fmt;

use serde::{Serialize, Serializer};

/// An enum whose values are words: `as_str`, `Display`, `Serialize` as that word, and
/// comparison with a `&str` (so `step.status == "succeeded"` reads as the JSON does).
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The word, as JSON and the text formats show it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

word_enum!(
    /// How the run ended, as far as the journal knows.
    RunOutcome {
        /// No step failed, other than steps with `on_failure: continue`.
        Succeeded => "succeeded",
        /// A step failed (`finally` steps included), other than with `on_failure: continue`.
        Failed => "failed",
        /// The run was cancelled (even if steps had failed).
        Cancelled => "cancelled",
        /// No `run_finished` record (crashed, killed, or still running).
        Unfinished => "unfinished",
    }
);

impl From<ripcord_engine::events::Outcome> for RunOutcome {
    fn from(o: ripcord_engine::events::Outcome) -> Self {
        use ripcord_engine::events::Outcome;
        match o {
            Outcome::Succeeded => RunOutcome::Succeeded,
            Outcome::Failed => RunOutcome::Failed,
            Outcome::Cancelled => RunOutcome::Cancelled,
        }
    }
}

word_enum!(
    /// Where a step got to.
    StepStatus {
        /// Ended with a succeeded attempt.
        Succeeded => "succeeded",
        /// Ended failed: its last attempt failed.
        Failed => "failed",
        /// Did not run: its `when` was false, or a failure or cancel stopped the run first.
        Skipped => "skipped",
        /// Stopped while running by the run's cancellation.
        Cancelled => "cancelled",
        /// Started and never ended in this journal.
        Running => "running",
        /// Named by a record but never started.
        Pending => "pending",
    }
);

word_enum!(
    /// Whether a step's change was undone.
    StepCompensation {
        /// Its compensation succeeded.
        Compensated => "compensated",
        /// Its compensation failed: the change may still be in place.
        CompensationFailed => "compensation_failed",
    }
);

word_enum!(
    /// What a [`super::Failure`] is a failure of.
    FailureKind {
        /// One attempt (another may have followed).
        Attempt => "attempt",
        /// The step, for good.
        Step => "step",
        /// The undo of a succeeded step.
        Compensation => "compensation",
        /// A decision by someone who may not decide the approval.
        ApprovalRefused => "approval_refused",
    }
);

word_enum!(
    /// How a compensation ended.
    CompensationOutcome {
        /// The undo succeeded.
        Succeeded => "succeeded",
        /// The undo failed.
        Failed => "failed",
        /// Started and never ended in this journal.
        Unfinished => "unfinished",
    }
);

word_enum!(
    /// What became of an approval.
    ApprovalDecision {
        /// Someone allowed to decide approved it.
        Approved => "approved",
        /// Someone allowed to decide rejected it.
        Rejected => "rejected",
        /// No decision within the step's timeout.
        TimedOut => "timed_out",
        /// Still waiting when the journal ends.
        Waiting => "waiting",
    }
);

word_enum!(
    /// Where the critical path's `needs` came from.
    NeedsFrom {
        /// The runbook file, unchanged since the run (its SHA-256 matches).
        Runbook => "runbook",
        /// Start and end times alone: before each step, the one that ended last.
        Timing => "timing",
    }
);

/// `resume` or `retry`, as the journal and the CLI spell it.
pub(super) fn resume_mode(mode: ripcord_engine::events::ResumeMode) -> &'static str {
    match mode {
        ripcord_engine::events::ResumeMode::Resume => "resume",
        ripcord_engine::events::ResumeMode::Retry => "retry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_json_and_compare_with_str() {
        assert_eq!(
            serde_json::to_string(&StepCompensation::CompensationFailed).unwrap(),
            "\"compensation_failed\""
        );
        assert_eq!(ApprovalDecision::TimedOut, "timed_out");
        assert_eq!(RunOutcome::Unfinished.to_string(), "unfinished");
    }
}
