//! The summary printed when a run ends: one line per step from the journal, and the RTO verdict.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ripcord_engine::Observed;
use ripcord_engine::Record;
use ripcord_engine::events::{DecisionAction, RunStarted};
use ripcord_engine::state::{DryRunVerdict, Remark, RunState, StepState, StepStatus};

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
    let verdict = state.dry_run_verdict();
    header(&mut out, &state, verdict.as_ref(), first, run_start);
    let width = if verdict.is_some() { 13 } else { 10 };
    let _ = writeln!(
        out,
        "\n  {} {} {} {} try",
        cell("step", 26),
        cell("status", width),
        cell("start", 8),
        cell("took", 8),
    );
    for (id, step) in state.step_states() {
        let line = row(id, step, run_start, width);
        let _ = writeln!(out, "{}", truncate(line.trim_end(), crate::plan::WIDTH));
    }
    if let Some(verdict) = &verdict {
        crate::dry_run::sections(&mut out, &state, verdict);
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
fn header(
    out: &mut String,
    state: &RunState,
    verdict: Option<&DryRunVerdict>,
    first: &Record,
    run_start: Option<DateTime<Utc>>,
) {
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
    if let Some(verdict) = verdict {
        let _ = writeln!(out, "  dry run: {}", verdict.line());
        if let Some(rto) = state.rto() {
            let _ = writeln!(out, "  RTO {}: not measured in a dry run", human(rto));
        }
        return;
    }
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
fn row(id: &str, step: &StepState, run_start: Option<DateTime<Utc>>, width: usize) -> String {
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
        cell(dry_run_status(step).unwrap_or(status(step.status)), width),
        cell(&offset, 8),
        cell(&took, 8),
        if step.attempts > 0 {
            step.attempts.to_string()
        } else {
            String::new()
        },
        dry_run_detail(step)
            .unwrap_or_else(|| detail(step.remark.as_ref()).to_owned())
            .replace('\n', " ")
    )
}

/// A dry-run success shows what it observed instead of `succeeded`.
fn dry_run_status(step: &StepState) -> Option<&'static str> {
    let report = step
        .dry_run
        .as_ref()
        .filter(|_| step.status == StepStatus::Succeeded)?;
    Some(match report.observed {
        Observed::Ran => "ran",
        Observed::Validated => "validated",
        Observed::NotSimulated => "not simulated",
    })
}

/// A dry-run success's detail: why it was not simulated, what it would change, what it could
/// not judge.
fn dry_run_detail(step: &StepState) -> Option<String> {
    let report = step
        .dry_run
        .as_ref()
        .filter(|_| step.status == StepStatus::Succeeded)?;
    let mut parts = Vec::new();
    if report.predicted {
        parts.push("on predicted state".to_owned());
    }
    if let Some(diff) = &report.diff {
        parts.push(diff.summary.clone());
    }
    if let Some(reason) = &report.reason {
        parts.push(reason.clone());
    }
    for (gate, _) in &step.unknown_gates {
        parts.push(format!("gate `{gate}` unknown"));
    }
    Some(parts.join(" · "))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_engine::EventKind;
    use serde_json::{Value as Json, json};

    fn rec(
        records: &mut Vec<Record>,
        step: Option<&str>,
        attempt: Option<u32>,
        kind: &str,
        data: Json,
    ) {
        let seq = records.len() as u64 + 1;
        records.push(Record {
            seq,
            ts: format!("2026-01-01T00:00:{seq:02}.000000Z"),
            run: "r".into(),
            step: step.map(Into::into),
            attempt,
            event: serde_json::from_value::<EventKind>(json!(kind)).unwrap(),
            data,
            prev: String::new(),
            hash: String::new(),
        });
    }

    /// A failed run, retried, cancelled: every status and detail a step can show (the same
    /// text the summary printed before it read the run through `RunState`).
    #[test]
    fn a_retried_then_cancelled_run() {
        let st = json!({"type": "core.shell", "effect": "write", "idempotent": false,
            "timeout_ms": 1000, "attempts": 2});
        let mut j = Vec::new();
        let j = &mut j;
        rec(
            j,
            None,
            None,
            "run_started",
            json!({"runbook": "rb", "version": "1.0.0",
            "sha256": "0123456789abcdef", "user": "u", "host": "h", "rto": "1s"}),
        );
        rec(j, Some("a"), Some(1), "step_started", st.clone());
        rec(
            j,
            Some("a"),
            Some(1),
            "attempt_failed",
            json!({"error": "e1", "retry_in_ms": 5}),
        );
        rec(j, Some("a"), Some(2), "step_started", st.clone());
        rec(
            j,
            Some("a"),
            Some(2),
            "step_failed",
            json!({"error": "e2\nline"}),
        );
        rec(
            j,
            Some("b"),
            None,
            "step_skipped",
            json!({"reason": "blocked", "cause": "blocked"}),
        );
        rec(j, Some("c"), Some(1), "step_started", st.clone());
        rec(
            j,
            Some("c"),
            Some(1),
            "step_succeeded",
            json!({"outputs": {}}),
        );
        rec(j, Some("d"), Some(1), "step_started", st.clone());
        rec(j, Some("e"), Some(1), "step_started", st.clone());
        rec(
            j,
            Some("c"),
            None,
            "compensation_started",
            json!({"type": "core.shell"}),
        );
        rec(j, Some("c"), None, "compensation_succeeded", json!({}));
        rec(j, None, None, "run_finished", json!({"outcome": "failed"}));
        rec(j, None, None, "run_resumed", json!({"mode": "retry"}));
        rec(
            j,
            Some("d"),
            None,
            "decision",
            json!({"action": "assume_done", "by": "u"}),
        );
        rec(
            j,
            Some("e"),
            None,
            "decision",
            json!({"action": "rerun", "by": "u"}),
        );
        // Cancelled before their attempts started: the step keeps its last word.
        rec(j, Some("a"), Some(1), "step_cancelled", json!({}));
        rec(j, Some("b"), Some(1), "step_cancelled", json!({}));
        rec(
            j,
            Some("d"),
            None,
            "compensation_started",
            json!({"type": "core.shell"}),
        );
        rec(
            j,
            Some("d"),
            None,
            "compensation_failed",
            json!({"error": "x"}),
        );
        rec(j, Some("f"), None, "note", json!({"kind": "k"}));
        rec(
            j,
            Some("g"),
            None,
            "step_skipped",
            json!({"reason": "when is false", "cause": "when", "when": "x"}),
        );
        rec(j, Some("e"), None, "step_cancelled", json!({}));
        rec(
            j,
            None,
            None,
            "run_finished",
            json!({"outcome": "cancelled"}),
        );
        let want = "\
Run r cancelled in 23.0s
  rb@1.0.0 · sha256 0123456789ab · by u@h
  RTO 1.0s: not met: the run did not succeed

  step                       status     start    took     try
  a                          cancelled  +1.0s    15.0s    2   e2 line
  b                          cancelled                        blocked
  c                          succeeded  +6.0s    1.0s     1   compensated
  d                          succeeded  +8.0s             1   compensation FAILED
  e                          cancelled  +9.0s    13.0s    1   rerun at resume
  f                          pending
  g                          skipped                          when is false

  journal: 24 events, hash chain verified
";
        assert_eq!(text(j, Ok(())), want);
    }
}
