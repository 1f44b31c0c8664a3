//! Test harness: the Kubernetes executors run one step at a time against the fake cluster (the
//! shared part is `ripcord_testkit::harness`), and manifests for it.
#![allow(dead_code)]

use std::time::Duration;

use ripcord_engine::StepError;
use ripcord_kube::{KubeExecutor, KubeOptions};
use ripcord_testkit::FakeCluster;
use serde_json::Value;

#[allow(unused_imports)] // each test binary uses a different subset
pub(crate) use ripcord_testkit::harness::{TestContext, failed};

/// How to run one step (10 s timeout by default).
pub(crate) type Opts = ripcord_testkit::harness::Opts<10>;

/// An executor reaching the fake through its kubeconfig (as the CLI would).
pub(crate) fn executor(cluster: &FakeCluster) -> KubeExecutor {
    KubeExecutor::new(KubeOptions {
        kubeconfig: Some(cluster.kubeconfig().to_owned()),
        context: None,
    })
}

/// Decode `with` for `kind` (as the engine does after rendering) and execute it; a result must
/// hold exactly the fields the catalog declares.
pub(crate) async fn run(
    ex: &KubeExecutor,
    ctx: &TestContext,
    kind: &str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    ripcord_testkit::harness::execute_checked(ex, ctx, kind, with, &opts).await
}

pub(crate) const LIMIT: Duration = Duration::from_secs(5);

pub(crate) async fn until(cluster: &FakeCluster, what: &str, f: impl FnMut(&FakeCluster) -> bool) {
    assert!(
        cluster.wait_until(LIMIT, f).await,
        "timed out waiting for: {what}"
    );
}

pub(crate) fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}})
}

pub(crate) fn namespace(cluster: &FakeCluster, name: &str) {
    cluster.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})).unwrap();
}

/// Pods of `app` in `ns` that are Ready and not terminating.
pub(crate) fn ready_pods(c: &FakeCluster, ns: &str, app: &str) -> Vec<Value> {
    c.list("v1", "Pod", Some(ns))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == app && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .collect()
}

/// A fake cluster running Deployment `app` in `ns` (created unless `default`), its pods Ready.
pub(crate) async fn with_app(ns: &str, app: &str, replicas: i64) -> FakeCluster {
    let cluster = FakeCluster::start().await;
    if ns != "default" {
        namespace(&cluster, ns);
    }
    cluster.create(deployment(ns, app, replicas)).unwrap();
    until(&cluster, "pods Ready", |c| {
        ready_pods(c, ns, app).len() == replicas as usize
    })
    .await;
    cluster
}
