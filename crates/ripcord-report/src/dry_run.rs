//! What a dry run would change and what it could not check, for the end-of-run summary (and
//! anything else that shows a dry run's journal as text).

use std::fmt::Write;

use ripcord_engine::Diff;
use ripcord_engine::state::{DryRunVerdict, RunState, StepStatus};

/// The "would change" and "not checked" sections of a dry run's summary.
pub(crate) fn sections(out: &mut String, state: &RunState, verdict: &DryRunVerdict) {
    let changes: Vec<(&str, &Diff)> = state
        .step_states()
        .filter(|(_, s)| s.status == StepStatus::Succeeded)
        .filter_map(|(id, s)| Some((id, s.dry_run.as_ref()?.diff.as_ref()?)))
        .collect();
    if !changes.is_empty() {
        let _ = writeln!(out, "\n  would change:");
        for (id, diff) in changes {
            write_diff(out, id, diff, "    ");
        }
    }
    if verdict.not_simulated.is_empty() && verdict.unknown_gates.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n  not checked by this dry run:");
    for (id, why) in &verdict.not_simulated {
        let _ = writeln!(out, "    {id}: {why}");
    }
    for (id, gate, why) in &verdict.unknown_gates {
        let _ = writeln!(out, "    {id}: gate `{gate}` unknown: {why}");
    }
}

/// A diff as indented lines: the step and summary, then each change's first items.
pub fn write_diff(out: &mut String, id: &str, diff: &Diff, indent: &str) {
    let _ = writeln!(out, "{indent}{id}: {}", diff.summary);
    for change in &diff.changes {
        let more = change.count.saturating_sub(change.items.len() as u64);
        for item in &change.items {
            let _ = writeln!(out, "{indent}  {} {item}", change.action);
        }
        if more > 0 {
            let _ = writeln!(out, "{indent}  {} ... and {more} more", change.action);
        }
    }
}
