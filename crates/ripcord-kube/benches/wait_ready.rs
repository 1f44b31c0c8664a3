//! How long `kube.pods.wait_ready` takes to notice a pod that turned Ready in the fake API server.
//!
//! Each sample: a pod held not Ready; the step starts and its watch is established (seen in the
//! fake's request log); the pod is written Ready (T0, the instant of the store write); the step
//! returns (T1). Reports T1 - T0 over the samples. Target: under 100 ms.
//!
//! `cargo bench -p ripcord-kube --bench wait_ready` (SAMPLES=N to change the count).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ripcord_engine::approvals::Approvals;
use ripcord_engine::{Executor, Redactor, StepContext, StepRequest};
use ripcord_kube::{KubeExecutor, KubeOptions};
use ripcord_spec::StepKind;
use ripcord_testkit::{FakeCluster, Options};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Ctx {
    dir: tempfile::TempDir,
    redactor: Redactor,
    approvals: Approvals,
}

#[async_trait]
impl StepContext for Ctx {
    async fn note(&self, _: &str, _: Value) {}
    fn redactor(&self) -> &Redactor {
        &self.redactor
    }
    fn approvals(&self) -> &Approvals {
        &self.approvals
    }
    fn runbook_dir(&self) -> &Path {
        self.dir.path()
    }
    fn eval(&self, _: &str) -> Result<Value, String> {
        Err("none".into())
    }
    fn dry_run(&self, _: ripcord_engine::DryRunReport) {}
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let cluster = FakeCluster::start_with(Options {
        ready_delay: Duration::from_millis(1),
        ..Options::default()
    })
    .await;
    cluster
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}))
        .unwrap();
    let ex = KubeExecutor::new(KubeOptions {
        kubeconfig: Some(cluster.kubeconfig().to_owned()),
        context: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let ctx = Ctx {
        approvals: Approvals::new(
            &dir.path().join("run"),
            HashSet::new(),
            "bench".into(),
            false,
        ),
        dir,
        redactor: Redactor::new(vec![]),
    };
    let kind = StepKind::KubePodsWaitReady;
    let mut latencies = Vec::with_capacity(samples);
    // One warm-up round (client, connection pool), not counted.
    for i in 0..=samples {
        let name = format!("p{i}");
        let label = format!("s{i}");
        cluster
            .create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "bench", "labels": {"sample": label},
                "annotations": {ripcord_testkit::READY_ANNOTATION: "false"}}, "spec": {"containers": [{"name": "c"}]}}))
            .unwrap();
        let typed = kind
            .decode_json(json!({"namespace": "bench", "selector": format!("sample={label}")}))
            .unwrap();
        cluster.clear_requests();
        let request = StepRequest {
            run_id: "bench",
            step_id: "wait",
            attempt: 1,
            kind,
            with: &typed,
            effect: kind.effect(Some(&typed)),
            dry_run: false,
            deadline: Instant::now() + Duration::from_secs(30),
            cancel: CancellationToken::new(),
            context: &ctx,
        };
        let step = ex.execute(request);
        tokio::pin!(step);
        // Drive the step until its watch request reached the server (bounded).
        let watching = async {
            let until = Instant::now() + Duration::from_secs(10);
            while !cluster.requests().iter().any(|r| {
                r.query("watch") == Some("true")
                    && r.query("labelSelector") == Some(&format!("sample={label}"))
            }) {
                assert!(
                    Instant::now() < until,
                    "the watch did not start within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::select! {
            r = &mut step => panic!("returned before the pod was Ready: {r:?}"),
            _ = watching => {}
        }
        // Let the watch's response headers arrive; the step cannot finish before the write below.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t0 = cluster.set_pod_ready("bench", &name, true);
        let out = step.await.expect("the step succeeds");
        let t1 = Instant::now();
        assert_eq!(out["ready"], 1);
        if i > 0 {
            latencies.push(t1 - t0);
        }
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "kube.pods.wait_ready: time from the pod's Ready write to the step's return ({samples} samples)"
    );
    println!(
        "  min {:.2} ms  median {:.2} ms  mean {:.2} ms  p95 {:.2} ms  max {:.2} ms  (target < 100 ms)",
        ms(latencies[0]),
        ms(pct(0.5)),
        ms(mean),
        ms(pct(0.95)),
        ms(*latencies.last().unwrap())
    );
}
