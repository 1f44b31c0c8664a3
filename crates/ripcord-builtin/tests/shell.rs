//! `shell`: argv, env, cwd, stdin, output caps, exit codes, process-group clean-up, dry runs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ripcord_engine::StepError;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn argv_env_cwd_and_stdin() {
    let ctx = TestContext::new();
    std::fs::create_dir(ctx.path().join("sub")).unwrap();
    let out = run(
        &ctx,
        "shell",
        json!({
            "argv": ["sh", "-c", "printf '%s|%s|' \"$RIPCORD_TEST\" \"$(pwd -P)\"; cat; echo warn >&2"],
            "env": {"RIPCORD_TEST": "hello there"},
            "cwd": "sub",
            "stdin": "from stdin",
        }),
        Opts::default(),
    )
    .await
    .unwrap();
    let sub = ctx.path().join("sub").canonicalize().unwrap();
    assert_eq!(
        out,
        json!({
            "stdout": format!("hello there|{}|from stdin", sub.display()),
            "stderr": "warn\n",
            "exit_code": 0,
            "truncated": false,
        })
    );
}

#[tokio::test]
async fn no_shell_is_involved_and_the_environment_is_inherited() {
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["printf", "%s", "a b; echo $HOME && c"]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], "a b; echo $HOME && c");

    // `env` adds to the inherited environment; PATH is still there.
    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["sh", "-c", "printf %s \"$PATH\""], "env": {"X": "1"}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], std::env::var("PATH").unwrap());

    // An absolute cwd is used as is; without stdin the program reads end of input at once.
    let abs = ctx.path().canonicalize().unwrap();
    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["sh", "-c", "pwd -P; cat"], "cwd": abs.to_str().unwrap()}),
        Opts::timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], format!("{}\n", abs.display()));
}

#[tokio::test]
async fn output_is_capped_and_counted() {
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "shell",
        json!({
            "argv": ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero | tr '\\0' e >&2"],
            "max_output": 1000,
        }),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], "a".repeat(1000));
    assert_eq!(out["stderr"], "e".repeat(1000));
    assert_eq!(out["truncated"], true);
    assert_eq!(out["exit_code"], 0);
    let note = &ctx.notes_of("shell_output_truncated")[0];
    assert_eq!(note["stdout_bytes"], 300000);
    assert_eq!(note["stderr_bytes"], 5000);

    // Under the cap: nothing is cut, nothing noted.
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["echo", "short"]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["truncated"], false);
    assert!(ctx.notes_of("shell_output_truncated").is_empty());
    // The process group is journaled as it starts, for resume after a crash of ripcord.
    let started = ctx.notes_of("process_started");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["program"], "echo");
    assert!(started[0]["pgid"].as_i64().unwrap() > 1, "{started:?}");
}

#[tokio::test]
async fn exit_codes() {
    let ctx = TestContext::new();
    let script = "echo out; echo 'first problem' >&2; echo 'disk full' >&2; exit 3";
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["sh", "-c", script]}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains("exited with code 3"), "{message}");
    assert!(message.contains("accepted: 0"), "{message}");
    assert!(message.contains("first problem\ndisk full"), "{message}");

    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["sh", "-c", script], "ok_codes": [0, 3]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["exit_code"], 3);
    assert_eq!(out["stdout"], "out\n");

    // Zero is not special once ok_codes is given.
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["true"], "ok_codes": [1]}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains("exited with code 0 (accepted: 1)"),
        "{message}"
    );
}

#[tokio::test]
async fn failure_messages_quote_a_bounded_tail_of_stderr() {
    let ctx = TestContext::new();
    let script = "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo \"line $i\" >&2; done; exit 1";
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["sh", "-c", script]}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains("line 2000"), "{message}");
    assert!(message.contains("line 1991"), "{message}");
    assert!(!message.contains("line 1990\n"), "{message}");
    assert!(message.len() < 500, "{} chars", message.len());
}

#[tokio::test]
async fn secrets_are_redacted_from_failure_messages() {
    let ctx = TestContext::with(json!({}), vec!["hunter2".into()]);
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["sh", "-c", "echo 'bad password hunter2' >&2; exit 1"]}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains("bad password ***"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn bad_programs_and_directories() {
    let ctx = TestContext::new();
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["ripcord-no-such-program"]}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.contains("cannot run `ripcord-no-such-program`"),
        "{message}"
    );

    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["true"], "cwd": "missing"}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains("missing"), "{message}");

    let r = run(&ctx, "shell", json!({"argv": []}), Opts::default()).await;
    assert!(matches!(r, Err(StepError::Input(_))), "{r:?}");

    // Killed by a signal: no exit code, always a failure.
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["sh", "-c", "kill -9 $$"], "ok_codes": [0, 137]}),
            Opts::default(),
        )
        .await,
    );
    assert!(message.contains("killed by signal 9"), "{message}");
}

/// A shell (our child) with two children of its own (our grandchildren), none of which ever
/// ends; the script writes the three pids to `pids`.
fn hung_script(ignore_term: bool) -> String {
    let trap = if ignore_term { "trap '' TERM; " } else { "" };
    format!(
        "{trap}sleep 1000 & echo $! >> pids; sleep 1000 & echo $! >> pids; echo $$ >> pids; wait"
    )
}

#[tokio::test]
async fn cancellation_kills_the_whole_process_group() {
    let ctx = TestContext::new();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "shell",
        json!({"argv": ["sh", "-c", hung_script(false)], "cwd": "."}),
        Opts::cancel(&cancel),
    ));
    let pids = read_pids(&ctx.path().join("pids"), 3).await;
    assert!(pids.iter().all(|&p| process_alive(p)), "{pids:?}");

    let start = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the step returns promptly when cancelled")
        .unwrap();
    let waited = start.elapsed();
    assert_all_gone(&pids, Duration::from_secs(1)).await;
    assert!(matches!(result, Err(StepError::Cancelled)), "{result:?}");
    // SIGTERM was enough: no wait for the SIGKILL grace.
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
}

#[tokio::test]
async fn dropping_the_future_kills_the_whole_process_group() {
    let ctx = TestContext::new();
    // An absolute cwd this time.
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "shell",
        json!({"argv": ["sh", "-c", hung_script(false)], "cwd": ctx.path().to_str().unwrap()}),
        Opts::default(),
    ));
    let pids = read_pids(&ctx.path().join("pids"), 3).await;
    task.abort();
    let err = task.await.unwrap_err();
    assert!(err.is_cancelled());
    assert_all_gone(&pids, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn the_deadline_kills_the_whole_process_group() {
    let ctx = TestContext::new();
    let start = Instant::now();
    let message = failed(
        run(
            &ctx,
            "shell",
            json!({"argv": ["sh", "-c", format!("echo started >&2; {}", hung_script(false))], "cwd": "."}),
            Opts::timeout(Duration::from_millis(800)),
        )
        .await,
    );
    assert!(message.contains("deadline"), "{message}");
    assert!(message.contains("started"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let pids = read_pids(&ctx.path().join("pids"), 3).await;
    assert_all_gone(&pids, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn processes_ignoring_sigterm_get_sigkill_on_cancel() {
    let ctx = TestContext::new();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "shell",
        json!({"argv": ["sh", "-c", hung_script(true)], "cwd": "."}),
        Opts::cancel(&cancel),
    ));
    let pids = read_pids(&ctx.path().join("pids"), 3).await;
    let start = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(6), task)
        .await
        .expect("the step returns within the SIGKILL grace")
        .unwrap();
    assert!(matches!(result, Err(StepError::Cancelled)), "{result:?}");
    let waited = start.elapsed();
    assert!(
        waited >= ripcord_builtin::TERM_GRACE - Duration::from_millis(100),
        "{waited:?}"
    );
    assert_all_gone(&pids, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn processes_ignoring_sigterm_get_sigkill_on_drop() {
    let ctx = TestContext::new();
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "shell",
        json!({"argv": ["sh", "-c", hung_script(true)], "cwd": "."}),
        Opts::default(),
    ));
    let pids = read_pids(&ctx.path().join("pids"), 3).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // What a CLI does before exiting: wait for the SIGKILL escalation.
    let cleaned = tokio::task::spawn_blocking(|| {
        ripcord_builtin::wait_for_cleanup(ripcord_builtin::TERM_GRACE + Duration::from_secs(2))
    })
    .await
    .unwrap();
    assert!(cleaned);
    assert_all_gone(&pids, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn leftovers_holding_the_output_are_killed_detached_ones_are_not() {
    let ctx = TestContext::new();
    // The background sleep inherits stdout: the step cannot be over while it lives.
    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["sh", "-c", "sleep 1000 & echo $! >> pids; echo done"], "cwd": "."}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], "done\n");
    let pids = read_pids(&ctx.path().join("pids"), 1).await;
    assert_all_gone(&pids, Duration::from_secs(1)).await;
    assert_eq!(ctx.notes_of("shell_leftovers_killed").len(), 1);

    // A daemon that let go of our pipes is left alone.
    let ctx = TestContext::new();
    let start = Instant::now();
    let out = run(
        &ctx,
        "shell",
        json!({
            "argv": ["sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >> pids; echo started"],
            "cwd": ".",
        }),
        Opts::default(),
    )
    .await
    .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out["stdout"], "started\n");
    let pids = read_pids(&ctx.path().join("pids"), 1).await;
    let alive = process_alive(pids[0]);
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    assert!(alive, "the detached process was killed");
    assert!(ctx.notes_of("shell_leftovers_killed").is_empty());
}

#[tokio::test]
async fn dry_run_runs_only_declared_reads() {
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["sh", "-c", "touch marker"], "cwd": "."}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({
            "dry_run": true,
            "skipped": "shell command not run in a dry run",
            "exit_code": null,
            "stdout": "",
            "stderr": "",
        })
    );
    assert!(!ctx.path().join("marker").exists());

    let out = run(
        &ctx,
        "shell",
        json!({"argv": ["sh", "-c", "echo read-only"], "effect": "read"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["stdout"], "read-only\n");
    assert_eq!(out["exit_code"], 0);
}
