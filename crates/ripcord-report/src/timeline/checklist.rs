//! The DR plan's post-incident checklist, with what the journal can answer: one function per
//! item, in the plan's order.

use super::fmt::{human, md_code, offset, stamp};
use super::status::resume_mode;
use super::{
    ChecklistItem, CompensationOutcome, FailureKind, MarkKind, Objective, RunOutcome, RunbookSteps,
    Timeline, Verdict,
};

/// The checklist of a built timeline (everything but the checklist itself).
pub(super) fn checklist(t: &Timeline, runbook: Option<&RunbookSteps>) -> Vec<ChecklistItem> {
    vec![
        document_timeline(t),
        root_cause(t),
        update_runbooks(t, runbook),
        monitoring(t),
        postmortem(t),
        open(
            "Share lessons learned",
            "open; share this document (`ripcord timeline RUN --format html` for a page)".into(),
        ),
        dr_plan(t),
        follow_up(t),
    ]
}

fn open(item: &'static str, note: String) -> ChecklistItem {
    ChecklistItem {
        item,
        done: false,
        note,
    }
}

fn document_timeline(t: &Timeline) -> ChecklistItem {
    let v = &t.verification;
    ChecklistItem {
        item: "Document incident timeline",
        done: v.ok,
        note: if v.ok {
            format!(
                "done (this document), from journal {} ({} events, hash chain verified)",
                md_code(&t.run.run_id),
                v.events_verified
            )
        } else {
            format!(
                "NOT done: this document covers only the {} event(s) that verified; the journal \
                 failed verification at line {}. Find out why before relying on it.",
                v.events_verified,
                v.line.unwrap_or(0)
            )
        },
    }
}

fn root_cause(t: &Timeline) -> ChecklistItem {
    let first = t.failures.first();
    let last_step_failure = t
        .failures
        .iter()
        .rev()
        .find(|f| f.kind == FailureKind::Step);
    let note = match (first, last_step_failure) {
        (None, _) => "open; the run recorded no failure, so the cause lies outside this run".into(),
        (Some(f), Some(l)) if f.step != l.step || f.at != l.at => format!(
            "open; evidence: first failure {} at {}: {}; the run's failure: {}: {}",
            md_code(&f.step),
            offset(f.at_us),
            one_line(&f.message),
            md_code(&l.step),
            one_line(&l.message)
        ),
        (Some(f), _) => format!(
            "open; evidence: first failure {} at {}: {}",
            md_code(&f.step),
            offset(f.at_us),
            one_line(&f.message)
        ),
    };
    open("Identify root cause", note)
}

fn update_runbooks(t: &Timeline, runbook: Option<&RunbookSteps>) -> ChecklistItem {
    let mut hints = Vec::new();
    for step in &t.steps {
        let id = md_code(&step.id);
        if step.attempts > 1 {
            hints.push(format!("{id} needed {} attempts", step.attempts));
        }
        if step.marks.iter().any(|m| m.kind == MarkKind::GateFailed) {
            hints.push(format!("a gate of {id} failed"));
        }
        let expected = runbook
            .and_then(|rb| rb.steps.get(&step.id))
            .and_then(|d| d.expected)
            .map(|e| e.as_micros() as i64);
        if let (Some(d), Some(expected)) = (step.duration_us, expected)
            && expected > 0
            && d > expected * 2
        {
            hints.push(format!(
                "{id} took {} (expected {})",
                human(d),
                human(expected)
            ));
        }
    }
    let note = if hints.is_empty() {
        "open; nothing in this run points at the runbook".into()
    } else {
        format!("open; candidates from this run: {}", hints.join("; "))
    };
    open("Update runbooks if needed", note)
}

fn monitoring(t: &Timeline) -> ChecklistItem {
    let note = if t.objectives.rpo.verdict == Verdict::NotMeasured {
        "open; this run did not record the backup's age: add a step that reads it, and \
         export run metrics with `ripcord run --metrics-file`"
    } else {
        "open; run metrics can be exported with `ripcord run --metrics-file`"
    };
    open("Review and improve monitoring", note.into())
}

fn postmortem(t: &Timeline) -> ChecklistItem {
    let mut people = vec![format!("{} (ran it)", user_of(&t.run.started_by))];
    for c in &t.run.continued_by {
        people.push(format!(
            "{} ({} at {})",
            user_of(&c.by),
            resume_mode(c.mode),
            stamp(&c.at)
        ));
    }
    for a in &t.approvals {
        if let Some(by) = &a.by {
            people.push(format!("{by} ({} {})", a.decision, md_code(&a.step)));
        }
    }
    open(
        "Conduct blameless postmortem",
        format!("open; people in this run: {}", people.join(", ")),
    )
}

fn dr_plan(t: &Timeline) -> ChecklistItem {
    let verdict = |name: &str, o: &Objective| match (o.verdict, o.actual_us, o.target.as_deref()) {
        (Verdict::Met, Some(a), Some(tg)) => format!("{name} met ({} of {tg})", human(a)),
        (Verdict::Missed, Some(a), Some(tg)) => {
            format!("{name} MISSED ({} against {tg})", human(a))
        }
        (v, _, _) => format!("{name} {}", v.as_str()),
    };
    open(
        "Update DR plan if needed",
        format!(
            "open; {}; {}",
            verdict("RTO", &t.objectives.rto),
            verdict("RPO", &t.objectives.rpo)
        ),
    )
}

fn follow_up(t: &Timeline) -> ChecklistItem {
    let mut follow = Vec::new();
    let undone: Vec<String> = t
        .compensation
        .iter()
        .filter(|c| c.outcome == CompensationOutcome::Succeeded)
        .map(|c| md_code(&c.step))
        .collect();
    if !undone.is_empty() {
        follow.push(format!(
            "the run was rolled back by compensation ({}): the recovery itself is still to be done",
            undone.join(", ")
        ));
    }
    for c in t
        .compensation
        .iter()
        .filter(|c| c.outcome != CompensationOutcome::Succeeded)
    {
        follow.push(format!(
            "compensation of {} {}: clean up by hand",
            md_code(&c.step),
            c.outcome
        ));
    }
    if t.run.outcome == RunOutcome::Unfinished {
        follow.push("the run never finished: `ripcord resume` it or close it out".into());
    }
    let note = if follow.is_empty() {
        "open".into()
    } else {
        format!("open; {}", follow.join("; "))
    };
    open("Schedule follow-up actions", note)
}

fn user_of(user_at_host: &str) -> &str {
    user_at_host.split('@').next().unwrap_or(user_at_host)
}

fn one_line(s: &str) -> String {
    s.trim().replace('\n', " ")
}
