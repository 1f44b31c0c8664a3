//! RTO and RPO: the targets the run started with, what it measured, and the verdicts.

use serde_json::Value as Json;

use super::fmt::{human, md_code, parse_backup_time, stamp};
use super::payload::compact;
use super::{Objective, RunOutcome, Verdict};

/// A backup age found in a step's outputs.
pub(super) struct Backup {
    pub age_us: i64,
    /// "The newest backup, <name> (<where from>),"
    pub what: String,
    pub read_at: String,
}

/// Output names that carry a backup's age (seconds, or a duration like `25m`).
fn is_age_output(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["backup_age", "backup_age_s", "backup_age_seconds"]
        .iter()
        .any(|k| n == *k || n.ends_with(&format!("_{k}")))
}

/// Output names that carry a backup's timestamp.
fn is_time_output(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "latest",
        "latest_backup",
        "last_backup",
        "backup_timestamp",
        "backup_ts",
        "backup_time",
        "backup_at",
    ]
    .iter()
    .any(|k| n == *k || n.ends_with(&format!("_{k}")))
}

fn age_value(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_f64().map(|f| (f * 1e6) as i64),
        Json::String(t) => t
            .trim()
            .parse::<f64>()
            .ok()
            .map(|f| (f * 1e6) as i64)
            .or_else(|| {
                humantime::parse_duration(t.trim())
                    .ok()
                    .map(|d| d.as_micros() as i64)
            }),
        _ => None,
    }
}

impl Backup {
    /// The backup a step's output `name` tells of, read at `ts` (`now_us` since the epoch).
    pub(super) fn from_output(
        step: &str,
        name: &str,
        value: &Json,
        ts: &str,
        now_us: i64,
    ) -> Option<Self> {
        if is_age_output(name)
            && let Some(age_us) = age_value(value)
        {
            return Some(Backup {
                age_us,
                what: format!(
                    "The newest backup ({} of step {} = {})",
                    md_code(name),
                    md_code(step),
                    compact(value)
                ),
                read_at: ts.to_owned(),
            });
        }
        if is_time_output(name)
            && let Some(text) = value.as_str()
            && let Some(at) = parse_backup_time(text)
        {
            return Some(Backup {
                age_us: now_us - at,
                what: format!(
                    "The newest backup, {} ({} of step {}),",
                    text.trim(),
                    md_code(name),
                    md_code(step)
                ),
                read_at: ts.to_owned(),
            });
        }
        None
    }
}

/// A target as written (`15m`) and in microseconds.
pub(super) fn duration_target(text: Option<&str>) -> (Option<String>, Option<i64>) {
    let us = text
        .and_then(|t| humantime::parse_duration(t).ok())
        .map(|d| d.as_micros() as i64);
    (text.map(str::to_owned), us)
}

/// How the run ended, for the RTO: its outcome and when (`end` is `run_finished`'s timestamp).
pub(super) struct RunEnd<'a> {
    pub outcome: RunOutcome,
    pub start: &'a str,
    pub end: Option<&'a str>,
    /// From the first record to `run_finished`.
    pub took_us: Option<i64>,
}

pub(super) fn rto(target: Option<&str>, run: &RunEnd<'_>) -> Objective {
    let (target, target_us) = duration_target(target);
    let Some(actual) = run.took_us else {
        return Objective {
            target,
            target_us,
            actual_us: None,
            verdict: Verdict::NotRecovered,
            explanation: "The journal has no run_finished record: the run never ended (it \
                          crashed, was killed, or is still running), so recovery is not shown."
                .into(),
        };
    };
    let measured = format!(
        "The run took {} from its first record ({}) to run_finished ({})",
        human(actual),
        stamp(run.start),
        stamp(run.end.unwrap_or("?"))
    );
    let outcome = run.outcome;
    let (verdict, explanation) = match target_us {
        None => (
            Verdict::NoTarget,
            format!("{measured}; the runbook declares no RTO (objectives.rto)."),
        ),
        Some(_) if outcome != RunOutcome::Succeeded => (
            Verdict::NotRecovered,
            format!(
                "{measured}, but it ended {outcome}: the service was not recovered by this run."
            ),
        ),
        Some(t) if actual <= t => (
            Verdict::Met,
            format!("{measured}: met, with {} to spare.", human(t - actual)),
        ),
        Some(t) => (
            Verdict::Missed,
            format!("{measured}: MISSED by {}.", human(actual - t)),
        ),
    };
    Objective {
        target,
        target_us,
        actual_us: Some(actual),
        verdict,
        explanation,
    }
}

pub(super) fn rpo(target: Option<&str>, backup: Option<&Backup>) -> Objective {
    let (target, target_us) = duration_target(target);
    let Some(b) = backup else {
        return Objective {
            target,
            target_us,
            actual_us: None,
            verdict: Verdict::NotMeasured,
            explanation: "Not measured by this run: no step recorded a backup's age or time (an \
                          output named `backup_age`, in seconds, or `latest`/`backup_timestamp`, \
                          a timestamp). Check the newest backup's age separately (the DR plan's \
                          BackupMissing alert)."
                .into(),
        };
    };
    let measured = format!(
        "{} was {} old when the run read it ({})",
        b.what,
        human(b.age_us),
        stamp(&b.read_at)
    );
    let (verdict, explanation) = match target_us {
        None => (
            Verdict::NoTarget,
            format!("{measured}; the runbook declares no RPO (objectives.rpo)."),
        ),
        Some(t) if b.age_us <= t => (
            Verdict::Met,
            format!(
                "{measured}: at most {} of data at risk, within the RPO.",
                human(b.age_us)
            ),
        ),
        Some(t) => (
            Verdict::Missed,
            format!("{measured}: MISSED by {}.", human(b.age_us - t)),
        ),
    };
    Objective {
        target,
        target_us,
        actual_us: Some(b.age_us),
        verdict,
        explanation,
    }
}
