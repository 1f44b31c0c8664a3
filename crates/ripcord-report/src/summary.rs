//! The summary printed when a run ends: one line per step from the journal, and the RTO verdict.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ripcord_engine::Record;
use ripcord_engine::events::{DecisionAction, RunStarted};
use ripcord_engine::state::{Remark, RunState, StepState, StepStatus};

use crate::text::{cell, truncate};

fn parse(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// A text summary of a run's records (at most 100 columns).
pub fn text(records: &[Record], verified: Result<(), String>) -> String {
    let mut out = String::new();
    let Some(first) = records.first() else {
        return "empty journal\n".into();
    };
    let state = RunState::replay(records);
    let run_start = parse(&first.ts);
    header(&mut out, &state, first, run_start);
    let _ = writeln!(
        out,
        "\n  {} {} {} {} try",
        cell("step", 26),
        cell("status", 10),
        cell("start", 8),
        cell("took", 8),
    );
    for (id, step) in state.step_states() {
        let line = row(id, step, run_start);
        let _ = writeln!(out, "{}", truncate(line.trim_end(), crate::plan::WIDTH));
    }
    let _ = writeln!(
        out,
        "\n  journal: {} events, {}",
        records.len(),
        match verified {
            Ok(()) => "hash chain verified".to_owned(),
            Err(e) => format!("VERIFICATION FAILED: {e}"),
        }
    );
    out
}

/// The run's lines: outcome and time, what ran by whom, the RTO verdict.
fn header(out: &mut String, state: &RunState, first: &Record, run_start: Option<DateTime<Utc>>) {
    // The latest end, even if a resume followed it: the summary tells what the run did last.
    let finished = state.last_finished.as_ref();
    let outcome = finished.map_or("unfinished", |f| f.event.outcome.as_str());
    let total = match (run_start, finished.and_then(|f| parse(&f.ts))) {
        (Some(a), Some(b)) => (b - a).to_std().ok(),
        _ => None,
    };
    let _ = writeln!(
        out,
        "Run {} {outcome}{}",
        first.run,
        total
            .map(|t| format!(" in {}", human(t)))
            .unwrap_or_default()
    );
    let started = state.started.as_ref().map(|s| &s.event);
    let field = |pick: fn(&RunStarted) -> &str| started.map_or("?", pick);
    let _ = writeln!(
        out,
        "  {}@{} · sha256 {} · by {}@{}",
        field(|s| &s.runbook),
        field(|s| &s.version),
        field(|s| &s.sha256).get(..12).unwrap_or("?"),
        field(|s| &s.user),
        field(|s| &s.host),
    );
    if let (Some(rto), Some(total)) = (state.rto(), total) {
        let verdict = if outcome != "succeeded" {
            "not met: the run did not succeed"
        } else if total <= rto {
            "met"
        } else {
            "MISSED"
        };
        let _ = writeln!(out, "  RTO {}: {verdict}", human(rto));
    }
}

/// One step's line: status, start offset, duration, attempts, the latest word on it.
fn row(id: &str, step: &StepState, run_start: Option<DateTime<Utc>>) -> String {
    let start = step
        .first_started
        .as_ref()
        .map(|ts| parse(ts).unwrap_or_default());
    let end = step.ended.as_deref().and_then(parse);
    let offset = match (run_start, start) {
        (Some(a), Some(b)) => (b - a)
            .to_std()
            .map(|d| format!("+{}", human(d)))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let took = match (start, end) {
        (Some(a), Some(b)) => (b - a).to_std().map(human).unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "  {} {} {} {} {:<3} {}",
        cell(id, 26),
        cell(status(step.status), 10),
        cell(&offset, 8),
        cell(&took, 8),
        if step.attempts > 0 {
            step.attempts.to_string()
        } else {
            String::new()
        },
        detail(step.remark.as_ref()).replace('\n', " ")
    )
}

/// The status column: a step being (or done being) compensated shows as succeeded, with its
/// compensation in the detail; one a resume decided to rerun shows as it was found.
fn status(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "pending",
        StepStatus::Running { .. }
        | StepStatus::AttemptFailed { .. }
        | StepStatus::Rerun { cancelled: false } => "running",
        StepStatus::Succeeded
        | StepStatus::Compensating
        | StepStatus::Compensated
        | StepStatus::CompensationFailed => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Skipped { .. } => "skipped",
        StepStatus::Cancelled { .. } | StepStatus::Rerun { cancelled: true } => "cancelled",
    }
}

fn detail(remark: Option<&Remark>) -> &str {
    match remark {
        None => "",
        Some(Remark::Decided(DecisionAction::AssumeDone)) => "assumed done at resume",
        Some(Remark::Decided(DecisionAction::Rerun)) => "rerun at resume",
        Some(Remark::Failed(error)) => error,
        Some(Remark::Skipped(reason)) => reason,
        Some(Remark::Compensated) => "compensated",
        Some(Remark::CompensationFailed(_)) => "compensation FAILED",
    }
}
