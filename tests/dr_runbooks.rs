//! The DR plan's data-recovery, backup-verification and region-failover runbooks
//! (runbooks/*.yaml, unchanged in meaning) run end to end by the `ripcord` binary: their kube
//! steps against ripcord-testkit's fake API server (KUBECONFIG), their S3 and Route53 steps
//! against moto (`scripts/services.sh start`), their HTTP checks against a local server.
//!
//! Each test starts a moto of its own (the shared one at RIPCORD_TEST_MOTO_URL is reset by other
//! test binaries), so the runbooks' default bucket names are used as they are.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ripcord_testkit::{BackgroundCluster, ExecOutput, FakeCluster, Options};
use serde_json::{Value, json};

const APP: &str = "mcp-semantic";
const NS: &str = "mcp-system";
const DEPLOYMENT: &str = "mcp-semantic-control-plane";
const SMOKE_TEST: &str = "/app/scripts/smoke-test.sh";

// ---------------------------------------------------------------------------------------------
// The fake cluster

/// The fake, whose containers also have the service's smoke-test script (exit 0).
fn cluster() -> BackgroundCluster {
    BackgroundCluster::start(Options {
        exec: Arc::new(|call| {
            if call.command.first().map(String::as_str) == Some(SMOKE_TEST) {
                ExecOutput {
                    stdout: "smoke tests passed: artifacts read/write ok\n".into(),
                    ..Default::default()
                }
            } else {
                ripcord_testkit::default_exec(call)
            }
        }),
        ..Options::default()
    })
}

/// The service as k8s/deployment.yaml runs it in `mcp-system`: the Deployment (app=mcp-semantic
/// pods), its Service and its ConfigMap (storage backend settings).
fn deploy_service(c: &BackgroundCluster, replicas: i64) {
    c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        .unwrap();
    c.create(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "mcp-semantic-config", "namespace": NS},
        "data": {"storage.backend": "s3", "storage.bucket": "mcp-artifacts", "storage.region": "us-east-1"}}))
    .unwrap();
    c.create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NS, "labels": {"app": APP}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}}, "template": {"metadata": {"labels": {"app": APP}},
            "spec": {"containers": [{"name": APP, "image": "mcp-semantic:latest"}], "volumes": [{"name": "cache", "emptyDir": {}}]}}}})).unwrap();
    c.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": DEPLOYMENT, "namespace": NS},
        "spec": {"selector": {"app": APP}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})).unwrap();
    wait_ready(c, replicas as usize);
}

fn ready_pods(c: &FakeCluster) -> Vec<Value> {
    c.list("v1", "Pod", Some(NS))
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

fn wait_ready(c: &BackgroundCluster, n: usize) {
    let ok = c.block_on(c.wait_until(Duration::from_secs(10), |c| ready_pods(c).len() == n));
    assert!(ok, "{n} Ready pods in {NS}");
}

fn pod_names(c: &BackgroundCluster) -> Vec<String> {
    let mut names: Vec<String> = ready_pods(c)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `ripcord` against the fake (KUBECONFIG) and moto (AWS_* and `--aws-endpoint-url` below), in
/// `dir`.
fn ripcord_at(c: &BackgroundCluster, dir: &Path) -> Command {
    let mut cmd = ripcord_in(dir);
    cmd.env("KUBECONFIG", c.kubeconfig())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3");
    cmd
}

/// Run `cmd` (a `ripcord run`) to completion, at most two minutes (the runbooks' own timeouts
/// are minutes long; in the sandbox every run takes about a second).
fn run_bounded(dir: &Path, cmd: &mut Command) -> Run {
    let mut child = spawn_in(dir, "ripcord", cmd);
    let code = child.wait_code(Duration::from_secs(120));
    let run = Run {
        code,
        stdout: child.stdout(),
        stderr: child.stderr(),
    };
    assert!(!run.stderr.contains("panicked at"), "{}", run.stderr);
    run
}

fn runbook(name: &str) -> String {
    root().join("runbooks").join(name).display().to_string()
}

// ---------------------------------------------------------------------------------------------
// The service's HTTP endpoints (reached through a port-forward in the real procedures)

/// A local server standing in for the service and its Prometheus: `/api/v1/query...` answers a
/// Prometheus success, anything else 200 with a body mentioning artifacts. Records the request
/// lines. Runs until the test process ends.
fn service_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let line = head.lines().next().unwrap_or("").to_owned();
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push(line);
            let (ctype, body) = if path.starts_with("/api/v1/query") {
                (
                    "application/json",
                    r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"mcp-semantic"},"value":[0,"1"]}]}}"#.to_owned(),
                )
            } else {
                (
                    "text/plain",
                    "ok\nmcp_artifact_reads_total 42\nmcp_up 1\n".to_owned(),
                )
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

/// A `kubectl` first on PATH for the `shell` steps: `kubectl logs ...` prints service log lines
/// (the fake keeps no container logs) and records its arguments; anything else goes to the real
/// kubectl. Returns the PATH to use.
fn kubectl_stub(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|p| p.join("kubectl"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "false".into());
    let stub = bin.join("kubectl");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nif [ \"$1\" = logs ]; then\n  echo \"$*\" >> '{}'\n  echo 'INFO artifact GET models/a.bin 200'\n  echo 'INFO artifact PUT models/b.bin 201'\n  exit 0\nfi\nexec '{real}' \"$@\"\n",
            dir.join("kubectl-logs.args").display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// moto: a private instance per test (other test binaries reset the shared one at
// RIPCORD_TEST_MOTO_URL between their cases). It checks no signatures and routes by the
// credential scope.

/// A moto server of this test's own on a free port of 127.0.0.1, stopped when dropped.
struct Moto {
    child: std::process::Child,
    url: String,
}

impl Moto {
    fn start() -> Self {
        let server = std::env::var_os("RIPCORD_TEST_MOTO_SERVER")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root().join(".venv-services/bin/moto_server"));
        assert!(
            server.is_file(),
            "no moto_server at {}: install the local endpoints with `scripts/services.sh start` \
             (or name the executable in RIPCORD_TEST_MOTO_SERVER)",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let addr = format!("127.0.0.1:{port}");
        wait_for("moto to answer", Duration::from_secs(60), || {
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!("moto_server exited during start-up: {status}");
            }
            TcpStream::connect(&addr).ok()
        });
        moto
    }

    /// One request for `service` in `region`: (status, body).
    fn call(
        &self,
        method: &str,
        path: &str,
        service: &str,
        region: &str,
        body: &[u8],
    ) -> (u16, String) {
        let host = self.url.trim_start_matches("http://").to_owned();
        let mut s = TcpStream::connect(&host).expect("moto answers");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, body)
    }

    fn s3(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        self.call(method, path, "s3", "us-east-1", body)
    }

    fn create_bucket(&self, bucket: &str, region: &str) {
        let config = if region == "us-east-1" {
            String::new()
        } else {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            )
        };
        let (status, body) = self.call(
            "PUT",
            &format!("/{bucket}"),
            "s3",
            region,
            config.as_bytes(),
        );
        assert_eq!(status, 200, "create {bucket}: {body}");
    }

    fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let (status, text) = self.s3("PUT", &format!("/{bucket}/{key}"), body);
        assert_eq!(status, 200, "PUT s3://{bucket}/{key}: {text}");
    }

    fn get(&self, bucket: &str, key: &str) -> Option<String> {
        let (status, body) = self.s3("GET", &format!("/{bucket}/{key}"), b"");
        (status == 200).then_some(body)
    }

    /// The keys under `prefix`, sorted (one page is enough for these tests).
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (status, body) = self.s3(
            "GET",
            &format!("/{bucket}?list-type=2&max-keys=1000&prefix={prefix}"),
            b"",
        );
        assert_eq!(status, 200, "list s3://{bucket}/{prefix}: {body}");
        assert!(!body.contains("<IsTruncated>true"), "one page: {body}");
        let mut out: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(k, _)| k.to_owned()))
            .collect();
        out.sort();
        out
    }

    /// The DR plan's backup layout: `<stamp>/metadata.json`, `<stamp>/artifacts/...` and (when
    /// `latest`) `latest.txt` naming it.
    fn backup_layout(&self, bucket: &str, stamp: &str, arts: &[(String, String)], latest: bool) {
        for (k, b) in arts {
            self.put(bucket, &format!("{stamp}/artifacts/{k}"), b.as_bytes());
        }
        let meta = json!({"timestamp": stamp, "status": "success", "file_count": arts.len(),
            "source_bucket": "mcp-artifacts"});
        self.put(
            bucket,
            &format!("{stamp}/metadata.json"),
            meta.to_string().as_bytes(),
        );
        if latest {
            self.put(bucket, "latest.txt", format!("{stamp}\n").as_bytes());
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// `n` artifacts: (key relative to the artifacts root, body).
fn artifacts(n: usize, tag: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("models/{}/artifact-{i:03}.bin", i % 3),
                format!("{tag} artifact {i} {}", "x".repeat(i)),
            )
        })
        .collect()
}

/// The journal of the only run in `dir` (`ripcord run` writes `.ripcord/runs/<id>/`).
fn journal(dir: &Path) -> Vec<Value> {
    let runs = dir.join(".ripcord/runs");
    journal_records(&journal_path(&runs, &only_run(&runs)))
}

/// Panics unless every step in `steps` succeeded in the journal (so gates of `on_failure:
/// continue` steps, which do not change the exit code, are checked too).
fn assert_succeeded<S: AsRef<str>>(records: &[Value], steps: impl IntoIterator<Item = S>) {
    for step in steps {
        let step = step.as_ref();
        assert_eq!(
            events(records, "step_succeeded", Some(step)).len(),
            1,
            "{step} did not succeed: {:?}",
            events(records, "step_failed", Some(step))
        );
    }
}

/// Every main step of `runbook` (its `steps:` ids, read from the file).
fn main_steps(runbook: &str) -> Vec<String> {
    let text = std::fs::read_to_string(runbook).unwrap();
    let main = text.split("\nfinally:").next().unwrap();
    let ids: Vec<String> = main
        .lines()
        .filter_map(|l| l.strip_prefix("  - id: "))
        .map(|id| id.trim().to_owned())
        .collect();
    assert!(ids.len() > 5, "{runbook}: {ids:?}");
    ids
}

// ---------------------------------------------------------------------------------------------
// data-recovery

#[test]
fn data_recovery_restores_the_bucket_and_restarts_the_control_plane() {
    let m = Moto::start();
    let c = cluster();
    deploy_service(&c, 2);
    let before_pods = pod_names(&c);
    let (bucket, backup) = (
        "mcp-artifacts".to_owned(),
        "mcp-artifacts-backup".to_owned(),
    );
    m.create_bucket(&bucket, "us-east-1");
    m.create_bucket(&backup, "us-east-1");
    // An older backup, then the latest one (latest.txt names it).
    m.backup_layout(&backup, "20261124-020000", &artifacts(5, "old"), false);
    let arts = artifacts(30, "new");
    m.backup_layout(&backup, "20261125-020000", &arts, true);
    // The damaged bucket: a third of the artifacts lost, some corrupted, junk left over.
    for (k, b) in &arts[..20] {
        m.put(&bucket, k, b.as_bytes());
    }
    for (k, _) in &arts[5..8] {
        m.put(&bucket, k, b"corrupted");
    }
    m.put(&bucket, "junk/left-over.tmp", b"junk");
    let damaged = m.keys(&bucket, "");
    assert_eq!(damaged.len(), 21);

    let dir = tempfile::tempdir().unwrap();
    let path = kubectl_stub(dir.path());
    let (url, seen) = service_server();
    let run = run_bounded(
        dir.path(),
        ripcord_at(&c, dir.path()).env("PATH", &path).args([
            "run",
            &runbook("data-recovery.yaml"),
            "--yes",
            "--approve",
            "approve",
            "--aws-endpoint-url",
            &m.url,
            "-p",
            &format!("health_url={url}/health/ready"),
            "-p",
            &format!("artifacts_url={url}/artifacts/test"),
            "-p",
            &format!("metrics_url={url}/metrics"),
        ]),
    );
    assert_eq!(run.code, 0, "{}", run.all_output());

    // The bucket now holds exactly the backup's artifacts.
    let expected: Vec<String> = {
        let mut k: Vec<String> = arts.iter().map(|(k, _)| k.clone()).collect();
        k.sort();
        k
    };
    assert_eq!(m.keys(&bucket, ""), expected);
    for (k, b) in &arts {
        assert_eq!(m.get(&bucket, k).as_deref(), Some(b.as_str()), "{k}");
    }
    // The restore point holds the damaged bucket as it was.
    let points = m.keys(&backup, "restore-point-");
    assert_eq!(points.len(), damaged.len(), "{points:?}");
    let prefix = points[0]
        .split_once("/pre-restore/")
        .map(|(p, _)| p.to_owned())
        .unwrap_or_else(|| panic!("{points:?}"));
    let saved: Vec<String> = points
        .iter()
        .map(|k| {
            k.strip_prefix(&format!("{prefix}/pre-restore/"))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(saved, damaged);
    assert_eq!(
        m.get(&backup, &format!("{prefix}/pre-restore/{}", arts[6].0))
            .as_deref(),
        Some("corrupted")
    );
    // The control plane was restarted: new pods, Ready, the smoke test ran in one of them.
    let deploy = c.get("apps/v1", "Deployment", NS, DEPLOYMENT).unwrap();
    assert!(
        !deploy["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_null(),
        "{deploy}"
    );
    wait_ready(&c, 2);
    let after_pods = pod_names(&c);
    assert!(
        after_pods.iter().all(|p| !before_pods.contains(p)),
        "{before_pods:?} -> {after_pods:?}"
    );
    assert!(
        c.exec_calls().iter().any(|e| e.command == [SMOKE_TEST]),
        "the smoke test ran"
    );
    let requests = seen.lock().unwrap().clone();
    for path in ["/health/ready", "/artifacts/test", "/metrics"] {
        assert!(
            requests.iter().any(|l| l.contains(path)),
            "{path}: {requests:?}"
        );
    }
    let logs = std::fs::read_to_string(dir.path().join("kubectl-logs.args")).unwrap();
    assert!(logs.contains(&format!("-n {NS} -l app={APP}")), "{logs}");
    // Every step succeeded, the `on_failure: continue` ones included (their failures would not
    // change the exit code).
    assert_succeeded(
        &journal(dir.path()),
        main_steps(&runbook("data-recovery.yaml")),
    );
}

// ---------------------------------------------------------------------------------------------
// backup-verification

#[test]
fn backup_verification_passes_its_gates() {
    let m = Moto::start();
    let c = cluster();
    c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        .unwrap();
    // The DR plan's backup and verification CronJobs, each with a last success.
    for name in ["mcp-backup", "mcp-backup-verification"] {
        c.create(json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "backup", "image": "mcp-backup:latest"}]}}}}}}))
            .unwrap();
        c.modify("batch/v1", "CronJob", NS, name, |cj| {
            cj["status"] = json!({"lastScheduleTime": "2026-11-25T02:00:00Z",
                "lastSuccessfulTime": "2026-11-25T02:07:00Z"});
        })
        .expect("the CronJob exists");
    }
    let backup = "mcp-artifacts-backup".to_owned();
    m.create_bucket(&backup, "us-east-1");
    m.backup_layout(&backup, "20261124-020000", &artifacts(4, "old"), false);
    m.backup_layout(&backup, "20261125-020000", &artifacts(12, "new"), true);
    let dir = tempfile::tempdir().unwrap();
    let run = run_bounded(
        dir.path(),
        ripcord_at(&c, dir.path()).args([
            "run",
            &runbook("backup-verification.yaml"),
            "--yes",
            "--aws-endpoint-url",
            &m.url,
        ]),
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    let records = journal(dir.path());
    // The CronJob checks, the S3 gates and the freshness gate all passed.
    let steps = main_steps(&runbook("backup-verification.yaml"));
    assert_eq!(steps.len(), 8, "{steps:?}");
    assert_succeeded(&records, steps.iter());
}

// ---------------------------------------------------------------------------------------------
// region-failover

#[test]
fn region_failover_promotes_the_secondary_and_repoints_storage() {
    let m = Moto::start();
    let c = cluster();
    deploy_service(&c, 2);
    let before_pods = pod_names(&c);
    let (bucket, replica) = (
        "mcp-artifacts".to_owned(),
        "mcp-artifacts-us-west-2".to_owned(),
    );
    m.create_bucket(&bucket, "us-east-1");
    m.create_bucket(&replica, "us-west-2");
    // Replication from the primary bucket to the replica (both versioned), and the replicated
    // artifacts.
    let versioning = b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>";
    for (b, region) in [(&bucket, "us-east-1"), (&replica, "us-west-2")] {
        let (status, body) = m.call("PUT", &format!("/{b}?versioning"), "s3", region, versioning);
        assert_eq!(status, 200, "versioning {b}: {body}");
    }
    let replication = format!(
        "<ReplicationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Role>arn:aws:iam::123456789012:role/replication</Role><Rule><ID>to-us-west-2</ID><Priority>1</Priority><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication><Destination><Bucket>arn:aws:s3:::{replica}</Bucket></Destination></Rule></ReplicationConfiguration>"
    );
    let (status, body) = m.s3(
        "PUT",
        &format!("/{bucket}?replication"),
        replication.as_bytes(),
    );
    assert_eq!(status, 200, "replication: {body}");
    for (k, b) in artifacts(8, "replica") {
        m.put(&replica, &k, b.as_bytes());
    }
    // The hosted zone, with the failover records as they are before the failover.
    let (status, body) = m.call(
        "POST",
        "/2013-04-01/hostedzone",
        "route53",
        "us-east-1",
        format!("<CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Name>example.com.</Name><CallerReference>dr-runbooks-{}</CallerReference></CreateHostedZoneRequest>", std::process::id()).as_bytes(),
    );
    assert!(matches!(status, 200 | 201), "create zone: {status} {body}");
    let zone = body
        .split_once("<Id>/hostedzone/")
        .and_then(|(_, rest)| rest.split_once("</Id>"))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("{body}"));

    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = service_server();
    let run = run_bounded(
        dir.path(),
        ripcord_at(&c, dir.path()).args([
            "run",
            &runbook("region-failover.yaml"),
            "--yes",
            "--approve",
            "approve",
            "--aws-endpoint-url",
            &m.url,
            "-p",
            "secondary_context=fake",
            "-p",
            &format!("hosted_zone_id={zone}"),
            "-p",
            &format!("public_url={url}"),
            "-p",
            &format!("prometheus_url={url}"),
        ]),
    );
    assert_eq!(run.code, 0, "{}", run.all_output());

    // DNS: the secondary record is PRIMARY, the old primary SECONDARY.
    let (status, listed) = m.call(
        "GET",
        &format!("/2013-04-01/hostedzone/{zone}/rrset"),
        "route53",
        "us-east-1",
        b"",
    );
    assert_eq!(status, 200, "{listed}");
    let record = |set: &str| {
        listed
            .split("<ResourceRecordSet>")
            .find(|b| b.contains(&format!("<SetIdentifier>{set}</SetIdentifier>")))
            .unwrap_or_else(|| panic!("no {set} record: {listed}"))
            .to_owned()
    };
    let secondary = record("secondary");
    assert!(
        secondary.contains("<Failover>PRIMARY</Failover>"),
        "{secondary}"
    );
    assert!(
        secondary.contains("mcp-semantic.us-west-2.example.com"),
        "{secondary}"
    );
    assert!(
        secondary.contains("mcp-semantic.example.com."),
        "{secondary}"
    );
    let primary = record("primary");
    assert!(
        primary.contains("<Failover>SECONDARY</Failover>"),
        "{primary}"
    );
    assert!(
        primary.contains("mcp-semantic.us-east-1.example.com"),
        "{primary}"
    );
    // The storage backend points at the replica bucket, the control plane was restarted.
    let cm = c.get("v1", "ConfigMap", NS, "mcp-semantic-config").unwrap();
    assert_eq!(cm["data"]["storage.bucket"], replica.as_str(), "{cm}");
    assert_eq!(cm["data"]["storage.region"], "us-west-2", "{cm}");
    assert_eq!(
        cm["data"]["storage.backend"], "s3",
        "merge patch keeps the rest: {cm}"
    );
    wait_ready(&c, 2);
    let after_pods = pod_names(&c);
    assert!(
        after_pods.iter().all(|p| !before_pods.contains(p)),
        "{before_pods:?} -> {after_pods:?}"
    );
    let requests = seen.lock().unwrap().clone();
    for path in ["/health/ready", "/artifacts/test", "/api/v1/query?query=up"] {
        assert!(
            requests.iter().any(|l| l.contains(path)),
            "{path}: {requests:?}"
        );
    }
    assert_succeeded(
        &journal(dir.path()),
        main_steps(&runbook("region-failover.yaml")),
    );
}
