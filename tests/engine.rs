//! Acceptance tests of the engine, through the real `ripcord` binary: parallel waves, retries,
//! timeouts, gates, compensation, `finally`, cancellation, the tamper-evident journal, secret
//! redaction and approvals. Every assertion reads the journal (never "it was quick enough");
//! every wait is bounded. Each test runs in its own scratch directory (cwd and `--runs-dir`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    Run, Spawned, engine_fixture, events, journal_path, journal_records, only_run, process_gone,
    ripcord_in, run_cmd, spawn_in, ts_micros, wait_for,
};
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// A scratch directory: cwd of ripcord (so `shell` steps write their files here) and parent
/// of `runs/`.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("ripcord-engine-")
                .tempdir()
                .expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn runs(&self) -> PathBuf {
        self.path().join("runs")
    }

    /// `ripcord ARGS... --runs-dir runs` in the scratch directory, to completion.
    fn ripcord(&self, args: &[&str]) -> Run {
        run_cmd(&mut self.command(args))
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = ripcord_in(self.path());
        cmd.args(args).arg("--runs-dir").arg(self.runs());
        cmd
    }

    /// `ripcord run FIXTURE --yes ARGS...`, to completion.
    fn run_fixture(&self, fixture: &str, args: &[&str]) -> Run {
        let file = engine_fixture(fixture);
        let mut all = vec!["run", file.to_str().unwrap(), "--yes"];
        all.extend_from_slice(args);
        self.ripcord(&all)
    }

    /// The records of the only run.
    fn records(&self) -> Vec<Value> {
        journal_records(&journal_path(&self.runs(), &only_run(&self.runs())))
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// `ripcord verify RUN` passes.
    fn assert_verifies(&self, run_id: &str) {
        let verify = self.ripcord(&["verify", run_id]);
        assert_eq!(
            verify.code, 0,
            "verify failed:\n{}{}",
            verify.stdout, verify.stderr
        );
    }
}

/// The journal, one line per record, for failure messages.
fn dump(records: &[Value]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "{:>3} {} {:<22} {:<12} {}",
                r["seq"], r["ts"], r["event"], r["step"], r["data"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn only<'a>(records: &'a [Value], event: &str, step: &str) -> &'a Value {
    let found = events(records, event, Some(step));
    assert_eq!(
        found.len(),
        1,
        "expected one {event} for {step}\n{}",
        dump(records)
    );
    found[0]
}

fn seq(record: &Value) -> u64 {
    record["seq"].as_u64().expect("a record has a seq")
}

fn outcome(records: &[Value]) -> String {
    let finished = events(records, "run_finished", None);
    let last = finished
        .last()
        .unwrap_or_else(|| panic!("no run_finished\n{}", dump(records)));
    last["data"]["outcome"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// 1. Parallel waves

/// (step, started, ended) in microseconds, from step_started and step_succeeded.
fn intervals(records: &[Value], steps: &[&str]) -> Vec<(String, i64, i64)> {
    steps
        .iter()
        .map(|s| {
            (
                (*s).to_owned(),
                ts_micros(only(records, "step_started", s)),
                ts_micros(only(records, "step_succeeded", s)),
            )
        })
        .collect()
}

#[test]
fn independent_steps_run_at_once_up_to_max_parallel() {
    let steps = ["p1", "p2", "p3", "p4"];

    let wide = Scratch::new();
    let run = wide.run_fixture("parallel.yaml", &["--max-parallel", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = wide.records();
    let spans = intervals(&records, &steps);
    // All four were running at once: every start precedes every end.
    let last_start = spans.iter().map(|s| s.1).max().unwrap();
    let first_end = spans.iter().map(|s| s.2).min().unwrap();
    assert!(
        last_start < first_end,
        "with --max-parallel 4 the steps did not all overlap\n{}",
        dump(&records)
    );
    // And in the journal's order too.
    let max_started = steps
        .iter()
        .map(|s| seq(only(&records, "step_started", s)))
        .max();
    let min_succeeded = steps
        .iter()
        .map(|s| seq(only(&records, "step_succeeded", s)))
        .min();
    assert!(max_started < min_succeeded, "{}", dump(&records));

    let narrow = Scratch::new();
    let run = narrow.run_fixture("parallel.yaml", &["--max-parallel", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = narrow.records();
    let mut spans = intervals(&records, &steps);
    spans.sort_by_key(|s| s.1);
    for pair in spans.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.2 <= b.1,
            "with --max-parallel 1, `{}` started before `{}` ended\n{}",
            b.0,
            a.0,
            dump(&records)
        );
        // Each step sleeps half a second, so one at a time means starts at least that far
        // apart (a lower bound: a loaded machine only widens it).
        assert!(b.1 - a.1 >= 500_000, "{}", dump(&records));
    }
}

/// A step is in flight until its end is journaled, gates included: with `--max-parallel 1` the
/// next step must not start while the previous one's gate is still being checked.
#[test]
fn max_parallel_one_holds_until_the_gate_is_decided() {
    let steps = ["g1", "g2", "g3", "g4"];
    let scratch = Scratch::new();
    let run = scratch.run_fixture("parallel-gated.yaml", &["--max-parallel", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = scratch.records();
    // Replay the journal: never more than one step between step_started and its end.
    let mut in_flight: Vec<String> = Vec::new();
    for r in &records {
        let step = r["step"].as_str().unwrap_or("");
        match r["event"].as_str().unwrap() {
            "step_started" => {
                assert!(
                    in_flight.is_empty(),
                    "with --max-parallel 1, `{step}` started (seq {}) while {in_flight:?} was still in flight\n{}",
                    r["seq"],
                    dump(&records)
                );
                assert!(steps.contains(&step));
                in_flight.push(step.to_owned());
            }
            "step_succeeded" | "step_failed" => in_flight.retain(|s| *s != step),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Retries with backoff

#[test]
fn a_flaky_step_is_retried_with_exponential_backoff() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("retry.yaml", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = scratch.records();
    let started = events(&records, "step_started", Some("flaky"));
    let failed = events(&records, "attempt_failed", Some("flaky"));
    assert_eq!(started.len(), 3, "{}", dump(&records));
    assert_eq!(failed.len(), 2, "{}", dump(&records));
    only(&records, "step_succeeded", "flaky");
    assert_eq!(scratch.read("count").trim(), "3");
    for (n, (fail, expected_ms)) in failed.iter().zip([200u64, 400]).enumerate() {
        assert_eq!(fail["attempt"], n as u64 + 1, "{}", dump(&records));
        assert_eq!(
            fail["data"]["retry_in_ms"],
            expected_ms,
            "{}",
            dump(&records)
        );
        let next = started[n + 1];
        assert_eq!(next["attempt"], n as u64 + 2);
        let gap = ts_micros(next) - ts_micros(fail);
        assert!(
            gap >= expected_ms as i64 * 1000,
            "attempt {} started {gap}µs after the failure, before its {expected_ms}ms backoff\n{}",
            n + 2,
            dump(&records)
        );
    }
}

#[test]
fn a_step_that_always_fails_stops_after_its_attempts() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("retry.yaml", &["-p", "fail_times=100"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let records = scratch.records();
    assert_eq!(events(&records, "step_started", Some("flaky")).len(), 3);
    let failed = events(&records, "attempt_failed", Some("flaky"));
    assert_eq!(failed.len(), 3, "{}", dump(&records));
    assert_eq!(failed[2]["data"]["retry_in_ms"], Value::Null);
    let end = only(&records, "step_failed", "flaky");
    assert_eq!(end["attempt"], 3);
    assert!(seq(end) > seq(failed[2]));
    assert_eq!(scratch.read("count").trim(), "3", "exactly `attempts` runs");
    assert_eq!(outcome(&records), "failed");
}

// ---------------------------------------------------------------------------------------------
// 3. Timeouts kill the whole process tree

fn read_pid(scratch: &Scratch, name: &str) -> i32 {
    wait_for(name, Duration::from_secs(5), || {
        std::fs::read_to_string(scratch.path().join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

/// Kills what a failed test left behind.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if !process_gone(pid) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Steps `hang1`..`hang12` of FIXTURE, each a shell (pid in `pid.<step>`) waiting for a
/// grandchild `sleep 1000` (pid in `child.<step>`), with a 1s timeout.
fn hung_steps_are_killed_at_their_timeout(fixture: &str) {
    let steps: Vec<String> = (1..=12).map(|i| format!("hang{i}")).collect();
    let scratch = Scratch::new();
    let start = Instant::now();
    let mut child = spawn_in(
        scratch.path(),
        "run",
        &mut scratch.command(&[
            "run",
            engine_fixture(fixture).to_str().unwrap(),
            "--yes",
            "--max-parallel",
            "12",
        ]),
    );
    let code = child.wait_code(Duration::from_secs(20));
    let took = start.elapsed();
    let mut pids = Vec::new();
    for step in &steps {
        pids.push((
            format!("the shell of `{step}`"),
            read_pid(&scratch, &format!("pid.{step}")),
        ));
        pids.push((
            format!("the grandchild `sleep 1000` of `{step}`"),
            read_pid(&scratch, &format!("child.{step}")),
        ));
    }
    let _cleanup = KillOnDrop(pids.iter().map(|(_, pid)| *pid).collect());
    assert_eq!(code, 3, "{}", child.stderr());
    assert!(took < Duration::from_secs(20));
    let records = scratch.records();
    for step in &steps {
        let failure = only(&records, "attempt_failed", step);
        let error = failure["data"]["error"].as_str().unwrap();
        assert!(
            error.contains("timed out"),
            "`{step}`: the error does not say it timed out: {error:?}\n{}",
            dump(&records)
        );
        only(&records, "step_failed", step);
    }
    // The processes may take a moment to die (SIGTERM, then SIGKILL after a grace period).
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|(_, pid)| !process_gone(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<String> = pids
        .iter()
        .filter(|(_, pid)| !process_gone(*pid))
        .map(|(what, pid)| format!("{what} (pid {pid})"))
        .collect();
    assert!(
        alive.is_empty(),
        "still alive after the run ended: {alive:?}"
    );
}

#[test]
fn hung_shell_steps_and_their_grandchildren_are_killed_at_the_timeout() {
    // Twice: how a timeout plays out inside the engine varies from run to run.
    for _ in 0..2 {
        hung_steps_are_killed_at_their_timeout("hung.yaml");
    }
}

/// The same with processes that ignore SIGTERM: the SIGKILL that follows the grace period must
/// still happen, even though the run is over by then.
#[test]
fn hung_shell_steps_that_ignore_sigterm_are_still_killed() {
    hung_steps_are_killed_at_their_timeout("hung-stubborn.yaml");
}

// ---------------------------------------------------------------------------------------------
// 4. Gates

#[test]
fn a_failed_gate_fails_the_step_with_its_message() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("gate.yaml", &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let records = scratch.records();
    let gate = only(&records, "gate", "check");
    assert_eq!(gate["data"]["passed"], false, "{}", dump(&records));
    assert_eq!(gate["data"]["name"], "nonzero");
    assert_eq!(gate["data"]["message"], "expected ok, got not-ok");
    let failed = only(&records, "step_failed", "check");
    let error = failed["data"]["error"].as_str().unwrap();
    assert!(error.contains("expected ok, got not-ok"), "{error}");
    assert!(seq(failed) > seq(gate));
    assert!(events(&records, "step_succeeded", None).is_empty());
    assert_eq!(outcome(&records), "failed");
}

#[test]
fn a_passing_gate_lets_the_step_succeed() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("gate.yaml", &["-p", "say=ok"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = scratch.records();
    let gate = only(&records, "gate", "check");
    assert_eq!(gate["data"]["passed"], true);
    assert_eq!(gate["data"]["message"], Value::Null);
    assert!(seq(only(&records, "step_succeeded", "check")) > seq(gate));
}

// ---------------------------------------------------------------------------------------------
// 5. Compensation

#[test]
fn compensation_undoes_succeeded_steps_in_reverse_then_finally_runs() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("compensate.yaml", &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let records = scratch.records();
    only(&records, "step_failed", "d");
    let compensation: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("compensation_"))
        })
        .collect();
    let trail: Vec<String> = compensation
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["event"].as_str().unwrap(),
                r["step"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            "compensation_started c",
            "compensation_succeeded c",
            "compensation_started b",
            "compensation_succeeded b",
            "compensation_started a",
            "compensation_succeeded a",
        ],
        "{}",
        dump(&records)
    );
    // After d failed, before finally.
    let d_failed = seq(only(&records, "step_failed", "d"));
    assert!(seq(compensation[0]) > d_failed);
    let tidy = only(&records, "step_started", "tidy");
    assert!(
        seq(tidy) > seq(compensation.last().unwrap()),
        "finally started before compensation ended\n{}",
        dump(&records)
    );
    only(&records, "step_succeeded", "tidy");
    assert_eq!(scratch.read("done.txt"), "a\nb\nx\nc\n");
    assert_eq!(scratch.read("undo.txt"), "c\nb\na\ntidy\n");
    assert_eq!(outcome(&records), "failed");
    scratch.assert_verifies(&only_run(&scratch.runs()));
}

// ---------------------------------------------------------------------------------------------
// 6. `finally` after a failure, and after SIGINT

#[test]
fn finally_runs_after_a_failure() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("cancel.yaml", &["-p", "long=exit 9"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let records = scratch.records();
    only(&records, "step_failed", "long");
    for step in ["after_long", "last"] {
        only(&records, "step_skipped", step);
        assert!(events(&records, "step_started", Some(step)).is_empty());
    }
    only(&records, "compensation_succeeded", "prepare");
    let cleanup = only(&records, "step_succeeded", "cleanup");
    assert!(seq(cleanup) > seq(only(&records, "step_failed", "long")));
    assert_eq!(outcome(&records), "failed");
    assert_eq!(
        scratch.read("trail.txt"),
        "prepare\nundo-prepare\ncleanup\n"
    );
}

/// Run cancel.yaml, interrupt it with SIGINT while `long` runs, and check what the
/// cancellation did. Leaves the cancelled run in `scratch`.
fn run_and_interrupt(scratch: &Scratch) {
    let mut child = spawn_in(
        scratch.path(),
        "run",
        &mut scratch.command(&[
            "run",
            engine_fixture("cancel.yaml").to_str().unwrap(),
            "--yes",
        ]),
    );
    let journal = wait_for("the run's journal", Duration::from_secs(20), || {
        common::run_ids(&scratch.runs())
            .first()
            .map(|id| journal_path(&scratch.runs(), id))
    });
    wait_for("`long` to start", Duration::from_secs(20), || {
        let records = journal_records(&journal);
        (!events(&records, "step_started", Some("long")).is_empty()).then_some(())
    });
    let long_pid = read_pid(scratch, "long.pid");
    let _cleanup = KillOnDrop(vec![long_pid]);
    let sent = Instant::now();
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(child.pid(), libc::SIGINT) }, 0);
    let code = child.wait_code(Duration::from_secs(20));
    assert_eq!(code, 130, "{}", child.stderr());
    assert!(sent.elapsed() < Duration::from_secs(20));

    let records = scratch.records();
    let cancel = events(&records, "cancel_requested", None);
    assert_eq!(cancel.len(), 1, "{}", dump(&records));
    let cancelled = only(&records, "step_cancelled", "long");
    assert!(seq(cancelled) > seq(cancel[0]));
    for step in ["after_long", "last"] {
        only(&records, "step_skipped", step);
        assert!(events(&records, "step_started", Some(step)).is_empty());
    }
    only(&records, "step_succeeded", "prepare");
    only(&records, "compensation_succeeded", "prepare");
    let cleanup = only(&records, "step_succeeded", "cleanup");
    assert!(seq(cleanup) > seq(cancelled));
    assert_eq!(outcome(&records), "cancelled");
    assert_eq!(
        scratch.read("trail.txt"),
        "prepare\nundo-prepare\ncleanup\n"
    );
    // The interrupted step's process is gone too.
    wait_for("`long`'s shell to be gone", Duration::from_secs(5), || {
        process_gone(long_pid).then_some(())
    });
    scratch.assert_verifies(&only_run(&scratch.runs()));
}

#[test]
fn sigint_cancels_the_running_step_skips_the_rest_and_runs_finally() {
    run_and_interrupt(&Scratch::new());
}

/// A cancelled run can be resumed: the steps the cancellation kept from starting must run then,
/// not stay "skipped" in a run that reports success.
#[test]
fn resuming_a_cancelled_run_runs_the_steps_the_cancel_skipped() {
    let scratch = Scratch::new();
    run_and_interrupt(&scratch);
    let id = only_run(&scratch.runs());
    // `long` no longer waits.
    std::fs::write(scratch.path().join("go"), "").unwrap();
    let resume = scratch.ripcord(&["resume", &id]);
    assert_eq!(
        resume.code, 4,
        "`long` was cut short: a decision is needed\n{}",
        resume.stderr
    );
    assert!(resume.stderr.contains("`long`"), "{}", resume.stderr);
    let resume = scratch.ripcord(&["resume", &id, "--rerun", "long"]);
    let records = scratch.records();
    let resumed = seq(events(&records, "run_resumed", None)
        .last()
        .unwrap_or_else(|| panic!("no run_resumed\n{}", dump(&records))));
    let ran_after_resume = |step: &str| {
        events(&records, "step_succeeded", Some(step))
            .iter()
            .any(|r| seq(r) > resumed)
    };
    let not_run: Vec<&str> = ["long", "after_long", "last"]
        .into_iter()
        .filter(|s| !ran_after_resume(s))
        .collect();
    assert!(
        not_run.is_empty(),
        "after `resume --rerun long` of a cancelled run (exit {}), {not_run:?} did not run\n{}",
        resume.code,
        dump(&records)
    );
    assert_eq!(resume.code, 0, "{}", resume.stderr);
    assert_eq!(outcome(&records), "succeeded");
    let trail = scratch.read("trail.txt");
    assert!(trail.ends_with("after_long\nlast\ncleanup\n"), "{trail}");
}

// ---------------------------------------------------------------------------------------------
// 7. The journal is tamper-evident

#[test]
fn flipping_any_bit_of_a_journal_fails_verify_at_its_line() {
    let scratch = Scratch::new();
    // A real journal with many kinds of records: gate, attempt_failed, step_failed, outputs,
    // finally, and redacted `***` (a `*` with one bit flipped is a newline).
    let given = format!("token={CANARY}");
    let run = scratch.run_fixture("secret.yaml", &["-p", &given]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let id = only_run(&scratch.runs());
    scratch.assert_verifies(&id);
    let original = std::fs::read(journal_path(&scratch.runs(), &id)).unwrap();

    // Every newline, the first and last byte of every line, and a seeded sample of the rest.
    let mut offsets: Vec<usize> = Vec::new();
    let mut line_start = 0;
    for (i, &b) in original.iter().enumerate() {
        if b == b'\n' {
            offsets.extend([line_start, i.saturating_sub(1), i]);
            line_start = i + 1;
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0f11_7b17);
    while offsets.len() < 400 {
        offsets.push(rng.random_range(0..original.len()));
    }
    offsets.sort_unstable();
    offsets.dedup();
    let cases: Vec<(usize, u8)> = offsets
        .into_iter()
        .map(|o| (o, 1u8 << rng.random_range(0..8)))
        .collect();
    assert!(cases.len() >= 200);

    // Two workers, each with its own run directory for the damaged copies.
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = cases
            .chunks(cases.len().div_ceil(2))
            .enumerate()
            .map(|(w, chunk)| {
                let original = &original;
                let scratch = &scratch;
                s.spawn(move || {
                    let id = format!("tampered-{w}");
                    let dir = scratch.runs().join(&id);
                    std::fs::create_dir_all(&dir).unwrap();
                    let mut failures = Vec::new();
                    for &(offset, bit) in chunk {
                        let mut bytes = original.clone();
                        bytes[offset] ^= bit;
                        std::fs::write(dir.join("journal.jsonl"), &bytes).unwrap();
                        let verify = scratch.ripcord(&["verify", &id]);
                        let line = original[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
                        let mut expected = vec![format!("journal.jsonl:{line}:")];
                        if original[offset] == b'\n' {
                            expected.push(format!("journal.jsonl:{}:", line + 1));
                        }
                        if verify.code != 1 || !expected.iter().any(|e| verify.stderr.contains(e))
                        {
                            failures.push(format!(
                                "byte {offset} (line {line}, {:?} ^ {bit:#04x}): exit {}, stderr {:?}",
                                original[offset] as char, verify.code, verify.stderr
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} flips not reported at their line:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Secrets never leak

const CANARY: &str = "CANARY-8f3a-s3cr3t";

fn assert_no_canary(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "the secret leaked into {what}:\n{text}"
    );
    // Nor a recognisable part of it.
    assert!(
        !text.contains("8f3a-s3cr3t"),
        "part of the secret leaked into {what}"
    );
}

fn secret_never_leaks(by_env: bool) {
    let fixture = engine_fixture("secret.yaml");
    let file = fixture.to_str().unwrap();
    let given = format!("token={CANARY}");
    let with_secret = |cmd: &mut std::process::Command| {
        if by_env {
            cmd.env("RIPCORD_PARAM_TOKEN", CANARY);
        } else {
            cmd.args(["-p", &given]);
        }
    };

    for output in ["text", "json"] {
        let scratch = Scratch::new();
        let mut cmd = scratch.command(&["run", file, "--yes", "-o", output]);
        with_secret(&mut cmd);
        let run = run_cmd(&mut cmd);
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert_no_canary(&format!("`run -o {output}` stdout"), &run.stdout);
        assert_no_canary(&format!("`run -o {output}` stderr"), &run.stderr);

        let id = only_run(&scratch.runs());
        let journal = std::fs::read_to_string(journal_path(&scratch.runs(), &id)).unwrap();
        assert_no_canary("the journal", &journal);
        let records = journal_records(&journal_path(&scratch.runs(), &id));
        // The secret was used: redacted where it would have been.
        let said = &only(&records, "step_succeeded", "use_env")["data"];
        assert_eq!(
            said["outputs"]["said"],
            "token is ***",
            "{}",
            dump(&records)
        );
        assert_eq!(said["result"]["stdout"], "token is ***\n");
        let started = &only(&records, "step_started", "use_env")["data"];
        assert_eq!(started["with"]["env"]["TOKEN"], "***");
        assert_eq!(records[0]["data"]["params"]["token"], "***");
        let gate = only(&records, "gate", "in_argv");
        assert_eq!(
            gate["data"]["message"],
            "the command said http://127.0.0.1:9/api?token=***"
        );
        let failed = only(&records, "step_failed", "leak_error")["data"]["error"]
            .as_str()
            .unwrap();
        assert!(failed.contains("cannot log in with ***"), "{failed}");
        let report = only(&records, "step_succeeded", "report");
        assert_eq!(report["data"]["result"]["stdout"], "token is ***\n");

        for args in [
            vec!["status", id.as_str()],
            vec!["status"],
            vec!["verify", id.as_str()],
        ] {
            let shown = scratch.ripcord(&args);
            assert_eq!(shown.code, 0, "{args:?}: {}", shown.stderr);
            assert_no_canary(&format!("`{}`", args.join(" ")), &shown.all_output());
        }
    }

    for format in ["text", "json"] {
        let scratch = Scratch::new();
        let mut cmd = scratch.command(&["plan", file, "--format", format]);
        with_secret(&mut cmd);
        let plan = run_cmd(&mut cmd);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert_no_canary(&format!("`plan --format {format}`"), &plan.all_output());
        assert!(plan.stdout.contains("***"), "{}", plan.stdout);
    }
}

#[test]
fn a_secret_given_with_p_never_leaks() {
    secret_never_leaks(false);
}

#[test]
fn a_secret_given_in_the_environment_never_leaks() {
    secret_never_leaks(true);
}

/// Output cut to a size limit must not keep part of a secret: the part before or after the
/// cut is as good as a leak (`CANARY-8f3` or `f3a-s3cr3t` narrow the secret down).
#[test]
fn a_secret_cut_by_an_output_limit_does_not_leak_in_part() {
    let scratch = Scratch::new();
    let mut cmd = scratch.command(&[
        "run",
        engine_fixture("secret-cut.yaml").to_str().unwrap(),
        "--yes",
    ]);
    cmd.env("RIPCORD_PARAM_TOKEN", CANARY);
    let run = run_cmd(&mut cmd);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let id = only_run(&scratch.runs());
    let journal = std::fs::read_to_string(journal_path(&scratch.runs(), &id)).unwrap();
    let status = scratch.ripcord(&["status", &id]);
    // Any 8 characters in a row of the secret.
    let fragments: Vec<&str> = (0..=CANARY.len() - 8).map(|i| &CANARY[i..i + 8]).collect();
    for (what, text) in [
        ("the journal", journal.as_str()),
        ("`run` output", &run.all_output()),
        ("`status` output", &status.all_output()),
    ] {
        let found: Vec<&&str> = fragments.iter().filter(|f| text.contains(**f)).collect();
        assert!(
            found.is_empty(),
            "part of the secret ({found:?}) is in {what}:\n{}",
            text.lines()
                .filter(|l| found.iter().any(|f| l.contains(**f)))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Approvals

/// Start the approval fixture in the background and wait until `go_ahead` waits for a decision.
fn start_waiting_for_approval(scratch: &Scratch) -> (Spawned, String) {
    let child = spawn_in(
        scratch.path(),
        "run",
        &mut scratch.command(&[
            "run",
            engine_fixture("approval.yaml").to_str().unwrap(),
            "--yes",
        ]),
    );
    let id = wait_for("the run's journal", Duration::from_secs(20), || {
        common::run_ids(&scratch.runs()).into_iter().next()
    });
    wait_for("the approval to wait", Duration::from_secs(20), || {
        let records = journal_records(&journal_path(&scratch.runs(), &id));
        records
            .iter()
            .any(|r| r["event"] == "note" && r["data"]["kind"] == "approval_waiting")
            .then_some(())
    });
    (child, id)
}

#[test]
fn an_approval_from_another_process_unblocks_the_run() {
    let scratch = Scratch::new();
    let (mut child, id) = start_waiting_for_approval(&scratch);
    // Still waiting a moment later: nothing decided yet.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        child.try_code(),
        None,
        "the run did not wait for the approval"
    );
    let approve = scratch.ripcord(&["approve", &id, "go_ahead", "--by", "alice"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let code = child.wait_code(Duration::from_secs(20));
    assert_eq!(code, 0, "{}", child.stderr());
    let records = scratch.records();
    let done = only(&records, "step_succeeded", "go_ahead");
    assert_eq!(
        done["data"]["outputs"]["who"],
        "alice",
        "{}",
        dump(&records)
    );
    assert_eq!(done["data"]["result"]["approved_by"], "alice");
    assert_eq!(done["data"]["result"]["via"], "cli");
    assert_eq!(scratch.read("change.txt"), "approved by alice\n");
}

#[test]
fn a_rejection_fails_the_run() {
    let scratch = Scratch::new();
    let (mut child, id) = start_waiting_for_approval(&scratch);
    let reject = scratch.ripcord(&["approve", &id, "go_ahead", "--by", "bob", "--reject"]);
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    let code = child.wait_code(Duration::from_secs(20));
    assert_eq!(code, 3, "{}", child.stderr());
    let records = scratch.records();
    let failed = only(&records, "step_failed", "go_ahead");
    let error = failed["data"]["error"].as_str().unwrap();
    assert!(error.contains("rejected by bob"), "{error}");
    only(&records, "step_skipped", "change");
    assert!(!scratch.path().join("change.txt").exists());
    assert_eq!(outcome(&records), "failed");
}

#[test]
fn approve_up_front_does_not_wait() {
    let scratch = Scratch::new();
    let mut cmd = scratch.command(&[
        "run",
        engine_fixture("approval.yaml").to_str().unwrap(),
        "--yes",
        "--approve",
        "go_ahead",
    ]);
    cmd.env("RIPCORD_USER", "carol");
    // The approval's own timeout is 30 minutes: finishing at all shows it did not wait.
    let mut child = spawn_in(scratch.path(), "run", &mut cmd);
    let code = child.wait_code(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", child.stderr());
    let records = scratch.records();
    let done = only(&records, "step_succeeded", "go_ahead");
    assert_eq!(done["data"]["result"]["via"], "flag");
    assert_eq!(done["data"]["outputs"]["who"], "carol");
    assert_eq!(scratch.read("change.txt"), "approved by carol\n");
}

/// A dry run never passes a gate or a condition on a value it did not observe: the write's
/// gate is unknown, the steps reading its outputs are not simulated, a real read still runs
/// and its own checks hold; the summary says how much was checked and that the RTO was not
/// measured; nothing was written.
#[test]
fn a_dry_run_reports_unobserved_values_as_unknown() {
    let scratch = Scratch::new();
    let run = scratch.run_fixture("dry-run.yaml", &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(!scratch.path().join("acted").exists(), "the write ran");
    let records = scratch.records();
    let step = |id: &str, kind: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["step"] == id && r["event"] == kind)
            .cloned()
            .collect()
    };
    let observed = |id: &str| step(id, "step_succeeded")[0]["data"]["dry_run"]["observed"].clone();
    assert_eq!(observed("look"), "ran");
    assert_eq!(observed("check_look"), "ran");
    assert_eq!(observed("act"), "not_simulated");
    assert_eq!(observed("check_act"), "not_simulated");
    assert_eq!(observed("guarded"), "not_simulated");
    let gate = &step("act", "gate")[0]["data"];
    assert_eq!(gate["passed"], false);
    assert_eq!(gate["unknown"], true);
    // An unknown output is null, never the placeholder result's value.
    assert_eq!(
        step("act", "step_succeeded")[0]["data"]["outputs"]["code"],
        Value::Null
    );
    // Steps that read it were not run at all.
    assert!(step("check_act", "step_started").is_empty());
    assert!(step("guarded", "step_started").is_empty());
    let out = run.all_output();
    assert!(
        out.contains("dry run: 2 ran, 0 validated by the server, 3 not simulated, 1 gate unknown"),
        "{out}"
    );
    assert!(out.contains("RTO 5m: not measured in a dry run"), "{out}");
    assert!(!out.contains(": met"), "{out}");
}
