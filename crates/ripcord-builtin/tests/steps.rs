//! `approval`, `assert`, `sleep`, and dispatch of types that are not core.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ripcord_engine::StepError;
use ripcord_engine::approvals::{Approvals, Decision};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn decision(by: &str, approved: bool) -> Decision {
    Decision {
        approved,
        by: by.into(),
        at: ripcord_engine::approvals::now(),
        via: "cli".into(),
    }
}

/// Once the step says it is waiting, drop `decisions` one after another, each after the
/// previous one was refused.
fn decide_later(ctx: &std::sync::Arc<TestContext>, step: &'static str, decisions: Vec<Decision>) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        ctx.wait_note("approval_waiting", 1).await;
        for (i, d) in decisions.iter().enumerate() {
            if i > 0 {
                ctx.wait_note("approval_refused", i).await;
            }
            Approvals::decide(&ctx.run_dir(), step, d).unwrap();
        }
    });
}

fn approval_opts(step: &str) -> Opts {
    Opts {
        step_id: step.into(),
        ..Opts::default()
    }
}

#[tokio::test]
async fn approval_approved() {
    let ctx = TestContext::new();
    decide_later(&ctx, "gate", vec![decision("alice", true)]);
    let out = run(
        &ctx,
        "approval",
        json!({"prompt": "Fail over to eu-west?", "approvers": ["alice", "bob"]}),
        approval_opts("gate"),
    )
    .await
    .unwrap();
    assert_eq!(out["approved_by"], "alice");
    assert_eq!(out["via"], "cli");
    assert!(out["approved_at"].as_str().unwrap().ends_with('Z'));
    let waiting = &ctx.notes_of("approval_waiting")[0];
    assert_eq!(
        *waiting,
        json!({
            "prompt": "Fail over to eu-west?",
            "approvers": ["alice", "bob"],
            "hint": format!("ripcord approve {RUN_ID} gate --by NAME"),
        })
    );
}

#[tokio::test]
async fn approval_rejected() {
    let ctx = TestContext::new();
    decide_later(&ctx, "gate", vec![decision("bob", false)]);
    let message = failed(
        run(
            &ctx,
            "approval",
            json!({"prompt": "Go?"}),
            approval_opts("gate"),
        )
        .await,
    );
    assert_eq!(message, "rejected by bob");
}

#[tokio::test]
async fn approval_from_someone_not_listed_is_refused_until_an_approver_decides() {
    let ctx = TestContext::new();
    decide_later(
        &ctx,
        "gate",
        vec![decision("mallory", true), decision("alice", true)],
    );
    let out = run(
        &ctx,
        "approval",
        json!({"prompt": "Go?", "approvers": ["alice"]}),
        approval_opts("gate"),
    )
    .await
    .unwrap();
    assert_eq!(out["approved_by"], "alice");
    let refused = ctx.notes_of("approval_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["by"], "mallory");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("approvers: alice")
    );
}

#[tokio::test]
async fn approval_times_out_and_names_refusals() {
    let ctx = TestContext::new();
    Approvals::decide(&ctx.run_dir(), "gate", &decision("mallory", true)).unwrap();
    let start = Instant::now();
    let message = failed(
        run(
            &ctx,
            "approval",
            json!({"prompt": "Go?", "approvers": ["alice"]}),
            Opts {
                step_id: "gate".into(),
                timeout: Duration::from_millis(500),
                ..Opts::default()
            },
        )
        .await,
    );
    assert!(
        message.starts_with("no decision within the step's timeout"),
        "{message}"
    );
    assert!(message.contains("mallory"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn approval_cancelled_and_dry_run() {
    let ctx = TestContext::new();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "approval",
        json!({"prompt": "Go?"}),
        Opts {
            step_id: "gate".into(),
            ..Opts::cancel(&cancel)
        },
    ));
    ctx.wait_note("approval_waiting", 1).await;
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("prompt")
        .unwrap();
    assert!(matches!(result, Err(StepError::Cancelled)), "{result:?}");

    let ctx = TestContext::new();
    let out = run(&ctx, "approval", json!({"prompt": "Go?"}), Opts::dry_run())
        .await
        .unwrap();
    assert_eq!(out, json!({"dry_run": true, "approved_by": null}));
    assert!(ctx.notes().is_empty());
}

#[tokio::test]
async fn assert_true_and_false() {
    let ctx = TestContext::with(
        json!({"params": {"n": 3, "name": "db", "empty": ""}, "steps": {"count": {"outputs": {"rows": 0}}}}),
        vec![],
    );
    let out = run(
        &ctx,
        "assert",
        json!({"expr": "params.n > 2"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"value": true}));
    let out = run(
        &ctx,
        "assert",
        json!({"expr": "params.name"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"value": "db"}));

    let message = failed(
        run(
            &ctx,
            "assert",
            json!({"expr": "steps.count.outputs.rows"}),
            Opts::default(),
        )
        .await,
    );
    assert_eq!(message, "assertion failed: steps.count.outputs.rows");
    let message = failed(
        run(
            &ctx,
            "assert",
            json!({"expr": "params.empty", "message": "name the database"}),
            Opts::default(),
        )
        .await,
    );
    assert_eq!(message, "name the database");

    // Evaluation errors (strict undefined) fail the step.
    let message = failed(
        run(
            &ctx,
            "assert",
            json!({"expr": "params.nope > 1"}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        message.starts_with("cannot evaluate `params.nope > 1`"),
        "{message}"
    );
    // Asserts read only: they run in a dry run.
    let out = run(
        &ctx,
        "assert",
        json!({"expr": "params.n == 3"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"value": true}));
}

#[tokio::test]
async fn sleep_sleeps_wakes_on_cancel_and_skips_in_dry_runs() {
    let ctx = TestContext::new();
    let start = Instant::now();
    let out = run(&ctx, "sleep", json!({"duration": "50ms"}), Opts::default())
        .await
        .unwrap();
    assert_eq!(out, json!({}));
    assert!(start.elapsed() >= Duration::from_millis(50));

    let start = Instant::now();
    let out = run(&ctx, "sleep", json!({"duration": "1h"}), Opts::dry_run())
        .await
        .unwrap();
    assert_eq!(out, json!({"dry_run": true}));
    assert!(start.elapsed() < Duration::from_secs(1));

    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_owned(
        ctx.clone(),
        "sleep",
        json!({"duration": "1h"}),
        Opts {
            timeout: Duration::from_secs(7200),
            ..Opts::cancel(&cancel)
        },
    ));
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("prompt")
        .unwrap();
    assert!(matches!(result, Err(StepError::Cancelled)), "{result:?}");

    // Longer than the timeout: fails at once.
    let message = failed(run(&ctx, "sleep", json!({"duration": "1h"}), Opts::default()).await);
    assert!(
        message.contains("does not fit in the step's timeout"),
        "{message}"
    );

    // A template that reached the executor unrendered is an input error.
    let r = run(
        &ctx,
        "sleep",
        json!({"duration": "{{ params.d }}"}),
        Opts::default(),
    )
    .await;
    assert!(matches!(r, Err(StepError::Input(_))), "{r:?}");
}

#[tokio::test]
async fn other_families_are_unsupported() {
    let ctx = TestContext::new();
    let r = run(
        &ctx,
        "kube.get",
        json!({"api_version": "v1", "kind": "Pod"}),
        Opts::default(),
    )
    .await;
    assert!(
        matches!(r, Err(StepError::Unsupported("kube.get", "core"))),
        "{r:?}"
    );
}

#[test]
fn register_adds_the_core_family() {
    let mut registry = ripcord_engine::Registry::new();
    ripcord_builtin::register(&mut registry);
    assert_eq!(registry.families(), [ripcord_spec::catalog::Family::Core]);
    let executor = registry.executor(ripcord_spec::StepKind::Shell).unwrap();
    assert_eq!(executor.family(), ripcord_spec::catalog::Family::Core);
    assert!(registry.limit(ripcord_spec::StepKind::Shell).is_none());
}
