//! Journal records -> [`Timeline`].

use std::collections::{HashMap, HashSet};

use ripcord_engine::{EventKind, Record};
use serde_json::Value as Json;

use super::fmt::{human, md_code, parse_backup_time, parse_us};
use super::{
    Approval, ChecklistItem, Compensation, Continuation, CriticalPath, EventRow, Failure, Header,
    Mark, MarkKind, Objective, Objectives, PathStep, RunbookSteps, SCHEMA, Segment, SegmentKind,
    StepTimeline, Timeline, Verdict, Verification,
};

/// What a step's records add up to, while reading the journal.
struct Acc {
    id: String,
    step_type: Option<String>,
    effect: Option<String>,
    status: &'static str,
    compensation: Option<&'static str>,
    first_start: Option<i64>,
    end: Option<i64>,
    attempts: u32,
    /// The attempt in flight: number and start.
    open: Option<(u32, i64)>,
    /// When an approval began waiting inside the open attempt.
    approval_wait: Option<i64>,
    /// A failed attempt that will be retried: when it failed.
    backoff_from: Option<i64>,
    comp_start: Option<i64>,
    segments: Vec<Segment>,
    marks: Vec<Mark>,
    detail: Option<String>,
}

impl Acc {
    fn new(id: &str) -> Self {
        Acc {
            id: id.to_owned(),
            step_type: None,
            effect: None,
            status: "pending",
            compensation: None,
            first_start: None,
            end: None,
            attempts: 0,
            open: None,
            approval_wait: None,
            backoff_from: None,
            comp_start: None,
            segments: Vec::new(),
            marks: Vec::new(),
            detail: None,
        }
    }

    /// End the open attempt at `t`; returns its duration.
    fn close(&mut self, t: i64, ok: bool) -> Option<i64> {
        let (attempt, start) = self.open.take()?;
        let kind = if ok {
            SegmentKind::Attempt
        } else {
            SegmentKind::FailedAttempt
        };
        let mut push = |kind, start_ms, end_ms| {
            self.segments.push(Segment {
                kind,
                start_ms,
                end_ms,
                attempt: Some(attempt),
            })
        };
        match self.approval_wait.take() {
            Some(w) => {
                let w = w.clamp(start, t);
                if w > start {
                    push(kind, start, w);
                }
                push(SegmentKind::ApprovalWait, w, t);
            }
            None => push(kind, start, t),
        }
        Some(t - start)
    }
}

fn s<'a>(data: &'a Json, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Json::as_str)
}

fn severity_meaning(severity: &str) -> Option<&'static str> {
    // The DR plan's "Severity Levels".
    match severity.trim().to_ascii_uppercase().as_str() {
        "P0" => Some("Critical (complete outage)"),
        "P1" => Some("High (partial outage)"),
        "P2" => Some("Medium (degraded performance)"),
        "P3" => Some("Low (minor issue)"),
        _ => None,
    }
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

/// A backup age found in a step's outputs.
struct Backup {
    age_us: i64,
    /// "The newest backup, <name> (<where from>),"
    what: String,
    read_at: String,
}

fn duration_target(v: Option<&Json>) -> (Option<String>, Option<i64>) {
    let text = v.and_then(Json::as_str).map(str::to_owned);
    let us = text
        .as_deref()
        .and_then(|t| humantime::parse_duration(t).ok())
        .map(|d| d.as_micros() as i64);
    (text, us)
}

/// Build the timeline of a run from its (verified) records. `runbook`, when given, is the
/// runbook the run was made from (same SHA-256): it names steps and gives `needs` to the
/// critical path and to the waiting segments.
pub fn build(
    records: &[Record],
    verification: Verification,
    runbook: Option<&RunbookSteps>,
) -> Timeline {
    let t0 = records.first().and_then(|r| parse_us(&r.ts)).unwrap_or(0);
    let start_ts = records.first().map(|r| r.ts.clone()).unwrap_or_default();
    let mut steps: Vec<Acc> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut events = Vec::with_capacity(records.len());
    let mut failures: Vec<Failure> = Vec::new();
    let mut compensation: Vec<Compensation> = Vec::new();
    let mut approvals: Vec<Approval> = Vec::new();
    let mut continued_by = Vec::new();
    let mut started: Option<&Record> = None;
    let mut finished: Option<(&Record, i64)> = None;
    let mut backup: Option<Backup> = None;
    let mut last_t = 0i64;

    for r in records {
        let t = parse_us(&r.ts).map_or(last_t, |us| us - t0);
        let mut duration = None;
        let step_idx = r.step.as_deref().map(|id| match index.get(id) {
            Some(&i) => i,
            None => {
                steps.push(Acc::new(id));
                index.insert(id.to_owned(), steps.len() - 1);
                steps.len() - 1
            }
        });
        match (r.event, step_idx) {
            (EventKind::RunStarted, _) => {
                started.get_or_insert(r);
            }
            (EventKind::RunResumed, _) => {
                // Attempts in flight when the run stopped never ended: they end at the last
                // thing the journal knew before the stop.
                for acc in steps.iter_mut() {
                    if let Some((attempt, _)) = acc.open {
                        acc.close(last_t, false);
                        failures.push(Failure {
                            at: r.ts.clone(),
                            at_ms: last_t,
                            step: acc.id.clone(),
                            attempt: Some(attempt),
                            kind: "attempt",
                            message:
                                "interrupted: the run stopped while this attempt was in flight"
                                    .into(),
                            then: "the run was continued later".into(),
                        });
                    }
                }
                finished = None;
                continued_by.push(Continuation {
                    mode: s(&r.data, "mode").unwrap_or("resume").to_owned(),
                    by: format!(
                        "{}@{}",
                        s(&r.data, "user").unwrap_or("?"),
                        s(&r.data, "host").unwrap_or("?")
                    ),
                    at: r.ts.clone(),
                    retry: s(&r.data, "retry").map(str::to_owned),
                });
            }
            (EventKind::RunFinished, _) => finished = Some((r, t)),
            (EventKind::StepStarted, Some(i)) => {
                let acc = &mut steps[i];
                let attempt = r.attempt.unwrap_or(acc.attempts + 1);
                if acc.open.is_some() {
                    acc.close(t, false);
                }
                acc.first_start.get_or_insert(t);
                if let Some(from) = acc.backoff_from.take() {
                    acc.segments.push(Segment {
                        kind: SegmentKind::Backoff,
                        start_ms: from,
                        end_ms: t,
                        attempt: None,
                    });
                }
                acc.open = Some((attempt, t));
                acc.attempts = acc.attempts.max(attempt);
                acc.status = "running";
                acc.end = None;
                acc.step_type = s(&r.data, "type")
                    .map(str::to_owned)
                    .or(acc.step_type.take());
                acc.effect = s(&r.data, "effect")
                    .map(str::to_owned)
                    .or(acc.effect.take());
            }
            (EventKind::Poll, Some(i)) => {
                let ok = r.data.get("satisfied").and_then(Json::as_bool) == Some(true);
                let n = r.data.get("n").and_then(Json::as_u64).unwrap_or(0);
                steps[i].marks.push(Mark {
                    kind: MarkKind::Poll,
                    at_ms: t,
                    label: format!("poll {n}: {}", if ok { "satisfied" } else { "not yet" }),
                });
            }
            (EventKind::Gate, Some(i)) => {
                let passed = r.data.get("passed").and_then(Json::as_bool) == Some(true);
                let name = s(&r.data, "name").unwrap_or("gate");
                steps[i].marks.push(Mark {
                    kind: if passed {
                        MarkKind::GatePassed
                    } else {
                        MarkKind::GateFailed
                    },
                    at_ms: t,
                    label: match (passed, s(&r.data, "message")) {
                        (true, _) => format!("gate {name}: passed"),
                        (false, Some(m)) => format!("gate {name}: FAILED: {m}"),
                        (false, None) => format!("gate {name}: FAILED"),
                    },
                });
            }
            (EventKind::Note, Some(i)) => {
                let kind = s(&r.data, "kind").unwrap_or("");
                let inner = r.data.get("data").cloned().unwrap_or(Json::Null);
                if kind == "approval_waiting" {
                    steps[i].approval_wait = Some(t);
                    approvals.push(Approval {
                        step: steps[i].id.clone(),
                        prompt: s(&inner, "prompt").map(str::to_owned),
                        waiting_since: Some(r.ts.clone()),
                        decided_at: None,
                        waited_ms: None,
                        decision: "waiting".into(),
                        by: None,
                        via: None,
                        refused: Vec::new(),
                    });
                } else if kind == "approval_refused" {
                    let why = format!(
                        "{} by {} via {}: {}",
                        if inner.get("approved").and_then(Json::as_bool) == Some(true) {
                            "approval"
                        } else {
                            "rejection"
                        },
                        s(&inner, "by").unwrap_or("?"),
                        s(&inner, "via").unwrap_or("?"),
                        s(&inner, "reason").unwrap_or("")
                    );
                    if let Some(a) = approvals.iter_mut().rev().find(|a| a.step == steps[i].id) {
                        a.refused.push(why.clone());
                    }
                    failures.push(Failure {
                        at: r.ts.clone(),
                        at_ms: t,
                        step: steps[i].id.clone(),
                        attempt: None,
                        kind: "approval_refused",
                        message: why,
                        then: "the step kept waiting for an allowed approver".into(),
                    });
                }
            }
            (EventKind::AttemptFailed, Some(i)) => {
                let acc = &mut steps[i];
                let error = s(&r.data, "error").unwrap_or("").to_owned();
                let retry_in = r.data.get("retry_in_ms").and_then(Json::as_u64);
                let was_approval = acc.approval_wait.is_some();
                duration = acc.close(t, false);
                if retry_in.is_some() {
                    acc.backoff_from = Some(t);
                }
                if was_approval {
                    note_approval_end(&mut approvals, acc, &r.ts, t, &error);
                }
                failures.push(Failure {
                    at: r.ts.clone(),
                    at_ms: t,
                    step: acc.id.clone(),
                    attempt: r.attempt,
                    kind: "attempt",
                    message: error,
                    then: match retry_in {
                        Some(ms) => format!("retried in {}", human(ms as i64 * 1000)),
                        None => "no retry left".into(),
                    },
                });
            }
            (EventKind::StepSucceeded, Some(i)) => {
                let acc = &mut steps[i];
                duration = acc.close(t, true);
                acc.status = "succeeded";
                acc.end = Some(t);
                acc.backoff_from = None;
                let result = r.data.get("result").cloned().unwrap_or(Json::Null);
                if let Some(by) = s(&result, "approved_by") {
                    acc.marks.push(Mark {
                        kind: MarkKind::Approved,
                        at_ms: t,
                        label: format!("approved by {by}"),
                    });
                    let decided = s(&result, "approved_at").map_or(r.ts.clone(), str::to_owned);
                    match approvals.iter_mut().rev().find(|a| a.step == acc.id) {
                        Some(a) => {
                            a.decision = "approved".into();
                            a.by = Some(by.to_owned());
                            a.via = s(&result, "via").map(str::to_owned);
                            a.waited_ms = a
                                .waiting_since
                                .as_deref()
                                .and_then(parse_us)
                                .zip(parse_us(&decided))
                                .map(|(a, b)| b - a);
                            a.decided_at = Some(decided);
                        }
                        None => approvals.push(Approval {
                            step: acc.id.clone(),
                            prompt: None,
                            waiting_since: None,
                            decided_at: Some(decided),
                            waited_ms: None,
                            decision: "approved".into(),
                            by: Some(by.to_owned()),
                            via: s(&result, "via").map(str::to_owned),
                            refused: Vec::new(),
                        }),
                    }
                }
                if let Some(outputs) = r.data.get("outputs").and_then(Json::as_object) {
                    for (name, value) in outputs {
                        if is_age_output(name)
                            && let Some(age) = age_value(value)
                        {
                            backup = Some(Backup {
                                age_us: age,
                                what: format!(
                                    "The newest backup ({} of step {} = {})",
                                    md_code(name),
                                    md_code(&acc.id),
                                    compact(value)
                                ),
                                read_at: r.ts.clone(),
                            });
                        } else if is_time_output(name)
                            && let Some(at) = value.as_str().and_then(parse_backup_time)
                        {
                            backup = Some(Backup {
                                age_us: (t + t0) - at,
                                what: format!(
                                    "The newest backup, {} ({} of step {}),",
                                    value.as_str().unwrap_or_default().trim(),
                                    md_code(name),
                                    md_code(&acc.id)
                                ),
                                read_at: r.ts.clone(),
                            });
                        }
                    }
                }
            }
            (EventKind::StepFailed, Some(i)) => {
                let acc = &mut steps[i];
                let error = s(&r.data, "error").unwrap_or("").to_owned();
                let was_approval = acc.approval_wait.is_some();
                if acc.open.is_some() {
                    duration = acc.close(t, false);
                }
                if was_approval {
                    note_approval_end(&mut approvals, acc, &r.ts, t, &error);
                }
                acc.status = "failed";
                acc.end = Some(t);
                acc.backoff_from = None;
                acc.detail = Some(error.clone());
                let then = if s(&r.data, "on_failure") == Some("continue") {
                    "the step failed; the run went on (on_failure: continue)"
                } else {
                    "the step failed and aborted the run"
                };
                // The last attempt's failure says the same: extend it instead of repeating it.
                match failures.last_mut() {
                    Some(f) if f.step == acc.id && f.kind == "attempt" && f.message == error => {
                        f.then = format!("{}; {then}", f.then);
                        f.kind = "step";
                    }
                    _ => failures.push(Failure {
                        at: r.ts.clone(),
                        at_ms: t,
                        step: acc.id.clone(),
                        attempt: r.attempt,
                        kind: "step",
                        message: error,
                        then: then.into(),
                    }),
                }
            }
            (EventKind::StepSkipped, Some(i)) => {
                let acc = &mut steps[i];
                acc.status = "skipped";
                acc.detail = s(&r.data, "reason").map(str::to_owned);
                acc.marks.clear();
            }
            (EventKind::StepCancelled, Some(i)) => {
                let acc = &mut steps[i];
                duration = acc.close(t, false);
                acc.status = "cancelled";
                acc.end = Some(t);
            }
            (EventKind::Decision, Some(i)) => {
                // At resume, a person said an in-flight step did (or did not) take effect.
                let acc = &mut steps[i];
                let action = s(&r.data, "action").unwrap_or("");
                if acc.open.is_some() {
                    acc.close(t, action == "assume_done");
                }
                if action == "assume_done" {
                    acc.status = "succeeded";
                    acc.end = Some(t);
                    acc.detail = Some(format!(
                        "assumed done at resume by {}",
                        s(&r.data, "by").unwrap_or("?")
                    ));
                }
            }
            (EventKind::CompensationStarted, Some(i)) => {
                steps[i].comp_start = Some(t);
                compensation.push(Compensation {
                    step: steps[i].id.clone(),
                    started: r.ts.clone(),
                    ended: None,
                    duration_ms: None,
                    outcome: "unfinished".into(),
                    error: None,
                });
            }
            (EventKind::CompensationSucceeded | EventKind::CompensationFailed, Some(i)) => {
                let acc = &mut steps[i];
                let ok = r.event == EventKind::CompensationSucceeded;
                let from = acc.comp_start.take().unwrap_or(t);
                duration = Some(t - from);
                acc.segments.push(Segment {
                    kind: SegmentKind::Compensation,
                    start_ms: from,
                    end_ms: t,
                    attempt: None,
                });
                acc.compensation = Some(if ok {
                    "compensated"
                } else {
                    "compensation_failed"
                });
                let error = s(&r.data, "error").map(str::to_owned);
                if let Some(c) = compensation.iter_mut().rev().find(|c| c.step == acc.id) {
                    c.ended = Some(r.ts.clone());
                    c.duration_ms = Some(t - from);
                    c.outcome = if ok { "succeeded" } else { "failed" }.into();
                    c.error.clone_from(&error);
                }
                if !ok {
                    failures.push(Failure {
                        at: r.ts.clone(),
                        at_ms: t,
                        step: acc.id.clone(),
                        attempt: None,
                        kind: "compensation",
                        message: error.unwrap_or_default(),
                        then: "the step's change was NOT undone: clean up by hand".into(),
                    });
                }
            }
            _ => {}
        }
        if r.event == EventKind::RunFinished {
            duration = Some(t);
        }
        events.push(EventRow {
            seq: r.seq,
            ts: r.ts.clone(),
            at_ms: t,
            step: r.step.clone(),
            event: r.event.as_str(),
            attempt: r.attempt,
            duration_ms: duration,
            detail: detail(r),
        });
        last_t = last_t.max(t);
    }

    // Whatever is still open never ended in this journal.
    for acc in steps.iter_mut() {
        if acc.open.is_some() {
            acc.close(last_t, true);
        }
    }

    let data = |k: &str| started.and_then(|r| s(&r.data, k)).map(str::to_owned);
    let labels = started
        .and_then(|r| r.data.get("labels").cloned())
        .unwrap_or(Json::Object(Default::default()));
    let severity = labels
        .get("severity")
        .and_then(Json::as_str)
        .map(str::to_owned);
    let outcome = finished
        .and_then(|(r, _)| s(&r.data, "outcome"))
        .unwrap_or("unfinished")
        .to_owned();
    let duration = finished.map(|(_, t)| t);

    let waiting_known = runbook.is_some();
    if let Some(rb) = runbook {
        add_waiting(&mut steps, &index, rb);
    }
    let path = critical_path(&steps, runbook);
    let on_path: HashSet<&str> = path.steps.iter().map(|p| p.step.as_str()).collect();

    let (rto_target, rto_target_us) = duration_target(started.and_then(|r| r.data.get("rto")));
    let (rpo_target, rpo_target_us) = duration_target(started.and_then(|r| r.data.get("rpo")));
    let rto = rto_objective(
        rto_target,
        rto_target_us,
        duration,
        &outcome,
        &start_ts,
        finished,
    );
    let rpo = rpo_objective(rpo_target, rpo_target_us, backup.as_ref());

    let header = Header {
        run_id: records.first().map(|r| r.run.clone()).unwrap_or_default(),
        runbook: data("runbook").unwrap_or_else(|| "?".into()),
        version: data("version").unwrap_or_else(|| "?".into()),
        sha256: data("sha256").unwrap_or_else(|| "?".into()),
        path: started
            .and_then(|r| r.data.get("path"))
            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
            .unwrap_or_default(),
        started_by: format!(
            "{}@{}",
            data("user").unwrap_or_else(|| "?".into()),
            data("host").unwrap_or_else(|| "?".into())
        ),
        continued_by,
        severity_meaning: severity.as_deref().and_then(severity_meaning),
        severity,
        scenario: labels
            .get("scenario")
            .and_then(Json::as_str)
            .map(str::to_owned),
        labels,
        params: started
            .and_then(|r| r.data.get("params").cloned())
            .unwrap_or(Json::Null),
        dry_run: started
            .and_then(|r| r.data.get("dry_run"))
            .and_then(Json::as_bool)
            .unwrap_or(false),
        ripcord_version: data("ripcord_version").unwrap_or_else(|| "?".into()),
        start: start_ts.clone(),
        end: finished.map(|(r, _)| r.ts.clone()),
        outcome,
        failed_steps: finished
            .and_then(|(r, _)| r.data.get("failed_steps"))
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        duration_ms: duration,
        needs_from: if waiting_known { "runbook" } else { "timing" },
    };

    let steps: Vec<StepTimeline> = steps
        .into_iter()
        .map(|acc| {
            let def = runbook.and_then(|rb| rb.steps.get(&acc.id));
            StepTimeline {
                name: def.and_then(|d| d.name.clone()),
                finally: def.map(|d| d.finally),
                on_critical_path: on_path.contains(acc.id.as_str()),
                duration_ms: acc.first_start.zip(acc.end).map(|(a, b)| b - a),
                start_ms: acc.first_start,
                end_ms: acc.end,
                status: acc.status.to_owned(),
                compensation: acc.compensation.map(str::to_owned),
                step_type: acc.step_type,
                effect: acc.effect,
                attempts: acc.attempts,
                segments: acc.segments,
                marks: acc.marks,
                detail: acc.detail,
                id: acc.id,
            }
        })
        .collect();

    let mut timeline = Timeline {
        schema: SCHEMA,
        verification,
        run: header,
        objectives: Objectives { rto, rpo },
        critical_path: path,
        steps,
        failures,
        compensation,
        approvals,
        checklist: Vec::new(),
        events,
        span_us: last_t,
    };
    timeline.checklist = checklist(&timeline, runbook);
    timeline
}

fn note_approval_end(approvals: &mut [Approval], acc: &mut Acc, ts: &str, t: i64, error: &str) {
    let by = error.strip_prefix("rejected by ").map(str::to_owned);
    acc.marks.push(Mark {
        kind: MarkKind::Rejected,
        at_ms: t,
        label: match &by {
            Some(b) => format!("rejected by {b}"),
            None => "no decision".into(),
        },
    });
    if let Some(a) = approvals.iter_mut().rev().find(|a| a.step == acc.id)
        && a.decision == "waiting"
    {
        a.decision = if by.is_some() {
            "rejected"
        } else {
            "timed_out"
        }
        .into();
        a.by = by;
        a.decided_at = Some(ts.to_owned());
        a.waited_ms = a
            .waiting_since
            .as_deref()
            .and_then(parse_us)
            .zip(parse_us(ts))
            .map(|(a, b)| b - a);
    }
}

/// A short JSON rendering of a value for event details.
fn compact(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `details` column of the events table.
fn detail(r: &Record) -> String {
    let d = &r.data;
    let get = |k: &str| s(d, k).unwrap_or("");
    match r.event {
        EventKind::RunStarted => {
            let params = d
                .get("params")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", compact(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let mut out = format!(
                "{}@{} by {}@{}",
                get("runbook"),
                get("version"),
                get("user"),
                get("host")
            );
            if !params.is_empty() {
                out.push_str(&format!("; params: {params}"));
            }
            if d.get("dry_run").and_then(Json::as_bool) == Some(true) {
                out.push_str("; DRY RUN");
            }
            out
        }
        EventKind::RunResumed => {
            let mut out = format!("{} by {}@{}", get("mode"), get("user"), get("host"));
            if let Some(step) = s(d, "retry") {
                out.push_str(&format!(" of step {step}"));
            }
            out
        }
        EventKind::StepStarted => {
            let mut out = format!(
                "attempt {} of {}; {}, {}",
                r.attempt.unwrap_or(1),
                d.get("attempts").and_then(Json::as_u64).unwrap_or(1),
                get("type"),
                get("effect")
            );
            if d.get("dry_run").and_then(Json::as_bool) == Some(true) {
                out.push_str(" (dry run)");
            }
            out
        }
        EventKind::Poll => format!(
            "poll {}: {} {}",
            d.get("n").and_then(Json::as_u64).unwrap_or(0),
            get("expr"),
            if d.get("satisfied").and_then(Json::as_bool) == Some(true) {
                "is true"
            } else {
                "not yet"
            }
        ),
        EventKind::Gate => {
            if d.get("passed").and_then(Json::as_bool) == Some(true) {
                format!("gate \"{}\" passed ({})", get("name"), get("expr"))
            } else {
                match s(d, "message") {
                    Some(m) => format!("gate \"{}\" FAILED: {m}", get("name")),
                    None => format!("gate \"{}\" FAILED ({} is false)", get("name"), get("expr")),
                }
            }
        }
        EventKind::Note => {
            let inner = d.get("data").cloned().unwrap_or(Json::Null);
            match get("kind") {
                "approval_waiting" => {
                    let approvers = inner
                        .get("approvers")
                        .and_then(Json::as_array)
                        .filter(|a| !a.is_empty())
                        .map(|a| {
                            a.iter()
                                .filter_map(Json::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_else(|| "anyone".into());
                    format!(
                        "waiting for approval: \"{}\" (approvers: {approvers})",
                        s(&inner, "prompt").unwrap_or("")
                    )
                }
                "approval_refused" => format!(
                    "decision by {} refused: {}",
                    s(&inner, "by").unwrap_or("?"),
                    s(&inner, "reason").unwrap_or("")
                ),
                "process_started" => format!(
                    "started `{}` (process group {})",
                    s(&inner, "program").unwrap_or("?"),
                    inner.get("pgid").map_or_else(|| "?".into(), compact)
                ),
                kind => format!("{kind}: {}", compact(&inner)),
            }
        }
        EventKind::AttemptFailed => {
            let retry = match d.get("retry_in_ms").and_then(Json::as_u64) {
                Some(ms) => format!(" (retry in {})", human(ms as i64 * 1000)),
                None => " (no retry)".into(),
            };
            format!("{}{retry}", get("error"))
        }
        EventKind::StepSucceeded => {
            let result = d.get("result").cloned().unwrap_or(Json::Null);
            if let Some(by) = s(&result, "approved_by") {
                return format!(
                    "approved by {by} at {} via {}",
                    s(&result, "approved_at").unwrap_or("?"),
                    s(&result, "via").unwrap_or("?")
                );
            }
            match d.get("outputs").and_then(Json::as_object) {
                Some(o) if !o.is_empty() => format!(
                    "outputs: {}",
                    o.iter()
                        .map(|(k, v)| format!("{k}={}", compact(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            }
        }
        EventKind::StepFailed => match s(d, "on_failure") {
            Some("continue") => format!("{} (on_failure: continue)", get("error")),
            _ => format!("{} (aborts the run)", get("error")),
        },
        EventKind::StepSkipped => get("reason").to_owned(),
        EventKind::Decision => format!("{} by {}: {}", get("action"), get("by"), get("why")),
        EventKind::CompensationStarted => format!("undoing with {}", get("type")),
        EventKind::CompensationFailed => get("error").to_owned(),
        EventKind::CancelRequested => format!("cancel requested ({})", get("reason")),
        EventKind::RunFinished => {
            let failed = d
                .get("failed_steps")
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Json::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            if failed.is_empty() {
                get("outcome").to_owned()
            } else {
                format!("{} (failed: {failed})", get("outcome"))
            }
        }
        EventKind::StepCancelled | EventKind::CompensationSucceeded => String::new(),
    }
}

/// Waiting segments: from the moment a step's `needs` were all done to its first attempt.
fn add_waiting(steps: &mut [Acc], index: &HashMap<String, usize>, rb: &RunbookSteps) {
    let ready: Vec<Option<i64>> = steps
        .iter()
        .map(|acc| {
            let first = acc.first_start?;
            let def = rb.steps.get(&acc.id)?;
            let mut ready = 0i64;
            for need in &def.needs {
                let end = index.get(need).and_then(|&j| steps[j].end)?;
                ready = ready.max(end);
            }
            (first - ready > 1000).then_some(ready)
        })
        .collect();
    for (acc, ready) in steps.iter_mut().zip(ready) {
        if let (Some(ready), Some(first)) = (ready, acc.first_start)
            && rb.steps.get(&acc.id).is_some_and(|d| !d.needs.is_empty())
        {
            acc.segments.insert(
                0,
                Segment {
                    kind: SegmentKind::Waiting,
                    start_ms: ready,
                    end_ms: first,
                    attempt: None,
                },
            );
        }
    }
}

/// The chain of steps that ended last: from the last-ending step back through whatever it
/// waited for (its latest-ending `need` when the runbook is known, otherwise the step that
/// ended last before it started).
fn critical_path(steps: &[Acc], runbook: Option<&RunbookSteps>) -> CriticalPath {
    let source = if runbook.is_some() {
        "runbook"
    } else {
        "timing"
    };
    let ran: Vec<(usize, i64, i64)> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((i, a.first_start?, a.end?)))
        .collect();
    let mut by_end = ran.clone();
    by_end.sort_by_key(|&(i, _, end)| (end, i));
    let by_id: HashMap<&str, (usize, i64, i64)> = ran
        .iter()
        .map(|&(i, s, e)| (steps[i].id.as_str(), (i, s, e)))
        .collect();
    let Some(&last) = ran
        .iter()
        .max_by_key(|&&(i, start, end)| (end, start, std::cmp::Reverse(i)))
    else {
        return CriticalPath {
            source,
            steps: Vec::new(),
        };
    };
    let mut chain = vec![last];
    let mut seen: HashSet<usize> = HashSet::from([last.0]);
    let mut cur = last;
    loop {
        let (i, start, _) = cur;
        let def = runbook.and_then(|rb| rb.steps.get(&steps[i].id));
        let pred = match def {
            Some(d) if !d.needs.is_empty() => d
                .needs
                .iter()
                .filter_map(|n| by_id.get(n.as_str()).copied())
                .filter(|&(j, _, end)| end <= start && !seen.contains(&j))
                .max_by_key(|&(j, _, end)| (end, std::cmp::Reverse(j))),
            // A root of the main DAG waited for nothing.
            Some(d) if !d.finally => None,
            // `finally` (after the main steps) or no runbook: what ended last before it began.
            _ => {
                let upto = by_end.partition_point(|&(_, _, end)| end <= start);
                by_end[..upto]
                    .iter()
                    .rev()
                    .find(|&&(j, _, _)| !seen.contains(&j))
                    .copied()
            }
        };
        let Some(p) = pred else { break };
        seen.insert(p.0);
        chain.push(p);
        cur = p;
    }
    chain.reverse();
    let mut prev_end = 0i64;
    let steps = chain
        .into_iter()
        .map(|(i, start, end)| {
            let waited = (start - prev_end).max(0);
            prev_end = end;
            PathStep {
                step: steps[i].id.clone(),
                start_ms: start,
                end_ms: end,
                duration_ms: end - start,
                waited_ms: waited,
                attempts: steps[i].attempts,
            }
        })
        .collect();
    CriticalPath { source, steps }
}

fn rto_objective(
    target: Option<String>,
    target_us: Option<i64>,
    actual: Option<i64>,
    outcome: &str,
    start: &str,
    finished: Option<(&Record, i64)>,
) -> Objective {
    let Some(actual) = actual else {
        return Objective {
            target,
            target_ms: target_us,
            actual_ms: None,
            verdict: Verdict::NotRecovered,
            explanation: "The journal has no run_finished record: the run never ended (it \
                          crashed, was killed, or is still running), so recovery is not shown."
                .into(),
        };
    };
    let end = finished.map_or("?", |(r, _)| r.ts.as_str());
    let measured = format!(
        "The run took {} from its first record ({}) to run_finished ({})",
        human(actual),
        super::fmt::stamp(start),
        super::fmt::stamp(end)
    );
    let (verdict, explanation) = match target_us {
        None => (
            Verdict::NoTarget,
            format!("{measured}; the runbook declares no RTO (objectives.rto)."),
        ),
        Some(_) if outcome != "succeeded" => (
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
        target_ms: target_us,
        actual_ms: Some(actual),
        verdict,
        explanation,
    }
}

fn rpo_objective(
    target: Option<String>,
    target_us: Option<i64>,
    backup: Option<&Backup>,
) -> Objective {
    let Some(b) = backup else {
        return Objective {
            target,
            target_ms: target_us,
            actual_ms: None,
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
        super::fmt::stamp(&b.read_at)
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
        target_ms: target_us,
        actual_ms: Some(b.age_us),
        verdict,
        explanation,
    }
}

/// The DR plan's post-incident checklist, with what the journal can answer.
fn checklist(t: &Timeline, runbook: Option<&RunbookSteps>) -> Vec<ChecklistItem> {
    let mut items = Vec::new();
    let v = &t.verification;
    items.push(ChecklistItem {
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
    });

    let first = t.failures.first();
    let last_step_failure = t.failures.iter().rev().find(|f| f.kind == "step");
    items.push(ChecklistItem {
        item: "Identify root cause",
        done: false,
        note: match (first, last_step_failure) {
            (None, _) => {
                "open; the run recorded no failure, so the cause lies outside this run".into()
            }
            (Some(f), Some(l)) if f.step != l.step || f.at != l.at => format!(
                "open; evidence: first failure {} at {}: {}; the run's failure: {}: {}",
                md_code(&f.step),
                super::fmt::offset(f.at_ms),
                one_line(&f.message),
                md_code(&l.step),
                one_line(&l.message)
            ),
            (Some(f), _) => format!(
                "open; evidence: first failure {} at {}: {}",
                md_code(&f.step),
                super::fmt::offset(f.at_ms),
                one_line(&f.message)
            ),
        },
    });

    let mut hints = Vec::new();
    for step in &t.steps {
        if step.attempts > 1 {
            hints.push(format!(
                "{} needed {} attempts",
                md_code(&step.id),
                step.attempts
            ));
        }
        if step.marks.iter().any(|m| m.kind == MarkKind::GateFailed) {
            hints.push(format!("a gate of {} failed", md_code(&step.id)));
        }
        if let (Some(d), Some(expected)) = (
            step.duration_ms,
            runbook
                .and_then(|rb| rb.steps.get(&step.id))
                .and_then(|d| d.expected),
        ) {
            let expected = expected.as_micros() as i64;
            if expected > 0 && d > expected * 2 {
                hints.push(format!(
                    "{} took {} (expected {})",
                    md_code(&step.id),
                    human(d),
                    human(expected)
                ));
            }
        }
    }
    items.push(ChecklistItem {
        item: "Update runbooks if needed",
        done: false,
        note: if hints.is_empty() {
            "open; nothing in this run points at the runbook".into()
        } else {
            format!("open; candidates from this run: {}", hints.join("; "))
        },
    });

    items.push(ChecklistItem {
        item: "Review and improve monitoring",
        done: false,
        note: if t.objectives.rpo.verdict == Verdict::NotMeasured {
            "open; this run did not record the backup's age: add a step that reads it, and \
             export run metrics with `ripcord run --metrics-file`"
                .into()
        } else {
            "open; run metrics can be exported with `ripcord run --metrics-file`".into()
        },
    });

    let mut people = vec![format!("{} (ran it)", user_of(&t.run.started_by))];
    for c in &t.run.continued_by {
        people.push(format!(
            "{} ({} at {})",
            user_of(&c.by),
            c.mode,
            super::fmt::stamp(&c.at)
        ));
    }
    for a in &t.approvals {
        if let Some(by) = &a.by {
            people.push(format!("{by} ({} {})", a.decision, md_code(&a.step)));
        }
    }
    items.push(ChecklistItem {
        item: "Conduct blameless postmortem",
        done: false,
        note: format!("open; people in this run: {}", people.join(", ")),
    });
    items.push(ChecklistItem {
        item: "Share lessons learned",
        done: false,
        note: "open; share this document (`ripcord timeline RUN --format html` for a page)".into(),
    });

    let verdict =
        |name: &str, o: &super::Objective| match (o.verdict, o.actual_ms, o.target.as_deref()) {
            (Verdict::Met, Some(a), Some(tg)) => format!("{name} met ({} of {tg})", human(a)),
            (Verdict::Missed, Some(a), Some(tg)) => {
                format!("{name} MISSED ({} against {tg})", human(a))
            }
            (v, _, _) => format!("{name} {}", v.as_str()),
        };
    items.push(ChecklistItem {
        item: "Update DR plan if needed",
        done: false,
        note: format!(
            "open; {}; {}",
            verdict("RTO", &t.objectives.rto),
            verdict("RPO", &t.objectives.rpo)
        ),
    });

    let mut follow = Vec::new();
    let undone: Vec<String> = t
        .compensation
        .iter()
        .filter(|c| c.outcome == "succeeded")
        .map(|c| md_code(&c.step))
        .collect();
    if !undone.is_empty() {
        follow.push(format!(
            "the run was rolled back by compensation ({}): the recovery itself is still to be done",
            undone.join(", ")
        ));
    }
    for c in t.compensation.iter().filter(|c| c.outcome != "succeeded") {
        follow.push(format!(
            "compensation of {} {}: clean up by hand",
            md_code(&c.step),
            c.outcome
        ));
    }
    if t.run.outcome == "unfinished" {
        follow.push("the run never finished: `ripcord resume` it or close it out".into());
    }
    items.push(ChecklistItem {
        item: "Schedule follow-up actions",
        done: false,
        note: if follow.is_empty() {
            "open".into()
        } else {
            format!("open; {}", follow.join("; "))
        },
    });
    items
}

fn user_of(user_at_host: &str) -> &str {
    user_at_host.split('@').next().unwrap_or(user_at_host)
}

fn one_line(s: &str) -> String {
    s.trim().replace('\n', " ")
}
