//! Test support for ripcord: a stateful fake Kubernetes API server on 127.0.0.1.
//!
//! [`FakeCluster::start`] serves the Kubernetes REST API over HTTP on a loopback port and writes
//! a kubeconfig pointing at it, so kube-rs (or kubectl, or the `ripcord` binary) reaches it like
//! a real cluster. It keeps state: objects with resourceVersions and 409 conflicts, list and
//! watch (from a resourceVersion), label and field selectors, graceful pod deletion confirmed by
//! a simulated kubelet, asynchronous namespace deletion, the eviction subresource with
//! PodDisruptionBudgets (429), `dryRun=All`, merge / strategic / JSON / apply patches, a
//! scheduler, a kubelet that makes pods Ready after [`Options::ready_delay`], deployment and
//! replica set controllers, an endpoints controller, and exec over WebSocket answered by an
//! [`ExecHandler`]. The crate's README lists what it does not model.
//!
//! With the feature `harness`, the `harness` module holds the helpers that the test folders
//! (`crates/*/tests/common`, `tests/common`) share: one step of an executor, bounded waits,
//! background processes, journals.
//!
//! ```no_run
//! # async fn demo() {
//! let cluster = ripcord_testkit::FakeCluster::start().await;
//! let status = std::process::Command::new("ripcord")
//!     .env("KUBECONFIG", cluster.kubeconfig())
//!     .args(["run", "runbooks/pod-recovery.yaml"])
//!     .status();
//! # drop(status);
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

mod api;
mod controllers;
#[cfg(feature = "harness")]
pub mod harness;
mod patch;
pub mod resources;
pub mod selectors;
mod server;
mod store;

pub use controllers::READY_ANNOTATION;
pub use patch::PatchKind;
pub use store::ApiError;

use store::Store;

/// What the simulated cluster does and how fast.
#[derive(Clone)]
pub struct Options {
    /// Nodes created at start (Ready, schedulable).
    pub nodes: Vec<String>,
    /// Namespaces created at start.
    pub namespaces: Vec<String>,
    /// From scheduling to Ready (the kubelet's container start and readiness probe).
    pub ready_delay: Duration,
    /// From a graceful delete to the kubelet's confirmation (capped by the grace period).
    pub termination_delay: Duration,
    /// Least time a namespace stays Terminating.
    pub namespace_delay: Duration,
    /// Answers `exec` calls.
    pub exec: ExecHandler,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: vec!["node-1".into(), "node-2".into()],
            namespaces: vec!["default".into(), "kube-system".into()],
            ready_delay: Duration::from_millis(50),
            termination_delay: Duration::from_millis(50),
            namespace_delay: Duration::from_millis(50),
            exec: Arc::new(default_exec),
        }
    }
}

/// An `exec` into a container of a Running pod.
#[derive(Clone, Debug)]
pub struct ExecCall {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    pub pod_object: Value,
}

/// What the command printed and its exit code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

pub type ExecHandler = Arc<dyn Fn(&ExecCall) -> ExecOutput + Send + Sync>;

/// The default container: `echo ARGS`, `true`, `false`, `sh -c "exit N"`, and `curl ... URL`
/// answering `ok` for any URL (the fake's applications are healthy); anything else exits 127.
pub fn default_exec(call: &ExecCall) -> ExecOutput {
    let argv: Vec<&str> = call.command.iter().map(String::as_str).collect();
    let ok = |out: String| ExecOutput {
        stdout: out,
        stderr: String::new(),
        exit_code: 0,
    };
    match argv.as_slice() {
        ["echo", rest @ ..] => ok(format!("{}\n", rest.join(" "))),
        ["true", ..] => ok(String::new()),
        ["false", ..] => ExecOutput {
            exit_code: 1,
            ..Default::default()
        },
        ["sh" | "bash", "-c", script] if script.trim().starts_with("exit ") => ExecOutput {
            exit_code: script.trim()["exit ".len()..].trim().parse().unwrap_or(1),
            ..Default::default()
        },
        ["curl", ..] => ok("ok\n".into()),
        [cmd, ..] => ExecOutput {
            stderr: format!("exec: \"{cmd}\": executable file not found in $PATH\n"),
            exit_code: 127,
            ..Default::default()
        },
        [] => ExecOutput {
            exit_code: 1,
            ..Default::default()
        },
    }
}

/// A request the server received (exec included), for exact-request assertions.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    pub content_type: String,
    /// The body parsed as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl RecordedRequest {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A canned failure for the next `times` requests of `method` whose path contains `path`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    pub status: u16,
    pub times: usize,
}

pub(crate) struct Cluster {
    pub store: Mutex<Store>,
    pub opts: Options,
    pub wake: Notify,
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub exec: ExecHandler,
    pub exec_calls: Mutex<Vec<ExecCall>>,
    pub faults: Mutex<Vec<Fault>>,
    pub cancel: CancellationToken,
}

impl Cluster {
    /// Run a mutation under the store lock and wake the controllers.
    pub(crate) fn mutate<T>(
        &self,
        f: impl FnOnce(&mut Store, &Options) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let out = {
            let mut store = self.store.lock().expect("store lock");
            let out = f(&mut store, &self.opts);
            if out.is_ok() {
                controllers::reconcile(&mut store, &self.opts);
            }
            out
        };
        self.wake.notify_one();
        out
    }

    pub(crate) fn record(&self, r: RecordedRequest) {
        let mut log = self.requests.lock().expect("request log");
        if log.len() < 100_000 {
            log.push(r);
        }
    }

    pub(crate) fn take_fault(&self, method: &Method, path: &str) -> Option<Response> {
        let mut faults = self.faults.lock().expect("faults");
        let i = faults.iter().position(|f| {
            f.method.eq_ignore_ascii_case(method.as_str()) && path.contains(&f.path_contains)
        })?;
        let fault = faults[i].clone();
        faults[i].times -= 1;
        if faults[i].times == 0 {
            faults.remove(i);
        }
        let e = ApiError::new(
            fault.status,
            "InternalError",
            format!("injected fault {}", fault.status),
        );
        Some(
            (
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                e.status().to_string(),
            )
                .into_response(),
        )
    }
}

/// A running fake API server. Stops when dropped.
pub struct FakeCluster {
    inner: Arc<Cluster>,
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
    }
}

impl FakeCluster {
    /// Start with default [`Options`] on the current tokio runtime.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Start on the current tokio runtime.
    pub async fn start_with(opts: Options) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("a local address");
        let inner = Arc::new(Cluster {
            store: Mutex::new(Store::new()),
            exec: opts.exec.clone(),
            opts,
            wake: Notify::new(),
            requests: Mutex::new(Vec::new()),
            exec_calls: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            cancel: CancellationToken::new(),
        });
        {
            let mut store = inner.store.lock().expect("store lock");
            let ns_res = resources::get("", "namespaces");
            for ns in &inner.opts.namespaces {
                let _ = api::create(
                    &mut store,
                    ns_res,
                    "",
                    json!({"metadata": {"name": ns}}),
                    false,
                );
            }
            for node in &inner.opts.nodes {
                let _ = api::create(
                    &mut store,
                    resources::get("", "nodes"),
                    "",
                    node_object(node),
                    false,
                );
            }
        }
        let app = Router::new()
            .route(
                "/api/v1/namespaces/{ns}/pods/{name}/exec",
                any(server::exec),
            )
            .fallback(server::handle)
            .with_state(inner.clone());
        let cancel = inner.cancel.clone();
        // As Go's net/http (the API server) does: no Nagle delay on the small chunks of a watch.
        let listener =
            axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                let _ = tcp.set_nodelay(true);
            });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
        });
        tokio::spawn(controller_loop(inner.clone()));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&format!("http://{addr}")))
            .expect("write the kubeconfig");
        Self {
            inner,
            addr,
            dir,
            kubeconfig,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with contexts `fake` (current, namespace `default`) and `fake-system`
    /// (namespace `kube-system`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A directory that lives as long as the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner
            .store
            .lock()
            .expect("store lock")
            .resource_version()
    }

    fn resource(api_version: &str, kind: &str) -> &'static resources::Resource {
        resources::by_kind(api_version, kind)
            .unwrap_or_else(|| panic!("the fake does not serve {api_version} {kind}"))
    }

    /// Read an object (namespace `""` for cluster-scoped kinds).
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let res = Self::resource(api_version, kind);
        self.inner
            .store
            .lock()
            .expect("store lock")
            .get(res, namespace, name)
            .cloned()
    }

    /// Objects of a kind in a namespace (`None`: all namespaces).
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let res = Self::resource(api_version, kind);
        self.inner
            .store
            .lock()
            .expect("store lock")
            .list(res, namespace, None, None)
    }

    /// Create an object given as a manifest (its `apiVersion`, `kind`, `metadata.namespace`).
    pub fn create(&self, manifest: Value) -> Result<Value, ApiError> {
        let res = Self::resource(
            manifest["apiVersion"].as_str().unwrap_or(""),
            manifest["kind"].as_str().unwrap_or(""),
        );
        let ns = manifest["metadata"]["namespace"]
            .as_str()
            .unwrap_or(if res.namespaced { "default" } else { "" })
            .to_owned();
        self.inner
            .mutate(|s, _| api::create(s, res, &ns, manifest, false))
    }

    /// Delete an object as the API would (graceful for pods, asynchronous for namespaces).
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let res = Self::resource(api_version, kind);
        self.inner
            .mutate(|s, o| api::delete(s, o, res, namespace, name, None, false))
    }

    /// Change a stored object directly (as a controller would), bumping its resourceVersion.
    pub fn modify(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let res = Self::resource(api_version, kind);
        let key = (res, namespace.to_owned(), name.to_owned());
        let mut out = None;
        let _ = self.inner.mutate(|s, _| {
            out = s.update(&key, f);
            Ok(())
        });
        out
    }

    /// Hold a pod not Ready (`false`) or let the kubelet report it Ready at once (`true`).
    /// Returns the instant the pod was written Ready (or not Ready).
    pub fn set_pod_ready(&self, namespace: &str, name: &str, ready: bool) -> Instant {
        let _ = self.inner.mutate(|s, _| {
            let key = (resources::pods(), namespace.to_owned(), name.to_owned());
            s.update(&key, |p| {
                if ready {
                    if let Some(a) = p["metadata"]["annotations"].as_object_mut() {
                        a.remove(READY_ANNOTATION);
                    }
                } else {
                    p["metadata"]["annotations"][READY_ANNOTATION] = json!("false");
                }
            });
            if let Some(uid) = s
                .get(key.0, &key.1, &key.2)
                .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_owned))
            {
                s.timers.ready_at.insert(uid, Instant::now());
            }
            Ok(())
        });
        let uid = self
            .get("v1", "Pod", namespace, name)
            .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_owned));
        let store = self.inner.store.lock().expect("store lock");
        uid.and_then(|u| store.timers.became_ready.get(&u).copied())
            .filter(|_| ready)
            .unwrap_or_else(Instant::now)
    }

    /// Mark a node Ready or NotReady (a failed node: its kubelet stops confirming deletions and
    /// its pods turn not Ready).
    pub fn set_node_ready(&self, name: &str, ready: bool) {
        self.modify("v1", "Node", "", name, |n| {
            let (status, reason) = if ready { ("True", "KubeletReady") } else { ("Unknown", "NodeStatusUnknown") };
            n["status"]["conditions"] = json!([{"type": "Ready", "status": status, "reason": reason,
                "lastHeartbeatTime": store::now_rfc3339(), "lastTransitionTime": store::now_rfc3339()}]);
        });
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().expect("request log").clone()
    }

    pub fn clear_requests(&self) {
        self.inner.requests.lock().expect("request log").clear();
    }

    /// Every exec call so far.
    pub fn exec_calls(&self) -> Vec<ExecCall> {
        self.inner.exec_calls.lock().expect("exec log").clone()
    }

    /// Fail matching requests with `status` before they reach the API logic.
    pub fn inject(&self, fault: Fault) {
        self.inner.faults.lock().expect("faults").push(fault);
    }

    /// Wait until `f` holds for the store's objects, up to `limit` (driven by store changes,
    /// not polling). Returns whether it held.
    pub async fn wait_until(
        &self,
        limit: Duration,
        mut f: impl FnMut(&FakeCluster) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut rx = self.inner.store.lock().expect("store lock").subscribe();
        loop {
            if f(self) {
                return true;
            }
            tokio::select! {
                r = rx.recv() => if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r { return false },
                _ = tokio::time::sleep_until(deadline) => return f(self),
            }
        }
    }
}

fn node_object(name: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "spec": {},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}, {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": "v1.33.0"}},
    })
}

fn kubeconfig_text(server: &str) -> String {
    json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake", "preferences": {},
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "default"}},
            {"name": "fake-system", "context": {"cluster": "fake", "user": "fake", "namespace": "kube-system"}},
        ],
    })
    .to_string()
}

/// The controllers: run on every change and when timed work (kubelet readiness, deletion
/// confirmation, namespace removal) is due.
async fn controller_loop(cluster: Arc<Cluster>) {
    loop {
        let next = {
            let mut store = cluster.store.lock().expect("store lock");
            controllers::reconcile(&mut store, &cluster.opts)
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cluster.cancel.cancelled() => return,
            _ = cluster.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

/// A fake cluster on its own thread and runtime, for synchronous tests that drive the
/// `ripcord` binary.
pub struct BackgroundCluster {
    cluster: Option<FakeCluster>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BackgroundCluster {
    pub fn start(opts: Options) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let cluster = runtime.block_on(FakeCluster::start_with(opts));
        Self {
            cluster: Some(cluster),
            runtime: Some(runtime),
        }
    }

    pub fn cluster(&self) -> &FakeCluster {
        self.cluster.as_ref().expect("running")
    }

    /// Run a future on the cluster's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().expect("running").block_on(f)
    }
}

impl std::ops::Deref for BackgroundCluster {
    type Target = FakeCluster;
    fn deref(&self) -> &FakeCluster {
        self.cluster()
    }
}

impl Drop for BackgroundCluster {
    fn drop(&mut self) {
        drop(self.cluster.take());
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
