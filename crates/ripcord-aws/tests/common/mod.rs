//! Test harness: local endpoints (moto, SeaweedFS; started by `scripts/services.sh start`), a
//! [`StepContext`] that records notes, one-step runs, whole runbooks through the engine, and
//! fixtures that build the DR plan's backup layout.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use ripcord_aws::{Aws, AwsExecutor, Settings};
use ripcord_engine::{Registry, StepError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub(crate) const MOTO_KEY: &str = "testing";
pub(crate) const MOTO_SECRET: &str = "testing";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub(crate) fn moto_url() -> String {
    env_or("RIPCORD_TEST_MOTO_URL", "http://127.0.0.1:5000")
}

pub(crate) fn seaweed_url() -> String {
    env_or("RIPCORD_TEST_SEAWEED_URL", "http://127.0.0.1:8333")
}

pub(crate) fn seaweed_keys() -> (String, String) {
    (
        env_or("RIPCORD_TEST_SEAWEED_ACCESS_KEY", "ripcord-test"),
        env_or("RIPCORD_TEST_SEAWEED_SECRET_KEY", "ripcord-test-secret"),
    )
}

/// `host:port` of an `http://` URL.
fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A plain HTTP/1.1 request (for moto's own API), returning the status code.
fn http(method: &str, url: &str, path: &str) -> std::io::Result<u16> {
    http_body(method, url, path, "").map(|(status, _)| status)
}

/// GET a path of moto unsigned (moto does not check signatures): for answers the SDK cannot
/// read (moto wraps Route53 record values in CDATA, which the SDK's XML reader drops).
/// moto routes a request by the service named in its credential scope.
pub(crate) fn moto_get(service: &str, path: &str) -> String {
    let auth = format!(
        "authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request\r\n"
    );
    let (status, body) = http_body("GET", &moto_url(), path, &auth).expect("GET moto");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn http_body(method: &str, url: &str, path: &str, headers: &str) -> std::io::Result<(u16, String)> {
    let host = authority(url);
    let mut stream = TcpStream::connect(&host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn require(name: &str, url: &str) {
    if TcpStream::connect(authority(url)).is_err() {
        panic!(
            "{name} is not answering on {url}: start the local endpoints with \
             `scripts/services.sh start` and `eval \"$(scripts/services.sh env)\"`"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// moto: one test at a time, each on a fresh state

static MOTO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds moto for one test case; the state was reset when it was taken.
pub(crate) struct MotoGuard {
    _lock: tokio::sync::MutexGuard<'static, ()>,
    pub aws: Arc<Aws>,
}

pub(crate) async fn moto() -> MotoGuard {
    let lock = MOTO.lock().await;
    let url = moto_url();
    require("moto", &url);
    let status = http("POST", &url, "/moto-api/reset").expect("reset moto");
    assert_eq!(status, 200, "POST /moto-api/reset");
    MotoGuard {
        _lock: lock,
        aws: Arc::new(Aws::new(Settings::local(&url, MOTO_KEY, MOTO_SECRET))),
    }
}

// ---------------------------------------------------------------------------------------------
// SeaweedFS: shared, so each test works in buckets of its own (and removes them)

pub(crate) fn seaweed_settings() -> Settings {
    let url = seaweed_url();
    require("SeaweedFS", &url);
    let (key, secret) = seaweed_keys();
    Settings::local(&url, &key, &secret)
}

pub(crate) fn seaweed() -> Arc<Aws> {
    Arc::new(Aws::new(seaweed_settings()))
}

/// A bucket name unique to this test run and case.
pub(crate) fn unique(name: &str) -> String {
    let n: u32 = rand_u32();
    format!("{name}-{:08x}", n)
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}

// ---------------------------------------------------------------------------------------------
// S3 fixtures

pub(crate) async fn client(aws: &Aws) -> aws_sdk_s3::Client {
    aws.s3(None).await.expect("an S3 client")
}

pub(crate) async fn create_bucket(aws: &Aws, bucket: &str) {
    client(aws)
        .await
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
}

pub(crate) async fn put(aws: &Aws, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
    client(aws)
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

pub(crate) async fn get(aws: &Aws, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = client(aws)
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

/// Every key under a prefix, sorted.
pub(crate) async fn keys(aws: &Aws, bucket: &str, prefix: &str) -> Vec<String> {
    let c = client(aws).await;
    let mut pages = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        for o in page.expect("list").contents() {
            keys.push(o.key().unwrap().to_owned());
        }
    }
    keys.sort();
    keys
}

/// Every (key, ETag) of a bucket, sorted: what a dry run must leave unchanged.
pub(crate) async fn listing(aws: &Aws, bucket: &str) -> Vec<(String, String)> {
    let c = client(aws).await;
    let mut pages = c.list_objects_v2().bucket(bucket).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        for o in page.expect("list").contents() {
            out.push((
                o.key().unwrap().to_owned(),
                o.e_tag().unwrap_or("").to_owned(),
            ));
        }
    }
    out.sort();
    out
}

/// Put many small objects, `parallel` at a time.
pub(crate) async fn put_many(
    aws: &Aws,
    bucket: &str,
    objects: Vec<(String, Vec<u8>)>,
    parallel: usize,
) {
    let c = client(aws).await;
    let mut set = tokio::task::JoinSet::new();
    for (key, body) in objects {
        while set.len() >= parallel {
            set.join_next().await.unwrap().unwrap();
        }
        let c = c.clone();
        let bucket = bucket.to_owned();
        set.spawn(async move {
            c.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

/// Delete every object of a bucket and the bucket (best effort).
pub(crate) async fn remove_bucket(aws: &Aws, bucket: &str) {
    let c = client(aws).await;
    let all = keys(aws, bucket, "").await;
    for chunk in all.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(k)
                    .build()
                    .unwrap()
            })
            .collect();
        let _ = c
            .delete_objects()
            .bucket(bucket)
            .delete(
                aws_sdk_s3::types::Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await;
    }
    let _ = c.delete_bucket().bucket(bucket).send().await;
}

/// The DR plan's backup layout in `bucket`:
/// `latest.txt` -> `<stamp>`, `<stamp>/metadata.json`, `<stamp>/artifacts/<name>` for each
/// artifact. Returns the artifacts' (relative key, body).
pub(crate) async fn backup_layout(
    aws: &Aws,
    bucket: &str,
    stamp: &str,
    artifacts: &[(String, Vec<u8>)],
    status: &str,
) {
    let meta = json!({
        "status": status,
        "file_count": artifacts.len(),
        "timestamp": stamp,
        "source_bucket": "mcp-artifacts",
    });
    put(
        aws,
        bucket,
        &format!("{stamp}/metadata.json"),
        meta.to_string(),
    )
    .await;
    let objects = artifacts
        .iter()
        .map(|(k, b)| (format!("{stamp}/artifacts/{k}"), b.clone()))
        .collect();
    put_many(aws, bucket, objects, 16).await;
    put(aws, bucket, "latest.txt", format!("{stamp}\n")).await;
}

/// `n` small artifacts with distinct bodies, in nested "directories".
pub(crate) fn artifacts(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("models/m{:02}/artifact-{i:05}.bin", i % 7),
                format!("artifact {i} {}", "x".repeat(i % 50)).into_bytes(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// one step

#[allow(unused_imports)] // each test binary uses a different subset
pub(crate) use ripcord_testkit::harness::TestContext;

/// The context of these tests: one secret to prove redaction.
pub(crate) fn test_context() -> std::sync::Arc<TestContext> {
    TestContext::with(serde_json::json!({}), vec!["s3cr3t-value".into()])
}

/// How to run one step: 120 s timeout by default (syncs of thousands of objects).
pub(crate) type Opts = ripcord_testkit::harness::Opts<120>;

/// Decode `with` for `kind` (as the engine does after rendering) and execute it; a result must
/// hold exactly the fields the catalog declares.
pub(crate) async fn step(
    ctx: &TestContext,
    aws: &Arc<Aws>,
    kind: &str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    let executor = if kind.starts_with("route53.") {
        AwsExecutor::route53(aws.clone())
    } else {
        AwsExecutor::s3(aws.clone())
    };
    ripcord_testkit::harness::execute_checked(&executor, ctx, kind, with, &opts).await
}

pub(crate) async fn ok(aws: &Arc<Aws>, kind: &str, with: Value) -> Value {
    let ctx = test_context();
    step(&ctx, aws, kind, with.clone(), Opts::default())
        .await
        .unwrap_or_else(|e| panic!("{kind} {with}: {e}"))
}

pub(crate) async fn fails(aws: &Arc<Aws>, kind: &str, with: Value) -> String {
    let ctx = test_context();
    match step(&ctx, aws, kind, with.clone(), Opts::default()).await {
        Err(StepError::Failed(m)) => m,
        other => panic!("{kind} {with}: expected a failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// whole runbooks through the engine

/// What a run through the engine ended with.
pub(crate) struct RunOutcome {
    pub outcome: String,
    /// `step_succeeded` / `step_failed` data by step id (the last attempt's).
    pub records: Vec<Value>,
}

impl RunOutcome {
    pub(crate) fn status(&self, step: &str) -> String {
        self.records
            .iter()
            .rev()
            .find(|r| {
                r["step"] == step
                    && matches!(
                        r["event"].as_str(),
                        Some("step_succeeded" | "step_failed" | "step_skipped")
                    )
            })
            .map(|r| {
                r["event"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("step_")
                    .to_owned()
            })
            .unwrap_or_else(|| "not run".into())
    }

    pub(crate) fn result(&self, step: &str) -> Value {
        self.records
            .iter()
            .rev()
            .find(|r| r["step"] == step && r["event"] == "step_succeeded")
            .map(|r| r["data"]["result"].clone())
            .unwrap_or_else(|| panic!("step {step} did not succeed: {}", self.describe()))
    }

    pub(crate) fn describe(&self) -> String {
        self.records
            .iter()
            .filter(|r| {
                matches!(
                    r["event"].as_str(),
                    Some("step_succeeded" | "step_failed" | "step_skipped" | "attempt_failed")
                )
            })
            .map(|r| format!("{} {} {}", r["step"], r["event"], r["data"]))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Validate `yaml`, and run it with the core executors and these AWS ones.
pub(crate) async fn run_runbook(
    yaml: &str,
    params: &[(&str, &str)],
    aws: &Arc<Aws>,
    dry_run: bool,
) -> RunOutcome {
    let source = ripcord_spec::SourceFile::new("test.yaml", yaml);
    let outcome = ripcord_spec::validate(source);
    assert!(
        !outcome.has_errors(),
        "the runbook is invalid: {:#?}",
        outcome.diagnostics
    );
    let validated = Arc::new(outcome.validated.expect("validated"));
    let given: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = ripcord_spec::params::resolve(&validated.runbook.params, &given, |_| None)
        .expect("params resolve");
    let mut registry = Registry::new();
    ripcord_builtin::register(&mut registry);
    registry.register(Arc::new(AwsExecutor::s3(aws.clone())), None);
    registry.register(Arc::new(AwsExecutor::route53(aws.clone())), None);
    let runs = tempfile::tempdir().expect("tempdir");
    let path = PathBuf::from("test.yaml");
    let setup = ripcord_engine::session::Setup {
        validated,
        runbook_path: &path,
        params: &params,
        registry,
        runs_dir: runs.path(),
        options: ripcord_engine::run::RunOptions {
            max_parallel: 8,
            dry_run,
            cancel: CancellationToken::new(),
            abandon: CancellationToken::new(),
            runbook_dir: PathBuf::from("."),
        },
        operator: ripcord_engine::session::Operator {
            user: "tester".into(),
            host: "test".into(),
        },
        preapproved: ["approve".to_owned()].into_iter().collect(),
        interactive: false,
    };
    let engine = ripcord_engine::session::start(setup).await.expect("start");
    let journal = engine.journal().path().to_owned();
    let report = engine.run().await.expect("run");
    let records = ripcord_testkit::harness::journal_records(&journal);
    RunOutcome {
        outcome: report.outcome.as_str().to_owned(),
        records,
    }
}
