//! Exact requests, checked on kube-rs `tower_test` mocks: the eviction URL and body
//! (`deleteOptions`), `dryRun=All`, force delete (`gracePeriodSeconds: 0`), patch content types.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use http::{Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use ripcord_kube::KubeExecutor;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Path and query, as sent.
    uri: String,
    content_type: String,
    body: Value,
}

type Responder = Box<dyn Fn(&Seen) -> (u16, Value) + Send>;

/// An executor whose client talks to a mock answering with `respond`; returns what it saw.
fn mock(respond: Responder) -> (KubeExecutor, Arc<Mutex<Vec<Seen>>>) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        // Bounded: no test makes more than 50 requests.
        for _ in 0..50 {
            let Some((req, send)) = handle.next_request().await else {
                return;
            };
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let s = Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, answer) = respond(&s);
            log.lock().unwrap().push(s);
            let resp = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
    });
    let client = kube::Client::new(svc, "default");
    (KubeExecutor::with_client(client, "default"), seen)
}

fn node(unschedulable: bool, ready: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "resourceVersion": "5"},
           "spec": {"unschedulable": unschedulable}, "status": {"conditions": [{"type": "Ready", "status": ready}]}})
}

fn pod(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "uid": "u-1", "resourceVersion": "7",
           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs-1", "controller": true}]},
           "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]}})
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 300 { "Success" } else { "Failure" },
           "code": code, "reason": reason, "message": message})
}

#[tokio::test]
async fn drain_posts_a_policy_v1_eviction_with_delete_options_and_retries_429() {
    let evictions = Arc::new(Mutex::new(0));
    let count = evictions.clone();
    let (ex, seen) = mock(Box::new(move |s| {
        match (s.method.as_str(), s.uri.as_str()) {
            ("PATCH", u) if u.starts_with("/api/v1/nodes/node-1") => (200, node(true, "False")),
            ("GET", u) if u.starts_with("/api/v1/pods?") => (
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": [pod("shop", "web-1")]}),
            ),
            ("POST", "/api/v1/namespaces/shop/pods/web-1/eviction?")
            | ("POST", "/api/v1/namespaces/shop/pods/web-1/eviction") => {
                let mut n = count.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    let mut st = status(
                        429,
                        "TooManyRequests",
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                    );
                    st["details"] = json!({"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget web-pdb needs 1 healthy pods and has 1 currently"}]});
                    (429, st)
                } else {
                    (201, status(201, "", ""))
                }
            }
            ("GET", "/api/v1/nodes/node-1") => (200, node(true, "False")),
            _ => (
                404,
                status(
                    404,
                    "NotFound",
                    &format!("unexpected {} {}", s.method, s.uri),
                ),
            ),
        }
    }));
    let ctx = TestContext::new();
    let out = run(
        &ex,
        &ctx,
        "kube.nodes.drain",
        json!({"node": "node-1", "grace_period": "5s", "eviction_backoff": "10ms"}),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["evicted"], json!(["shop/web-1"]));
    let seen = seen.lock().unwrap().clone();
    let methods: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();

    let cordon = &seen[0];
    assert_eq!(cordon.method, "PATCH");
    assert_eq!(
        cordon.content_type,
        "application/strategic-merge-patch+json"
    );
    assert_eq!(cordon.body, json!({"spec": {"unschedulable": true}}));
    assert!(
        seen[1].uri.contains("fieldSelector=spec.nodeName%3Dnode-1"),
        "{methods:?}"
    );

    let evicts: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.uri.contains("/eviction"))
        .collect();
    assert_eq!(evicts.len(), 2, "one 429, one retry: {methods:?}");
    for e in &evicts {
        assert_eq!(e.method, "POST");
        assert!(
            e.uri
                .starts_with("/api/v1/namespaces/shop/pods/web-1/eviction"),
            "{}",
            e.uri
        );
        assert_eq!(e.content_type, "application/json");
        assert_eq!(e.body["apiVersion"], "policy/v1");
        assert_eq!(e.body["kind"], "Eviction");
        assert_eq!(
            e.body["metadata"],
            json!({"name": "web-1", "namespace": "shop"})
        );
        assert_eq!(e.body["deleteOptions"], json!({"gracePeriodSeconds": 5}));
        assert!(
            e.body.get("delete_options").is_none(),
            "not kube-core 5.0.0's ignored field"
        );
    }
    assert_eq!(
        ctx.notes_of("eviction_blocked")[0]["budget"],
        "shop/web-pdb"
    );
}

#[tokio::test]
async fn dry_run_mutations_carry_dry_run_all() {
    let (ex, seen) = mock(Box::new(|s| match (s.method.as_str(), s.uri.as_str()) {
        ("PATCH", u) if u.starts_with("/api/v1/nodes/") => (200, node(true, "True")),
        ("PATCH", u) if u.starts_with("/apis/apps/v1/") => (
            200,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}),
        ),
        ("DELETE", _) => (200, pod("shop", "p")),
        // A dry run reads what it previews first (the live object of its diff and pre-state).
        ("GET", "/api/v1/nodes/node-1") => (200, node(false, "True")),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/web") => (
            200,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "3"}}),
        ),
        ("GET", "/api/v1/namespaces/shop/pods/p") => (200, pod("shop", "p")),
        ("GET", "/api/v1") => (
            200,
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": ["get", "patch"]}]}),
        ),
        ("PATCH", u) if u.starts_with("/api/v1/namespaces/shop/configmaps/") => (
            200,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}),
        ),
        _ => (404, status(404, "NotFound", "unexpected")),
    }));
    let ctx = TestContext::new();
    run(
        &ex,
        &ctx,
        "kube.nodes.cordon",
        json!({"node": "node-1"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.rollout.restart",
        json!({"namespace": "shop", "name": "web"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "name": "p"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    run(&ex, &ctx, "kube.apply", json!({"namespace": "shop", "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]}), Opts::dry_run()).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert_eq!(patches.len(), 3);
    for p in &patches {
        assert!(p.uri.contains("dryRun=All"), "{}", p.uri);
    }
    let delete = seen.iter().find(|s| s.method == "DELETE").unwrap();
    assert_eq!(
        delete.body["dryRun"],
        json!(["All"]),
        "DeleteOptions.dryRun in the body"
    );
}

#[tokio::test]
async fn force_delete_sends_grace_period_zero() {
    let (ex, seen) = mock(Box::new(|s| match s.method.as_str() {
        "DELETE" => (200, pod("shop", "p")),
        _ => (404, status(404, "NotFound", "unexpected")),
    }));
    let ctx = TestContext::new();
    run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "name": "p", "force": true}),
        Opts::default(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "name": "p", "grace_period": "7s"}),
        Opts::default(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.pods.delete",
        json!({"namespace": "shop", "name": "p"}),
        Opts::default(),
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|s| s.uri.starts_with("/api/v1/namespaces/shop/pods/p"))
    );
    assert_eq!(seen[0].body["gracePeriodSeconds"], 0);
    assert!(seen[0].body.get("dryRun").is_none());
    assert_eq!(seen[1].body["gracePeriodSeconds"], 7);
    assert!(
        seen[2].body.get("gracePeriodSeconds").is_none(),
        "the pod's own grace period: {:?}",
        seen[2].body
    );
}

#[tokio::test]
async fn patch_content_types_and_apply_parameters() {
    let (ex, seen) = mock(Box::new(|s| match (s.method.as_str(), s.uri.as_str()) {
        ("GET", "/apis/apps/v1") => (
            200,
            json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "verbs": ["get", "patch"]}]}),
        ),
        ("PATCH", _) => (
            200,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "42"}}),
        ),
        _ => (404, status(404, "NotFound", "unexpected")),
    }));
    let ctx = TestContext::new();
    let base = |t: &str, patch: Value| json!({"api_version": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web", "patch_type": t, "patch": patch});
    let out = run(
        &ex,
        &ctx,
        "kube.patch",
        base("merge", json!({"spec": {"replicas": 2}})),
        Opts::default(),
    )
    .await
    .unwrap();
    assert_eq!(out["resource_version"], "42");
    run(
        &ex,
        &ctx,
        "kube.patch",
        base("strategic", json!({"spec": {"replicas": 2}})),
        Opts::default(),
    )
    .await
    .unwrap();
    run(
        &ex,
        &ctx,
        "kube.patch",
        base(
            "json",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 2}]),
        ),
        Opts::default(),
    )
    .await
    .unwrap();
    run(&ex, &ctx, "kube.apply", json!({"force_conflicts": true, "manifests": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 3}}]}), Opts::default()).await.unwrap();
    run(
        &ex,
        &ctx,
        "kube.rollout.restart",
        json!({"namespace": "shop", "name": "web"}),
        Opts::default(),
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    let types: Vec<&str> = patches.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/json-patch+json",
            "application/apply-patch+yaml",
            "application/strategic-merge-patch+json",
        ]
    );
    assert!(patches.iter().all(|p| {
        p.uri
            .starts_with("/apis/apps/v1/namespaces/shop/deployments/web")
    }));
    assert_eq!(
        patches[2].body,
        json!([{"op": "replace", "path": "/spec/replicas", "value": 2}])
    );
    let apply = patches[3];
    assert!(
        apply.uri.contains("fieldManager=ripcord") && apply.uri.contains("force=true"),
        "{}",
        apply.uri
    );
    assert_eq!(apply.body["spec"]["replicas"], 3);
    let restart = &patches[4].body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
    assert!(
        restart.as_str().is_some_and(|t| t.ends_with('Z')),
        "{restart}"
    );
    // One discovery request for the kind, cached afterwards.
    assert_eq!(seen.iter().filter(|s| s.uri == "/apis/apps/v1").count(), 1);
}

#[tokio::test]
async fn a_429_is_not_retried_by_the_client() {
    // The executor's own clients (built by `connect`) have kube's retry policy off: one request,
    // one answer. Proven against the fake with an injected 429.
    let cluster = ripcord_testkit::FakeCluster::start().await;
    cluster.inject(ripcord_testkit::Fault {
        method: "PATCH".into(),
        path_contains: "/nodes/node-1".into(),
        status: 429,
        times: 5,
    });
    let ex = executor(&cluster);
    let ctx = TestContext::new();
    let started = std::time::Instant::now();
    let msg = failed(
        run(
            &ex,
            &ctx,
            "kube.nodes.cordon",
            json!({"node": "node-1"}),
            Opts::timeout(Duration::from_secs(10)),
        )
        .await,
    );
    assert!(msg.contains("429"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        cluster
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        1
    );
}
