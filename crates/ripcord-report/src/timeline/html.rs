//! The HTML rendering: one self-contained page (inline CSS and SVG, no script, no fonts or
//! anything else fetched), readable on screen and printable.

use std::fmt::Write;

use super::fmt::{clock, html_escape as esc, human, offset, offset_ms, stamp};
use super::markdown::{journal_line, outcome_word};
use super::{Timeline, Verdict};

const CSS: &str = r#"
:root { --fg:#1b1f23; --muted:#57606a; --line:#d0d7de; --bg:#ffffff; --soft:#f6f8fa;
  --ok:#1a7f37; --bad:#cf222e; --warn:#9a6700; --accent:#0d47a1; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
code { background: var(--soft); padding: 1px 4px; border-radius: 4px; }
.subtitle { color: var(--muted); margin: 0 0 16px; }
.banner { border: 3px solid var(--bad); background: #ffebe9; color: #82071e; padding: 14px 18px;
  font-weight: 700; font-size: 17px; border-radius: 6px; margin: 0 0 20px; }
.banner.bottom { margin-top: 28px; }
.note { border-left: 4px solid var(--warn); background: #fff8c5; padding: 8px 12px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.outcome-succeeded { color: var(--ok); font-weight: 700; }
.outcome-failed, .outcome-cancelled, .outcome-unfinished { color: var(--bad); font-weight: 700; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.card h3 { margin: 0 0 6px; font-size: 16px; }
.card .figure { font-size: 22px; font-weight: 700; }
.card.met { border-left: 6px solid var(--ok); }
.card.missed, .card.not_recovered { border-left: 6px solid var(--bad); }
.card.not_measured, .card.no_target { border-left: 6px solid var(--warn); }
.verdict { font-weight: 700; }
.met .verdict { color: var(--ok); } .missed .verdict, .not_recovered .verdict { color: var(--bad); }
.not_measured .verdict, .no_target .verdict { color: var(--warn); }
.gantt-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; padding: 6px 0; }
svg.gantt { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--soft); position: sticky; top: 0; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.detail { white-space: pre-wrap; word-break: break-word; }
tr.ev-step_failed td, tr.ev-attempt_failed td, tr.ev-compensation_failed td, tr.gate-failed td { background: #ffebe9; }
tr.ev-step_succeeded td.event { color: var(--ok); }
tr.ev-compensation_started td, tr.ev-compensation_succeeded td { background: #f5eefa; }
tr.ev-run_started td, tr.ev-run_finished td, tr.ev-run_resumed td { font-weight: 600; }
.path { font-size: 15px; }
.path .arrow { color: var(--muted); padding: 0 4px; }
ul.checklist { list-style: none; padding-left: 0; }
ul.checklist li { padding: 3px 0 3px 30px; position: relative; }
ul.checklist li::before { content: "☐"; position: absolute; left: 4px; font-size: 18px; line-height: 1.2; }
ul.checklist li.done::before { content: "☑"; color: var(--ok); }
footer { margin-top: 36px; color: var(--muted); font-size: 12.5px; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .gantt-wrap { overflow: visible; border: none; }
  svg.gantt { width: 100%; }
  th { position: static; }
  thead { display: table-header-group; }
  tr, .card, svg.gantt { break-inside: avoid; page-break-inside: avoid; }
  table { font-size: 8.5pt; }
}
"#;

/// Text with Markdown-style `code` spans turned into `<code>`.
fn rich(s: &str) -> String {
    let escaped = esc(s);
    if s.contains("``") {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    for (n, part) in escaped.split('`').enumerate() {
        if n % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    if escaped.matches('`').count() % 2 == 1 {
        return escaped;
    }
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "missed",
        Verdict::NotRecovered => "not_recovered",
        Verdict::NotMeasured => "not_measured",
        Verdict::NoTarget => "no_target",
    }
}

/// The timeline as one self-contained HTML page.
pub fn html(t: &Timeline) -> String {
    let h = &t.run;
    let mut o = String::with_capacity(16_384 + t.events.len() * 420);
    let title = format!(
        "Timeline of {}@{}: {}",
        h.runbook,
        h.version,
        outcome_word(&h.outcome)
    );
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"ripcord timeline\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    );
    let banner = t.verification.banner();
    if let Some(b) = &banner {
        let _ = writeln!(o, "<div class=\"banner\" role=\"alert\">⚠ {}</div>", esc(b));
    }
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        o,
        "<p class=\"subtitle\">Postmortem timeline of run <code>{}</code>, from its journal.</p>",
        esc(&h.run_id)
    );
    if h.dry_run {
        let _ = writeln!(
            o,
            "<p class=\"note\"><strong>Dry run</strong>: mutations were only previewed; the objectives below are not a recovery.</p>"
        );
    }

    // Header facts.
    let _ = writeln!(o, "<dl class=\"facts\">");
    let fact = |o: &mut String, k: &str, v: String| {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{v}</dd>");
    };
    fact(
        &mut o,
        "Runbook",
        format!(
            "{}@{} · sha256 <code>{}</code>",
            esc(&h.runbook),
            esc(&h.version),
            esc(&h.sha256)
        ),
    );
    let mut by = esc(&h.started_by);
    for c in &h.continued_by {
        let _ = write!(
            by,
            "; {} by {} at {}",
            esc(&c.mode),
            esc(&c.by),
            esc(&stamp(&c.at))
        );
    }
    fact(&mut o, "Run by", by);
    fact(
        &mut o,
        "Severity",
        match (&h.severity, h.severity_meaning) {
            (Some(s), Some(m)) => format!("<strong>{}</strong>: {}", esc(s), esc(m)),
            (Some(s), None) => esc(s),
            (None, _) => "not labelled (<code>metadata.labels.severity</code>)".into(),
        } + &h
            .scenario
            .as_deref()
            .map(|s| format!(" · scenario {}", esc(s)))
            .unwrap_or_default(),
    );
    fact(&mut o, "Start", esc(&stamp(&h.start)));
    fact(
        &mut o,
        "End",
        match (&h.end, h.duration_ms) {
            (Some(e), Some(d)) => format!("{} ({} after the start)", esc(&stamp(e)), human(d)),
            _ => "never (no <code>run_finished</code> record)".into(),
        },
    );
    let failed = if h.failed_steps.is_empty() {
        String::new()
    } else {
        format!(
            " (failed: {})",
            h.failed_steps
                .iter()
                .map(|s| format!("<code>{}</code>", esc(s)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    fact(
        &mut o,
        "Outcome",
        format!(
            "<span class=\"outcome-{}\">{}</span>{failed}",
            esc(&h.outcome),
            esc(&h.outcome)
        ),
    );
    if let Some(params) = h.params.as_object().filter(|p| !p.is_empty()) {
        let text = params
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        fact(&mut o, "Params", format!("<code>{}</code>", esc(&text)));
    }
    fact(&mut o, "Journal", rich(&journal_line(t).replace("**", "")));
    let _ = writeln!(o, "</dl>");

    // Objectives.
    let _ = writeln!(
        o,
        "<h2 id=\"objectives\">Objectives</h2>\n<div class=\"cards\">"
    );
    for (name, obj) in [("RTO", &t.objectives.rto), ("RPO", &t.objectives.rpo)] {
        let _ = writeln!(
            o,
            "<div class=\"card {}\"><h3>{name} — target {}</h3><div class=\"figure\">{}</div><div class=\"verdict\">{}</div><p>{}</p></div>",
            verdict_class(obj.verdict),
            esc(obj.target.as_deref().unwrap_or("none")),
            obj.actual_ms.map_or("not measured".into(), human),
            esc(obj.verdict.as_str()),
            rich(&obj.explanation)
        );
    }
    let _ = writeln!(o, "</div>");

    // Gantt.
    let _ = writeln!(o, "<h2 id=\"gantt\">Gantt</h2>");
    let _ = writeln!(
        o,
        "<div class=\"gantt-wrap\">\n{}</div>",
        super::gantt::svg(t)
    );

    // Critical path.
    let _ = writeln!(o, "<h2 id=\"critical-path\">Critical path</h2>");
    let path = &t.critical_path;
    if path.steps.is_empty() {
        let _ = writeln!(o, "<p>No step ran to an end.</p>");
    } else {
        let _ = writeln!(
            o,
            "<p>{}</p>",
            if path.source == "runbook" {
                "The chain of steps that ended last, following <code>needs</code> from the runbook (its SHA-256 matches the journal)."
            } else {
                "The chain of steps that ended last, derived from start and end times (the runbook file was not available unchanged)."
            }
        );
        let chain = path
            .steps
            .iter()
            .map(|p| format!("<code>{}</code>", esc(&p.step)))
            .collect::<Vec<_>>()
            .join("<span class=\"arrow\">→</span>");
        let _ = writeln!(o, "<p class=\"path\">{chain}</p>");
        let _ = writeln!(
            o,
            "<table><thead><tr><th>step</th><th>start</th><th>took</th><th>waited before</th><th>attempts</th></tr></thead><tbody>"
        );
        for p in &path.steps {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&p.step),
                offset(p.start_ms),
                human(p.duration_ms),
                human(p.waited_ms),
                p.attempts
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }

    // Steps.
    let _ = writeln!(
        o,
        "<h2 id=\"steps\">Steps</h2>\n<table><thead><tr><th>step</th><th>name</th><th>status</th><th>start</th><th>took</th><th>attempts</th><th>notes</th></tr></thead><tbody>"
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
            o,
            "<tr class=\"st-{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"detail\">{}</td></tr>",
            esc(&s.status),
            esc(&s.id),
            esc(s.name.as_deref().unwrap_or("")),
            esc(&s.status),
            s.start_ms.map(offset).unwrap_or_default(),
            s.duration_ms.map(human).unwrap_or_default(),
            if s.attempts > 0 {
                s.attempts.to_string()
            } else {
                String::new()
            },
            esc(&notes.join("; "))
        );
    }
    let _ = writeln!(o, "</tbody></table>");

    // Failures.
    let _ = writeln!(o, "<h2 id=\"failures\">Failures</h2>");
    if t.failures.is_empty() {
        let _ = writeln!(o, "<p>None recorded.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table><thead><tr><th>time</th><th>step</th><th>attempt</th><th>what failed</th><th>error</th><th>then</th></tr></thead><tbody>"
        );
        for f in &t.failures {
            let _ = writeln!(
                o,
                "<tr><td class=\"time\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td class=\"detail mono\">{}</td><td>{}</td></tr>",
                offset_ms(f.at_ms),
                esc(&f.step),
                f.attempt.map(|a| a.to_string()).unwrap_or_default(),
                esc(&f.kind.replace('_', " ")),
                esc(f.message.trim_end()),
                esc(&f.then)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }

    // Approvals.
    let _ = writeln!(o, "<h2 id=\"approvals\">Approvals</h2>");
    if t.approvals.is_empty() {
        let _ = writeln!(o, "<p>None in this run.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table><thead><tr><th>step</th><th>decision</th><th>by</th><th>via</th><th>waiting since</th><th>decided at</th><th>waited</th></tr></thead><tbody>"
        );
        for a in &t.approvals {
            let mut decision = a.decision.replace('_', " ");
            if !a.refused.is_empty() {
                let _ = write!(decision, " (refused before: {})", a.refused.join("; "));
            }
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td><strong>{}</strong></td><td>{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&a.step),
                esc(&decision),
                esc(a.by.as_deref().unwrap_or("")),
                esc(a.via.as_deref().unwrap_or("")),
                esc(&a
                    .waiting_since
                    .as_deref()
                    .map(|w| clock(w, &h.start))
                    .unwrap_or_default()),
                esc(&a
                    .decided_at
                    .as_deref()
                    .map(|w| clock(w, &h.start))
                    .unwrap_or_default()),
                a.waited_ms.map(human).unwrap_or_default()
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }

    // Compensation.
    let _ = writeln!(o, "<h2 id=\"compensation\">Compensation</h2>");
    if t.compensation.is_empty() {
        let _ = writeln!(o, "<p>None ran.</p>");
    } else {
        let _ = writeln!(
            o,
            "<p>Succeeded steps were undone in reverse order:</p>\n<table><thead><tr><th>step</th><th>started</th><th>took</th><th>outcome</th><th>error</th></tr></thead><tbody>"
        );
        for c in &t.compensation {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td class=\"time\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td class=\"detail mono\">{}</td></tr>",
                esc(&c.step),
                esc(&clock(&c.started, &h.start)),
                c.duration_ms.map(human).unwrap_or_default(),
                if c.outcome == "succeeded" {
                    "outcome-succeeded"
                } else {
                    "outcome-failed"
                },
                esc(&c.outcome),
                esc(c.error.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }

    // Checklist.
    let _ = writeln!(
        o,
        "<h2 id=\"checklist\">Post-incident checklist</h2>\n<p>From the DR plan; what this run's journal can answer is filled in.</p>\n<ul class=\"checklist\">"
    );
    for item in &t.checklist {
        let _ = writeln!(
            o,
            "<li class=\"{}\"><strong>{}</strong>: {}</li>",
            if item.done { "done" } else { "open" },
            esc(item.item),
            rich(&item.note)
        );
    }
    let _ = writeln!(o, "</ul>");

    // Events.
    let _ = writeln!(
        o,
        "<h2 id=\"events\">Events</h2>\n<p>Times are UTC; the date is {}.</p>\n<table class=\"events\"><thead><tr><th>#</th><th>time</th><th>since start</th><th>step</th><th>event</th><th>attempt</th><th>took</th><th>details</th></tr></thead><tbody>",
        esc(h.start.get(..10).unwrap_or("?"))
    );
    for e in &t.events {
        let gate_failed = e.event == "gate" && e.detail.contains("FAILED");
        let _ = writeln!(
            o,
            "<tr class=\"ev-{}{}\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"event\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"detail\">{}</td></tr>",
            e.event,
            if gate_failed { " gate-failed" } else { "" },
            e.seq,
            esc(&clock(&e.ts, &h.start)),
            offset_ms(e.at_ms),
            e.step
                .as_deref()
                .map(|s| format!("<code>{}</code>", esc(s)))
                .unwrap_or_default(),
            e.event,
            e.attempt.map(|a| a.to_string()).unwrap_or_default(),
            e.duration_ms.map(human).unwrap_or_default(),
            esc(&e.detail)
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    if let Some(b) = &banner {
        let _ = writeln!(
            o,
            "<div class=\"banner bottom\" role=\"alert\">⚠ {}</div>",
            esc(b)
        );
    }
    let _ = writeln!(
        o,
        "<footer>Generated by <code>ripcord timeline</code> from journal <code>{}</code> (recorded by ripcord {}). Self-contained: nothing is loaded from elsewhere.</footer>\n</main>\n</body>\n</html>",
        esc(&h.run_id),
        esc(&h.ripcord_version)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::rich;

    #[test]
    fn code_spans_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            rich("step `a<b>` failed"),
            "step <code>a&lt;b&gt;</code> failed"
        );
        assert_eq!(rich("one ` tick"), "one ` tick");
    }
}
