//! Typed journal events: one struct per [`EventKind`], the `data` of its journal line.
//!
//! The engine writes events only through these types ([`Event`]), and readers (resume, summary,
//! progress, timeline) decode a record's `data` back into them with [`Record::event`]. Field
//! order is serialization order and is part of the journal format: a line's hash covers its
//! bytes, so reordering fields here would make new journals differ from old ones (old journals
//! still verify, since verification hashes the bytes as written). Fields added after a journal
//! was written decode with their defaults, so readers accept every journal ever written.
//!
//! The journal schema (`ripcord schema --journal`, schemas/journal-event.schema.json) is
//! generated from [`Event`]: one `event`/`data` pair per kind.

use std::path::PathBuf;

use indexmap::IndexMap;
use ripcord_spec::Effect;
use ripcord_spec::model::OnFailure;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::journal::Record;

/// How a run (or this part of it) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step that had to succeed did.
    Succeeded,
    /// A step failed and stopped the run.
    Failed,
    /// Stopped by a cancel (Ctrl-C, SIGTERM).
    Cancelled,
}

impl Outcome {
    /// The name as journaled (`succeeded`, `failed`, `cancelled`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// `run_started`: what runs, with which inputs, by whom. Always the first line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RunStarted {
    /// The runbook's name.
    pub runbook: String,
    /// The runbook's declared version.
    pub version: String,
    /// SHA-256 of the runbook file's bytes.
    pub sha256: String,
    /// The runbook file, canonicalized when it could be.
    pub path: PathBuf,
    /// Params as given, secrets replaced by `***`.
    pub params: Map<String, Json>,
    /// Names of the secret params (their values are never journaled).
    pub secret_params: Vec<String>,
    /// The runbook's labels, in declaration order.
    pub labels: IndexMap<String, String>,
    /// The runbook's objectives, as humantime durations.
    pub rto: Option<String>,
    /// The recovery point objective, as a humantime duration; `None` when the runbook sets none.
    pub rpo: Option<String>,
    /// Who started the run.
    pub user: String,
    /// The host it was started on.
    pub host: String,
    /// Version of the ripcord binary that started it.
    pub ripcord_version: String,
    /// Read-only run: executors previewed mutations instead of applying them.
    pub dry_run: bool,
    /// Steps allowed in flight at once, across all families.
    pub max_parallel: usize,
    /// Whether this start continues an earlier run; new runs write `false` (continuations journal [`RunResumed`]).
    pub resumed: bool,
}

/// How a stopped run is continued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResumeMode {
    /// Continue where it stopped.
    #[default]
    Resume,
    /// Run one failed step (and what depends on it) again.
    Retry,
}

/// `run_resumed`: a resume or retry continues the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RunResumed {
    /// Resume where it stopped, or retry one failed step.
    pub mode: ResumeMode,
    /// The step a retry starts again from.
    pub retry: Option<String>,
    /// Who continued the run.
    pub user: String,
    /// The host it was continued on.
    pub host: String,
    /// Params as given to the resume, secrets replaced by `***`.
    pub params: Map<String, Json>,
}

/// `step_started`: an attempt is about to touch the world. Durable before the side effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepStarted {
    /// The step type, e.g. `kube.drain`.
    #[serde(rename = "type")]
    pub step_type: String,
    /// The effect declared for this step with this input.
    pub effect: Effect,
    /// Re-running an interrupted attempt is safe.
    pub idempotent: bool,
    /// This attempt's timeout.
    pub timeout_ms: u64,
    /// Attempts allowed in all.
    pub attempts: u32,
    #[serde(default)]
    /// A dry-run attempt: mutations are previewed, not applied.
    pub dry_run: bool,
    /// The rendered (and redacted) input.
    #[serde(default)]
    pub with: Json,
}

/// `poll`: one evaluation of an `until` condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Poll {
    /// 1, 2, 3, ... within the attempt.
    pub n: u32,
    /// The `until` expression evaluated.
    pub expr: String,
    /// Whether it held, ending the polling.
    pub satisfied: bool,
}

/// `gate`: a `verify` check's verdict on an attempt's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gate {
    /// The check's name.
    pub name: String,
    /// The check's expression.
    pub expr: String,
    /// Whether the result satisfied it (never true when `unknown`).
    pub passed: bool,
    /// In a dry run: it reads a value the dry run did not observe, so it neither passed nor
    /// failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
    /// The check's rendered message, when it has one.
    #[serde(default)]
    pub message: Option<String>,
}

/// `note`: something an executor (or the engine on its behalf) wants on the record: an approval
/// waiting, an eviction blocked by a PDB, a program started. `data` is the note kind's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// What the note is about (e.g. an approval waiting); gives `data` its shape.
    pub kind: String,
    #[serde(default)]
    /// The kind's own payload, redacted.
    pub data: Json,
}

/// `attempt_failed`: an attempt failed; another may follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptFailed {
    /// The attempt's error, redacted.
    pub error: String,
    /// The delay before the next attempt; `None` when this was the last one.
    #[serde(default)]
    pub retry_in_ms: Option<u64>,
}

/// `step_succeeded`: the step's gates passed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StepSucceeded {
    /// The step's declared outputs, rendered.
    pub outputs: Json,
    /// The executor's result (redacted).
    pub result: Json,
    /// In a dry run: what was observed (ran, validated, not simulated), the diff of a
    /// previewed write and the pre-state it would act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<crate::preview::DryRunReport>,
}

/// `step_failed`: the step failed for good.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepFailed {
    /// The final error, redacted.
    pub error: String,
    #[serde(default)]
    /// The step's `on_failure` policy, which decides what the failure does to the run.
    pub on_failure: OnFailure,
}

/// Why a step was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipCause {
    /// Its `when` was false: final, a resume does not run it.
    When,
    /// An earlier failure or a cancel stopped the run before it started: a resume may run it.
    Blocked,
}

/// `step_skipped`: the step did not run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepSkipped {
    /// Why, for people.
    pub reason: String,
    /// Whether the skip is final or a resume may still run the step.
    pub cause: SkipCause,
    /// The `when` expression that was false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// `step_cancelled`: a running attempt was cancelled (Ctrl-C, SIGTERM, an abort elsewhere).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepCancelled {}

/// What a person decided about a possibly-applied step at resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionAction {
    /// It took effect: count it as succeeded.
    AssumeDone,
    /// It did not: run it again.
    Rerun,
}

/// `decision`: how resume treats a step whose start is journaled but whose end is not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// Assume it done, or run it again.
    pub action: DecisionAction,
    /// Who decided.
    pub by: String,
    /// The flag given, or why no flag was needed (an idempotent step type).
    #[serde(default)]
    pub why: String,
}

/// `compensation_started`: a succeeded step's undo begins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompensationStarted {
    #[serde(rename = "type")]
    /// The compensation's step type.
    pub step_type: String,
}

/// `compensation_succeeded`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompensationSucceeded {}

/// `compensation_failed`: the undo failed after all its attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompensationFailed {
    /// The compensation's last error, redacted.
    pub error: String,
}

/// `cancel_requested`: Ctrl-C or SIGTERM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CancelRequested {
    /// What was received, e.g. `SIGTERM`.
    pub reason: String,
}

/// `run_finished`: the run's outcome. A resume may follow it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunFinished {
    /// How the run ended.
    pub outcome: Outcome,
    #[serde(default)]
    /// Ids of the steps whose failure made the outcome `failed`.
    pub failed_steps: Vec<String>,
    #[serde(default)]
    /// Wall time of this invocation (the start or one resume), in milliseconds.
    pub elapsed_ms: u64,
}

/// One list of event kinds makes [`EventKind`] (the journal's `event` field), [`Event`] and
/// their conversions, so a new kind is one line here plus its struct above.
macro_rules! events {
    ($($kind:ident = $name:literal),* $(,)?) => {
        /// What happened: the journal's `event` field. Each kind's `data` is the struct of the
        /// same name in this module.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum EventKind {
            $(#[doc = concat!("`", $name, "`: see [`", stringify!($kind), "`].")] $kind,)*
        }

        impl EventKind {
            /// Every kind, in journal-schema order.
            pub const ALL: &[EventKind] = &[$(EventKind::$kind,)*];

            /// The kind as the journal spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$kind => $name,)*
                }
            }
        }

        /// One journal event: its kind and typed `data`.
        // `RunStarted` is the big one and there is one per run: boxing it would buy nothing.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
        #[serde(tag = "event", content = "data", rename_all = "snake_case")]
        #[allow(
            clippy::large_enum_variant,
            reason = "an event lives only from its creation to its serialization; boxing RunStarted would buy nothing"
        )]
        pub enum Event {
            $(
                /// This kind with its typed `data`.
                $kind($kind),
            )*
        }

        impl Event {
            /// The journal's `event` field for this event.
            pub fn kind(&self) -> EventKind {
                match self {
                    $(Event::$kind(_) => EventKind::$kind,)*
                }
            }

            /// The journal's `data` field.
            pub fn data(&self) -> Json {
                match self {
                    $(Event::$kind(e) => serde_json::to_value(e),)*
                }
                .expect("an event is JSON")
            }

            /// Read a record's `data` as the event its `event` names.
            pub fn decode(kind: EventKind, data: &Json) -> Result<Event, serde_json::Error> {
                Ok(match kind {
                    $(EventKind::$kind => Event::$kind($kind::deserialize(data)?),)*
                })
            }
        }

        $(impl From<$kind> for Event {
            fn from(e: $kind) -> Event {
                Event::$kind(e)
            }
        })*
    };
}

events!(
    RunStarted = "run_started",
    RunResumed = "run_resumed",
    StepStarted = "step_started",
    Poll = "poll",
    Gate = "gate",
    Note = "note",
    AttemptFailed = "attempt_failed",
    StepSucceeded = "step_succeeded",
    StepFailed = "step_failed",
    StepSkipped = "step_skipped",
    StepCancelled = "step_cancelled",
    Decision = "decision",
    CompensationStarted = "compensation_started",
    CompensationSucceeded = "compensation_succeeded",
    CompensationFailed = "compensation_failed",
    CancelRequested = "cancel_requested",
    RunFinished = "run_finished",
);

impl Record {
    /// This record's typed event. Fails only on a line no ripcord wrote (a verified journal
    /// can still hold one if its writer was another program).
    pub fn event(&self) -> Result<Event, serde_json::Error> {
        Event::decode(self.event, &self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bytes the engine wrote before events were typed (the `json!` literals of the time):
    /// typed events must serialize to exactly these.
    #[test]
    fn typed_events_serialize_as_before() {
        let cases: Vec<(Event, Json)> = vec![
            (
                StepSkipped {
                    reason: "when is false".into(),
                    cause: SkipCause::When,
                    when: Some("params.x".into()),
                }
                .into(),
                json!({"reason": "when is false", "cause": "when", "when": "params.x"}),
            ),
            (
                StepSkipped {
                    reason: "r".into(),
                    cause: SkipCause::Blocked,
                    when: None,
                }
                .into(),
                json!({"reason": "r", "cause": "blocked"}),
            ),
            (StepCancelled {}.into(), json!({})),
            (
                AttemptFailed {
                    error: "e".into(),
                    retry_in_ms: None,
                }
                .into(),
                json!({"error": "e", "retry_in_ms": null}),
            ),
            (
                RunFinished {
                    outcome: Outcome::Failed,
                    failed_steps: vec!["a".into()],
                    elapsed_ms: 7,
                }
                .into(),
                json!({"outcome": "failed", "failed_steps": ["a"], "elapsed_ms": 7}),
            ),
            (
                StepFailed {
                    error: "x".into(),
                    on_failure: OnFailure::Continue,
                }
                .into(),
                json!({"error": "x", "on_failure": "continue"}),
            ),
            (
                Decision {
                    action: DecisionAction::AssumeDone,
                    by: "me".into(),
                    why: "--assume-done".into(),
                }
                .into(),
                json!({"action": "assume_done", "by": "me", "why": "--assume-done"}),
            ),
        ];
        for (event, want) in cases {
            let data = event.data();
            assert_eq!(
                serde_json::to_string(&data).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
            assert_eq!(Event::decode(event.kind(), &data).unwrap(), event);
        }
    }

    #[test]
    fn each_kind_is_spelled_as_serde_spells_it() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(EventKind::ALL.len(), 17);
    }

    #[test]
    fn a_payload_of_the_wrong_shape_is_an_error_not_a_default() {
        let err = Event::decode(EventKind::Gate, &json!({"name": 3})).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
