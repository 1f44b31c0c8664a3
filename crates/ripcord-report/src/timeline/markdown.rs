//! The Markdown rendering: a postmortem document that reads well as plain text too.

use std::fmt::Write;

use super::fmt::{clock, human, md_cell, md_code, offset, offset_ms, stamp};
use super::{Timeline, Verdict};

/// The timeline as Markdown.
pub fn markdown(t: &Timeline) -> String {
    let mut out = String::with_capacity(256 + t.events.len() * 160);
    let h = &t.run;
    let _ = writeln!(
        out,
        "# Timeline of {}@{}: {}\n",
        h.runbook,
        h.version,
        outcome_word(&h.outcome)
    );
    if let Some(banner) = t.verification.banner() {
        let _ = writeln!(out, "> **⚠ {}**\n", md_cell(&banner));
    }
    if h.dry_run {
        let _ = writeln!(
            out,
            "> **Dry run**: mutations were only previewed; the objectives below are not a recovery.\n"
        );
    }

    let _ = writeln!(out, "| | |\n| --- | --- |");
    let _ = writeln!(out, "| Run | {} |", md_code(&h.run_id));
    let _ = writeln!(
        out,
        "| Runbook | {}@{} · sha256 {} |",
        md_cell(&h.runbook),
        md_cell(&h.version),
        md_code(&h.sha256)
    );
    let mut by = h.started_by.clone();
    for c in &h.continued_by {
        let _ = write!(by, "; {} by {} at {}", c.mode, c.by, stamp(&c.at));
    }
    let _ = writeln!(out, "| Run by | {} |", md_cell(&by));
    let severity = match (&h.severity, h.severity_meaning) {
        (Some(s), Some(m)) => format!("{s}: {m}"),
        (Some(s), None) => s.clone(),
        (None, _) => "not labelled (metadata.labels.severity)".into(),
    };
    let scenario = h
        .scenario
        .as_deref()
        .map(|s| format!(" · scenario {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| Severity | {}{} |",
        md_cell(&severity),
        md_cell(&scenario)
    );
    let _ = writeln!(out, "| Start | {} |", stamp(&h.start));
    let _ = writeln!(
        out,
        "| End | {} |",
        match (&h.end, h.duration_ms) {
            (Some(e), Some(d)) => format!("{} ({} after the start)", stamp(e), human(d)),
            _ => "never (no run_finished record)".into(),
        }
    );
    let failed = if h.failed_steps.is_empty() {
        String::new()
    } else {
        format!(
            " (failed: {})",
            h.failed_steps
                .iter()
                .map(|s| md_code(s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let _ = writeln!(out, "| Outcome | **{}**{} |", h.outcome, failed);
    if let Some(params) = h.params.as_object().filter(|p| !p.is_empty()) {
        let text = params
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "| Params | {} |", md_cell(&text));
    }
    let _ = writeln!(out, "| Journal | {} |", journal_line(t));

    let _ = writeln!(out, "\n## Objectives\n");
    let _ = writeln!(
        out,
        "| objective | target | actual | verdict |\n| --- | --- | --- | --- |"
    );
    for (name, o) in [("RTO", &t.objectives.rto), ("RPO", &t.objectives.rpo)] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            o.target.as_deref().unwrap_or("none"),
            o.actual_ms.map_or("not measured".into(), human),
            verdict_md(o.verdict)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "- **RTO**: {}", t.objectives.rto.explanation);
    let _ = writeln!(out, "- **RPO**: {}", t.objectives.rpo.explanation);

    let _ = writeln!(out, "\n## Critical path\n");
    let path = &t.critical_path;
    if path.steps.is_empty() {
        let _ = writeln!(out, "No step ran to an end.");
    } else {
        let _ = writeln!(
            out,
            "{}\n",
            if path.source == "runbook" {
                "The chain of steps that ended last, following `needs` from the runbook (its \
                 SHA-256 matches the journal): each step's latest-ending need."
            } else {
                "The chain of steps that ended last, derived from start and end times (the \
                 runbook file was not available unchanged): before each step, the step that \
                 ended last before it started."
            }
        );
        let chain = path
            .steps
            .iter()
            .map(|p| md_code(&p.step))
            .collect::<Vec<_>>()
            .join(" → ");
        let busy: i64 = path.steps.iter().map(|p| p.duration_ms).sum();
        let waited: i64 = path.steps.iter().map(|p| p.waited_ms).sum();
        let _ = writeln!(
            out,
            "{chain}\n\nSteps on the path ran for {}; the gaps between them add {}.\n",
            human(busy),
            human(waited)
        );
        let _ = writeln!(
            out,
            "| step | start | took | waited before | attempts |\n| --- | --- | --- | --- | --- |"
        );
        for p in &path.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md_code(&p.step),
                offset(p.start_ms),
                human(p.duration_ms),
                human(p.waited_ms),
                p.attempts
            );
        }
    }

    let _ = writeln!(out, "\n## Steps\n");
    let _ = writeln!(
        out,
        "| step | name | status | start | took | attempts | notes |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for s in &t.steps {
        let mut notes = Vec::new();
        if s.on_critical_path {
            notes.push("critical path".to_owned());
        }
        if let Some(c) = &s.compensation {
            notes.push(c.replace('_', " "));
        }
        if s.finally == Some(true) {
            notes.push("finally".into());
        }
        if let Some(d) = &s.detail {
            notes.push(d.clone());
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md_code(&s.id),
            md_cell(s.name.as_deref().unwrap_or("")),
            s.status,
            s.start_ms.map(offset).unwrap_or_default(),
            s.duration_ms.map(human).unwrap_or_default(),
            if s.attempts > 0 {
                s.attempts.to_string()
            } else {
                String::new()
            },
            md_cell(&notes.join("; "))
        );
    }

    let _ = writeln!(out, "\n## Failures\n");
    if t.failures.is_empty() {
        let _ = writeln!(out, "None recorded.");
    } else {
        let _ = writeln!(
            out,
            "| time | step | attempt | what failed | error | then |\n| --- | --- | --- | --- | --- | --- |"
        );
        for f in &t.failures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                offset_ms(f.at_ms),
                md_code(&f.step),
                f.attempt.map(|a| a.to_string()).unwrap_or_default(),
                f.kind.replace('_', " "),
                md_cell(&f.message),
                md_cell(&f.then)
            );
        }
    }

    let _ = writeln!(out, "\n## Approvals\n");
    if t.approvals.is_empty() {
        let _ = writeln!(out, "None in this run.");
    } else {
        let _ = writeln!(
            out,
            "| step | decision | by | via | waiting since | decided at | waited |\n| --- | --- | --- | --- | --- | --- | --- |"
        );
        for a in &t.approvals {
            let mut decision = a.decision.replace('_', " ");
            if !a.refused.is_empty() {
                let _ = write!(decision, " (refused before: {})", a.refused.join("; "));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md_code(&a.step),
                md_cell(&decision),
                md_cell(a.by.as_deref().unwrap_or("")),
                a.via.as_deref().unwrap_or(""),
                a.waiting_since
                    .as_deref()
                    .map(|w| clock(w, &h.start))
                    .unwrap_or_default(),
                a.decided_at
                    .as_deref()
                    .map(|w| clock(w, &h.start))
                    .unwrap_or_default(),
                a.waited_ms.map(human).unwrap_or_default()
            );
        }
    }

    let _ = writeln!(out, "\n## Compensation\n");
    if t.compensation.is_empty() {
        let _ = writeln!(out, "None ran.");
    } else {
        let _ = writeln!(
            out,
            "Succeeded steps were undone in reverse order:\n\n| step | started | took | outcome | error |\n| --- | --- | --- | --- | --- |"
        );
        for c in &t.compensation {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md_code(&c.step),
                clock(&c.started, &h.start),
                c.duration_ms.map(human).unwrap_or_default(),
                if c.outcome == "succeeded" {
                    c.outcome.clone()
                } else {
                    format!("**{}**", c.outcome)
                },
                md_cell(c.error.as_deref().unwrap_or(""))
            );
        }
    }

    let _ = writeln!(out, "\n## Post-incident checklist\n");
    let _ = writeln!(
        out,
        "From the DR plan; what this run's journal can answer is filled in.\n"
    );
    for item in &t.checklist {
        let _ = writeln!(
            out,
            "- [{}] **{}**: {}",
            if item.done { "x" } else { " " },
            item.item,
            item.note
        );
    }

    let _ = writeln!(out, "\n## Events\n");
    let _ = writeln!(
        out,
        "Times are UTC; the date is {}.\n",
        h.start.get(..10).unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "| # | time | since start | step | event | attempt | took | details |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for e in &t.events {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            e.seq,
            clock(&e.ts, &h.start),
            offset_ms(e.at_ms),
            e.step.as_deref().map(md_code).unwrap_or_default(),
            e.event,
            e.attempt.map(|a| a.to_string()).unwrap_or_default(),
            e.duration_ms.map(human).unwrap_or_default(),
            md_cell(&e.detail)
        );
    }
    if let Some(banner) = t.verification.banner() {
        let _ = writeln!(out, "\n> **⚠ {}**", md_cell(&banner));
    }
    out
}

pub(super) fn outcome_word(outcome: &str) -> String {
    match outcome {
        "succeeded" => "succeeded".into(),
        "unfinished" => "unfinished".into(),
        other => other.to_uppercase(),
    }
}

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

fn verdict_md(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "**MISSED**",
        Verdict::NotRecovered => "**not met** (the run did not recover)",
        Verdict::NotMeasured => "not measured by this run",
        Verdict::NoTarget => "no target",
    }
}
