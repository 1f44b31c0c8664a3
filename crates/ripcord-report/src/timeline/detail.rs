//! The `details` column of the events table: one line per typed event.

use ripcord_engine::Record;
use ripcord_engine::events::{self, DecisionAction, Event};
use ripcord_spec::model::OnFailure;

use super::fmt::human;
use super::payload::{Approved, NoteData, compact};
use super::status::resume_mode;

/// What a record says, in a line.
pub(super) fn detail(r: &Record, event: &Event) -> String {
    match event {
        Event::RunStarted(e) => run_started(e),
        Event::RunResumed(e) => {
            let mut out = format!("{} by {}@{}", resume_mode(e.mode), e.user, e.host);
            if let Some(step) = &e.retry {
                out.push_str(&format!(" of step {step}"));
            }
            out
        }
        Event::StepStarted(e) => {
            let mut out = format!(
                "attempt {} of {}; {}, {}",
                r.attempt.unwrap_or(1),
                e.attempts,
                e.step_type,
                e.effect
            );
            if e.dry_run {
                out.push_str(" (dry run)");
            }
            out
        }
        Event::Poll(e) => format!(
            "poll {}: {} {}",
            e.n,
            e.expr,
            if e.satisfied { "is true" } else { "not yet" }
        ),
        Event::Gate(e) => gate(e),
        Event::Note(e) => note(e),
        Event::AttemptFailed(e) => {
            let retry = match e.retry_in_ms {
                Some(ms) => format!(" (retry in {})", human(ms as i64 * 1000)),
                None => " (no retry)".into(),
            };
            format!("{}{retry}", e.error)
        }
        Event::StepSucceeded(e) => step_succeeded(e),
        Event::StepFailed(e) => match e.on_failure {
            OnFailure::Continue => format!("{} (on_failure: continue)", e.error),
            OnFailure::Abort => format!("{} (aborts the run)", e.error),
        },
        Event::StepSkipped(e) => e.reason.clone(),
        Event::Decision(e) => format!("{} by {}: {}", action(e.action), e.by, e.why),
        Event::CompensationStarted(e) => format!("undoing with {}", e.step_type),
        Event::CompensationFailed(e) => e.error.clone(),
        Event::CancelRequested(e) => format!("cancel requested ({})", e.reason),
        Event::RunFinished(e) => {
            if e.failed_steps.is_empty() {
                e.outcome.as_str().to_owned()
            } else {
                format!(
                    "{} (failed: {})",
                    e.outcome.as_str(),
                    e.failed_steps.join(", ")
                )
            }
        }
        Event::StepCancelled(_) | Event::CompensationSucceeded(_) => String::new(),
    }
}

/// A record whose `data` is not the shape its `event` has (no ripcord wrote it).
pub(super) fn unreadable(error: &serde_json::Error) -> String {
    format!("(data not readable: {error})")
}

/// The journal's spelling of a decision.
pub(super) fn action(a: DecisionAction) -> &'static str {
    match a {
        DecisionAction::AssumeDone => "assume_done",
        DecisionAction::Rerun => "rerun",
    }
}

fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>) -> String {
    map.into_iter()
        .map(|(k, v)| format!("{k}={}", compact(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_started(e: &events::RunStarted) -> String {
    let mut out = format!("{}@{} by {}@{}", e.runbook, e.version, e.user, e.host);
    let params = pairs(&e.params);
    if !params.is_empty() {
        out.push_str(&format!("; params: {params}"));
    }
    if e.dry_run {
        out.push_str("; DRY RUN");
    }
    out
}

fn gate(e: &events::Gate) -> String {
    match (e.passed, &e.message) {
        (true, _) => format!("gate \"{}\" passed ({})", e.name, e.expr),
        (false, Some(m)) => format!("gate \"{}\" FAILED: {m}", e.name),
        (false, None) => format!("gate \"{}\" FAILED ({} is false)", e.name, e.expr),
    }
}

fn note(e: &events::Note) -> String {
    match NoteData::of(e) {
        NoteData::ApprovalWaiting(w) => {
            let approvers = if w.approvers.is_empty() {
                "anyone".to_owned()
            } else {
                w.approvers.join(", ")
            };
            format!(
                "waiting for approval: \"{}\" (approvers: {approvers})",
                w.prompt.as_deref().unwrap_or("")
            )
        }
        NoteData::ApprovalRefused(r) => format!(
            "decision by {} refused: {}",
            r.by.as_deref().unwrap_or("?"),
            r.reason.as_deref().unwrap_or("")
        ),
        NoteData::ProcessStarted(p) => {
            format!("started `{}` (process group {})", p.program, p.pgid)
        }
        NoteData::Other { kind, data } => format!("{kind}: {}", compact(data)),
    }
}

fn step_succeeded(e: &events::StepSucceeded) -> String {
    if let Some(a) = Approved::of(&e.result) {
        return format!(
            "approved by {} at {} via {}",
            a.approved_by,
            a.approved_at.as_deref().unwrap_or("?"),
            a.via.as_deref().unwrap_or("?")
        );
    }
    match e.outputs.as_object() {
        Some(o) if !o.is_empty() => format!("outputs: {}", pairs(o)),
        _ => String::new(),
    }
}
