//! The Markdown rendering: a postmortem document that reads well as plain text too.

use std::fmt::Write;

use super::fmt::{human, md_cell, md_code, offset, offset_ms, stamp};
use super::sections::{self, Section, Sections};
use super::{CompensationOutcome, NeedsFrom, Timeline, Verdict};

/// The timeline as Markdown.
pub fn markdown(t: &Timeline) -> String {
    let mut md = Markdown {
        out: String::with_capacity(256 + t.events.len() * 160),
    };
    sections::render(&mut md, t);
    md.out
}

struct Markdown {
    out: String,
}

impl Markdown {
    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn heading(&mut self, s: Section) {
        let _ = writeln!(self.out, "\n## {}\n", s.title());
    }

    /// A table: the header row, its rule, and one line per row.
    fn table<R: AsRef<[String]>>(&mut self, head: &[&str], rows: impl IntoIterator<Item = R>) {
        let _ = writeln!(self.out, "| {} |", head.join(" | "));
        let rule = vec!["---"; head.len()];
        let _ = writeln!(self.out, "| {} |", rule.join(" | "));
        for row in rows {
            let _ = writeln!(self.out, "| {} |", row.as_ref().join(" | "));
        }
    }

    fn fact(&mut self, name: &str, value: &str) {
        let _ = writeln!(self.out, "| {name} | {value} |");
    }
}

impl Sections for Markdown {
    fn top(&mut self, t: &Timeline) {
        let h = &t.run;
        let _ = writeln!(self.out, "# {}\n", sections::title(h));
        if let Some(banner) = t.verification.banner() {
            let _ = writeln!(self.out, "> **⚠ {}**\n", md_cell(&banner));
        }
        if h.dry_run {
            self.line("> **Dry run**: mutations were only previewed; the objectives below are not a recovery.\n");
        }
        self.line("| | |\n| --- | --- |");
        self.fact("Run", &md_code(&h.run_id));
        let runbook = format!(
            "{}@{} · sha256 {}",
            md_cell(&h.runbook),
            md_cell(&h.version),
            md_code(&h.sha256)
        );
        self.fact("Runbook", &runbook);
        self.fact("Run by", &md_cell(&sections::run_by(h)));
        let severity = match (&h.severity, h.severity_meaning) {
            (Some(s), Some(m)) => format!("{s}: {m}"),
            (Some(s), None) => s.clone(),
            (None, _) => "not labelled (metadata.labels.severity)".into(),
        };
        let severity = md_cell(&severity) + &md_cell(&sections::scenario(h));
        self.fact("Severity", &severity);
        self.fact("Start", &stamp(&h.start));
        let end = match (&h.end, h.duration_us) {
            (Some(e), Some(d)) => format!("{} ({} after the start)", stamp(e), human(d)),
            _ => "never (no run_finished record)".into(),
        };
        self.fact("End", &end);
        let failed = sections::failed_steps(h, md_code);
        self.fact("Outcome", &format!("**{}**{failed}", h.outcome));
        if let Some(params) = sections::params(h) {
            self.fact("Params", &md_cell(&params));
        }
        self.fact("Journal", &sections::journal_line(t));
    }

    fn objectives(&mut self, t: &Timeline) {
        self.heading(Section::Objectives);
        let o = &t.objectives;
        let rows = [("RTO", &o.rto), ("RPO", &o.rpo)].map(|(name, o)| {
            [
                name.to_owned(),
                o.target.as_deref().unwrap_or("none").to_owned(),
                o.actual_us.map_or("not measured".into(), human),
                verdict_md(o.verdict).to_owned(),
            ]
        });
        self.table(&["objective", "target", "actual", "verdict"], rows);
        let _ = writeln!(self.out);
        let _ = writeln!(self.out, "- **RTO**: {}", o.rto.explanation);
        let _ = writeln!(self.out, "- **RPO**: {}", o.rpo.explanation);
    }

    fn critical_path(&mut self, t: &Timeline) {
        self.heading(Section::CriticalPath);
        let path = &t.critical_path;
        if path.steps.is_empty() {
            return self.line(Section::CriticalPath.when_empty());
        }
        let intro = match path.source {
            NeedsFrom::Runbook => {
                "The chain of steps that ended last, following `needs` from the runbook (its \
                 SHA-256 matches the journal): each step's latest-ending need."
            }
            NeedsFrom::Timing => {
                "The chain of steps that ended last, derived from start and end times (the \
                 runbook file was not available unchanged): before each step, the step that \
                 ended last before it started."
            }
        };
        let _ = writeln!(self.out, "{intro}\n");
        let chain: Vec<String> = path.steps.iter().map(|p| md_code(&p.step)).collect();
        let busy: i64 = path.steps.iter().map(|p| p.duration_us).sum();
        let waited: i64 = path.steps.iter().map(|p| p.waited_us).sum();
        let _ = writeln!(
            self.out,
            "{}\n\nSteps on the path ran for {}; the gaps between them add {}.\n",
            chain.join(" → "),
            human(busy),
            human(waited)
        );
        let rows = path.steps.iter().map(|p| {
            [
                md_code(&p.step),
                offset(p.start_us),
                human(p.duration_us),
                human(p.waited_us),
                p.attempts.to_string(),
            ]
        });
        self.table(
            &["step", "start", "took", "waited before", "attempts"],
            rows,
        );
    }

    fn steps(&mut self, t: &Timeline) {
        self.heading(Section::Steps);
        let rows = t.steps.iter().map(|s| {
            [
                md_code(&s.id),
                md_cell(s.name.as_deref().unwrap_or("")),
                s.status.to_string(),
                s.start_us.map(offset).unwrap_or_default(),
                sections::took(s.duration_us),
                sections::attempts(s.attempts),
                md_cell(&sections::step_notes(s)),
            ]
        });
        let head = [
            "step", "name", "status", "start", "took", "attempts", "notes",
        ];
        self.table(&head, rows);
    }

    fn failures(&mut self, t: &Timeline) {
        self.heading(Section::Failures);
        if t.failures.is_empty() {
            return self.line(Section::Failures.when_empty());
        }
        let rows = t.failures.iter().map(|f| {
            [
                offset_ms(f.at_us),
                md_code(&f.step),
                sections::number(f.attempt),
                f.kind.as_str().replace('_', " "),
                md_cell(&f.message),
                md_cell(&f.then),
            ]
        });
        let head = ["time", "step", "attempt", "what failed", "error", "then"];
        self.table(&head, rows);
    }

    fn approvals(&mut self, t: &Timeline) {
        self.heading(Section::Approvals);
        if t.approvals.is_empty() {
            return self.line(Section::Approvals.when_empty());
        }
        let h = &t.run;
        let rows = t.approvals.iter().map(|a| {
            [
                md_code(&a.step),
                md_cell(&sections::approval_decision(a)),
                md_cell(a.by.as_deref().unwrap_or("")),
                a.via.clone().unwrap_or_default(),
                sections::clock_of(a.waiting_since.as_deref(), h),
                sections::clock_of(a.decided_at.as_deref(), h),
                sections::took(a.waited_us),
            ]
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
        self.table(&head, rows);
    }

    fn compensation(&mut self, t: &Timeline) {
        self.heading(Section::Compensation);
        if t.compensation.is_empty() {
            return self.line(Section::Compensation.when_empty());
        }
        let _ = writeln!(self.out, "{}\n", sections::COMPENSATION_INTRO);
        let rows = t.compensation.iter().map(|c| {
            [
                md_code(&c.step),
                sections::clock_of(Some(&c.started), &t.run),
                sections::took(c.duration_us),
                match c.outcome {
                    CompensationOutcome::Succeeded => c.outcome.to_string(),
                    other => format!("**{other}**"),
                },
                md_cell(c.error.as_deref().unwrap_or("")),
            ]
        });
        self.table(&["step", "started", "took", "outcome", "error"], rows);
    }

    fn checklist(&mut self, t: &Timeline) {
        self.heading(Section::Checklist);
        let _ = writeln!(self.out, "{}\n", sections::CHECKLIST_INTRO);
        for item in &t.checklist {
            let done = if item.done { "x" } else { " " };
            let _ = writeln!(self.out, "- [{done}] **{}**: {}", item.item, item.note);
        }
    }

    fn events(&mut self, t: &Timeline) {
        self.heading(Section::Events);
        let h = &t.run;
        let _ = writeln!(self.out, "{}\n", sections::events_intro(h));
        let rows = t.events.iter().map(|e| {
            [
                e.seq.to_string(),
                sections::clock_of(Some(&e.ts), h),
                offset_ms(e.at_us),
                e.step.as_deref().map(md_code).unwrap_or_default(),
                e.event.as_str().to_owned(),
                sections::number(e.attempt),
                sections::took(e.duration_us),
                md_cell(&e.detail),
            ]
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
        self.table(&head, rows);
    }

    fn bottom(&mut self, t: &Timeline) {
        if let Some(banner) = t.verification.banner() {
            let _ = writeln!(self.out, "\n> **⚠ {}**", md_cell(&banner));
        }
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
