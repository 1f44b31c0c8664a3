//! What the Markdown and HTML renderings share: the list of sections in document order, each
//! rendered by one method of a [`Sections`] format, and the text both put in their cells.

use std::fmt::Write;

use super::fmt::{clock, human, stamp};
use super::status::resume_mode;
use super::{Approval, Header, RunOutcome, StepTimeline, Timeline};

/// The sections after the header facts, in document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Section {
    Objectives,
    Gantt,
    CriticalPath,
    Steps,
    Failures,
    Approvals,
    Compensation,
    Checklist,
    Events,
}

const SECTIONS: [Section; 9] = [
    Section::Objectives,
    Section::Gantt,
    Section::CriticalPath,
    Section::Steps,
    Section::Failures,
    Section::Approvals,
    Section::Compensation,
    Section::Checklist,
    Section::Events,
];

impl Section {
    pub(super) fn title(self) -> &'static str {
        match self {
            Section::Objectives => "Objectives",
            Section::Gantt => "Gantt",
            Section::CriticalPath => "Critical path",
            Section::Steps => "Steps",
            Section::Failures => "Failures",
            Section::Approvals => "Approvals",
            Section::Compensation => "Compensation",
            Section::Checklist => "Post-incident checklist",
            Section::Events => "Events",
        }
    }

    /// The HTML anchor.
    pub(super) fn id(self) -> &'static str {
        match self {
            Section::Objectives => "objectives",
            Section::Gantt => "gantt",
            Section::CriticalPath => "critical-path",
            Section::Steps => "steps",
            Section::Failures => "failures",
            Section::Approvals => "approvals",
            Section::Compensation => "compensation",
            Section::Checklist => "checklist",
            Section::Events => "events",
        }
    }

    /// What the section says when it has nothing to list.
    pub(super) fn when_empty(self) -> &'static str {
        match self {
            Section::CriticalPath => "No step ran to an end.",
            Section::Failures => "None recorded.",
            Section::Approvals => "None in this run.",
            Section::Compensation => "None ran.",
            _ => "",
        }
    }
}

/// One format's rendering of each section; [`render`] calls them in order.
pub(super) trait Sections {
    /// Title, banner, and the header facts.
    fn top(&mut self, t: &Timeline);
    fn objectives(&mut self, t: &Timeline);
    /// Only where a drawing fits.
    fn gantt(&mut self, _t: &Timeline) {}
    fn critical_path(&mut self, t: &Timeline);
    fn steps(&mut self, t: &Timeline);
    fn failures(&mut self, t: &Timeline);
    fn approvals(&mut self, t: &Timeline);
    fn compensation(&mut self, t: &Timeline);
    fn checklist(&mut self, t: &Timeline);
    fn events(&mut self, t: &Timeline);
    /// The banner again, a footer.
    fn bottom(&mut self, t: &Timeline);
}

pub(super) fn render(f: &mut impl Sections, t: &Timeline) {
    f.top(t);
    for section in SECTIONS {
        match section {
            Section::Objectives => f.objectives(t),
            Section::Gantt => f.gantt(t),
            Section::CriticalPath => f.critical_path(t),
            Section::Steps => f.steps(t),
            Section::Failures => f.failures(t),
            Section::Approvals => f.approvals(t),
            Section::Compensation => f.compensation(t),
            Section::Checklist => f.checklist(t),
            Section::Events => f.events(t),
        }
    }
    f.bottom(t);
}

pub(super) const CHECKLIST_INTRO: &str =
    "From the DR plan; what this run's journal can answer is filled in.";
pub(super) const COMPENSATION_INTRO: &str = "Succeeded steps were undone in reverse order:";

/// `Timeline of db-restore@2.0.0: FAILED`.
pub(super) fn title(h: &Header) -> String {
    format!(
        "Timeline of {}@{}: {}",
        h.runbook,
        h.version,
        outcome_word(h.outcome)
    )
}

/// A run that did not succeed says so in capitals (unless it simply has no end yet).
fn outcome_word(outcome: RunOutcome) -> String {
    match outcome {
        RunOutcome::Succeeded | RunOutcome::Unfinished => outcome.as_str().into(),
        other => other.as_str().to_uppercase(),
    }
}

/// What verification said, with Markdown emphasis on a failure.
pub(super) fn journal_line(t: &Timeline) -> String {
    if t.verification.ok {
        format!(
            "{} events, hash chain verified",
            t.verification.events_verified
        )
    } else {
        format!(
            "**FAILED VERIFICATION** at line {}: {} events verified",
            t.verification.line.unwrap_or(0),
            t.verification.events_verified
        )
    }
}

/// Who started the run, and who continued it when.
pub(super) fn run_by(h: &Header) -> String {
    let mut by = h.started_by.clone();
    for c in &h.continued_by {
        let _ = write!(
            by,
            "; {} by {} at {}",
            resume_mode(c.mode),
            c.by,
            stamp(&c.at)
        );
    }
    by
}

/// ` · scenario X`, or nothing.
pub(super) fn scenario(h: &Header) -> String {
    h.scenario
        .as_deref()
        .map(|s| format!(" · scenario {s}"))
        .unwrap_or_default()
}

/// `k=v, k=v`, when the run had params.
pub(super) fn params(h: &Header) -> Option<String> {
    let params = h.params.as_object().filter(|p| !p.is_empty())?;
    Some(
        params
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// ` (failed: a, b)` with each step as `code` makes it, or nothing.
pub(super) fn failed_steps(h: &Header, code: impl Fn(&str) -> String) -> String {
    if h.failed_steps.is_empty() {
        return String::new();
    }
    let steps: Vec<String> = h.failed_steps.iter().map(|s| code(s)).collect();
    format!(" (failed: {})", steps.join(", "))
}

/// The notes column of the steps table.
pub(super) fn step_notes(s: &StepTimeline) -> String {
    let mut notes = Vec::new();
    if s.on_critical_path {
        notes.push("critical path".to_owned());
    }
    if let Some(c) = s.compensation {
        notes.push(c.as_str().replace('_', " "));
    }
    if s.finally == Some(true) {
        notes.push("finally".into());
    }
    if let Some(d) = &s.detail {
        notes.push(d.clone());
    }
    notes.join("; ")
}

/// The decision column of the approvals table.
pub(super) fn approval_decision(a: &Approval) -> String {
    let mut decision = a.decision.as_str().replace('_', " ");
    if !a.refused.is_empty() {
        let _ = write!(decision, " (refused before: {})", a.refused.join("; "));
    }
    decision
}

/// A timestamp as a time of day (with the date when not the run's start date), or nothing.
pub(super) fn clock_of(ts: Option<&str>, h: &Header) -> String {
    ts.map(|w| clock(w, &h.start)).unwrap_or_default()
}

/// `Times are UTC; the date is 2026-11-25.`
pub(super) fn events_intro(h: &Header) -> String {
    format!(
        "Times are UTC; the date is {}.",
        h.start.get(..10).unwrap_or("?")
    )
}

/// A duration, or an empty cell.
pub(super) fn took(us: Option<i64>) -> String {
    us.map(human).unwrap_or_default()
}

/// A number, or an empty cell.
pub(super) fn number(n: Option<u32>) -> String {
    n.map(|a| a.to_string()).unwrap_or_default()
}

/// A step's attempts, empty when it never started.
pub(super) fn attempts(n: u32) -> String {
    number((n > 0).then_some(n))
}
