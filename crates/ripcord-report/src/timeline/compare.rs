//! Drill comparison: several runs (oldest first) side by side: per-step durations with their
//! change from the run before, and the RTO trend.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;

use super::fmt::{delta, human, md_cell, md_code, stamp};
use super::{RunOutcome, StepStatus, Timeline, Verdict};
use crate::text::cell;

/// Several runs side by side, oldest first.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// `ripcord.timeline-compare/v1`.
    pub schema: &'static str,
    /// Oldest first.
    pub runs: Vec<RunColumn>,
    /// One row per step id found in any of the runs.
    pub steps: Vec<StepRow>,
    /// How the measured RTO changed from run to run.
    pub rto_trend: Trend,
    /// Things that make the comparison less meaningful (other runbooks, damaged journals, ...).
    pub warnings: Vec<String>,
}

/// One run of a comparison.
#[derive(Clone, Debug, Serialize)]
pub struct RunColumn {
    /// The run id.
    pub run_id: String,
    /// The runbook's name.
    pub runbook: String,
    /// The runbook's version.
    pub version: String,
    /// SHA-256 (hex) of the runbook file as run.
    pub sha256: String,
    /// RFC 3339 timestamp of the run's first record.
    pub start: String,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Microseconds (JSON: milliseconds).
    #[serde(rename = "duration_ms", serialize_with = "super::ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// The RTO target as written in the runbook, e.g. `15m`.
    pub rto_target: Option<String>,
    /// Whether that run met its RTO.
    pub rto_verdict: Verdict,
    /// Whether its journal verified.
    pub verified: bool,
}

/// One step across the compared runs.
#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    /// The step id.
    pub step: String,
    /// One per run (null: the step did not run to an end in that run).
    pub runs: Vec<StepCell>,
}

/// One step in one run.
#[derive(Clone, Debug, Serialize)]
pub struct StepCell {
    /// Its final status; `None` when the run did not mention the step.
    pub status: Option<StepStatus>,
    /// Attempts started.
    pub attempts: u32,
    /// Microseconds (JSON: milliseconds).
    #[serde(rename = "duration_ms", serialize_with = "super::ser_ms_opt")]
    pub duration_us: Option<i64>,
    /// Against the previous run's duration of the same step.
    #[serde(rename = "delta_ms", serialize_with = "super::ser_ms_opt")]
    pub delta_us: Option<i64>,
}

/// The RTO across the compared runs.
#[derive(Clone, Debug, Serialize)]
pub struct Trend {
    /// Each run's RTO actual minus the previous run's, microseconds (JSON: milliseconds).
    #[serde(rename = "deltas_ms", serialize_with = "ser_ms_vec")]
    pub deltas_us: Vec<Option<i64>>,
    /// Last run minus first run.
    #[serde(rename = "first_to_last_ms", serialize_with = "super::ser_ms_opt")]
    pub first_to_last_us: Option<i64>,
    /// One sentence on the trend, for the text formats.
    pub summary: String,
}

fn ser_ms_vec<S: serde::Serializer>(v: &[Option<i64>], s: S) -> Result<S::Ok, S::Error> {
    let values: Vec<Option<serde_json::Value>> = v.iter().map(|d| d.map(super::ms)).collect();
    values.serialize(s)
}

/// The `schema` of [`Comparison`] JSON.
pub const SCHEMA: &str = "ripcord.timeline-compare/v1";

/// Compare runs; they are put in order of their start.
pub fn compare(timelines: &[Timeline]) -> Comparison {
    let mut ordered: Vec<&Timeline> = timelines.iter().collect();
    ordered.sort_by(|a, b| a.run.start.cmp(&b.run.start));
    let runs: Vec<RunColumn> = ordered
        .iter()
        .map(|t| RunColumn {
            run_id: t.run.run_id.clone(),
            runbook: t.run.runbook.clone(),
            version: t.run.version.clone(),
            sha256: t.run.sha256.clone(),
            start: t.run.start.clone(),
            outcome: t.run.outcome,
            duration_us: t.run.duration_us,
            rto_target: t.objectives.rto.target.clone(),
            rto_verdict: t.objectives.rto.verdict,
            verified: t.verification.ok,
        })
        .collect();

    Comparison {
        schema: SCHEMA,
        steps: step_rows(&ordered),
        rto_trend: rto_trend(&runs),
        warnings: warnings(&ordered),
        runs,
    }
}

/// What makes the comparison less meaningful.
fn warnings(ordered: &[&Timeline]) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(first) = ordered.first() {
        for t in &ordered[1..] {
            if t.run.runbook != first.run.runbook {
                warnings.push(format!(
                    "run {} is of runbook {}, not {}: steps are matched by id",
                    t.run.run_id, t.run.runbook, first.run.runbook
                ));
            } else if t.run.sha256 != first.run.sha256 {
                warnings.push(format!(
                    "run {} used a different version of the runbook ({}@{}, sha256 {}…) than run {} ({}@{}, sha256 {}…)",
                    t.run.run_id,
                    t.run.runbook,
                    t.run.version,
                    t.run.sha256.get(..12).unwrap_or(&t.run.sha256),
                    first.run.run_id,
                    first.run.runbook,
                    first.run.version,
                    first.run.sha256.get(..12).unwrap_or(&first.run.sha256)
                ));
            }
        }
    }
    for t in ordered {
        if !t.verification.ok {
            warnings.push(format!(
                "run {}: JOURNAL FAILED VERIFICATION at line {} ({}); only its {} verified events are compared",
                t.run.run_id,
                t.verification.line.unwrap_or(0),
                t.verification.reason.as_deref().unwrap_or("?"),
                t.verification.events_verified
            ));
        }
        if t.run.dry_run {
            warnings.push(format!("run {} was a dry run", t.run.run_id));
        }
    }
    warnings
}

/// One row per step, in order of first appearance across the runs.
fn step_rows(ordered: &[&Timeline]) -> Vec<StepRow> {
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    let per_run: Vec<HashMap<&str, &super::StepTimeline>> = ordered
        .iter()
        .map(|t| t.steps.iter().map(|s| (s.id.as_str(), s)).collect())
        .collect();
    for t in ordered {
        for s in &t.steps {
            if seen.insert(s.id.clone(), ()).is_none() {
                order.push(s.id.clone());
            }
        }
    }
    order
        .into_iter()
        .map(|id| {
            let mut prev: Option<i64> = None;
            let cells = per_run
                .iter()
                .map(|m| {
                    let s = m.get(id.as_str());
                    let d = s.and_then(|s| s.duration_us);
                    let cell = StepCell {
                        status: s.map(|s| s.status),
                        attempts: s.map_or(0, |s| s.attempts),
                        duration_us: d,
                        delta_us: prev.zip(d).map(|(p, d)| d - p),
                    };
                    if d.is_some() {
                        prev = d;
                    }
                    cell
                })
                .collect();
            StepRow {
                step: id,
                runs: cells,
            }
        })
        .collect()
}

fn rto_trend(runs: &[RunColumn]) -> Trend {
    let actuals: Vec<Option<i64>> = runs.iter().map(|r| r.duration_us).collect();
    let mut deltas = vec![None];
    for w in actuals.windows(2) {
        deltas.push(w[0].zip(w[1]).map(|(a, b)| b - a));
    }
    deltas.truncate(actuals.len());
    let measured: Vec<i64> = actuals.iter().flatten().copied().collect();
    let first_to_last = match (measured.first(), measured.last()) {
        (Some(a), Some(b)) if measured.len() >= 2 => Some(b - a),
        _ => None,
    };
    let verdicts = runs
        .iter()
        .enumerate()
        .map(|(n, r)| format!("#{} {}", n + 1, r.rto_verdict.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let summary = match (first_to_last, measured.first(), measured.last()) {
        (Some(d), Some(&first), Some(&last)) => {
            let pct = if first > 0 {
                format!(", {:+.1}%", d as f64 * 100.0 / first as f64)
            } else {
                String::new()
            };
            let direction = match d {
                -999..=999 => "about the same",
                d if d < 0 => "faster",
                _ => "slower",
            };
            format!(
                "the first run took {}, the last {} ({}{pct}: {direction}). RTO verdicts: {verdicts}.",
                human(first),
                human(last),
                delta(d),
            )
        }
        _ => {
            format!("fewer than two runs finished, so there is no trend. RTO verdicts: {verdicts}.")
        }
    };
    Trend {
        deltas_us: deltas,
        first_to_last_us: first_to_last,
        summary,
    }
}

/// The JSON rendering: the whole comparison, pretty-printed, with a trailing newline.
pub fn json(c: &Comparison) -> String {
    let mut text = serde_json::to_string_pretty(c).expect("a comparison is JSON");
    text.push('\n');
    text
}

fn duration_cell(c: &StepCell) -> String {
    match (c.duration_us, c.status) {
        (Some(d), _) => {
            let mut s = human(d);
            if let Some(dl) = c.delta_us {
                let _ = write!(s, " ({})", delta(dl));
            }
            if c.attempts > 1 {
                let _ = write!(s, " ×{}", c.attempts);
            }
            s
        }
        (None, Some(status)) => status.to_string(),
        (None, None) => "—".into(),
    }
}

fn rto_cell(r: &RunColumn, d: Option<i64>) -> String {
    let mut s = r.duration_us.map_or("unfinished".into(), human);
    if let Some(d) = d {
        let _ = write!(s, " ({})", delta(d));
    }
    let _ = write!(s, " {}", r.rto_verdict.as_str());
    s
}

/// Plain text for a terminal.
pub fn text(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Drill comparison: {} runs{}, oldest first",
        c.runs.len(),
        c.runs
            .first()
            .map(|r| format!(" of {}", r.runbook))
            .unwrap_or_default()
    );
    for w in &c.warnings {
        let _ = writeln!(o, "  WARNING: {w}");
    }
    let _ = writeln!(o);
    for (n, r) in c.runs.iter().enumerate() {
        let _ = writeln!(
            o,
            "  #{} {}  {}@{}  {}  {}  RTO {}: {}",
            n + 1,
            r.run_id,
            r.runbook,
            r.version,
            stamp(&r.start),
            r.outcome,
            r.rto_target.as_deref().unwrap_or("none"),
            rto_cell(r, c.rto_trend.deltas_us.get(n).copied().flatten())
        );
    }
    let width = c
        .steps
        .iter()
        .map(|s| s.step.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 32);
    let cols: Vec<Vec<String>> = c
        .steps
        .iter()
        .map(|s| s.runs.iter().map(duration_cell).collect())
        .collect();
    let col_width: Vec<usize> = (0..c.runs.len())
        .map(|i| {
            cols.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(3)
        })
        .collect();
    let mut head = format!("\n  {}", cell("step", width));
    for (i, w) in col_width.iter().enumerate() {
        let _ = write!(head, "  {}", cell(&format!("#{}", i + 1), *w));
    }
    let _ = writeln!(o, "{}", head.trim_end());
    for (s, row) in c.steps.iter().zip(&cols) {
        let mut line = format!("  {}", cell(&s.step, width));
        for (v, w) in row.iter().zip(&col_width) {
            let _ = write!(line, "  {}", cell(v, *w));
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    let _ = writeln!(o, "\n  RTO trend: {}", c.rto_trend.summary);
    o
}

/// Markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Drill comparison{}\n",
        c.runs
            .first()
            .map(|r| format!(" of {}", r.runbook))
            .unwrap_or_default()
    );
    for w in &c.warnings {
        let _ = writeln!(o, "> **⚠ {}**\n", md_cell(w));
    }
    let _ = writeln!(
        o,
        "| # | run | runbook | start | outcome | took | vs previous | RTO | verdict |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (n, r) in c.runs.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | {} | {}@{} | {} | {} | {} | {} | {} | {} |",
            n + 1,
            md_code(&r.run_id),
            md_cell(&r.runbook),
            md_cell(&r.version),
            stamp(&r.start),
            r.outcome,
            r.duration_us.map_or("unfinished".into(), human),
            c.rto_trend
                .deltas_us
                .get(n)
                .copied()
                .flatten()
                .map(delta)
                .unwrap_or_default(),
            r.rto_target.as_deref().unwrap_or("none"),
            r.rto_verdict.as_str()
        );
    }
    let _ = writeln!(o, "\n**RTO trend**: {}\n", c.rto_trend.summary);
    let _ = writeln!(o, "## Step durations\n");
    let _ = writeln!(
        o,
        "First attempt to end, with the change from the previous run; ×N: attempts.\n"
    );
    let mut head = "| step |".to_owned();
    let mut rule = "| --- |".to_owned();
    for n in 0..c.runs.len() {
        let _ = write!(head, " #{} |", n + 1);
        rule.push_str(" --- |");
    }
    let _ = writeln!(o, "{head}\n{rule}");
    for s in &c.steps {
        let mut line = format!("| {} |", md_code(&s.step));
        for cell in &s.runs {
            let _ = write!(line, " {} |", md_cell(&duration_cell(cell)));
        }
        let _ = writeln!(o, "{line}");
    }
    o
}
