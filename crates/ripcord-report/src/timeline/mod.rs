//! Postmortem timelines from a run's journal: Markdown, self-contained HTML with an SVG Gantt,
//! and JSON; drill comparisons across runs; Prometheus textfile metrics of a run.
//!
//! [`build`] turns verified journal records into a [`Timeline`] (header, RTO/RPO verdicts,
//! events, per-step segments, the critical path actually taken, failures, compensation,
//! approvals and the DR plan's post-incident checklist). The renderers are pure functions of
//! that model: [`markdown`], [`html`], [`json`]. A journal that failed verification is still
//! rendered from the records that verified, under a banner in every format.
//!
//! Times inside the model are microseconds since the run's first record (fields `*_us`); JSON
//! shows them as milliseconds under the keys `*_ms` (fractional), next to the journal's own
//! RFC 3339 timestamps.

mod build;
mod checklist;
pub mod compare;
mod detail;
mod fmt;
mod gantt;
mod html;
mod markdown;
pub mod metrics;
mod objectives;
mod path;
mod payload;
mod sections;
mod status;

use std::collections::HashMap;

use serde::Serialize;

pub use build::build;
pub use html::html;
pub use markdown::markdown;
pub use status::{
    ApprovalDecision, CompensationOutcome, FailureKind, NeedsFrom, RunOutcome, StepCompensation,
    StepStatus,
};

/// What `journal::verify` said about the records handed to [`build`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// True when every record verified.
    pub ok: bool,
    /// Records that verified (and are shown).
    pub events_verified: usize,
    /// 1-based line of the first bad line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong with that line; `None` when `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The problem is an incomplete last line (a crash mid-write), not a changed line.
    pub torn_tail: bool,
}

impl Verification {
    /// Every one of `events` records verified.
    pub fn verified(events: usize) -> Self {
        Self {
            ok: true,
            events_verified: events,
            line: None,
            reason: None,
            torn_tail: false,
        }
    }

    /// `events` records verified, then line `line` (1-based) did not, for `reason`.
    pub fn failed(events: usize, line: usize, reason: impl Into<String>, torn_tail: bool) -> Self {
        Self {
            ok: false,
            events_verified: events,
            line: Some(line),
            reason: Some(reason.into()),
            torn_tail,
        }
    }

    /// From a `journal::verify` report.
    pub fn from_report(report: &ripcord_engine::journal::VerifyReport) -> Self {
        match &report.problem {
            None => Self::verified(report.records.len()),
            Some(p) => Self::failed(report.records.len(), p.line, &p.reason, p.torn_tail),
        }
    }

    /// The banner text shown on top of every format when verification failed.
    pub fn banner(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        let line = self.line.unwrap_or(0);
        let reason = self.reason.as_deref().unwrap_or("unknown problem");
        let what = if self.torn_tail {
            "the journal ends with an incomplete line (the writer was cut short, e.g. by a crash)"
        } else {
            "the journal was changed after it was written, or is damaged"
        };
        Some(format!(
            "JOURNAL FAILED VERIFICATION at line {line}: {reason}. {what}. Only the {} event(s) before line {line}, which verified, are shown; nothing from line {line} on can be trusted.",
            self.events_verified
        ))
    }
}

/// What the runbook file says about its steps, when it is available and unchanged (its SHA-256
/// matches the journal's): names, `needs` and phases. Without it the critical path is derived
/// from start and end times alone.
#[derive(Clone, Debug, Default)]
pub struct RunbookSteps {
    /// Each step by id.
    pub steps: HashMap<String, StepDef>,
}

/// One step as the runbook declares it.
#[derive(Clone, Debug, Default)]
pub struct StepDef {
    /// The step's `name:`, if it has one.
    pub name: Option<String>,
    /// Ids of the steps it `needs`.
    pub needs: Vec<String>,
    /// Declared under `finally:` (runs whatever happened before).
    pub finally: bool,
    /// Its `expected:` duration, if declared.
    pub expected: Option<std::time::Duration>,
}

impl RunbookSteps {
    /// From a validated runbook (the same file the journal's SHA-256 names).
    pub fn from_validated(v: &ripcord_spec::validate::Validated) -> Self {
        let steps = (0..v.steps.len())
            .map(|i| {
                let step = v.step(i);
                let def = StepDef {
                    name: step.name.clone(),
                    needs: v.steps[i]
                        .needs
                        .iter()
                        .map(|&n| v.step(n).id.clone())
                        .collect(),
                    finally: v.steps[i].phase == ripcord_spec::validate::Phase::Finally,
                    expected: step.expected.map(|d| d.0),
                };
                (step.id.clone(), def)
            })
            .collect();
        Self { steps }
    }
}

/// The story of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// `ripcord.timeline/v1`.
    pub schema: &'static str,
    /// Whether the journal verified; shown as a banner when not.
    pub verification: Verification,
    /// Who ran what, when, and how it ended.
    pub run: Header,
    /// RTO and RPO: targets, measured values, verdicts.
    pub objectives: Objectives,
    /// The chain of steps that determined the run's end.
    pub critical_path: CriticalPath,
    /// Every step the journal mentions, with its segments and marks.
    pub steps: Vec<StepTimeline>,
    /// Every failed attempt, step, gate or refused approval, in journal order.
    pub failures: Vec<Failure>,
    /// Every compensation (undo) of a step, started or ended.
    pub compensation: Vec<Compensation>,
    /// Every approval step: how long it waited and who decided.
    pub approvals: Vec<Approval>,
    /// The DR plan's post-incident checklist, ticked from what the journal shows.
    pub checklist: Vec<ChecklistItem>,
    /// One row per verified journal record.
    pub events: Vec<EventRow>,
    /// Microseconds from the first record to the last (for scales).
    #[serde(skip)]
    pub span_us: i64,
}

/// The `schema` of [`Timeline`] JSON.
pub const SCHEMA: &str = "ripcord.timeline/v1";

/// The run as a whole: identity, who ran it, labels, parameters and outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Header {
    /// The run id.
    pub run_id: String,
    /// The runbook's name (`?` when the start was not recorded, as for version and sha256).
    pub runbook: String,
    /// The runbook's version.
    pub version: String,
    /// SHA-256 (hex) of the runbook file as run.
    pub sha256: String,
    /// The runbook file as recorded at the start of the run.
    pub path: String,
    /// `user@host` of whoever started the run.
    pub started_by: String,
    /// Who continued it (`ripcord resume` / `retry`), in order.
    pub continued_by: Vec<Continuation>,
    /// The `severity` label, if the run has one.
    pub severity: Option<String>,
    /// The DR plan's meaning of the severity (P0..P3).
    pub severity_meaning: Option<&'static str>,
    /// The `scenario` label, if the run has one.
    pub scenario: Option<String>,
    /// The run's labels (a JSON object; empty when the start was not recorded).
    pub labels: serde_json::Value,
    /// The run's parameters as recorded at the start; null when the start was not recorded.
    pub params: serde_json::Value,
    /// Whether the run was a dry run.
    pub dry_run: bool,
    /// The ripcord version that started the run.
    pub ripcord_version: String,
    /// RFC 3339 timestamp of the first record.
    pub start: String,
    /// RFC 3339 timestamp of `run_finished`; `None` while unfinished.
    pub end: Option<String>,
    /// How the run ended (or that it has not).
    pub outcome: RunOutcome,
    /// Ids of the steps that failed.
    pub failed_steps: Vec<String>,
    /// Start to end in microseconds; `None` while unfinished.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// Where the critical path's `needs` came from.
    pub needs_from: NeedsFrom,
}

/// A `ripcord resume` or `ripcord retry` of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Continuation {
    /// Resume or retry.
    pub mode: ripcord_engine::events::ResumeMode,
    /// `user@host` of whoever continued it.
    pub by: String,
    /// RFC 3339 timestamp of the `run_resumed` record.
    pub at: String,
    /// The step a retry starts again from; `None` for a resume.
    pub retry: Option<String>,
}

/// The run's recovery objectives.
#[derive(Clone, Debug, Serialize)]
pub struct Objectives {
    /// Recovery time objective.
    pub rto: Objective,
    /// Recovery point objective.
    pub rpo: Objective,
}

/// Whether an objective was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The measured value is within the target.
    Met,
    /// The measured value exceeds the target.
    Missed,
    /// RTO only: the run did not recover (failed, cancelled or unfinished).
    NotRecovered,
    /// The run recorded nothing to measure it by.
    NotMeasured,
    /// The runbook declares no target.
    NoTarget,
}

impl Verdict {
    /// The verdict as text reports show it (`MISSED` in capitals).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::NotRecovered => "not met (the run did not recover)",
            Verdict::NotMeasured => "not measured",
            Verdict::NoTarget => "no target",
        }
    }
}

/// One objective (RTO or RPO): target, measurement, verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Objective {
    /// As written in the runbook, e.g. `15m`.
    pub target: Option<String>,
    /// The target in microseconds; `None` without a target.
    #[serde(rename = "target_ms", serialize_with = "ser_ms_opt")]
    pub target_us: Option<i64>,
    /// The measured value in microseconds; `None` when not measured.
    #[serde(rename = "actual_ms", serialize_with = "ser_ms_opt")]
    pub actual_us: Option<i64>,
    /// Met, missed, or why there is no verdict.
    pub verdict: Verdict,
    /// One sentence: what was measured and how, or why nothing was.
    pub explanation: String,
}

/// The steps, in order, whose ends the run's end waited for.
#[derive(Clone, Debug, Serialize)]
pub struct CriticalPath {
    /// `runbook` (following `needs`) or `timing` (the step that ended last before each start).
    pub source: NeedsFrom,
    /// First to last.
    pub steps: Vec<PathStep>,
}

/// One step on the critical path.
#[derive(Clone, Debug, Serialize)]
pub struct PathStep {
    /// The step id.
    pub step: String,
    /// Its first attempt's start (microseconds since the run's first record).
    #[serde(rename = "start_ms", serialize_with = "ser_ms")]
    pub start_us: i64,
    /// Its end (microseconds since the run's first record).
    #[serde(rename = "end_ms", serialize_with = "ser_ms")]
    pub end_us: i64,
    /// `end_us - start_us`.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration_us: i64,
    /// Time between the previous step on the path ending and this one starting.
    #[serde(rename = "waited_ms", serialize_with = "ser_ms")]
    pub waited_us: i64,
    /// Attempts it took.
    pub attempts: u32,
}

/// What a step was doing during a [`Segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// Queued: every `need` was done but the first attempt had not started (waiting for a
    /// free slot under `--max-parallel` or a family limit). Known only with the runbook.
    Waiting,
    /// An attempt that succeeded.
    Attempt,
    /// An attempt that failed.
    FailedAttempt,
    /// Between a failed attempt and the next one.
    Backoff,
    /// An approval step waiting for a person.
    ApprovalWait,
    /// Undoing the step.
    Compensation,
}

/// A span of a step's time, drawn as one bar of the Gantt chart.
#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    /// What the step was doing.
    pub kind: SegmentKind,
    /// Microseconds since the run's first record.
    #[serde(rename = "start_ms", serialize_with = "ser_ms")]
    pub start_us: i64,
    /// Microseconds since the run's first record.
    #[serde(rename = "end_ms", serialize_with = "ser_ms")]
    pub end_us: i64,
    /// The attempt a segment of an attempt belongs to; `None` for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// What a [`Mark`] on a step's bar records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// A gate (`verify`, `until`, ...) passed.
    GatePassed,
    /// A gate failed.
    GateFailed,
    /// A poll of a waiting step.
    Poll,
    /// An approval was given.
    Approved,
    /// An approval was rejected.
    Rejected,
}

/// An instant on a step's bar: a gate, a poll, a decision.
#[derive(Clone, Debug, Serialize)]
pub struct Mark {
    /// What happened.
    pub kind: MarkKind,
    /// Microseconds since the run's first record.
    #[serde(rename = "at_ms", serialize_with = "ser_ms")]
    pub at_us: i64,
    /// Text shown with it, e.g. `gate ready: passed` or `poll 3: ...`.
    pub label: String,
}

/// One step over the whole run.
#[derive(Clone, Debug, Serialize)]
pub struct StepTimeline {
    /// The step id.
    pub id: String,
    /// The runbook's `name:` for it, when the runbook is known.
    pub name: Option<String>,
    /// Its step type, e.g. `kube.pods.delete`; `None` if it never started.
    #[serde(rename = "type")]
    pub step_type: Option<String>,
    /// Its effect (`read`, `write`, ...) as recorded at its start; `None` if it never started.
    pub effect: Option<String>,
    /// Its final status.
    pub status: StepStatus,
    /// Null when no compensation ended.
    pub compensation: Option<StepCompensation>,
    /// Whether it is a `finally:` step; `None` without the runbook.
    pub finally: Option<bool>,
    /// Its first attempt's start (microseconds since the run's first record).
    #[serde(rename = "start_ms", serialize_with = "ser_ms_opt")]
    pub start_us: Option<i64>,
    /// Its end (microseconds since the run's first record); `None` if it did not end.
    #[serde(rename = "end_ms", serialize_with = "ser_ms_opt")]
    pub end_us: Option<i64>,
    /// First attempt's start to the step's end: attempts, polls, backoff and approvals.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// Attempts started.
    pub attempts: u32,
    /// Whether it is on [`Timeline::critical_path`].
    pub on_critical_path: bool,
    /// Its spans of time, in order.
    pub segments: Vec<Segment>,
    /// Its instants (gates, polls, decisions), in order.
    pub marks: Vec<Mark>,
    /// Why it was skipped, or its final error.
    pub detail: Option<String>,
}

/// Something that went wrong during the run.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// RFC 3339 timestamp of the record.
    pub at: String,
    /// Microseconds since the run's first record.
    #[serde(rename = "at_ms", serialize_with = "ser_ms")]
    pub at_us: i64,
    /// The step id.
    pub step: String,
    /// The attempt that failed, when an attempt did.
    pub attempt: Option<u32>,
    /// What failed: an attempt, a gate, the step, an approval refused, ...
    pub kind: FailureKind,
    /// The error or reason as recorded.
    pub message: String,
    /// What happened next.
    pub then: String,
}

/// The compensation (undo) of one step.
#[derive(Clone, Debug, Serialize)]
pub struct Compensation {
    /// The step compensated.
    pub step: String,
    /// RFC 3339 timestamp of its start.
    pub started: String,
    /// RFC 3339 timestamp of its end; `None` if it did not end.
    pub ended: Option<String>,
    /// Start to end in microseconds; `None` if it did not end.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// How it ended.
    pub outcome: CompensationOutcome,
    /// Its error, when it failed.
    pub error: Option<String>,
}

/// An approval step: the wait and the decision.
#[derive(Clone, Debug, Serialize)]
pub struct Approval {
    /// The step id.
    pub step: String,
    /// The prompt shown to approvers.
    pub prompt: Option<String>,
    /// RFC 3339 timestamp of when it started waiting.
    pub waiting_since: Option<String>,
    /// RFC 3339 timestamp of the decision; `None` while undecided.
    pub decided_at: Option<String>,
    /// Microseconds from waiting to decision; `None` while undecided.
    #[serde(rename = "waited_ms", serialize_with = "ser_ms_opt")]
    pub waited_us: Option<i64>,
    /// Approved, rejected, or still pending.
    pub decision: ApprovalDecision,
    /// Who decided.
    pub by: Option<String>,
    /// `cli`, `tty`, `flag`.
    pub via: Option<String>,
    /// Decisions refused (by someone not allowed to decide), each as
    /// `approval|rejection by WHO via HOW: reason`.
    pub refused: Vec<String>,
}

/// One item of the DR plan's post-incident checklist.
#[derive(Clone, Debug, Serialize)]
pub struct ChecklistItem {
    /// The item, e.g. `Document incident timeline`.
    pub item: &'static str,
    /// Whether the journal shows it done.
    pub done: bool,
    /// Why it is (not) done, or what is left to do.
    pub note: String,
}

/// One journal record, as a row of the event table.
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's RFC 3339 timestamp.
    pub ts: String,
    /// Microseconds since the run's first record.
    #[serde(rename = "at_ms", serialize_with = "ser_ms")]
    pub at_us: i64,
    /// The step it is about; `None` for run events.
    pub step: Option<String>,
    /// The event kind.
    pub event: ripcord_engine::EventKind,
    /// The attempt it is about, if any.
    pub attempt: Option<u32>,
    /// For ends: since the attempt (or compensation, or run) started.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// One line on what the record says.
    pub detail: String,
}

/// The JSON rendering: the whole model, pretty-printed, with a trailing newline.
pub fn json(timeline: &Timeline) -> String {
    let mut text = serde_json::to_string_pretty(timeline).expect("a timeline is JSON");
    text.push('\n');
    text
}

/// Microseconds as fractional milliseconds.
fn ms(us: i64) -> serde_json::Value {
    if us % 1000 == 0 {
        serde_json::Value::from(us / 1000)
    } else {
        serde_json::Value::from(us as f64 / 1000.0)
    }
}

fn ser_ms<S: serde::Serializer>(us: &i64, s: S) -> Result<S::Ok, S::Error> {
    ms(*us).serialize(s)
}

fn ser_ms_opt<S: serde::Serializer>(us: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    us.map(ms).serialize(s)
}
