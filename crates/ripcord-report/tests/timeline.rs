//! The timeline model on journals written for each case: RPO from a backup age, approvals
//! rejected, resumed and unfinished runs, the critical path from timing alone, the Gantt's row
//! cap, escaping; and the recorded fixture journals without their runbook.

use std::path::PathBuf;

use ripcord_engine::{EventKind, Record};
use ripcord_report::timeline::{
    self, MarkKind, RunbookSteps, SegmentKind, StepDef, Verdict, Verification, compare, metrics,
};
use serde_json::{Value, json};

/// One hand-written record: (seconds after start, step, attempt, event, data).
type Event<'a> = (f64, Option<&'a str>, Option<u32>, EventKind, Value);

/// Records of a run, built by hand.
fn journal(events: &[Event<'_>]) -> Vec<Record> {
    let t0 = chrono::DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z").unwrap();
    events
        .iter()
        .enumerate()
        .map(|(n, (at, step, attempt, event, data))| Record {
            seq: n as u64 + 1,
            ts: (t0 + chrono::Duration::microseconds((at * 1e6) as i64))
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            run: "r-1".into(),
            step: step.map(str::to_owned),
            attempt: *attempt,
            event: *event,
            data: data.clone(),
            prev: String::new(),
            hash: String::new(),
        })
        .collect()
}

fn started(rto: &str, rpo: &str) -> Value {
    json!({"runbook": "db-restore", "version": "2.0.0", "sha256": "ab".repeat(32), "path": "/x.yaml",
           "params": {}, "labels": {"severity": "P0"}, "rto": rto, "rpo": rpo, "user": "dana",
           "host": "ops1", "ripcord_version": "0.1.0", "dry_run": false})
}

fn ok(outputs: Value) -> Value {
    json!({"outputs": outputs, "result": {}})
}

use EventKind::*;

fn build(records: &[Record]) -> timeline::Timeline {
    timeline::build(records, Verification::verified(records.len()), None)
}

#[test]
fn a_backup_age_output_measures_the_rpo() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("10m", "15m")),
        (
            0.1,
            Some("check"),
            Some(1),
            StepStarted,
            json!({"type": "shell"}),
        ),
        (
            0.2,
            Some("check"),
            Some(1),
            StepSucceeded,
            ok(json!({"backup_age": 1260})),
        ),
        (
            0.3,
            None,
            None,
            RunFinished,
            json!({"outcome": "succeeded", "failed_steps": []}),
        ),
    ]);
    let t = build(&records);
    assert_eq!(t.objectives.rpo.verdict, Verdict::Missed);
    assert_eq!(t.objectives.rpo.actual_us, Some(1_260_000_000));
    assert!(
        t.objectives.rpo.explanation.contains("MISSED by 6m 0s"),
        "{}",
        t.objectives.rpo.explanation
    );
    assert_eq!(t.objectives.rto.verdict, Verdict::Met);
    assert_eq!(t.run.severity_meaning, Some("Critical (complete outage)"));
}

#[test]
fn without_a_backup_output_the_rpo_is_not_measured_and_says_so() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("10m", "1h")),
        (
            1.0,
            None,
            None,
            RunFinished,
            json!({"outcome": "succeeded", "failed_steps": []}),
        ),
    ]);
    let t = build(&records);
    assert_eq!(t.objectives.rpo.verdict, Verdict::NotMeasured);
    assert!(
        t.objectives
            .rpo
            .explanation
            .starts_with("Not measured by this run")
    );
    let md = timeline::markdown(&t);
    assert!(
        md.contains("| RPO | 1h | not measured | not measured by this run |"),
        "{md}"
    );
}

#[test]
fn an_rto_overrun_is_missed_by_how_much() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("1m", "1h")),
        (
            90.0,
            None,
            None,
            RunFinished,
            json!({"outcome": "succeeded", "failed_steps": []}),
        ),
    ]);
    let t = build(&records);
    assert_eq!(t.objectives.rto.verdict, Verdict::Missed);
    assert!(
        t.objectives.rto.explanation.ends_with("MISSED by 30.0s."),
        "{}",
        t.objectives.rto.explanation
    );
}

#[test]
fn a_rejected_approval_names_who_and_when() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("10m", "1h")),
        (
            0.1,
            Some("go"),
            Some(1),
            StepStarted,
            json!({"type": "approval"}),
        ),
        (
            0.2,
            Some("go"),
            None,
            Note,
            json!({"kind": "approval_waiting", "data": {"prompt": "Fail over?", "approvers": ["erin"]}}),
        ),
        (
            5.0,
            Some("go"),
            None,
            Note,
            json!({"kind": "approval_refused", "data": {"by": "mallory", "approved": true, "via": "cli", "reason": "not an approver"}}),
        ),
        (
            9.0,
            Some("go"),
            Some(1),
            AttemptFailed,
            json!({"error": "rejected by erin", "retry_in_ms": null}),
        ),
        (
            9.1,
            Some("go"),
            Some(1),
            StepFailed,
            json!({"error": "rejected by erin", "on_failure": "abort"}),
        ),
        (
            9.2,
            None,
            None,
            RunFinished,
            json!({"outcome": "failed", "failed_steps": ["go"]}),
        ),
    ]);
    let t = build(&records);
    let a = &t.approvals[0];
    assert_eq!(a.decision, "rejected");
    assert_eq!(a.by.as_deref(), Some("erin"));
    assert_eq!(a.waited_us, Some(8_800_000));
    assert_eq!(a.refused.len(), 1);
    let go = &t.steps[0];
    let kinds: Vec<SegmentKind> = go.segments.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [SegmentKind::FailedAttempt, SegmentKind::ApprovalWait]
    );
    assert!(
        go.marks
            .iter()
            .any(|m| m.kind == MarkKind::Rejected && m.label == "rejected by erin")
    );
    // The attempt and the step failure are one entry, after the refused decision.
    assert_eq!(t.failures.len(), 2);
    assert_eq!(t.failures[1].kind, "step");
    assert!(t.failures[1].then.contains("aborted the run"));
    assert_eq!(t.objectives.rto.verdict, Verdict::NotRecovered);
}

#[test]
fn a_crashed_and_resumed_run_shows_the_interruption_and_who_continued() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("10m", "1h")),
        (
            0.1,
            Some("copy"),
            Some(1),
            StepStarted,
            json!({"type": "shell"}),
        ),
        (
            0.5,
            Some("copy"),
            None,
            Note,
            json!({"kind": "progress", "data": {"pct": 40}}),
        ),
        (
            120.0,
            None,
            None,
            RunResumed,
            json!({"mode": "resume", "user": "frank", "host": "ops2"}),
        ),
        (
            120.1,
            Some("copy"),
            None,
            Decision,
            json!({"action": "rerun", "by": "frank", "why": "not applied"}),
        ),
        (
            120.2,
            Some("copy"),
            Some(2),
            StepStarted,
            json!({"type": "shell"}),
        ),
        (121.0, Some("copy"), Some(2), StepSucceeded, ok(json!({}))),
        (
            121.1,
            None,
            None,
            RunFinished,
            json!({"outcome": "succeeded", "failed_steps": []}),
        ),
    ]);
    let t = build(&records);
    assert_eq!(t.run.continued_by[0].by, "frank@ops2");
    let copy = &t.steps[0];
    assert_eq!(copy.status, "succeeded");
    assert_eq!(copy.attempts, 2);
    assert_eq!(copy.segments[0].kind, SegmentKind::FailedAttempt);
    assert_eq!(
        copy.segments[0].end_us, 500_000,
        "ends at the last record before the stop"
    );
    assert!(t.failures[0].message.starts_with("interrupted"));
    // The downtime counts: RTO is wall-clock.
    assert_eq!(t.run.duration_us, Some(121_100_000));
    let md = timeline::markdown(&t);
    assert!(
        md.contains("| Run by | dana@ops1; resume by frank@ops2 at 2025-03-01 10:02:00.000 UTC |"),
        "{md}"
    );
}

#[test]
fn an_unfinished_run_is_not_a_recovery() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("10m", "1h")),
        (
            0.1,
            Some("copy"),
            Some(1),
            StepStarted,
            json!({"type": "shell"}),
        ),
    ]);
    let t = build(&records);
    assert_eq!(t.run.outcome, "unfinished");
    assert_eq!(t.objectives.rto.verdict, Verdict::NotRecovered);
    assert_eq!(t.steps[0].status, "running");
    assert!(metrics::RunMetrics::from_timeline(&t).is_none());
    assert!(
        t.checklist
            .iter()
            .any(|c| c.note.contains("never finished"))
    );
}

/// a -> b, a -> c (slow), {b, c} -> d; e is unrelated and ends early.
fn diamond() -> Vec<Record> {
    journal(&[
        (0.0, None, None, RunStarted, started("10m", "1h")),
        (0.0, Some("a"), Some(1), StepStarted, json!({})),
        (0.0, Some("e"), Some(1), StepStarted, json!({})),
        (1.0, Some("a"), Some(1), StepSucceeded, ok(json!({}))),
        (1.0, Some("b"), Some(1), StepStarted, json!({})),
        (1.0, Some("c"), Some(1), StepStarted, json!({})),
        (1.5, Some("e"), Some(1), StepSucceeded, ok(json!({}))),
        (2.0, Some("b"), Some(1), StepSucceeded, ok(json!({}))),
        (4.0, Some("c"), Some(1), StepSucceeded, ok(json!({}))),
        (4.0, Some("d"), Some(1), StepStarted, json!({})),
        (5.0, Some("d"), Some(1), StepSucceeded, ok(json!({}))),
        (
            5.0,
            None,
            None,
            RunFinished,
            json!({"outcome": "succeeded", "failed_steps": []}),
        ),
    ])
}

fn path_of(t: &timeline::Timeline) -> Vec<&str> {
    t.critical_path
        .steps
        .iter()
        .map(|p| p.step.as_str())
        .collect()
}

#[test]
fn the_critical_path_from_timing_alone() {
    let t = build(&diamond());
    assert_eq!(t.critical_path.source, "timing");
    assert_eq!(path_of(&t), ["a", "c", "d"]);
    assert!(
        t.steps
            .iter()
            .find(|s| s.id == "c")
            .unwrap()
            .on_critical_path
    );
    assert!(
        !t.steps
            .iter()
            .find(|s| s.id == "b")
            .unwrap()
            .on_critical_path
    );
}

#[test]
fn the_critical_path_follows_needs_when_the_runbook_is_known() {
    let mut rb = RunbookSteps::default();
    for (id, needs) in [
        ("a", vec![]),
        ("b", vec!["a"]),
        ("c", vec!["a"]),
        ("d", vec!["b", "c"]),
        ("e", vec![]),
        ("f", vec!["e"]),
    ] {
        rb.steps.insert(
            id.into(),
            StepDef {
                needs: needs.into_iter().map(str::to_owned).collect(),
                ..StepDef::default()
            },
        );
    }
    // f (needs e) queued for a slot until c was done and ended last.
    let mut records = diamond();
    let finished = records.pop().unwrap();
    let more = journal(&[
        (4.5, Some("f"), Some(1), StepStarted, json!({})),
        (6.0, Some("f"), Some(1), StepSucceeded, ok(json!({}))),
    ]);
    for r in more {
        records.push(Record {
            seq: records.len() as u64 + 1,
            ..r
        });
    }
    records.push(Record {
        seq: records.len() as u64 + 1,
        ..finished
    });
    let by_timing = build(&records);
    assert_eq!(path_of(&by_timing), ["a", "c", "f"]);
    let t = timeline::build(&records, Verification::verified(records.len()), Some(&rb));
    assert_eq!(t.critical_path.source, "runbook");
    assert_eq!(path_of(&t), ["e", "f"]);
    assert_eq!(t.critical_path.steps[1].waited_us, 3_000_000);
    // With needs known, f's wait for a slot shows as a queued segment.
    let f = t.steps.iter().find(|s| s.id == "f").unwrap();
    assert_eq!(f.segments[0].kind, SegmentKind::Waiting);
    assert_eq!(
        (f.segments[0].start_us, f.segments[0].end_us),
        (1_500_000, 4_500_000)
    );
}

#[test]
fn html_escapes_what_the_journal_says() {
    let records = journal(&[
        (0.0, None, None, RunStarted, started("10m", "1h")),
        (0.1, Some("x<script>"), Some(1), StepStarted, json!({})),
        (
            0.2,
            Some("x<script>"),
            Some(1),
            StepFailed,
            json!({"error": "</td><img src=x onerror=alert(1)>"}),
        ),
        (
            0.3,
            None,
            None,
            RunFinished,
            json!({"outcome": "failed", "failed_steps": ["x<script>"]}),
        ),
    ]);
    let html = timeline::html(&build(&records));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
    assert!(html.contains("x&lt;script&gt;"));
}

#[test]
fn the_gantt_draws_at_most_its_row_cap_and_keeps_the_critical_path() {
    let mut events = vec![(0.0, None, None, RunStarted, started("10m", "1h"))];
    let ids: Vec<String> = (0..1000).map(|i| format!("s{i:04}")).collect();
    // All start at once (a wide wave); the last to end is the critical path.
    for id in &ids {
        events.push((0.0, Some(id.as_str()), Some(1), StepStarted, json!({})));
    }
    for (i, id) in ids.iter().enumerate() {
        events.push((
            i as f64 * 0.01,
            Some(id.as_str()),
            Some(1),
            StepSucceeded,
            ok(json!({})),
        ));
    }
    let records = journal(
        &events
            .iter()
            .map(|(a, s, n, e, d)| (*a, s.as_deref(), *n, *e, d.clone()))
            .collect::<Vec<_>>(),
    );
    let t = build(&records);
    let html = timeline::html(&t);
    assert!(html.contains("more steps are not drawn"));
    assert!(
        html.contains("600 more steps are not drawn"),
        "400 rows are"
    );
    let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    assert!(
        svg.contains(">s0999<"),
        "the last step (on the critical path) is drawn"
    );
    assert!(svg.contains(">s0000<"), "the earliest others are");
    assert!(!svg.contains(">s0998<"), "the rest are not");
    assert_eq!(t.events.len(), 2001, "every event is listed");
}

fn fixture_records(which: usize) -> (Vec<Record>, Verification) {
    let runs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/timeline/runs");
    let mut ids: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    ids.sort();
    let report = ripcord_engine::journal::verify(&ids[which].join("journal.jsonl")).unwrap();
    let v = Verification::from_report(&report);
    (report.records, v)
}

#[test]
fn the_recorded_incident_without_its_runbook() {
    let (records, v) = fixture_records(0);
    assert!(v.ok);
    let t = timeline::build(&records, v, None);
    assert_eq!(t.critical_path.source, "timing");
    assert_eq!(t.run.outcome, "failed");
    assert_eq!(t.critical_path.steps.last().unwrap().step, "record");
    assert!(path_of(&t).contains(&"smoke_test"));
    // Without needs, no queued segments are claimed.
    assert!(
        t.steps
            .iter()
            .all(|s| s.segments.iter().all(|g| g.kind != SegmentKind::Waiting))
    );
    assert_eq!(t.compensation.len(), 2);
    assert!(t.compensation.iter().all(|c| c.outcome == "succeeded"));
    let m = metrics::RunMetrics::from_timeline(&t).unwrap();
    assert_eq!(m.outcome, "failed");
    assert_eq!(m.runbook, "restore-drill");
}

#[test]
fn comparing_runs_orders_them_by_start() {
    let (a, va) = fixture_records(0);
    let (b, vb) = fixture_records(1);
    let ta = timeline::build(&a, va, None);
    let tb = timeline::build(&b, vb, None);
    let c = compare::compare(&[tb, ta]);
    assert!(c.runs[0].start < c.runs[1].start);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.rto_trend.deltas_us.len(), 2);
    assert!(c.rto_trend.deltas_us[0].is_none());
    assert!(c.rto_trend.deltas_us[1].is_some());
}
