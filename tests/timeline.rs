//! `ripcord timeline` end to end: golden Markdown and JSON of a recorded journal
//! (tests/fixtures/timeline/runs, made by running restore-drill.yaml for real with
//! tests/fixtures/timeline/record.sh), the HTML page, a tampered journal flagged in every
//! format, `--compare` of two drills, and the metrics file of `ripcord run --metrics-file`.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, root, run, run_cmd, run_ids};

/// The recorded runs: the incident (smoke test fails, compensation) and the drill that succeeded.
fn fixture_runs() -> PathBuf {
    root().join("tests/fixtures/timeline/runs")
}

fn fixture_runbook() -> PathBuf {
    root().join("tests/fixtures/timeline/restore-drill.yaml")
}

/// (failed incident run, succeeded drill run), by id (ids sort by start time).
fn recorded() -> (String, String) {
    let ids = run_ids(&fixture_runs());
    assert_eq!(ids.len(), 2, "expected two recorded runs: {ids:?}");
    (ids[0].clone(), ids[1].clone())
}

/// `ripcord timeline ARGS... --runs-dir DIR --runbook FIXTURE` (the runbook is passed so that
/// the critical path follows `needs` wherever the checkout is).
fn timeline(runs: &Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec!["timeline".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend([
        "--runs-dir".into(),
        runs.display().to_string(),
        "--runbook".into(),
        fixture_runbook().display().to_string(),
    ]);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run(&refs)
}

#[test]
fn markdown_of_the_recorded_incident() {
    let (failed, _) = recorded();
    let r = timeline(&fixture_runs(), &[&failed]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "stderr: {}", r.stderr);
    // What the issue asks for, present whatever the snapshot says.
    for needle in [
        "restore-drill@1.3.0",
        "sha256 `",
        "| Run by | carol@",
        "| Severity | P1: High (partial outage)",
        "| Outcome | **failed**",
        "| RTO | 15m |",
        "| RPO | 1h |",
        "## Critical path",
        "following `needs` from the runbook",
        "## Failures",
        "connection refused",
        "retried in 700ms",
        "gate `artifacts served` failed",
        "| `approve_restore` | approved | alice | cli |",
        "## Compensation",
        "| `restore` |",
        "- [x] **Document incident timeline**: done (this document)",
        "- [ ] **Identify root cause**",
        "gate \"restored file present\" passed",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            r.stdout
        );
    }
    insta::assert_snapshot!("incident-md", r.stdout);
}

#[test]
fn json_of_the_recorded_incident() {
    let (failed, _) = recorded();
    let r = timeline(&fixture_runs(), &[&failed, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["schema"], "ripcord.timeline/v1");
    assert_eq!(v["verification"]["ok"], true);
    assert_eq!(v["run"]["outcome"], "failed");
    assert_eq!(v["run"]["severity"], "P1");
    assert_eq!(v["objectives"]["rto"]["verdict"], "not_recovered");
    assert_eq!(v["objectives"]["rpo"]["verdict"], "met");
    assert_eq!(v["critical_path"]["source"], "runbook");
    let restart = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "restart")
        .unwrap();
    let kinds: Vec<&str> = restart["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["failed_attempt", "backoff", "attempt"]);
    insta::assert_snapshot!("incident-json", r.stdout);
}

#[test]
fn markdown_and_json_of_the_recorded_drill() {
    let (_, drill) = recorded();
    let md = timeline(&fixture_runs(), &[&drill]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(md.stdout.contains("| RTO | 15m |"));
    assert!(md.stdout.contains("| met |"));
    insta::assert_snapshot!("drill-md", md.stdout);
    let json = timeline(&fixture_runs(), &[&drill, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["objectives"]["rto"]["verdict"], "met");
    assert_eq!(v["run"]["outcome"], "succeeded");
}

#[test]
fn html_is_one_self_contained_page_with_a_gantt() {
    let (failed, _) = recorded();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("incident.html");
    let r = timeline(
        &fixture_runs(),
        &[&failed, "--format", "html", "-o", out.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "-o writes the file, not stdout");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg class=\"gantt\""));
    assert!(html.contains("@media print"));
    for kind in [
        "attempt",
        "failedattempt",
        "backoff",
        "approvalwait",
        "compensation",
        "waiting",
    ] {
        assert!(
            html.contains(&format!("class=\"seg {kind}\"")),
            "no {kind} segment in the Gantt"
        );
    }
    assert!(html.contains("approved by alice"));
    assert!(html.contains("gate passed / failed"), "legend");
    // Nothing is fetched: no scripts, links, imports or remote URLs (the SVG namespace is a
    // name, not a fetch).
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for bad in ["<script", "<link", "@import", "http://", "https://", "src="] {
        assert!(!without_ns.contains(bad), "the page contains {bad:?}");
    }
}

/// A copy of the recorded runs in a scratch directory.
fn copy_runs(dir: &Path) -> PathBuf {
    let runs = dir.join("runs");
    for id in run_ids(&fixture_runs()) {
        std::fs::create_dir_all(runs.join(&id)).unwrap();
        std::fs::copy(
            fixture_runs().join(&id).join("journal.jsonl"),
            runs.join(&id).join("journal.jsonl"),
        )
        .unwrap();
    }
    runs
}

#[test]
fn a_tampered_journal_is_flagged_in_every_format() {
    let (failed, _) = recorded();
    let dir = tempfile::tempdir().unwrap();
    let runs = copy_runs(dir.path());
    let journal = runs.join(&failed).join("journal.jsonl");
    // Someone makes the failed smoke test look better after the fact (line 27).
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines
        .iter()
        .position(|l| l.contains("\"passed\":false"))
        .expect("a failed gate");
    lines[n] = lines[n].replace("\"passed\":false", "\"passed\":true");
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let bad_line = n + 1;

    let md = timeline(&runs, &[&failed]);
    assert_eq!(md.code, 1, "a damaged journal exits 1 (like `verify`)");
    assert!(
        md.stderr.contains("JOURNAL FAILED VERIFICATION"),
        "{}",
        md.stderr
    );
    let banner = format!("**⚠ JOURNAL FAILED VERIFICATION at line {bad_line}: hash mismatch");
    assert!(md.stdout.starts_with("# Timeline of"), "{}", md.stdout);
    assert!(md.stdout.contains(&banner), "{}", md.stdout);
    assert!(
        md.stdout.contains("| Outcome | **unfinished** |"),
        "what verified is shown"
    );
    assert!(
        md.stdout
            .contains("- [ ] **Document incident timeline**: NOT done")
    );
    // Nothing from the bad line on.
    assert!(!md.stdout.contains("gate \"artifacts served\""));

    let html = timeline(&runs, &[&failed, "--format", "html"]);
    assert_eq!(html.code, 1);
    assert!(
        html.stdout
            .contains("<div class=\"banner\" role=\"alert\">⚠ JOURNAL FAILED VERIFICATION")
    );

    let json = timeline(&runs, &[&failed, "--format", "json"]);
    assert_eq!(json.code, 1);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["verification"]["ok"], false);
    assert_eq!(v["verification"]["line"], bad_line);
    assert_eq!(v["verification"]["events_verified"], bad_line - 1);
    assert_eq!(v["events"].as_array().unwrap().len(), bad_line - 1);

    let (_, drill) = recorded();
    let cmp = timeline(&runs, &["--compare", &failed, &drill]);
    assert_eq!(cmp.code, 1);
    assert!(
        cmp.stdout.contains("WARNING: run") && cmp.stdout.contains("JOURNAL FAILED VERIFICATION")
    );
}

#[test]
fn compare_two_drills() {
    let (failed, drill) = recorded();
    // Given newest first: the comparison still goes oldest first.
    let text = timeline(&fixture_runs(), &["--compare", &drill, &failed]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .contains("Drill comparison: 2 runs of restore-drill, oldest first")
    );
    assert!(text.stdout.contains(&format!("#1 {failed}")));
    assert!(text.stdout.contains(&format!("#2 {drill}")));
    assert!(text.stdout.contains("RTO trend: the first run took "));
    insta::assert_snapshot!("compare-text", text.stdout);

    let md = timeline(
        &fixture_runs(),
        &["--compare", &failed, &drill, "--format", "md"],
    );
    assert_eq!(md.code, 0);
    insta::assert_snapshot!("compare-md", md.stdout);

    let json = timeline(
        &fixture_runs(),
        &["--compare", &failed, &drill, "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["schema"], "ripcord.timeline-compare/v1");
    assert_eq!(v["runs"][0]["run_id"], failed.as_str());
    let smoke = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "smoke_test")
        .unwrap();
    assert_eq!(smoke["runs"][0]["status"], "failed");
    assert_eq!(smoke["runs"][1]["status"], "succeeded");
    assert!(smoke["runs"][1]["delta_ms"].is_number());
    assert!(v["rto_trend"]["first_to_last_ms"].is_number());

    let html = timeline(
        &fixture_runs(),
        &["--compare", &failed, &drill, "--format", "html"],
    );
    assert_eq!(html.code, 2, "no HTML comparison");
    let one = timeline(&fixture_runs(), &["--compare", &failed]);
    assert_eq!(one.code, 2, "a comparison needs two runs");
    let two = timeline(&fixture_runs(), &[&failed, &drill]);
    assert_eq!(two.code, 2, "two runs need --compare");
}

#[test]
fn last_names_the_newest_run() {
    let dir = tempfile::tempdir().unwrap();
    let runs = copy_runs(dir.path());
    let (_, drill) = recorded();
    // `last` is the newest journal by modification time.
    let newest = runs.join(&drill).join("journal.jsonl");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .append(true)
        .open(&newest)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let r = timeline(&runs, &["last", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["run"]["run_id"], drill.as_str());
}

/// `ripcord run FILE --yes --runs-dir runs --metrics-file metrics.prom` in `dir`.
fn run_with_metrics(dir: &Path, file: &Path, args: &[&str]) -> Run {
    let mut cmd = common::ripcord_in(dir);
    cmd.args(["run", file.to_str().unwrap(), "--yes", "--runs-dir", "runs"])
        .args(["--metrics-file", "metrics.prom"])
        .args(args);
    run_cmd(&mut cmd)
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
}

#[test]
fn run_writes_prometheus_metrics_and_keeps_the_last_success_after_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.yaml");
    std::fs::write(
        &file,
        "apiVersion: ripcord/v1\nkind: Runbook\nmetadata: {name: metrics-demo, version: 1.0.0}\n\
         params:\n  fail: {type: bool, default: false}\n\
         steps:\n  - id: work\n    type: shell\n    with: {argv: [sh, -c, \"test {{ 1 if params.fail else 0 }} = 0\"]}\n",
    )
    .unwrap();
    // Another runbook's samples in the same file are kept.
    std::fs::write(
        dir.path().join("metrics.prom"),
        "# TYPE ripcord_run_last_success_timestamp_seconds gauge\nripcord_run_last_success_timestamp_seconds{runbook=\"other\"} 1700000000\n",
    )
    .unwrap();

    let ok = run_with_metrics(dir.path(), &file, &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let first = std::fs::read_to_string(dir.path().join("metrics.prom")).unwrap();
    for line in [
        "# HELP ripcord_run_last_success_timestamp_seconds ",
        "# TYPE ripcord_run_last_success_timestamp_seconds gauge",
        "# TYPE ripcord_run_duration_seconds gauge",
        "# TYPE ripcord_run_outcome gauge",
        "ripcord_run_outcome{runbook=\"metrics-demo\",outcome=\"succeeded\"} 1",
        "ripcord_run_outcome{runbook=\"metrics-demo\",outcome=\"failed\"} 0",
        "ripcord_run_outcome{runbook=\"metrics-demo\",outcome=\"cancelled\"} 0",
        "ripcord_run_last_success_timestamp_seconds{runbook=\"other\"} 1700000000",
    ] {
        assert!(first.contains(line), "missing {line:?} in:\n{first}");
    }
    let success = sample(
        &first,
        "ripcord_run_last_success_timestamp_seconds{runbook=\"metrics-demo\"}",
    )
    .expect("a last success");
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        (now - success).abs() < 120.0,
        "{success} is not about now ({now})"
    );
    let duration = sample(
        &first,
        "ripcord_run_duration_seconds{runbook=\"metrics-demo\",outcome=\"succeeded\"}",
    )
    .unwrap();
    assert!((0.0..60.0).contains(&duration));

    std::thread::sleep(std::time::Duration::from_millis(50));
    let failed = run_with_metrics(dir.path(), &file, &["-p", "fail=true"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    let second = std::fs::read_to_string(dir.path().join("metrics.prom")).unwrap();
    assert_eq!(
        sample(
            &second,
            "ripcord_run_last_success_timestamp_seconds{runbook=\"metrics-demo\"}"
        ),
        Some(success),
        "a failed run keeps the previous last success:\n{second}"
    );
    assert!(second.contains("ripcord_run_outcome{runbook=\"metrics-demo\",outcome=\"failed\"} 1"));
    assert!(
        second.contains("ripcord_run_outcome{runbook=\"metrics-demo\",outcome=\"succeeded\"} 0")
    );
    assert!(
        second
            .contains("ripcord_run_duration_seconds{runbook=\"metrics-demo\",outcome=\"failed\"} ")
    );
    assert!(
        !second.contains(
            "ripcord_run_duration_seconds{runbook=\"metrics-demo\",outcome=\"succeeded\"}"
        )
    );
    assert!(second.contains("{runbook=\"other\"} 1700000000"));
    // Written atomically: no temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
