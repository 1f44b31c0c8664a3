//! The summary printed when a run ends: one line per step from the journal, and the RTO verdict.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ripcord_engine::{EventKind, Record};

use crate::text::{cell, truncate};

#[derive(Default)]
struct Row {
    first_seen: usize,
    status: &'static str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    attempts: u32,
    detail: String,
}

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
    let started = records.iter().find(|r| r.event == EventKind::RunStarted);
    let finished = records
        .iter()
        .rev()
        .find(|r| r.event == EventKind::RunFinished);
    let run_start = parse(&first.ts);
    let data = |r: Option<&Record>, k: &str| {
        r.and_then(|r| r.data.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let outcome = finished.map_or("unfinished".to_owned(), |f| data(Some(f), "outcome"));
    let total = match (run_start, finished.and_then(|f| parse(&f.ts))) {
        (Some(a), Some(b)) => (b - a).to_std().ok(),
        _ => None,
    };
    let rto = started
        .and_then(|s| s.data.get("rto"))
        .and_then(|v| v.as_str())
        .and_then(|s| humantime::parse_duration(s).ok());
    let _ = writeln!(
        out,
        "Run {} {outcome}{}",
        first.run,
        total
            .map(|t| format!(" in {}", human(t)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  {}@{} · sha256 {} · by {}@{}",
        data(started, "runbook"),
        data(started, "version"),
        data(started, "sha256").get(..12).unwrap_or("?"),
        data(started, "user"),
        data(started, "host"),
    );
    if let (Some(rto), Some(total)) = (rto, total) {
        let verdict = if outcome != "succeeded" {
            "not met: the run did not succeed"
        } else if total <= rto {
            "met"
        } else {
            "MISSED"
        };
        let _ = writeln!(out, "  RTO {}: {verdict}", human(rto));
    }

    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (n, r) in records.iter().enumerate() {
        let Some(step) = &r.step else { continue };
        let row = rows.entry(step.clone()).or_insert_with(|| Row {
            first_seen: n,
            status: "pending",
            ..Row::default()
        });
        let ts = parse(&r.ts);
        match r.event {
            EventKind::StepStarted => {
                row.start.get_or_insert_with(|| ts.unwrap_or_default());
                row.attempts = r.attempt.unwrap_or(1);
                row.status = "running";
                row.detail.clear();
            }
            EventKind::Decision => {
                let action = r.data.get("action").and_then(|v| v.as_str()).unwrap_or("");
                if action == "assume_done" {
                    row.status = "succeeded";
                    row.detail = "assumed done at resume".into();
                } else {
                    row.detail = format!("{action} at resume");
                }
            }
            EventKind::StepSucceeded => {
                row.status = "succeeded";
                row.end = ts;
            }
            EventKind::StepFailed => {
                row.status = "failed";
                row.end = ts;
                row.detail = r
                    .data
                    .get("error")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
            }
            EventKind::StepSkipped => {
                row.status = "skipped";
                row.detail = r
                    .data
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
            }
            EventKind::StepCancelled => {
                row.status = "cancelled";
                row.end = ts;
            }
            EventKind::CompensationSucceeded => row.detail = "compensated".into(),
            EventKind::CompensationFailed => row.detail = "compensation FAILED".into(),
            _ => {}
        }
    }
    let mut rows: Vec<(String, Row)> = rows.into_iter().collect();
    rows.sort_by_key(|(_, r)| r.first_seen);
    let _ = writeln!(
        out,
        "\n  {} {} {} {} try",
        cell("step", 26),
        cell("status", 10),
        cell("start", 8),
        cell("took", 8),
    );
    for (id, row) in &rows {
        let offset = match (run_start, row.start) {
            (Some(a), Some(b)) => (b - a)
                .to_std()
                .map(|d| format!("+{}", human(d)))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let took = match (row.start, row.end) {
            (Some(a), Some(b)) => (b - a).to_std().map(human).unwrap_or_default(),
            _ => String::new(),
        };
        let line = format!(
            "  {} {} {} {} {:<3} {}",
            cell(id, 26),
            cell(row.status, 10),
            cell(&offset, 8),
            cell(&took, 8),
            if row.attempts > 0 {
                row.attempts.to_string()
            } else {
                String::new()
            },
            row.detail.replace('\n', " ")
        );
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
