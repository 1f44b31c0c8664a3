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
    pub ok: bool,
    /// Records that verified (and are shown).
    pub events_verified: usize,
    /// 1-based line of the first bad line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The problem is an incomplete last line (a crash mid-write), not a changed line.
    pub torn_tail: bool,
}

impl Verification {
    pub fn verified(events: usize) -> Self {
        Self {
            ok: true,
            events_verified: events,
            line: None,
            reason: None,
            torn_tail: false,
        }
    }

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
    pub steps: HashMap<String, StepDef>,
}

#[derive(Clone, Debug, Default)]
pub struct StepDef {
    pub name: Option<String>,
    pub needs: Vec<String>,
    pub finally: bool,
    pub expected: Option<std::time::Duration>,
}

impl RunbookSteps {
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
    pub verification: Verification,
    pub run: Header,
    pub objectives: Objectives,
    pub critical_path: CriticalPath,
    pub steps: Vec<StepTimeline>,
    pub failures: Vec<Failure>,
    pub compensation: Vec<Compensation>,
    pub approvals: Vec<Approval>,
    pub checklist: Vec<ChecklistItem>,
    pub events: Vec<EventRow>,
    /// Microseconds from the first record to the last (for scales).
    #[serde(skip)]
    pub span_us: i64,
}

pub const SCHEMA: &str = "ripcord.timeline/v1";

#[derive(Clone, Debug, Serialize)]
pub struct Header {
    pub run_id: String,
    pub runbook: String,
    pub version: String,
    pub sha256: String,
    /// The runbook file as recorded at the start of the run.
    pub path: String,
    /// `user@host` of whoever started the run.
    pub started_by: String,
    /// Who continued it (`ripcord resume` / `retry`), in order.
    pub continued_by: Vec<Continuation>,
    pub severity: Option<String>,
    /// The DR plan's meaning of the severity (P0..P3).
    pub severity_meaning: Option<&'static str>,
    pub scenario: Option<String>,
    pub labels: serde_json::Value,
    pub params: serde_json::Value,
    pub dry_run: bool,
    pub ripcord_version: String,
    pub start: String,
    pub end: Option<String>,
    pub outcome: RunOutcome,
    pub failed_steps: Vec<String>,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// Where the critical path's `needs` came from.
    pub needs_from: NeedsFrom,
}

#[derive(Clone, Debug, Serialize)]
pub struct Continuation {
    pub mode: ripcord_engine::events::ResumeMode,
    pub by: String,
    pub at: String,
    pub retry: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Objectives {
    pub rto: Objective,
    pub rpo: Objective,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// RTO only: the run did not recover (failed, cancelled or unfinished).
    NotRecovered,
    /// The run recorded nothing to measure it by.
    NotMeasured,
    /// The runbook declares no target.
    NoTarget,
}

impl Verdict {
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

#[derive(Clone, Debug, Serialize)]
pub struct Objective {
    /// As written in the runbook, e.g. `15m`.
    pub target: Option<String>,
    #[serde(rename = "target_ms", serialize_with = "ser_ms_opt")]
    pub target_us: Option<i64>,
    #[serde(rename = "actual_ms", serialize_with = "ser_ms_opt")]
    pub actual_us: Option<i64>,
    pub verdict: Verdict,
    /// One sentence: what was measured and how, or why nothing was.
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CriticalPath {
    /// `runbook` (following `needs`) or `timing` (the step that ended last before each start).
    pub source: NeedsFrom,
    pub steps: Vec<PathStep>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PathStep {
    pub step: String,
    #[serde(rename = "start_ms", serialize_with = "ser_ms")]
    pub start_us: i64,
    #[serde(rename = "end_ms", serialize_with = "ser_ms")]
    pub end_us: i64,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration_us: i64,
    /// Time between the previous step on the path ending and this one starting.
    #[serde(rename = "waited_ms", serialize_with = "ser_ms")]
    pub waited_us: i64,
    pub attempts: u32,
}

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

#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    pub kind: SegmentKind,
    #[serde(rename = "start_ms", serialize_with = "ser_ms")]
    pub start_us: i64,
    #[serde(rename = "end_ms", serialize_with = "ser_ms")]
    pub end_us: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    GatePassed,
    GateFailed,
    Poll,
    Approved,
    Rejected,
}

#[derive(Clone, Debug, Serialize)]
pub struct Mark {
    pub kind: MarkKind,
    #[serde(rename = "at_ms", serialize_with = "ser_ms")]
    pub at_us: i64,
    pub label: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepTimeline {
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub step_type: Option<String>,
    pub effect: Option<String>,
    pub status: StepStatus,
    /// Null when no compensation ended.
    pub compensation: Option<StepCompensation>,
    pub finally: Option<bool>,
    #[serde(rename = "start_ms", serialize_with = "ser_ms_opt")]
    pub start_us: Option<i64>,
    #[serde(rename = "end_ms", serialize_with = "ser_ms_opt")]
    pub end_us: Option<i64>,
    /// First attempt's start to the step's end: attempts, polls, backoff and approvals.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    pub attempts: u32,
    pub on_critical_path: bool,
    pub segments: Vec<Segment>,
    pub marks: Vec<Mark>,
    /// Why it was skipped, or its final error.
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub at: String,
    #[serde(rename = "at_ms", serialize_with = "ser_ms")]
    pub at_us: i64,
    pub step: String,
    pub attempt: Option<u32>,
    pub kind: FailureKind,
    pub message: String,
    /// What happened next.
    pub then: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Compensation {
    pub step: String,
    pub started: String,
    pub ended: Option<String>,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
    pub outcome: CompensationOutcome,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Approval {
    pub step: String,
    pub prompt: Option<String>,
    pub waiting_since: Option<String>,
    pub decided_at: Option<String>,
    #[serde(rename = "waited_ms", serialize_with = "ser_ms_opt")]
    pub waited_us: Option<i64>,
    pub decision: ApprovalDecision,
    pub by: Option<String>,
    /// `cli`, `tty`, `flag`.
    pub via: Option<String>,
    pub refused: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChecklistItem {
    pub item: &'static str,
    pub done: bool,
    pub note: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    pub seq: u64,
    pub ts: String,
    #[serde(rename = "at_ms", serialize_with = "ser_ms")]
    pub at_us: i64,
    pub step: Option<String>,
    pub event: ripcord_engine::EventKind,
    pub attempt: Option<u32>,
    /// For ends: since the attempt (or compensation, or run) started.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms_opt")]
    pub duration_us: Option<i64>,
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
