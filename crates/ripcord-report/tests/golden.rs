//! In-process golden files (insta, under tests/snapshots/): the timeline of the recorded
//! fixture journals (tests/fixtures/timeline/runs) in Markdown, JSON and HTML, a drill
//! comparison, a journal written here from typed events with every event kind the timeline
//! reads, and the plan text of the fixture runbook. The CLI's end-to-end snapshots pin the
//! same documents through the binary; these pin the library without it.

use std::path::PathBuf;

use ripcord_engine::events::{
    AttemptFailed, CancelRequested, CompensationFailed, CompensationStarted, CompensationSucceeded,
    Decision, DecisionAction, Event, Gate, Note, Outcome, Poll, ResumeMode, RunFinished,
    RunResumed, RunStarted, SkipCause, StepCancelled, StepFailed, StepSkipped, StepStarted,
    StepSucceeded,
};
use ripcord_engine::{Record, journal};
use ripcord_report::timeline::{self, RunbookSteps, Timeline, Verification, compare};
use ripcord_spec::Effect;
use ripcord_spec::model::OnFailure;
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture_runbook() -> ripcord_spec::Validated {
    let path = root().join("tests/fixtures/timeline/restore-drill.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let outcome = ripcord_spec::validate(ripcord_spec::SourceFile::new(
        "tests/fixtures/timeline/restore-drill.yaml",
        text,
    ));
    outcome.validated.expect("the fixture runbook is valid")
}

/// The recorded journals, oldest first: the incident (fails, compensates), then the drill.
fn fixture_journals() -> Vec<PathBuf> {
    let runs = root().join("tests/fixtures/timeline/runs");
    let mut ids: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path().join("journal.jsonl"))
        .collect();
    ids.sort();
    ids
}

fn recorded(which: usize, runbook: Option<&RunbookSteps>) -> Timeline {
    let report = journal::verify(&fixture_journals()[which]).unwrap();
    assert!(report.problem.is_none(), "the fixture journals verify");
    timeline::build(&report.records, Verification::from_report(&report), runbook)
}

#[test]
fn the_recorded_incident_with_its_runbook() {
    let rb = RunbookSteps::from_validated(&fixture_runbook());
    let t = recorded(0, Some(&rb));
    insta::assert_snapshot!("incident-md", timeline::markdown(&t));
    insta::assert_snapshot!("incident-json", timeline::json(&t));
}

#[test]
fn the_recorded_drill_without_its_runbook() {
    let t = recorded(1, None);
    insta::assert_snapshot!("drill-html", timeline::html(&t));
}

#[test]
fn comparing_the_recorded_runs() {
    let c = compare::compare(&[recorded(1, None), recorded(0, None)]);
    insta::assert_snapshot!("compare-text", compare::text(&c));
}

#[test]
fn the_plan_of_the_fixture_runbook() {
    let v = fixture_runbook();
    let params = ripcord_spec::params::resolve(&v.runbook.params, &[], |_| None).unwrap();
    let plan = ripcord_spec::plan::plan(&v, &params);
    insta::assert_snapshot!("plan-text", ripcord_report::plan::text(&plan));
}

/// Records of typed events: (seconds after start, step, attempt, event).
fn journal_of(events: Vec<(f64, Option<&str>, Option<u32>, Event)>) -> Vec<Record> {
    let t0 = chrono::DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z").unwrap();
    events
        .into_iter()
        .enumerate()
        .map(|(n, (at, step, attempt, event))| Record {
            seq: n as u64 + 1,
            ts: (t0 + chrono::Duration::microseconds((at * 1e6) as i64))
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            run: "r-typed".into(),
            step: step.map(str::to_owned),
            attempt,
            event: event.kind(),
            data: event.data(),
            prev: String::new(),
            hash: String::new(),
        })
        .collect()
}

fn started(step_type: &str, effect: Effect, attempts: u32) -> Event {
    StepStarted {
        step_type: step_type.into(),
        effect,
        idempotent: false,
        timeout_ms: 60_000,
        attempts,
        dry_run: false,
        with: json!({}),
    }
    .into()
}

fn succeeded(outputs: serde_json::Value, result: serde_json::Value) -> Event {
    StepSucceeded {
        outputs,
        result,
        dry_run: None,
    }
    .into()
}

fn note(kind: &str, data: serde_json::Value) -> Event {
    Note {
        kind: kind.into(),
        data,
    }
    .into()
}

/// A run that does everything once: polls and gates, a retry, a failure that lets the run go
/// on, an approval with a refused decision, a crash and a resume with a decision, a skip,
/// a failed compensation, a cancel.
#[expect(
    clippy::too_many_lines,
    reason = "one scripted run, read top to bottom like the journal it writes"
)]
fn every_event() -> Vec<Record> {
    let mut run = RunStarted {
        runbook: "db-restore".into(),
        version: "2.0.0".into(),
        sha256: "ab".repeat(32),
        path: "/runbooks/db-restore.yaml".into(),
        rto: Some("10m".into()),
        rpo: Some("15m".into()),
        user: "dana".into(),
        host: "ops1".into(),
        ripcord_version: "0.1.0".into(),
        max_parallel: 4,
        ..RunStarted::default()
    };
    run.labels.insert("severity".into(), "P1".into());
    run.params.insert("region".into(), json!("eu-west-1"));
    let a = Some("check");
    let b = Some("copy");
    let go = Some("go");
    let c = Some("promote");
    journal_of(vec![
        (0.0, None, None, run.into()),
        (0.1, a, Some(1), started("shell", Effect::Read, 1)),
        (
            0.2,
            None,
            None,
            note("unknown_to_the_timeline", json!({"x": 1})),
        ),
        (
            0.3,
            a,
            Some(1),
            note(
                "process_started",
                json!({"pgid": 4242, "program": "pg_isready"}),
            ),
        ),
        (
            0.5,
            a,
            Some(1),
            Poll {
                n: 1,
                expr: "result.exit_code == 0".into(),
                satisfied: false,
            }
            .into(),
        ),
        (
            1.0,
            a,
            Some(1),
            Poll {
                n: 2,
                expr: "result.exit_code == 0".into(),
                satisfied: true,
            }
            .into(),
        ),
        (
            1.1,
            a,
            Some(1),
            Gate {
                name: "fresh".into(),
                expr: "outputs.backup_age < 900".into(),
                passed: true,
                unknown: false,
                message: None,
            }
            .into(),
        ),
        (
            1.2,
            a,
            Some(1),
            succeeded(json!({"backup_age": 1260}), json!({"exit_code": 0})),
        ),
        (1.3, b, Some(1), started("s3.sync", Effect::Write, 2)),
        (
            2.0,
            b,
            Some(1),
            AttemptFailed {
                error: "connection refused".into(),
                retry_in_ms: Some(700),
            }
            .into(),
        ),
        (2.7, b, Some(2), started("s3.sync", Effect::Write, 2)),
        (
            3.5,
            b,
            Some(2),
            Gate {
                name: "complete".into(),
                expr: "result.objects > 0".into(),
                passed: false,
                unknown: false,
                message: Some("nothing copied".into()),
            }
            .into(),
        ),
        (
            3.5,
            b,
            Some(2),
            AttemptFailed {
                error: "gate complete failed".into(),
                retry_in_ms: None,
            }
            .into(),
        ),
        (
            3.6,
            b,
            Some(2),
            StepFailed {
                error: "gate complete failed".into(),
                on_failure: OnFailure::Continue,
            }
            .into(),
        ),
        (3.7, go, Some(1), started("approval", Effect::Read, 1)),
        (
            3.8,
            go,
            None,
            note(
                "approval_waiting",
                json!({"prompt": "Promote?", "approvers": ["erin"]}),
            ),
        ),
        (
            5.0,
            go,
            None,
            note(
                "approval_refused",
                json!({"by": "mallory", "approved": true, "via": "cli", "reason": "not an approver"}),
            ),
        ),
        (
            9.0,
            go,
            Some(1),
            succeeded(
                json!({}),
                json!({"approved_by": "erin", "approved_at": "2025-03-01T10:00:08.900Z", "via": "tty"}),
            ),
        ),
        (
            9.1,
            c,
            Some(1),
            started("route53.failover", Effect::Irreversible, 1),
        ),
        (
            60.0,
            None,
            None,
            RunResumed {
                mode: ResumeMode::Resume,
                retry: None,
                user: "frank".into(),
                host: "ops2".into(),
                params: Default::default(),
            }
            .into(),
        ),
        (
            60.1,
            c,
            None,
            Decision {
                action: DecisionAction::AssumeDone,
                by: "frank".into(),
                why: "--assume-done".into(),
            }
            .into(),
        ),
        (
            60.2,
            Some("cleanup"),
            None,
            StepSkipped {
                reason: "when is false".into(),
                cause: SkipCause::When,
                when: Some("params.cleanup".into()),
            }
            .into(),
        ),
        (
            60.25,
            Some("drain"),
            Some(1),
            started("kube.drain", Effect::Write, 1),
        ),
        (
            60.3,
            None,
            None,
            CancelRequested {
                reason: "SIGTERM".into(),
            }
            .into(),
        ),
        (60.35, Some("drain"), Some(1), StepCancelled {}.into()),
        (
            60.36,
            c,
            None,
            CompensationStarted {
                step_type: "route53.failover".into(),
            }
            .into(),
        ),
        (60.38, c, None, CompensationSucceeded {}.into()),
        (
            60.4,
            a,
            None,
            CompensationStarted {
                step_type: "shell".into(),
            }
            .into(),
        ),
        (
            61.0,
            a,
            None,
            CompensationFailed {
                error: "undo failed".into(),
            }
            .into(),
        ),
        (
            61.1,
            None,
            None,
            RunFinished {
                outcome: Outcome::Cancelled,
                failed_steps: vec!["copy".into()],
                elapsed_ms: 61_100,
            }
            .into(),
        ),
    ])
}

#[test]
fn a_journal_of_typed_events_with_every_kind() {
    let records = every_event();
    for r in &records {
        r.event()
            .expect("written from typed events, read back as them");
    }
    let t = timeline::build(&records, Verification::verified(records.len()), None);
    insta::assert_snapshot!("every-event-md", timeline::markdown(&t));
    insta::assert_snapshot!("every-event-json", timeline::json(&t));
}

#[test]
fn every_recorded_line_reads_as_its_typed_event() {
    for path in fixture_journals() {
        let report = journal::verify(&path).unwrap();
        for r in &report.records {
            if let Err(e) = r.event() {
                panic!("{}: line {}: {e}", path.display(), r.seq);
            }
        }
    }
}

/// A line no ripcord wrote (its data is not its event's shape) is listed as unreadable, and a
/// step it starts still starts.
#[test]
fn an_unreadable_line_is_listed_and_still_starts_its_step() {
    let mut records = journal_of(vec![(0.0, None, None, RunStarted::default().into())]);
    let mut odd = journal_of(vec![
        (0.0, None, None, RunStarted::default().into()),
        (1.0, Some("x"), Some(1), started("shell", Effect::Read, 1)),
    ])
    .pop()
    .unwrap();
    odd.data = json!({"type": "shell"});
    records.push(odd);
    let t = timeline::build(&records, Verification::verified(records.len()), None);
    assert_eq!(t.steps[0].status, "running");
    assert_eq!(t.steps[0].step_type, None);
    assert!(
        t.events[1]
            .detail
            .starts_with("(data not readable: missing field"),
        "{}",
        t.events[1].detail
    );
}
