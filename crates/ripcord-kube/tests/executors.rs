//! Every kube.* executor against ripcord-testkit's fake API server, reached through a kubeconfig.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ripcord_testkit::{FakeCluster, Options};
use serde_json::{Value, json};

#[tokio::test]
async fn pods_delete_by_name_selector_force_and_dry_run() {
    let cluster = with_app("shop", "web", 3).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let names: Vec<String> = ready_pods(&cluster, "shop", "web")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();

    // Dry run: the request is made, nothing changes.
    let out = run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "selector": "app=web", "force": true}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"].as_array().unwrap().len(), 3);
    assert!(names.iter().all(|n| {
        cluster
            .get("v1", "Pod", "shop", n)
            .is_some_and(|p| p["metadata"]["deletionTimestamp"].is_null())
    }));

    // Graceful by name: the pod is terminating (the kubelet confirms later).
    let out = run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "name": names[0]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"], json!([names[0]]));
    // Force by selector: gone at once.
    let out = run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "selector": "app=web", "force": true}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert!(out["deleted"].as_array().unwrap().len() >= 2);
    assert!(
        names
            .iter()
            .all(|n| cluster.get("v1", "Pod", "shop", n).is_none()),
        "force removes immediately"
    );
    // A missing pod is already deleted.
    let out = run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "name": "nope"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"], json!([]));
    let err = run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop"}),
        Opts::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ripcord_engine::StepError::Input(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn wait_ready_watches_and_reports_what_it_saw() {
    let cluster = with_app("default", "web", 2).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.pods.wait_ready",
        json!({"namespace": "default", "selector": "app=web", "min_ready": 2}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["ready"], 2);
    assert_eq!(out["pods"].as_array().unwrap().len(), 2);

    // Hold one pod not Ready: min_ready 2 cannot be met; the step fails before its deadline
    // with what it saw.
    let held = ready_pods(&cluster, "default", "web")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    cluster.set_pod_ready("default", &held, false);
    let started = Instant::now();
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.pods.wait_ready",
            json!({"namespace": "default", "selector": "app=web", "min_ready": 2}),
            Opts::timeout(Duration::from_millis(800)),
        )
        .await,
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "ends before the deadline"
    );
    assert!(
        msg.contains("1 of 2 matching pod(s) Ready") && msg.contains(&held),
        "{msg}"
    );

    // Released while waiting: the watch notices.
    let task = {
        let ex = executor(&cluster);
        tokio::spawn(async move {
            let ctx = TestContext::new();
            run(
                &ex,
                &ctx,
                "kube.pods.wait_ready",
                json!({"namespace": "default", "selector": "app=web", "min_ready": 2}),
                Opts::default(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // let the watch start; the result does not depend on it
    cluster.set_pod_ready("default", &held, true);
    let out = tokio::time::timeout(LIMIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(out["ready"], 2);
}

#[tokio::test]
async fn cordon_and_uncordon() {
    let cluster = FakeCluster::start().await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.nodes.cordon",
        json!({"node": "node-1"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["unschedulable"], true, "the would-be state");
    assert!(
        cluster.get("v1", "Node", "", "node-1").unwrap()["spec"]["unschedulable"].is_null(),
        "dry run changes nothing"
    );
    let out = run(
        &ex,
        &ctx,
        "kube.nodes.cordon",
        json!({"node": "node-1"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["unschedulable"], true);
    assert_eq!(
        cluster.get("v1", "Node", "", "node-1").unwrap()["spec"]["unschedulable"],
        true
    );
    let out = run(
        &ex,
        &ctx,
        "kube.nodes.uncordon",
        json!({"node": "node-1"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["unschedulable"], false);
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.nodes.cordon",
            json!({"node": "ghost"}),
            Opts::default(),
        )
        .await,
    );
    assert!(msg.contains("ghost") && msg.contains("404"), "{msg}");
}

fn pods_on(c: &FakeCluster, node: &str) -> Vec<Value> {
    c.list("v1", "Pod", None)
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == node)
        .collect()
}

#[tokio::test]
async fn drain_evicts_skips_daemonsets_and_mirror_pods_and_waits() {
    let cluster = with_app("default", "web", 4).await;
    let ds = cluster.create(json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a"}]}}}})).unwrap();
    cluster.create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "agent-1", "namespace": "kube-system", "labels": {"app": "agent"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": ds["metadata"]["uid"], "controller": true}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "a"}]}})).unwrap();
    cluster.create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etcd-node-1", "namespace": "kube-system",
        "annotations": {"kubernetes.io/config.mirror": "abc"}}, "spec": {"nodeName": "node-1", "containers": [{"name": "etcd"}]}})).unwrap();
    let web_on_1: Vec<String> = pods_on(&cluster, "node-1")
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "web")
        .map(|p| format!("default/{}", p["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert!(!web_on_1.is_empty());
    let (ex, ctx) = (executor(&cluster), TestContext::new());

    // Dry run: evictions are sent with dryRun, nothing moves.
    let out = run(
        &ex,
        &ctx,
        "kube.nodes.drain",
        json!({"node": "node-1"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["evicted"].as_array().unwrap().len(), web_on_1.len());
    assert!(cluster.get("v1", "Node", "", "node-1").unwrap()["spec"]["unschedulable"].is_null());
    assert_eq!(pods_on(&cluster, "node-1").len(), web_on_1.len() + 2);

    let out = run(
        &ex,
        &ctx,
        "kube.nodes.drain",
        json!({"node": "node-1", "grace_period": "1s"}),
        Opts::default(),
    )
    .await
    .unwrap();
    let mut evicted: Vec<String> = out["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    evicted.sort();
    let mut want = web_on_1.clone();
    want.sort();
    assert_eq!(evicted, want);
    let skipped = out["skipped"].as_array().unwrap();
    assert!(
        skipped.contains(&json!({"pod": "kube-system/agent-1", "reason": "DaemonSet"})),
        "{skipped:?}"
    );
    assert!(
        skipped.contains(&json!({"pod": "kube-system/etcd-node-1", "reason": "mirror pod"})),
        "{skipped:?}"
    );
    // It waited for the evicted pods to go; replacements run on node-2.
    let left: Vec<String> = pods_on(&cluster, "node-1")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "only the DaemonSet and mirror pods remain: {left:?}"
    );
    until(&cluster, "web back to 4 Ready", |c| {
        ready_pods(c, "default", "web").len() == 4
    })
    .await;
    assert!(
        ready_pods(&cluster, "default", "web")
            .iter()
            .all(|p| p["spec"]["nodeName"] == "node-2")
    );
    // The eviction bodies carried deleteOptions.
    let evictions: Vec<_> = cluster
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .collect();
    assert!(
        evictions
            .iter()
            .any(|r| r.body["deleteOptions"]["gracePeriodSeconds"] == 1)
    );
    assert!(
        evictions
            .iter()
            .all(|r| r.body.get("delete_options").is_none())
    );
}

#[tokio::test]
async fn drain_refuses_unmanaged_and_emptydir_pods() {
    let cluster = FakeCluster::start().await;
    cluster.create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "default"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "a"}]}})).unwrap();
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.nodes.drain",
            json!({"node": "node-1"}),
            Opts::default(),
        )
        .await,
    );
    assert!(
        msg.contains("default/bare is not managed by a controller"),
        "{msg}"
    );
    assert!(cluster.get("v1", "Pod", "default", "bare").is_some());
}

#[tokio::test]
async fn drain_blocked_by_a_pdb_fails_within_the_step_timeout_naming_it() {
    let cluster = with_app("shop", "web", 2).await;
    cluster.create(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web-pdb", "namespace": "shop"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})).unwrap();
    // Both pods on node-1, so the drain must evict both.
    let node = ready_pods(&cluster, "shop", "web")[0]["spec"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.nodes.drain",
            json!({"node": node, "eviction_backoff": "100ms"}),
            Opts::timeout(timeout),
        )
        .await,
    );
    let took = started.elapsed();
    assert!(took < timeout, "failed within its timeout ({took:?})");
    assert!(
        took > Duration::from_millis(1600),
        "retried until near the deadline ({took:?})"
    );
    assert!(msg.contains("PodDisruptionBudget shop/web-pdb"), "{msg}");
    assert!(msg.contains("needs 2 healthy pods"), "{msg}");
    let notes = ctx.notes_of("eviction_blocked");
    assert_eq!(notes[0]["budget"], "shop/web-pdb");
    let attempts = cluster
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .count();
    assert!(
        (3..=40).contains(&attempts),
        "backoff 100ms doubling: {attempts} attempts"
    );
    // The node stays cordoned; the pods were not touched.
    assert_eq!(
        cluster.get("v1", "Node", "", &node).unwrap()["spec"]["unschedulable"],
        true
    );
    assert_eq!(ready_pods(&cluster, "shop", "web").len(), 2);
}

#[tokio::test]
async fn drain_of_a_failed_node_does_not_wait_for_its_kubelet() {
    let cluster = with_app("default", "web", 2).await;
    let node = ready_pods(&cluster, "default", "web")[0]["spec"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    cluster.set_node_ready(&node, false);
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.nodes.drain",
        json!({"node": node}),
        Opts::timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert!(!out["evicted"].as_array().unwrap().is_empty());
    assert_eq!(ctx.notes_of("drain_not_waiting").len(), 1);
    until(&cluster, "replacements Ready elsewhere", |c| {
        ready_pods(c, "default", "web").len() == 2
    })
    .await;
}

#[tokio::test]
async fn rollout_restart_then_status() {
    let cluster = with_app("default", "web", 2).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.rollout.status",
        json!({"namespace": "default", "name": "web"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"replicas": 2, "updated": 2, "available": 2}));
    let before: Vec<String> = ready_pods(&cluster, "default", "web")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let dry = run(
        &ex,
        &ctx,
        "kube.rollout.restart",
        json!({"namespace": "default", "name": "web"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert!(dry["restarted_at"].is_string());
    assert_eq!(
        cluster
            .get("apps/v1", "Deployment", "default", "web")
            .unwrap()["metadata"]["generation"],
        1
    );
    let out = run(
        &ex,
        &ctx,
        "kube.rollout.restart",
        json!({"namespace": "default", "name": "web"}),
        Opts::default(),
    )
    .await
    .unwrap();
    let at = out["restarted_at"].as_str().unwrap().to_owned();
    let d = cluster
        .get("apps/v1", "Deployment", "default", "web")
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        at.as_str()
    );
    let out = run(
        &ex,
        &ctx,
        "kube.rollout.status",
        json!({"namespace": "default", "name": "web"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"replicas": 2, "updated": 2, "available": 2}));
    let after: Vec<String> = ready_pods(&cluster, "default", "web")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        after.iter().all(|a| !before.contains(a)),
        "new pods: {before:?} -> {after:?}"
    );
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.rollout.status",
            json!({"namespace": "default", "name": "ghost"}),
            Opts::default(),
        )
        .await,
    );
    assert!(msg.contains("not found"), "{msg}");
}

#[tokio::test]
async fn get_single_list_fields_and_context_namespace() {
    let cluster = with_app("default", "web", 2).await;
    cluster.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sys", "namespace": "kube-system"}, "data": {"k": "v"}})).unwrap();
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.get",
        json!({"api_version": "v1", "kind": "Node", "name": "node-1",
        "fields": {"ready": "/status/conditions/0/status", "missing": "/spec/nothing"}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["count"], 1);
    assert_eq!(out["fields"], json!({"ready": "True", "missing": null}));
    assert_eq!(out["object"]["metadata"]["name"], "node-1");
    let out = run(&ex, &ctx, "kube.get", json!({"api_version": "v1", "kind": "Pod", "namespace": "default", "label_selector": "app=web",
        "field_selector": "status.phase=Running", "fields": {"first": "/items/0/metadata/labels/app"}}), Opts::default()).await.unwrap();
    assert_eq!(out["count"], 2);
    assert_eq!(out["fields"]["first"], "web");
    assert!(out["object"].is_null());
    // A namespaced kind without a namespace: the context's namespace.
    let out = run(
        &ex,
        &ctx,
        "kube.get",
        json!({"context": "fake-system", "api_version": "v1", "kind": "ConfigMap", "name": "sys",
        "fields": {"k": "/data/k"}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["fields"]["k"], "v");
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.get",
            json!({"api_version": "v1", "kind": "Pod", "namespace": "default", "name": "nope"}),
            Opts::default(),
        )
        .await,
    );
    assert!(msg.contains("Pod default/nope not found"), "{msg}");
    let err = run(
        &ex,
        &ctx,
        "kube.get",
        json!({"api_version": "v1", "kind": "Gizmo", "name": "x"}),
        Opts::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ripcord_engine::StepError::Input(ref m) if m.contains("Gizmo")),
        "{err:?}"
    );
}

#[tokio::test]
async fn patch_merge_strategic_json_and_dry_run() {
    let cluster = with_app("default", "web", 1).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let base = json!({"api_version": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let out = run(
        &ex,
        &ctx,
        "kube.patch",
        with(json!({"patch": {"metadata": {"labels": {"tier": "fe"}}}})),
        Opts::default(),
    )
    .await
    .unwrap();
    assert!(out["resource_version"].is_string());
    let out2 = run(&ex, &ctx, "kube.patch", with(json!({"patch_type": "strategic",
        "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}})), Opts::default()).await.unwrap();
    assert_ne!(out["resource_version"], out2["resource_version"]);
    run(&ex, &ctx, "kube.patch", with(json!({"patch_type": "json", "patch": [{"op": "replace", "path": "/spec/replicas", "value": 2}]})), Opts::default()).await.unwrap();
    let d = cluster
        .get("apps/v1", "Deployment", "default", "web")
        .unwrap();
    assert_eq!(d["metadata"]["labels"]["tier"], "fe");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:2"
    );
    assert_eq!(d["spec"]["replicas"], 2);
    // The fake's controllers are still scaling `web` to 2 (new pods, status updates), so the
    // store's resource version moves on its own: what a dry run must leave alone is the
    // Deployment's desired state, its spec and the generation that counts spec changes.
    let desired = |d: &Value| (d["metadata"]["generation"].clone(), d["spec"].clone());
    let before = desired(&d);
    run(
        &ex,
        &ctx,
        "kube.patch",
        with(json!({"patch": {"spec": {"replicas": 5}}})),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    let after = cluster
        .get("apps/v1", "Deployment", "default", "web")
        .unwrap();
    assert_eq!(desired(&after), before);
    assert_eq!(after["spec"]["replicas"], 2);
}

#[tokio::test]
async fn apply_inline_and_file_and_dry_run() {
    let cluster = FakeCluster::start().await;
    namespace(&cluster, "drill");
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let manifests = json!([deployment("drill", "api", 2), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}]);
    for m in manifests.as_array().unwrap() {
        assert!(m["metadata"].is_object());
    }
    let mut inline = manifests.clone();
    inline[0]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let rv = cluster.resource_version();
    let out = run(
        &ex,
        &ctx,
        "kube.apply",
        json!({"namespace": "drill", "manifests": inline}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(
        out["applied"],
        json!(["Deployment/drill/api", "ConfigMap/drill/cfg"])
    );
    assert_eq!(cluster.resource_version(), rv, "dry run persists nothing");
    run(
        &ex,
        &ctx,
        "kube.apply",
        json!({"namespace": "drill", "manifests": inline}),
        Opts::default(),
    )
    .await
    .unwrap();
    until(&cluster, "api Ready", |c| {
        ready_pods(c, "drill", "api").len() == 2
    })
    .await;
    let applies: Vec<_> = cluster
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert!(
        applies
            .iter()
            .all(|r| r.content_type == "application/apply-patch+yaml"
                && r.query("fieldManager") == Some("ripcord"))
    );
    // From a file of YAML documents, relative to the runbook.
    std::fs::write(ctx.dir.path().join("m.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '2'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default}\n").unwrap();
    let out = run(
        &ex,
        &ctx,
        "kube.apply",
        json!({"namespace": "drill", "file": "m.yaml"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        out["applied"],
        json!(["ConfigMap/drill/cfg", "ConfigMap/default/other"])
    );
    assert_eq!(
        cluster.get("v1", "ConfigMap", "drill", "cfg").unwrap()["data"]["a"],
        "2"
    );
}

#[tokio::test]
async fn namespaces_create_idempotently_and_delete_waiting_until_gone() {
    let cluster = FakeCluster::start_with(Options {
        namespace_delay: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.namespace.create",
        json!({"name": "drill", "labels": {"purpose": "dr"}}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["created"], true);
    assert!(cluster.get("v1", "Namespace", "", "drill").is_none());
    let out = run(
        &ex,
        &ctx,
        "kube.namespace.create",
        json!({"name": "drill", "labels": {"purpose": "dr"}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["created"], true);
    let out = run(
        &ex,
        &ctx,
        "kube.namespace.create",
        json!({"name": "drill", "labels": {"run": "2"}}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["created"], false);
    assert_eq!(
        cluster.get("v1", "Namespace", "", "drill").unwrap()["metadata"]["labels"]["run"],
        "2"
    );
    cluster.create(deployment("drill", "web", 2)).unwrap();
    until(&cluster, "Ready", |c| {
        ready_pods(c, "drill", "web").len() == 2
    })
    .await;

    let out = run(
        &ex,
        &ctx,
        "kube.namespace.delete",
        json!({"name": "drill"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"], true);
    assert!(
        cluster.get("v1", "Namespace", "", "drill").unwrap()["metadata"]["deletionTimestamp"]
            .is_null()
    );
    let started = Instant::now();
    let out = run(
        &ex,
        &ctx,
        "kube.namespace.delete",
        json!({"name": "drill"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"], true);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for the asynchronous deletion"
    );
    assert!(cluster.get("v1", "Namespace", "", "drill").is_none());
    let out = run(
        &ex,
        &ctx,
        "kube.namespace.delete",
        json!({"name": "drill"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"], false);
}

#[tokio::test]
async fn endpoints_ready_counts_ready_addresses() {
    let cluster = with_app("default", "web", 2).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.endpoints.ready",
            json!({"namespace": "default", "name": "web"}),
            Opts::timeout(Duration::from_millis(500)),
        )
        .await,
    );
    assert!(msg.contains("no Endpoints"), "{msg}");
    cluster.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})).unwrap();
    let out = run(
        &ex,
        &ctx,
        "kube.endpoints.ready",
        json!({"namespace": "default", "name": "web", "min_ready": 2}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["ready"], 2);
    assert_eq!(out["addresses"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn exec_by_selector_exit_codes_and_dry_run() {
    let cluster = with_app("default", "web", 2).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let out = run(
        &ex,
        &ctx,
        "kube.exec",
        json!({"namespace": "default", "selector": "app=web", "command": ["echo", "hi"]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["stdout"].as_str(), out["exit_code"].as_i64()),
        (Some("hi\n"), Some(0))
    );
    let first = {
        let mut names: Vec<String> = ready_pods(&cluster, "default", "web")
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names[0].clone()
    };
    assert_eq!(out["pod"], first.as_str());
    let out = run(
        &ex,
        &ctx,
        "kube.exec",
        json!({"namespace": "default", "pod": first, "command": ["sh", "-c", "exit 7"]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["exit_code"], 7);
    let out = run(
        &ex,
        &ctx,
        "kube.exec",
        json!({"namespace": "default", "pod": first, "command": ["nosuch"]}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["exit_code"], 127);
    assert!(out["stderr"].as_str().unwrap().contains("not found"));
    let calls = cluster.exec_calls().len();
    run(
        &ex,
        &ctx,
        "kube.exec",
        json!({"namespace": "default", "pod": first, "command": ["rm", "-rf", "/data"]}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(
        cluster.exec_calls().len(),
        calls,
        "a write command is not run in a dry run"
    );
    run(
        &ex,
        &ctx,
        "kube.exec",
        json!({"namespace": "default", "pod": first, "command": ["echo"], "effect": "read"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(
        cluster.exec_calls().len(),
        calls + 1,
        "a declared read runs"
    );
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.exec",
            json!({"namespace": "default", "selector": "app=none", "command": ["true"]}),
            Opts::default(),
        )
        .await,
    );
    assert!(msg.contains("no Ready pod"), "{msg}");
}

#[tokio::test]
async fn every_mutation_of_a_dry_run_carries_dry_run_all() {
    let cluster = with_app("default", "web", 2).await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    cluster.clear_requests();
    let o = Opts::dry_run;
    run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "default", "selector": "app=web"}),
        o(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.nodes.cordon",
        json!({"node": "node-1"}),
        o(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.nodes.drain",
        json!({"node": "node-1"}),
        o(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.rollout.restart",
        json!({"namespace": "default", "name": "web"}),
        o(),
    )
    .await
    .unwrap();
    run(&ex, &ctx, "kube.patch", json!({"api_version": "v1", "kind": "Node", "name": "node-2", "patch": {"metadata": {"labels": {"a": "b"}}}}), o()).await.unwrap();
    run(&ex, &ctx, "kube.apply", json!({"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}]}), o()).await.unwrap();
    run(
        &ex,
        &ctx,
        "kube.namespace.create",
        json!({"name": "n"}),
        o(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.namespace.delete",
        json!({"name": "default"}),
        o(),
    )
    .await
    .unwrap();
    let mutations: Vec<_> = cluster
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(mutations.len() >= 8, "{mutations:?}");
    for r in &mutations {
        // Deletes carry their DeleteOptions (dryRun included) in the body, as kubectl does.
        let dry = r.query("dryRun") == Some("All")
            || (r.method == "DELETE" && r.body["dryRun"] == json!(["All"]));
        assert!(
            dry,
            "{} {} without dryRun=All: {:?}",
            r.method, r.path, r.body
        );
    }
    assert!(mutations.iter().any(|r| r.method == "DELETE"));
    assert!(cluster.get("v1", "Namespace", "", "n").is_none());
    assert_eq!(ready_pods(&cluster, "default", "web").len(), 2);
}

#[tokio::test]
async fn a_kubeconfig_that_does_not_exist_is_a_clear_failure() {
    let ex = ripcord_kube::KubeExecutor::new(ripcord_kube::KubeOptions {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        context: None,
    });
    let ctx = TestContext::new();
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.nodes.cordon",
            json!({"node": "n"}),
            Opts::default(),
        )
        .await,
    );
    assert!(msg.contains("/nonexistent/kubeconfig"), "{msg}");
    let cluster = FakeCluster::start().await;
    let ex = executor(&cluster);
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.nodes.cordon",
            json!({"context": "nope", "node": "n"}),
            Opts::default(),
        )
        .await,
    );
    assert!(msg.contains("nope"), "{msg}");
}

#[tokio::test]
async fn force_deleted_pods_are_replaced_and_wait_ready_sees_them() {
    let cluster = FakeCluster::start().await;
    namespace(&cluster, "drill");
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    let mut d = deployment("drill", "web", 2);
    d["metadata"].as_object_mut().unwrap().remove("namespace");
    run(
        &ex,
        &ctx,
        "kube.apply",
        json!({"namespace": "drill", "manifests": [d]}),
        Opts::default(),
    )
    .await
    .unwrap();
    let w = json!({"namespace": "drill", "selector": "app=web", "min_ready": 2});
    run(
        &ex,
        &ctx,
        "kube.pods.wait_ready",
        w.clone(),
        Opts::default(),
    )
    .await
    .unwrap();
    let out = run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "drill", "selector": "app=web", "force": true}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["deleted"].as_array().unwrap().len(), 2);
    let out = run(
        &ex,
        &ctx,
        "kube.pods.wait_ready",
        w,
        Opts::timeout(Duration::from_secs(3)),
    )
    .await;
    let pods: Vec<Value> = cluster.list("v1", "Pod", Some("drill"));
    assert!(
        out.is_ok(),
        "{out:?}\n{pods:#?}\n{:#?}",
        cluster.list("apps/v1", "ReplicaSet", Some("drill"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
/// The drill cycle, repeated: a regression test for kubelet timers that fell due while the
/// fake's controllers were busy and were never woken for.
async fn the_drill_cycle_repeats_reliably() {
    let cluster = FakeCluster::start().await;
    let (ex, ctx) = (executor(&cluster), TestContext::new());
    run(
        &ex,
        &ctx,
        "kube.nodes.cordon",
        json!({"node": "node-1"}),
        Opts::default(),
    )
    .await
    .unwrap();
    for i in 0..12 {
        run(
            &ex,
            &ctx,
            "kube.namespace.create",
            json!({"name": "mcp-dr-test", "labels": {"i": i.to_string()}}),
            Opts::default(),
        )
        .await
        .unwrap();
        let mut d = deployment("mcp-dr-test", "web", 2);
        d["metadata"].as_object_mut().unwrap().remove("namespace");
        run(
            &ex,
            &ctx,
            "kube.apply",
            json!({"namespace": "mcp-dr-test", "manifests": [d]}),
            Opts::default(),
        )
        .await
        .unwrap();
        let w = json!({"namespace": "mcp-dr-test", "selector": "app=web", "min_ready": 2});
        run(
            &ex,
            &ctx,
            "kube.pods.wait_ready",
            w.clone(),
            Opts::timeout(Duration::from_secs(3)),
        )
        .await
        .unwrap_or_else(|e| panic!("baseline {i}: {e:?}"));
        run(
            &ex,
            &ctx,
            "kube.pods.delete",
            json!({"namespace": "mcp-dr-test", "selector": "app=web", "force": true}),
            Opts::default(),
        )
        .await
        .unwrap();
        let r = run(
            &ex,
            &ctx,
            "kube.pods.wait_ready",
            w,
            Opts::timeout(Duration::from_secs(3)),
        )
        .await;
        if r.is_err() {
            panic!(
                "recovery {i}: {r:?}\n{:#?}\n{:#?}",
                cluster.list("v1", "Pod", Some("mcp-dr-test")),
                cluster.list("apps/v1", "ReplicaSet", Some("mcp-dr-test"))
            );
        }
        run(
            &ex,
            &ctx,
            "kube.namespace.delete",
            json!({"name": "mcp-dr-test"}),
            Opts::default(),
        )
        .await
        .unwrap();
    }
}
