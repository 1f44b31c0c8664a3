//! The DR plan's Kubernetes procedures (pod-recovery, node-recovery, dr-drill) run end to end by
//! the `ripcord` binary against ripcord-testkit's fake API server (reached through a generated
//! kubeconfig in KUBECONFIG), dr-drill's backup checks against moto; and `run --lock`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use ripcord_testkit::{BackgroundCluster, Options};
use serde_json::{Value, json};

const APP: &str = "mcp-semantic";

fn cluster() -> BackgroundCluster {
    BackgroundCluster::start(Options::default())
}

/// The service as k8s/deployment.yaml runs it: a Deployment (emptyDir cache), its Service and a
/// PodDisruptionBudget, in `ns`.
fn deploy_service(c: &BackgroundCluster, ns: &str, replicas: i64) {
    c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .unwrap();
    c.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "mcp-semantic-control-plane", "namespace": ns, "labels": {"app": APP}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}}, "template": {"metadata": {"labels": {"app": APP}},
            "spec": {"containers": [{"name": APP, "image": "mcp-semantic:latest"}], "volumes": [{"name": "cache", "emptyDir": {}}]}}}})).unwrap();
    c.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mcp-semantic-control-plane", "namespace": ns},
        "spec": {"selector": {"app": APP}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})).unwrap();
    c.create(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": APP, "namespace": ns},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": APP}}}})).unwrap();
    wait_ready(c, ns, replicas as usize);
}

fn ready_pods(c: &BackgroundCluster, ns: &str) -> Vec<Value> {
    c.list("v1", "Pod", Some(ns))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == APP && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .collect()
}

fn wait_ready(c: &BackgroundCluster, ns: &str, n: usize) {
    let ok = c.block_on(c.wait_until(Duration::from_secs(10), |c| {
        c.list("v1", "Pod", Some(ns))
            .iter()
            .filter(|p| {
                p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .count()
            == n
    }));
    assert!(ok, "{n} Ready pods in {ns}");
}

/// `ripcord` against the fake: KUBECONFIG names its kubeconfig (kubectl in `shell` steps uses
/// it too), runs in a temporary directory.
fn ripcord_at(c: &BackgroundCluster, dir: &Path) -> Command {
    let mut cmd = ripcord_in(dir);
    cmd.env("KUBECONFIG", c.kubeconfig())
        .env_remove("KUBERNETES_SERVICE_HOST");
    cmd
}

fn runbook(name: &str) -> String {
    root().join("runbooks").join(name).display().to_string()
}

/// A tiny HTTP server answering 200 `ok` to anything (the service's health and metrics
/// endpoints, reached through a port-forward in the real procedure). Serves `n` requests.
fn health_server(n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "mcp_up 1\nhealthy ok\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn pod_recovery_force_deletes_a_stuck_pod_and_recovers() {
    let c = cluster();
    deploy_service(&c, "mcp-system", 2);
    // The failing pod: its node stopped answering, so the pod is not Ready and a graceful delete
    // would never complete.
    let stuck = ready_pods(&c, "mcp-system")[0].clone();
    let (pod, node) = (
        stuck["metadata"]["name"].as_str().unwrap().to_owned(),
        stuck["spec"]["nodeName"].as_str().unwrap().to_owned(),
    );
    c.set_node_ready(&node, false);
    let dir = tempfile::tempdir().unwrap();
    let url = health_server(8);
    let run = run_cmd(ripcord_at(&c, dir.path()).args([
        "run",
        &runbook("pod-recovery.yaml"),
        "--yes",
        "-p",
        &format!("pod={pod}"),
        "-p",
        &format!("health_url={url}/health/ready"),
        "-p",
        &format!("metrics_url={url}/metrics"),
    ]));
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stderr.contains("force_delete") && run.stderr.contains("succeeded"),
        "{}",
        run.stderr
    );
    assert!(
        c.get("v1", "Pod", "mcp-system", &pod).is_none(),
        "the stuck pod was force-deleted"
    );
    wait_ready(&c, "mcp-system", 2);
    assert!(
        ready_pods(&c, "mcp-system")
            .iter()
            .all(|p| p["spec"]["nodeName"] != node.as_str())
    );
}

#[test]
fn node_recovery_cordons_drains_and_verifies() {
    let c = cluster();
    deploy_service(&c, "mcp-system", 2);
    let node = ready_pods(&c, "mcp-system")[0]["spec"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();

    // A dry run first: reads for real, the cordon and the evictions are only previewed.
    let run = run_cmd(ripcord_at(&c, dir.path()).args([
        "run",
        &runbook("node-recovery.yaml"),
        "--yes",
        "--dry-run",
        "--approve",
        "approve_drain",
        "-p",
        &format!("node={node}"),
    ]));
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        c.get("v1", "Node", "", &node).unwrap()["spec"]["unschedulable"].is_null(),
        "dry run: not cordoned"
    );
    let evictions = c
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .collect::<Vec<_>>();
    assert!(!evictions.is_empty() && evictions.iter().all(|r| r.query("dryRun") == Some("All")));

    let run = run_cmd(ripcord_at(&c, dir.path()).args([
        "run",
        &runbook("node-recovery.yaml"),
        "--yes",
        "--approve",
        "approve_drain",
        "-p",
        &format!("node={node}"),
        "-p",
        "min_ready=2",
    ]));
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(
        c.get("v1", "Node", "", &node).unwrap()["spec"]["unschedulable"],
        true,
        "stays cordoned"
    );
    let ready = ready_pods(&c, "mcp-system");
    assert_eq!(ready.len(), 2);
    assert!(
        ready.iter().all(|p| p["spec"]["nodeName"] != node.as_str()),
        "rescheduled off {node}"
    );
    assert!(
        c.exec_calls().iter().any(|e| e.command[0] == "curl"),
        "the connectivity check ran in a pod"
    );
}

// ---------------------------------------------------------------------------------------------
// dr-drill: the backup checks read moto (scripts/services.sh start)

fn moto_url() -> String {
    std::env::var("RIPCORD_TEST_MOTO_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:5000".into())
}

/// An S3 request to moto (it checks no signatures; it routes by the credential scope).
fn moto_s3(method: &str, path: &str, body: &[u8]) -> u16 {
    let url = moto_url();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut s = TcpStream::connect(&host).unwrap_or_else(|_| {
        panic!("moto is not answering on {url}: start the local endpoints with `scripts/services.sh start`")
    });
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn dr_drill_deploys_kills_recovers_verifies_and_cleans_up() {
    let c = cluster();
    let bucket = format!("drill-backup-{}", std::process::id());
    let created = moto_s3("PUT", &format!("/{bucket}"), b"");
    assert!(matches!(created, 200 | 409), "create bucket: {created}");
    let prefix = "20261125-020000";
    moto_s3(
        "PUT",
        &format!("/{bucket}/latest.txt"),
        format!("{prefix}\n").as_bytes(),
    );
    moto_s3(
        "PUT",
        &format!("/{bucket}/{prefix}/metadata.json"),
        json!({"status": "success", "file_count": 3})
            .to_string()
            .as_bytes(),
    );
    for i in 0..3 {
        moto_s3(
            "PUT",
            &format!("/{bucket}/{prefix}/artifacts/f{i}.bin"),
            b"0123456789",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let run = run_cmd(
        ripcord_at(&c, dir.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .args([
                "run",
                &runbook("dr-drill.yaml"),
                "--yes",
                "--aws-endpoint-url",
                &moto_url(),
                "-p",
                &format!("backup_bucket={bucket}"),
            ]),
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    // The drill's namespace existed, its pods were killed and replaced, and it is gone again.
    assert!(
        c.get("v1", "Namespace", "", "mcp-dr-test").is_none(),
        "finally deleted the namespace"
    );
    let deletes = c
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/namespaces/mcp-dr-test/pods/"))
        .count();
    assert_eq!(deletes, 2, "both test pods were killed");
    let execs: Vec<Vec<String>> = c.exec_calls().into_iter().map(|e| e.command).collect();
    assert!(
        execs
            .iter()
            .any(|cmd| cmd.iter().any(|a| a.contains("/health/ready"))),
        "{execs:?}"
    );
    assert!(
        execs
            .iter()
            .any(|cmd| cmd.iter().any(|a| a.contains("/metrics"))),
        "{execs:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// run --lock

#[test]
fn of_two_concurrent_locked_runs_exactly_one_proceeds() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let book = root()
        .join("tests/fixtures/kube/locked.yaml")
        .display()
        .to_string();
    let mut a = spawn_in(
        dir.path(),
        "a",
        ripcord_at(&c, dir.path()).args(["run", &book, "--yes", "--lock"]),
    );
    let mut b = spawn_in(
        dir.path(),
        "b",
        ripcord_at(&c, dir.path()).args(["run", &book, "--yes", "--lock"]),
    );
    let (ca, cb) = (
        a.wait_code(Duration::from_secs(30)),
        b.wait_code(Duration::from_secs(30)),
    );
    let mut codes = [ca, cb];
    codes.sort();
    // 5: locked (docs/cli.md, "Exit codes").
    assert_eq!(codes, [0, 5], "a: {}\nb: {}", a.stderr(), b.stderr());
    let loser = if ca == 5 { a.stderr() } else { b.stderr() };
    assert!(loser.contains("is locked by run locked-drill-"), "{loser}");
    // The refused run was never started: only the winner's journal exists, so neither `status`
    // nor `resume` has a half-run to show.
    let runs: Vec<_> = std::fs::read_dir(dir.path().join(".ripcord/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(loser.contains("not started"), "{loser}");
    // The winner released the lease: the next locked run proceeds at once.
    let lease = c
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "default",
            "ripcord-run-locked-drill",
        )
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
    let run = run_cmd(ripcord_at(&c, dir.path()).args(["run", &book, "--yes", "--lock"]));
    assert_eq!(run.code, 0, "{}", run.all_output());
}

#[test]
fn kubeconfig_and_context_flags_choose_the_cluster_and_namespace() {
    let c = cluster();
    c.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "kube-system"}, "data": {"mode": "system"}})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let book = root()
        .join("tests/fixtures/kube/context.yaml")
        .display()
        .to_string();
    let kubeconfig = c.kubeconfig().display().to_string();
    // No KUBECONFIG: the flag names the file; the current context's namespace (default) has no
    // such ConfigMap.
    let mut cmd = ripcord_in(dir.path());
    cmd.env_remove("KUBECONFIG").env("HOME", dir.path());
    let run = run_cmd(cmd.args(["--kubeconfig", &kubeconfig, "run", &book, "--yes"]));
    assert_eq!(run.code, 3, "{}", run.all_output());
    assert!(
        run.all_output()
            .contains("ConfigMap default/settings not found"),
        "{}",
        run.all_output()
    );
    let mut cmd = ripcord_in(dir.path());
    cmd.env_remove("KUBECONFIG").env("HOME", dir.path());
    let run = run_cmd(cmd.args([
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "fake-system",
        "run",
        &book,
        "--yes",
    ]));
    assert_eq!(run.code, 0, "{}", run.all_output());
}
