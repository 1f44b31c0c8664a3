//! Crash safety: kill -9 a run (and some of its resumes) at seeded random points, resume until it
//! finishes, deciding possibly-applied steps from the world (an effects file), and check that
//! every step took effect exactly once, the run succeeded and the journal verifies.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    Spawned, engine_fixture, journal_path, journal_records, live_processes_mentioning,
    process_gone, ripcord_in, run_ids, spawn_in, wait_for,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const SEED: u64 = 0x00c0_ffee_d15a_57e5;
/// Kill points (each a fresh run).
const POINTS: usize = 20;
/// Upper bound for one `run` or `resume` process.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(60);
/// Upper bound for the resumes of one kill point.
const MAX_RESUMES: usize = 40;

/// Steps per layer of the generated DAG: one root fanning out, layers of five, fanning in to one
/// sink. 50 steps.
const LAYERS: [usize; 12] = [1, 5, 5, 5, 5, 5, 5, 5, 5, 5, 3, 1];

/// A runbook of 50 shell steps `s00`..`s49`; each sleeps a little, then appends its id to
/// `effects` (an absolute path, which also marks the step's processes in /proc).
fn generate(rng: &mut StdRng, effects: &Path) -> (String, Vec<String>) {
    assert_eq!(LAYERS.iter().sum::<usize>(), 50);
    let mut yaml = String::from(
        "apiVersion: ripcord/v1\nkind: Runbook\nmetadata:\n  name: crash-dag\n  version: 1.0.0\nsteps:\n",
    );
    let mut ids: Vec<String> = Vec::new();
    let mut layers: Vec<Vec<String>> = Vec::new();
    for (l, &width) in LAYERS.iter().enumerate() {
        let mut layer = Vec::new();
        for _ in 0..width {
            let id = format!("s{:02}", ids.len());
            let mut needs: Vec<String> = Vec::new();
            if l > 0 {
                let previous = &layers[l - 1];
                // Fan-in: one to three steps of the layer before (all of them for the sink).
                let count = if width == 1 {
                    previous.len()
                } else {
                    rng.random_range(1..=previous.len().min(3))
                };
                while needs.len() < count {
                    let pick = previous[rng.random_range(0..previous.len())].clone();
                    if !needs.contains(&pick) {
                        needs.push(pick);
                    }
                }
                // Now and then a longer edge, two layers back.
                if l > 1 && rng.random_bool(0.2) {
                    let before = &layers[l - 2];
                    let pick = before[rng.random_range(0..before.len())].clone();
                    if !needs.contains(&pick) {
                        needs.push(pick);
                    }
                }
                needs.sort();
            }
            yaml.push_str(&format!(
                "  - id: {id}\n    type: shell\n    needs: [{}]\n    with:\n      argv: [sh, -c, \"sleep 0.05; echo {id} >> {}\"]\n",
                needs.join(", "),
                effects.display()
            ));
            ids.push(id.clone());
            layer.push(id);
        }
        layers.push(layer);
    }
    (yaml, ids)
}

/// Lines of the journal file (complete or not): how far a run got.
fn journal_lines(runs: &Path) -> usize {
    let Some(id) = run_ids(runs).into_iter().next() else {
        return 0;
    };
    std::fs::read(journal_path(runs, &id))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Run `cmd` to its end, or kill -9 it once the journal has `kill_at` lines. Returns the exit
/// code (None when killed) and stderr.
fn run_or_kill(
    dir: &Path,
    runs: &Path,
    name: &str,
    cmd: &mut std::process::Command,
    kill_at: Option<usize>,
) -> (Option<i32>, String) {
    let mut child: Spawned = spawn_in(dir, name, cmd);
    let start = Instant::now();
    loop {
        if let Some(code) = child.try_code() {
            return (Some(code), child.stderr());
        }
        if kill_at.is_some_and(|k| journal_lines(runs) >= k) {
            child.kill();
            return (None, child.stderr());
        }
        assert!(
            start.elapsed() < ATTEMPT_LIMIT,
            "`{name}` ran for more than {ATTEMPT_LIMIT:?}\nstderr:\n{}",
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// After a kill -9, the step processes it started live on (they are in their own process
/// groups): wait until they are gone, as an operator would before deciding what took effect.
fn wait_for_orphans(marker: &str) {
    wait_for(
        "orphaned step processes to end",
        Duration::from_secs(20),
        || live_processes_mentioning(marker).is_empty().then_some(()),
    );
}

/// A machine crash rather than a ripcord crash: the step processes die too (their process
/// groups are killed), whatever they had done by then stays done.
fn kill_orphans(marker: &str) {
    for _ in 0..50 {
        let alive = live_processes_mentioning(marker);
        if alive.is_empty() {
            return;
        }
        for pid in alive {
            // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a group
            // (each step's shell leads its own).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the kill points exercised, to check that the test covers what it claims.
#[derive(Debug, Default)]
struct Coverage {
    killed_runs: usize,
    killed_resumes: usize,
    machine_crashes: usize,
    assume_done: usize,
    rerun: usize,
    resumes: usize,
}

/// The steps named by resume's "possibly applied: step(s) `a`, `b` started but ..." message.
fn undecided(stderr: &str) -> Vec<String> {
    let list = stderr
        .split_once("step(s) ")
        .and_then(|(_, rest)| rest.split_once(" started but"))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("exit 4 without a list of steps:\n{stderr}"));
    list.split(", ")
        .map(|s| s.trim_matches('`').to_owned())
        .collect()
}

fn effect_lines(effects: &Path) -> Vec<String> {
    std::fs::read_to_string(effects)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn tail(records: &[Value], n: usize) -> String {
    records[records.len().saturating_sub(n)..]
        .iter()
        .map(|r| format!("{} {} {} {}", r["seq"], r["event"], r["step"], r["data"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One kill point: a fresh run killed at `kill_at` journal lines, then resumes (some of them
/// killed too) until the run has finished.
fn crash_and_recover(
    point: usize,
    rng: &mut StdRng,
    yaml: &str,
    ids: &[String],
    coverage: &mut Coverage,
) {
    let scratch = tempfile::Builder::new()
        .prefix(&format!("ripcord-crash-{point}-"))
        .tempdir()
        .expect("a temporary directory");
    let dir = scratch.path();
    let runs = dir.join("runs");
    let effects = dir.join("effects.txt");
    let marker = effects.display().to_string();
    let runbook = dir.join("dag.yaml");
    std::fs::write(&runbook, yaml.replace("@EFFECTS@", &marker)).unwrap();
    let context = |what: &str| format!("kill point {point} ({}): {what}", dir.display());

    // 1 run_started + 2 per step + run_finished = 102 lines: kill somewhere in between.
    let kill_at = rng.random_range(2..=100usize);
    let mut cmd = ripcord_in(dir);
    cmd.arg("run")
        .arg(&runbook)
        .args(["--yes", "-o", "json", "--runs-dir"])
        .arg(&runs);
    let (mut code, mut stderr) = run_or_kill(dir, &runs, "run", &mut cmd, Some(kill_at));
    let mut decisions: Vec<String> = Vec::new();
    let mut resumes = 0;
    let mut log = vec![format!("run killed at {kill_at} lines: {code:?}")];
    if code.is_none() {
        coverage.killed_runs += 1;
    }
    loop {
        if code.is_none() {
            // Half the kills take the machine down with ripcord.
            if rng.random_bool(0.5) {
                kill_orphans(&marker);
                coverage.machine_crashes += 1;
            }
        }
        wait_for_orphans(&marker);
        match code {
            Some(0) => break,
            None => {}
            Some(4) => {
                let present = effect_lines(&effects);
                for step in undecided(&stderr) {
                    if present.contains(&step) {
                        decisions.extend(["--assume-done".to_owned(), step]);
                        coverage.assume_done += 1;
                    } else {
                        decisions.extend(["--rerun".to_owned(), step]);
                        coverage.rerun += 1;
                    }
                }
            }
            Some(2) if stderr.contains("already finished (succeeded)") => break,
            Some(other) => {
                let records = run_ids(&runs)
                    .first()
                    .map(|id| journal_records(&journal_path(&runs, id)))
                    .unwrap_or_default();
                panic!(
                    "{}\nlast records:\n{}",
                    context(&format!(
                        "exit {other}; stderr:\n{stderr}\nhistory: {log:?}"
                    )),
                    tail(&records, 12)
                );
            }
        }
        resumes += 1;
        assert!(
            resumes <= MAX_RESUMES,
            "{}",
            context(&format!("too many resumes: {log:?}"))
        );
        // About a third of the resumes that run steps are killed too.
        let kill_resume = (decisions.is_empty() || rng.random_bool(0.5)) && rng.random_bool(0.35);
        let kill_at = kill_resume.then(|| journal_lines(&runs) + rng.random_range(1..=40usize));
        let mut cmd = ripcord_in(dir);
        cmd.args(["resume", "last", "-o", "json", "--runs-dir"])
            .arg(&runs)
            .args(&decisions);
        let name = format!("resume-{resumes}");
        (code, stderr) = run_or_kill(dir, &runs, &name, &mut cmd, kill_at);
        coverage.resumes += 1;
        if code.is_none() {
            coverage.killed_resumes += 1;
        }
        log.push(format!(
            "{name} {decisions:?} kill at {kill_at:?}: {code:?}"
        ));
        decisions.clear();
    }

    // Every step took effect exactly once.
    let lines = effect_lines(&effects);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for line in &lines {
        *counts.entry(line.as_str()).or_default() += 1;
    }
    let wrong: Vec<String> = ids
        .iter()
        .filter(|id| counts.get(id.as_str()).copied() != Some(1))
        .map(|id| format!("{id} x{}", counts.get(id.as_str()).copied().unwrap_or(0)))
        .chain(
            counts
                .keys()
                .filter(|l| !ids.iter().any(|id| id == *l))
                .map(|l| format!("unexpected line {l:?}")),
        )
        .collect();
    let id = run_ids(&runs).pop().expect("a run");
    let records = journal_records(&journal_path(&runs, &id));
    assert!(
        wrong.is_empty(),
        "{}",
        context(&format!(
            "effects not exactly once: {wrong:?}\nhistory: {log:?}\nlast records:\n{}",
            tail(&records, 12)
        ))
    );
    // The run's last word is a success.
    let last = records.last().expect("records");
    assert_eq!(
        last["event"],
        "run_finished",
        "{}",
        context(&tail(&records, 5))
    );
    assert_eq!(
        last["data"]["outcome"],
        "succeeded",
        "{}",
        context(&tail(&records, 5))
    );
    // Every step ended as done: succeeded, or assumed done by a decision.
    for step in ids {
        let end = records
            .iter()
            .rev()
            .find(|r| {
                r["step"] == step.as_str()
                    && matches!(
                        r["event"].as_str(),
                        Some("step_succeeded" | "step_failed" | "step_skipped" | "decision")
                    )
            })
            .unwrap_or_else(|| panic!("{}", context(&format!("no end for {step}"))));
        let done = end["event"] == "step_succeeded"
            || (end["event"] == "decision" && end["data"]["action"] == "assume_done");
        assert!(done, "{}", context(&format!("{step} ended as {end}")));
    }
    let verify = common::run_cmd(
        ripcord_in(dir)
            .args(["verify", &id, "--runs-dir"])
            .arg(&runs),
    );
    assert_eq!(verify.code, 0, "{}", context(&verify.stderr));
}

#[test]
fn runs_killed_at_random_points_resume_to_exactly_once_effects() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(SEED);
    let (yaml, ids) = generate(&mut rng, Path::new("@EFFECTS@"));
    let mut coverage = Coverage::default();
    for point in 0..POINTS {
        crash_and_recover(point, &mut rng, &yaml, &ids, &mut coverage);
    }
    eprintln!(
        "{POINTS} kill points in {:?}: {coverage:?}",
        started.elapsed()
    );
    // The points did exercise both decisions and killed resumes.
    assert!(
        coverage.assume_done > 0 && coverage.rerun > 0,
        "{coverage:?}"
    );
    assert!(coverage.killed_resumes > 0, "{coverage:?}");
}

// ---------------------------------------------------------------------------------------------
// A crash in `finally`

/// A crash while a `finally` step runs: resuming must neither repeat the `finally` steps that
/// had already succeeded nor the one the operator says took effect.
#[test]
fn resume_after_a_crash_in_finally_does_not_repeat_finished_steps() {
    for assume_done in [true, false] {
        let flag = if assume_done {
            "--assume-done"
        } else {
            "--rerun"
        };
        let scratch = tempfile::Builder::new()
            .prefix("ripcord-crash-finally-")
            .tempdir()
            .expect("a temporary directory");
        let dir = scratch.path();
        let runs = dir.join("runs");
        let effects = dir.join("effects.txt");
        let fixture: PathBuf = engine_fixture("finally-crash.yaml");
        let mut cmd = ripcord_in(dir);
        cmd.arg("run")
            .arg(&fixture)
            .arg("--yes")
            .arg("--runs-dir")
            .arg(&runs);
        let mut child = spawn_in(dir, "run", &mut cmd);
        wait_for("`f2` to start", Duration::from_secs(20), || {
            let id = run_ids(&runs).into_iter().next()?;
            let records = journal_records(&journal_path(&runs, &id));
            records
                .iter()
                .any(|r| r["event"] == "step_started" && r["step"] == "f2")
                .then_some(())
        });
        let f2: i32 = wait_for("f2.pid", Duration::from_secs(5), || {
            std::fs::read_to_string(dir.join("f2.pid"))
                .ok()?
                .trim()
                .parse()
                .ok()
        });
        // The program runs before its note is on disk (group commit): wait for the note, or a
        // kill in between leaves nothing to check (the window runbook-reference.md names).
        wait_for(
            "the process_started note of `f2`",
            Duration::from_secs(5),
            || {
                let id = run_ids(&runs).into_iter().next()?;
                journal_records(&journal_path(&runs, &id))
                    .iter()
                    .any(|r| r["step"] == "f2" && r["data"]["kind"] == "process_started")
                    .then_some(())
            },
        );
        child.kill();
        // `f2`'s program outlived ripcord: resume will not start a second copy beside it,
        // whatever the operator decides.
        for decision in [&[][..], &[flag, "f2"][..]] {
            let resume = common::run_cmd(
                ripcord_in(dir)
                    .args(["resume", "last", "--runs-dir"])
                    .arg(&runs)
                    .args(decision),
            );
            assert_eq!(resume.code, 4, "{decision:?}: {}", resume.stderr);
            assert!(
                resume.stderr.contains(&format!(
                    "step `f2` is still running: its program `sh` (pid {f2})"
                )),
                "{decision:?}: {}",
                resume.stderr
            );
        }
        // The orphaned `f2` waits for `go`: stop it, so that it takes no effect.
        // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a group.
        unsafe { libc::kill(-f2, libc::SIGKILL) };
        wait_for("the orphaned f2 to end", Duration::from_secs(5), || {
            process_gone(f2).then_some(())
        });
        assert_eq!(effect_lines(&effects), ["main_step", "f1"]);
        if assume_done {
            // The operator finished f2's work by hand.
            std::fs::write(&effects, "main_step\nf1\nf2\n").unwrap();
        }
        std::fs::write(dir.join("go"), "").unwrap();

        let resume = common::run_cmd(
            ripcord_in(dir)
                .args(["resume", "last", "--runs-dir"])
                .arg(&runs),
        );
        assert_eq!(resume.code, 4, "{}", resume.stderr);
        assert_eq!(undecided(&resume.stderr), ["f2"]);
        let resume = common::run_cmd(
            ripcord_in(dir)
                .args(["resume", "last", flag, "f2", "--runs-dir"])
                .arg(&runs),
        );
        assert_eq!(resume.code, 0, "{}", resume.stderr);
        let lines = effect_lines(&effects);
        let count = |step: &str| lines.iter().filter(|l| *l == step).count();
        assert_eq!(
            (count("main_step"), count("f1"), count("f2")),
            (1, 1, 1),
            "after a crash in `f2` and `resume {flag} f2`, effects are {lines:?}: \
             `f1` had succeeded before the crash{}",
            if assume_done {
                " and `f2` was assumed done"
            } else {
                ""
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A program that outlives ripcord

/// `b` starts a background helper, then waits for `go`; `a` fails without failing the run.
const ORPHAN_RUNBOOK: &str = r#"apiVersion: ripcord/v1
kind: Runbook
metadata:
  name: orphan
  version: 1.0.0
steps:
  - id: a
    type: shell
    on_failure: continue
    with: {argv: [sh, -c, "exit 3"]}
  - id: b
    type: shell
    timeout: 60s
    with:
      argv: [sh, -c, "nohup sleep 30 >/dev/null 2>&1 & echo $! > bg.pid; echo $$ > b.pid; while [ ! -e go ]; do sleep 0.05; done; echo b >> effects.txt"]
"#;

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// After a kill -9 of ripcord, neither `resume` (whatever the decision) nor `retry` starts a
/// step again while its program still runs; once the program has ended, a helper it left in the
/// background does not hold the run back.
#[test]
fn a_step_whose_program_outlived_ripcord_is_not_started_again_beside_it() {
    let scratch = tempfile::Builder::new()
        .prefix("ripcord-orphan-")
        .tempdir()
        .expect("a temporary directory");
    let dir = scratch.path();
    let runs = dir.join("runs");
    let book = dir.join("orphan.yaml");
    std::fs::write(&book, ORPHAN_RUNBOOK).unwrap();
    let mut cmd = ripcord_in(dir);
    cmd.arg("run")
        .arg(&book)
        .arg("--yes")
        .arg("--runs-dir")
        .arg(&runs);
    let mut child = spawn_in(dir, "run", &mut cmd);
    let (b, bg) = wait_for(
        "`b` and its helper to start",
        Duration::from_secs(20),
        || {
            Some((
                read_pid(&dir.join("b.pid"))?,
                read_pid(&dir.join("bg.pid"))?,
            ))
        },
    );
    // `b`'s note is journaled before its output is read, and `a` fails at once: wait for both
    // on disk, so that `b` is the one step in flight.
    wait_for(
        "`a` failed and `b` journaled",
        Duration::from_secs(20),
        || {
            let id = run_ids(&runs).into_iter().next()?;
            let records = journal_records(&journal_path(&runs, &id));
            let noted = records
                .iter()
                .any(|r| r["step"] == "b" && r["data"]["kind"] == "process_started");
            let failed = records
                .iter()
                .any(|r| r["step"] == "a" && r["event"] == "step_failed");
            (noted && failed).then_some(())
        },
    );
    child.kill();
    struct KillOnDrop(Vec<i32>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            for &group in &self.0 {
                // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a
                // process group.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
        }
    }
    let mut cleanup = KillOnDrop(vec![b]);

    let refusal = format!("step `b` is still running: its program `sh` (pid {b})");
    for args in [
        &["resume", "last"][..],
        &["resume", "last", "--rerun", "b"][..],
        &["resume", "last", "--assume-done", "b"][..],
        &["retry", "last", "a"][..],
    ] {
        let out = common::run_cmd(ripcord_in(dir).args(args).arg("--runs-dir").arg(&runs));
        assert_eq!(out.code, 4, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(&refusal), "{args:?}: {}", out.stderr);
    }
    assert!(!dir.join("effects.txt").exists());

    // The program ends; the helper it started lives on in its process group.
    // SAFETY: as above; a positive pid names one process.
    unsafe { libc::kill(b, libc::SIGKILL) };
    wait_for("`b`'s program to end", Duration::from_secs(5), || {
        process_gone(b).then_some(())
    });
    assert!(!process_gone(bg), "the background helper outlives `b`");
    std::fs::write(dir.join("go"), "").unwrap();
    let out = common::run_cmd(
        ripcord_in(dir)
            .args(["resume", "last", "--rerun", "b", "--runs-dir"])
            .arg(&runs),
    );
    if let Some(again) = read_pid(&dir.join("b.pid")) {
        cleanup.0.push(again);
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(effect_lines(&dir.join("effects.txt")), ["b"]);
}
