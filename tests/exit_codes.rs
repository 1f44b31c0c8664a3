//! Each exit code of docs/cli.md ("Exit codes") that can be produced on this machine, through
//! the real binary: 0, 1 invalid, 2 usage, 3 run failed, 5 locked, 6 journal failure. (4 is
//! covered by tests/crash.rs and tests/engine.rs, 130 by tests/engine.rs, the locked Lease of
//! `run --lock` by tests/kube.rs.)

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Run, events, journal_path, journal_records, only_run, ripcord_in, root, run, run_cmd, spawn_in,
    wait_for,
};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/cli").join(name)
}

/// `ripcord ARGS... --runs-dir RUNS` in `dir`, to completion.
fn ripcord_at(dir: &Path, runs: &Path, args: &[&str]) -> Run {
    run_cmd(ripcord_in(dir).args(args).arg("--runs-dir").arg(runs))
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let r = run(&["validate", "--no-such-flag", "runbooks/data-recovery.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn an_unknown_run_id_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    for args in [
        &["status", "no-such-run"][..],
        &["verify", "no-such-run"],
        &["resume", "no-such-run"],
        &["timeline", "no-such-run"],
    ] {
        let r = ripcord_at(dir.path(), &runs, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("error: no run `no-such-run` in "),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn an_invalid_runbook_exits_1() {
    let book = "tests/fixtures/invalid/unknown-key.yaml";
    let validate = run(&["validate", book]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = root().join(book);
    let r = ripcord_at(dir.path(), &runs, &["run", book.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(": invalid, not run"), "{}", r.stderr);
    assert!(!runs.exists(), "an invalid runbook leaves no journal");
}

#[test]
fn a_failed_run_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = fixture("fails.yaml");
    let r = ripcord_at(dir.path(), &runs, &["run", book.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let records = journal_records(&journal_path(&runs, &only_run(&runs)));
    assert_eq!(events(&records, "step_failed", Some("fail")).len(), 1);
}

#[test]
fn a_journal_that_cannot_be_written_exits_6() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the runs directory should be: no journal can be created in it
    // (this works as root too, unlike a read-only directory).
    let runs = dir.path().join("runs");
    std::fs::write(&runs, "not a directory\n").unwrap();
    let book = fixture("fails.yaml");
    let r = ripcord_at(dir.path(), &runs, &["run", book.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: cannot open journal "),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("error:").count(),
        1,
        "printed once: {}",
        r.stderr
    );
}

#[test]
fn a_run_whose_journal_another_process_holds_is_locked_5() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let book = fixture("waits.yaml");
    let mut cmd = ripcord_in(dir.path());
    cmd.args(["run", book.to_str().unwrap(), "--yes", "--runs-dir"])
        .arg(&runs);
    let mut running = spawn_in(dir.path(), "run", &mut cmd);
    // The step runs, so the run holds its journal's lock until `go` exists.
    let id = wait_for("the run's journal", Duration::from_secs(20), || {
        common::run_ids(&runs).into_iter().next()
    });
    wait_for("step `wait` to start", Duration::from_secs(20), || {
        let records = journal_records(&journal_path(&runs, &id));
        (!events(&records, "step_started", Some("wait")).is_empty()).then_some(())
    });
    for args in [
        &["resume", id.as_str()][..],
        &["retry", id.as_str(), "wait"],
    ] {
        let r = ripcord_at(dir.path(), &runs, args);
        assert_eq!(r.code, 5, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr,
            format!(
                "error: run `{id}` is in use by another ripcord process (its journal is locked)\n"
            ),
            "{args:?}"
        );
    }
    assert_eq!(running.try_code(), None, "the run went on meanwhile");
    std::fs::write(dir.path().join("go"), "").unwrap();
    let code = running.wait_code(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", running.stderr());
}
