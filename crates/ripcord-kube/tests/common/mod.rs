//! Test harness: a recording [`StepContext`], a way to run one step, and the fake cluster.
#![allow(dead_code)]

use std::time::Duration;

use ripcord_engine::StepError;
use ripcord_kube::{KubeExecutor, KubeOptions};
use ripcord_testkit::FakeCluster;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use ripcord_engine::testing::TestContext;

#[derive(Clone)]
pub struct Opts {
    pub dry_run: bool,
    pub timeout: Duration,
    pub cancel: CancellationToken,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            dry_run: false,
            timeout: Duration::from_secs(10),
            cancel: CancellationToken::new(),
        }
    }
}

impl Opts {
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Self::default()
        }
    }
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }
}

/// An executor reaching the fake through its kubeconfig (as the CLI would).
pub fn executor(cluster: &FakeCluster) -> KubeExecutor {
    KubeExecutor::new(KubeOptions {
        kubeconfig: Some(cluster.kubeconfig().to_owned()),
        context: None,
    })
}

/// Decode `with` for `kind` (as the engine does after rendering) and execute it.
pub async fn run(
    ex: &KubeExecutor,
    ctx: &TestContext,
    kind: &str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    let attempt = ripcord_engine::testing::Attempt {
        step_id: "step-1",
        dry_run: opts.dry_run,
        timeout: opts.timeout,
        cancel: opts.cancel.clone(),
    };
    let out = ripcord_engine::testing::execute(ex, ctx, kind, with, attempt).await;
    if let Ok(v) = &out {
        ripcord_engine::testing::assert_result_fields(kind, v);
    }
    out
}

pub fn failed(result: Result<Value, StepError>) -> String {
    match result {
        Err(StepError::Failed(m)) => m,
        other => panic!("expected StepError::Failed, got {other:?}"),
    }
}

pub const LIMIT: Duration = Duration::from_secs(5);

pub async fn until(cluster: &FakeCluster, what: &str, f: impl FnMut(&FakeCluster) -> bool) {
    assert!(
        cluster.wait_until(LIMIT, f).await,
        "timed out waiting for: {what}"
    );
}

pub fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}})
}

pub fn namespace(cluster: &FakeCluster, name: &str) {
    cluster.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})).unwrap();
}

/// Pods of `app` in `ns` that are Ready and not terminating.
pub fn ready_pods(c: &FakeCluster, ns: &str, app: &str) -> Vec<Value> {
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
