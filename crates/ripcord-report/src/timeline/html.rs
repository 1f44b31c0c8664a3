//! The HTML rendering: one self-contained page (inline CSS and SVG, no script, no fonts or
//! anything else fetched), readable on screen and printable.

use std::fmt::Write;

use super::fmt::{html_escape as esc, human, offset, offset_ms, stamp};
use super::sections::{self, Section, Sections};
use super::{CompensationOutcome, NeedsFrom, Timeline, Verdict};

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
    let mut page = Html {
        o: String::with_capacity(16_384 + t.events.len() * 420),
    };
    sections::render(&mut page, t);
    page.o
}

struct Html {
    o: String,
}

/// A table row: its class (may be empty) and its cells, each a class (may be empty) and HTML.
struct Row {
    class: String,
    cells: Vec<(&'static str, String)>,
}

impl Row {
    fn new(cells: Vec<(&'static str, String)>) -> Self {
        Row {
            class: String::new(),
            cells,
        }
    }
}

/// ` class="..."`, or nothing for no class.
fn class_attr(class: &str) -> String {
    if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    }
}

/// A step id, or any other identifier, as code.
fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

impl Html {
    fn heading(&mut self, s: Section) {
        let _ = writeln!(self.o, "<h2 id=\"{}\">{}</h2>", s.id(), s.title());
    }

    fn para(&mut self, html: &str) {
        let _ = writeln!(self.o, "<p>{html}</p>");
    }

    fn table(&mut self, class: &str, head: &[&str], rows: impl IntoIterator<Item = Row>) {
        let _ = write!(self.o, "<table{}><thead><tr>", class_attr(class));
        for h in head {
            let _ = write!(self.o, "<th>{h}</th>");
        }
        self.o.push_str("</tr></thead><tbody>\n");
        for row in rows {
            let _ = write!(self.o, "<tr{}>", class_attr(&row.class));
            for (class, cell) in &row.cells {
                let _ = write!(self.o, "<td{}>{cell}</td>", class_attr(class));
            }
            self.o.push_str("</tr>\n");
        }
        self.o.push_str("</tbody></table>\n");
    }

    fn fact(&mut self, name: &str, html: &str) {
        let _ = writeln!(self.o, "<dt>{name}</dt><dd>{html}</dd>");
    }

    fn facts(&mut self, t: &Timeline) {
        let h = &t.run;
        self.o.push_str("<dl class=\"facts\">\n");
        let runbook = format!(
            "{}@{} · sha256 {}",
            esc(&h.runbook),
            esc(&h.version),
            code(&h.sha256)
        );
        self.fact("Runbook", &runbook);
        self.fact("Run by", &esc(&sections::run_by(h)));
        let severity = match (&h.severity, h.severity_meaning) {
            (Some(s), Some(m)) => format!("<strong>{}</strong>: {}", esc(s), esc(m)),
            (Some(s), None) => esc(s),
            (None, _) => "not labelled (<code>metadata.labels.severity</code>)".into(),
        } + &esc(&sections::scenario(h));
        self.fact("Severity", &severity);
        self.fact("Start", &esc(&stamp(&h.start)));
        let end = match (&h.end, h.duration_us) {
            (Some(e), Some(d)) => format!("{} ({} after the start)", esc(&stamp(e)), human(d)),
            _ => "never (no <code>run_finished</code> record)".into(),
        };
        self.fact("End", &end);
        let outcome = esc(h.outcome.as_str());
        let failed = sections::failed_steps(h, code);
        let outcome = format!("<span class=\"outcome-{outcome}\">{outcome}</span>{failed}");
        self.fact("Outcome", &outcome);
        if let Some(params) = sections::params(h) {
            self.fact("Params", &code(&params));
        }
        let journal = rich(&sections::journal_line(t).replace("**", ""));
        self.fact("Journal", &journal);
        self.o.push_str("</dl>\n");
    }
}

impl Sections for Html {
    fn top(&mut self, t: &Timeline) {
        let h = &t.run;
        let title = esc(&sections::title(h));
        let _ = write!(
            self.o,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"ripcord timeline\">\n<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        );
        if let Some(b) = t.verification.banner() {
            let _ = writeln!(
                self.o,
                "<div class=\"banner\" role=\"alert\">⚠ {}</div>",
                esc(&b)
            );
        }
        let _ = writeln!(self.o, "<h1>{title}</h1>");
        let _ = writeln!(
            self.o,
            "<p class=\"subtitle\">Postmortem timeline of run {}, from its journal.</p>",
            code(&h.run_id)
        );
        if h.dry_run {
            let _ = writeln!(
                self.o,
                "<p class=\"note\"><strong>Dry run</strong>: mutations were only previewed; the objectives below are not a recovery.</p>"
            );
        }
        self.facts(t);
    }

    fn objectives(&mut self, t: &Timeline) {
        self.heading(Section::Objectives);
        self.o.push_str("<div class=\"cards\">\n");
        for (name, obj) in [("RTO", &t.objectives.rto), ("RPO", &t.objectives.rpo)] {
            let _ = writeln!(
                self.o,
                "<div class=\"card {}\"><h3>{name} — target {}</h3><div class=\"figure\">{}</div><div class=\"verdict\">{}</div><p>{}</p></div>",
                verdict_class(obj.verdict),
                esc(obj.target.as_deref().unwrap_or("none")),
                obj.actual_us.map_or("not measured".into(), human),
                esc(obj.verdict.as_str()),
                rich(&obj.explanation)
            );
        }
        self.o.push_str("</div>\n");
    }

    fn gantt(&mut self, t: &Timeline) {
        self.heading(Section::Gantt);
        let _ = writeln!(
            self.o,
            "<div class=\"gantt-wrap\">\n{}</div>",
            super::gantt::svg(t)
        );
    }

    fn critical_path(&mut self, t: &Timeline) {
        self.heading(Section::CriticalPath);
        let path = &t.critical_path;
        if path.steps.is_empty() {
            return self.para(Section::CriticalPath.when_empty());
        }
        self.para(match path.source {
            NeedsFrom::Runbook => {
                "The chain of steps that ended last, following <code>needs</code> from the runbook (its SHA-256 matches the journal)."
            }
            NeedsFrom::Timing => {
                "The chain of steps that ended last, derived from start and end times (the runbook file was not available unchanged)."
            }
        });
        let chain: Vec<String> = path.steps.iter().map(|p| code(&p.step)).collect();
        let _ = writeln!(
            self.o,
            "<p class=\"path\">{}</p>",
            chain.join("<span class=\"arrow\">→</span>")
        );
        let rows = path.steps.iter().map(|p| {
            Row::new(vec![
                ("", code(&p.step)),
                ("num", offset(p.start_us)),
                ("num", human(p.duration_us)),
                ("num", human(p.waited_us)),
                ("num", p.attempts.to_string()),
            ])
        });
        let head = ["step", "start", "took", "waited before", "attempts"];
        self.table("", &head, rows);
    }

    fn steps(&mut self, t: &Timeline) {
        self.heading(Section::Steps);
        let rows = t.steps.iter().map(|s| Row {
            class: format!("st-{}", esc(s.status.as_str())),
            cells: vec![
                ("", code(&s.id)),
                ("", esc(s.name.as_deref().unwrap_or(""))),
                ("", esc(s.status.as_str())),
                ("num", s.start_us.map(offset).unwrap_or_default()),
                ("num", sections::took(s.duration_us)),
                ("num", sections::attempts(s.attempts)),
                ("detail", esc(&sections::step_notes(s))),
            ],
        });
        let head = [
            "step", "name", "status", "start", "took", "attempts", "notes",
        ];
        self.table("", &head, rows);
    }

    fn failures(&mut self, t: &Timeline) {
        self.heading(Section::Failures);
        if t.failures.is_empty() {
            return self.para(Section::Failures.when_empty());
        }
        let rows = t.failures.iter().map(|f| {
            Row::new(vec![
                ("time", offset_ms(f.at_us)),
                ("", code(&f.step)),
                ("num", sections::number(f.attempt)),
                ("", esc(&f.kind.as_str().replace('_', " "))),
                ("detail mono", esc(f.message.trim_end())),
                ("", esc(&f.then)),
            ])
        });
        let head = ["time", "step", "attempt", "what failed", "error", "then"];
        self.table("", &head, rows);
    }

    fn approvals(&mut self, t: &Timeline) {
        self.heading(Section::Approvals);
        if t.approvals.is_empty() {
            return self.para(Section::Approvals.when_empty());
        }
        let h = &t.run;
        let rows = t.approvals.iter().map(|a| {
            Row::new(vec![
                ("", code(&a.step)),
                ("", esc(&sections::approval_decision(a))),
                (
                    "",
                    format!("<strong>{}</strong>", esc(a.by.as_deref().unwrap_or(""))),
                ),
                ("", esc(a.via.as_deref().unwrap_or(""))),
                (
                    "time",
                    esc(&sections::clock_of(a.waiting_since.as_deref(), h)),
                ),
                ("time", esc(&sections::clock_of(a.decided_at.as_deref(), h))),
                ("num", sections::took(a.waited_us)),
            ])
        });
        let head = [
            "step",
            "decision",
            "by",
            "via",
            "waiting since",
            "decided at",
            "waited",
        ];
        self.table("", &head, rows);
    }

    fn compensation(&mut self, t: &Timeline) {
        self.heading(Section::Compensation);
        if t.compensation.is_empty() {
            return self.para(Section::Compensation.when_empty());
        }
        self.para(sections::COMPENSATION_INTRO);
        let rows = t.compensation.iter().map(|c| {
            let outcome_class = match c.outcome {
                CompensationOutcome::Succeeded => "outcome-succeeded",
                _ => "outcome-failed",
            };
            Row::new(vec![
                ("", code(&c.step)),
                ("time", esc(&sections::clock_of(Some(&c.started), &t.run))),
                ("num", sections::took(c.duration_us)),
                (outcome_class, esc(c.outcome.as_str())),
                ("detail mono", esc(c.error.as_deref().unwrap_or(""))),
            ])
        });
        self.table("", &["step", "started", "took", "outcome", "error"], rows);
    }

    fn checklist(&mut self, t: &Timeline) {
        self.heading(Section::Checklist);
        self.para(sections::CHECKLIST_INTRO);
        self.o.push_str("<ul class=\"checklist\">\n");
        for item in &t.checklist {
            let _ = writeln!(
                self.o,
                "<li class=\"{}\"><strong>{}</strong>: {}</li>",
                if item.done { "done" } else { "open" },
                esc(item.item),
                rich(&item.note)
            );
        }
        self.o.push_str("</ul>\n");
    }

    fn events(&mut self, t: &Timeline) {
        self.heading(Section::Events);
        let h = &t.run;
        self.para(&esc(&sections::events_intro(h)));
        let rows = t.events.iter().map(|e| {
            let event = e.event.as_str();
            let gate_failed =
                e.event == ripcord_engine::EventKind::Gate && e.detail.contains("FAILED");
            Row {
                class: format!(
                    "ev-{event}{}",
                    if gate_failed { " gate-failed" } else { "" }
                ),
                cells: vec![
                    ("num", e.seq.to_string()),
                    ("time", esc(&sections::clock_of(Some(&e.ts), h))),
                    ("num", offset_ms(e.at_us)),
                    ("", e.step.as_deref().map(code).unwrap_or_default()),
                    ("event", event.to_owned()),
                    ("num", sections::number(e.attempt)),
                    ("num", sections::took(e.duration_us)),
                    ("detail", esc(&e.detail)),
                ],
            }
        });
        let head = [
            "#",
            "time",
            "since start",
            "step",
            "event",
            "attempt",
            "took",
            "details",
        ];
        self.table("events", &head, rows);
    }

    fn bottom(&mut self, t: &Timeline) {
        if let Some(b) = t.verification.banner() {
            let _ = writeln!(
                self.o,
                "<div class=\"banner bottom\" role=\"alert\">⚠ {}</div>",
                esc(&b)
            );
        }
        let _ = writeln!(
            self.o,
            "<footer>Generated by <code>ripcord timeline</code> from journal {} (recorded by ripcord {}). Self-contained: nothing is loaded from elsewhere.</footer>\n</main>\n</body>\n</html>",
            code(&t.run.run_id),
            esc(&t.run.ripcord_version)
        );
    }
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
