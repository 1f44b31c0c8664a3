//! What kube steps report in a dry run: validated writes with their changed fields and
//! pre-state, reads that ran, and steps that cannot be observed because an earlier dry-run
//! write of the same run was not made (issue 11).

mod common;

use std::time::{Duration, Instant};

use common::*;
use ripcord_engine::StepError;
use ripcord_engine::preview::{DryRunReport, Observed};
use ripcord_testkit::FakeCluster;
use serde_json::{Value, json};

fn step(id: &str) -> Opts {
    Opts {
        step_id: id.into(),
        ..Opts::dry_run()
    }
}

/// Run a dry-run step and return its result and its (last) dry-run report.
async fn dry(
    ex: &ripcord_kube::KubeExecutor,
    id: &str,
    kind: &str,
    with: Value,
) -> (Value, DryRunReport) {
    let ctx = TestContext::new();
    let out = run(ex, &ctx, kind, with, step(id))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e:?}"));
    let report = ctx.last_dry_run_report().expect("a dry-run report");
    (out, report)
}

fn items(r: &DryRunReport, action: &str) -> Vec<String> {
    let diff = r.diff.as_ref().expect("a diff");
    diff.changes
        .iter()
        .find(|c| c.action == action)
        .map(|c| c.items.clone())
        .unwrap_or_default()
}

fn rv(c: &FakeCluster, av: &str, kind: &str, ns: &str, name: &str) -> String {
    c.get(av, kind, ns, name).unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn writes_are_validated_with_their_changed_fields_and_pre_state_and_nothing_persists() {
    let cluster = with_app("default", "web", 2).await;
    let ex = executor(&cluster);
    let before = cluster.resource_version();
    let deploy_rv = rv(&cluster, "apps/v1", "Deployment", "default", "web");

    let (_, r) = dry(&ex, "scale", "kube.patch", json!({"api_version": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web", "patch": {"spec": {"replicas": 5}}})).await;
    assert_eq!(r.observed, Observed::Validated);
    assert_eq!(items(&r, "patch"), vec!["spec.replicas: 2 -> 5"]);
    assert_eq!(r.pre_state.len(), 1);
    assert_eq!(r.pre_state[0].object, "apps/v1 Deployment default/web");
    assert_eq!(r.pre_state[0].fingerprint, deploy_rv);
    assert_eq!(
        r.pre_state[0].detail.as_deref(),
        Some(format!("resourceVersion {deploy_rv}").as_str())
    );

    let (out, r) = dry(
        &ex,
        "restart",
        "kube.rollout.restart",
        json!({"namespace": "default", "name": "web"}),
    )
    .await;
    assert_eq!(r.observed, Observed::Validated);
    let at = out["restarted_at"].as_str().unwrap();
    assert_eq!(
        items(&r, "patch"),
        vec![format!(
            "spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt: (none) -> {at}"
        )]
    );
    assert_eq!(r.pre_state[0].object, "apps/v1 Deployment default/web");

    let (_, r) = dry(
        &ex,
        "cordon",
        "kube.nodes.cordon",
        json!({"node": "node-2"}),
    )
    .await;
    assert_eq!(
        items(&r, "patch"),
        vec!["spec.unschedulable: (none) -> true"]
    );
    assert_eq!(r.pre_state[0].object, "v1 Node node-2");

    let pods: Vec<String> = ready_pods(&cluster, "default", "web")
        .iter()
        .map(|p| format!("pod default/{}", p["metadata"]["name"].as_str().unwrap()))
        .collect();
    let (_, r) = dry(
        &ex,
        "kill",
        "kube.pods.delete",
        json!({"namespace": "default", "selector": "app=web"}),
    )
    .await;
    let mut deleted = items(&r, "delete");
    deleted.sort();
    let mut want = pods.clone();
    want.sort();
    assert_eq!(deleted, want);
    assert!(
        r.pre_state
            .iter()
            .all(|p| p.object.starts_with("v1 Pod default/"))
    );
    assert_eq!(r.pre_state.len(), 2);

    let (_, r) = dry(&ex, "ns", "kube.namespace.create", json!({"name": "fresh"})).await;
    assert_eq!(items(&r, "create"), vec!["namespace fresh"]);
    let (_, r) = dry(&ex, "cm", "kube.apply", json!({"manifests": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}, "data": {"a": "1"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 3}}]})).await;
    assert_eq!(r.observed, Observed::Validated);
    assert_eq!(items(&r, "create"), vec!["ConfigMap default/x"]);
    assert!(
        items(&r, "patch").contains(&"Deployment default/web spec.replicas: 2 -> 3".to_owned()),
        "{r:?}"
    );
    assert_eq!(r.pre_state[0].object, "apps/v1 Deployment default/web");

    let (_, r) = dry(
        &ex,
        "drop",
        "kube.namespace.delete",
        json!({"name": "kube-system"}),
    )
    .await;
    assert_eq!(items(&r, "delete"), vec!["namespace kube-system"]);
    assert_eq!(r.pre_state[0].object, "v1 Namespace kube-system");

    let node = ready_pods(&cluster, "default", "web")[0]["spec"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let (out, r) = dry(&ex, "drain", "kube.nodes.drain", json!({"node": node})).await;
    let evicted: Vec<String> = out["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("pod {}", p.as_str().unwrap()))
        .collect();
    assert!(!evicted.is_empty());
    assert_eq!(items(&r, "evict"), evicted);
    assert!(
        r.pre_state
            .iter()
            .any(|p| p.object == format!("v1 Node {node}"))
    );

    assert_eq!(
        cluster.resource_version(),
        before,
        "a dry run stored nothing"
    );
    assert_eq!(
        rv(&cluster, "apps/v1", "Deployment", "default", "web"),
        deploy_rv
    );
}

#[tokio::test]
async fn reads_ran_and_an_exec_that_may_write_is_not_simulated() {
    let cluster = with_app("default", "web", 1).await;
    let ex = executor(&cluster);
    let (_, r) = dry(
        &ex,
        "read",
        "kube.get",
        json!({"api_version": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"}),
    )
    .await;
    assert_eq!(r, DryRunReport::ran());
    let (out, r) = dry(
        &ex,
        "migrate",
        "kube.exec",
        json!({"namespace": "default", "selector": "app=web", "command": ["true"]}),
    )
    .await;
    assert_eq!(
        r,
        DryRunReport::not_simulated("a command that may write is not run in a dry run")
    );
    assert!(
        out["exit_code"].is_null(),
        "no exit code is invented: {out}"
    );
    assert!(cluster.exec_calls().is_empty());
    let (_, r) = dry(
        &ex,
        "probe",
        "kube.exec",
        json!({"namespace": "default", "selector": "app=web", "command": ["true"], "effect": "read"}),
    )
    .await;
    assert_eq!(r, DryRunReport::ran());
}

#[tokio::test]
async fn steps_in_a_namespace_the_dry_run_did_not_create_are_not_simulated() {
    let cluster = FakeCluster::start().await;
    let ex = executor(&cluster);
    dry(
        &ex,
        "create_ns",
        "kube.namespace.create",
        json!({"name": "mcp-dr-test"}),
    )
    .await;
    let because =
        "namespace mcp-dr-test would be created by step `create_ns`; the dry run did not create it";
    let (out, r) = dry(
        &ex,
        "deploy",
        "kube.apply",
        json!({"manifests": [deployment("mcp-dr-test", "app", 2)]}),
    )
    .await;
    assert_eq!(r.observed, Observed::NotSimulated);
    assert_eq!(r.reason.as_deref(), Some(because));
    assert_eq!(items(&r, "create"), vec!["Deployment mcp-dr-test/app"]);
    assert_eq!(out["applied"], json!(["Deployment/mcp-dr-test/app"]));
    let started = Instant::now();
    for (id, kind, with) in [
        (
            "baseline",
            "kube.pods.wait_ready",
            json!({"namespace": "mcp-dr-test", "selector": "app=app"}),
        ),
        (
            "kill",
            "kube.pods.delete",
            json!({"namespace": "mcp-dr-test", "selector": "app=app"}),
        ),
        (
            "functional",
            "kube.exec",
            json!({"namespace": "mcp-dr-test", "selector": "app=app", "command": ["true"], "effect": "read"}),
        ),
        (
            "rollout",
            "kube.rollout.status",
            json!({"namespace": "mcp-dr-test", "name": "app"}),
        ),
        (
            "count",
            "kube.get",
            json!({"api_version": "v1", "kind": "Pod", "namespace": "mcp-dr-test", "fields": {"n": "/items"}}),
        ),
        (
            "ns",
            "kube.get",
            json!({"api_version": "v1", "kind": "Namespace", "name": "mcp-dr-test"}),
        ),
        (
            "cleanup",
            "kube.namespace.delete",
            json!({"name": "mcp-dr-test"}),
        ),
    ] {
        let (out, r) = dry(&ex, id, kind, with).await;
        assert_eq!(r, DryRunReport::not_simulated(because), "{id}");
        assert!(
            out.as_object()
                .unwrap()
                .values()
                .all(|v| v.is_null() || v.is_object()),
            "{id}: unobserved values are null: {out}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(cluster.get("v1", "Namespace", "", "mcp-dr-test").is_none());
}

#[tokio::test]
async fn waits_on_what_a_dry_run_write_touched_are_not_simulated_at_once() {
    let cluster = with_app("default", "web", 2).await;
    let ex = executor(&cluster);
    let long = Opts {
        timeout: Duration::from_secs(60),
        ..step("status")
    };
    // Before any write, a wait observes the cluster.
    let ctx = TestContext::new();
    run(
        &ex,
        &ctx,
        "kube.rollout.status",
        json!({"namespace": "default", "name": "web"}),
        long.clone(),
    )
    .await
    .unwrap();
    assert_eq!(ctx.last_dry_run_report(), Some(DryRunReport::ran()));

    dry(
        &ex,
        "restart",
        "kube.rollout.restart",
        json!({"namespace": "default", "name": "web"}),
    )
    .await;
    let started = Instant::now();
    let ctx = TestContext::new();
    let out = run(
        &ex,
        &ctx,
        "kube.rollout.status",
        json!({"namespace": "default", "name": "web"}),
        long.clone(),
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        ctx.last_dry_run_report(),
        Some(DryRunReport::not_simulated(
            "waits for changes the dry run did not make: rollout.restart of deployment default/web"
        ))
    );
    assert!(out["available"].is_null(), "{out}");

    let ctx = TestContext::new();
    let out = run(
        &ex,
        &ctx,
        "kube.pods.wait_ready",
        json!({"namespace": "default", "selector": "app=web", "min_ready": 2}),
        long.clone(),
    )
    .await
    .unwrap();
    assert!(out["ready"].is_null(), "{out}");
    let r = ctx.last_dry_run_report().unwrap();
    assert_eq!(r.observed, Observed::NotSimulated);
    // A read of the object the write would change is not passed off as observed either.
    let ctx = TestContext::new();
    run(&ex, &ctx, "kube.get", json!({"api_version": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"}), step("read"))
        .await
        .unwrap();
    assert_eq!(
        ctx.last_dry_run_report(),
        Some(DryRunReport::not_simulated(
            "reads what the dry run did not change: rollout.restart of deployment default/web"
        ))
    );
    // A wait in another namespace still runs.
    namespace(&cluster, "other");
    let ctx = TestContext::new();
    run(
        &ex,
        &ctx,
        "kube.pods.wait_ready",
        json!({"namespace": "other", "selector": "app=x", "min_ready": 0}),
        step("elsewhere"),
    )
    .await
    .unwrap();
    assert_eq!(ctx.last_dry_run_report(), Some(DryRunReport::ran()));
}

#[tokio::test]
async fn a_dry_run_drain_a_pdb_would_block_ends_at_once_naming_it() {
    let cluster = with_app("shop", "web", 2).await;
    cluster.create(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web-pdb", "namespace": "shop"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})).unwrap();
    let node = ready_pods(&cluster, "shop", "web")[0]["spec"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = cluster.resource_version();
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let started = Instant::now();
    let opts = Opts {
        timeout: Duration::from_secs(30),
        ..step("drain")
    };
    let err = run(&ex, &ctx, "kube.nodes.drain", json!({"node": node}), opts)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "no retries");
    let StepError::Permanent(msg) = err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(
        msg.starts_with("would be blocked by PodDisruptionBudget shop/web-pdb: The disruption budget web-pdb needs 2 healthy pods"),
        "{msg}"
    );
    let evictions = cluster
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .count();
    assert!(
        evictions <= 2,
        "one attempt per pod, not retried: {evictions}"
    );
    assert_eq!(cluster.resource_version(), before);
}
