//! ripcord's Kubernetes executors (kube-rs) and the Lease run lock.
//!
//! [`KubeExecutor`] serves [`Family::Kube`]: every `kube.*` step type of the catalog.
//! [`register`] adds it to an engine [`Registry`]; [`lock::acquire`] holds a run lock.
//!
//! **Cluster access** is kubectl's: the kubeconfig named by [`KubeOptions::kubeconfig`], else
//! `KUBECONFIG` (a list of files, merged), else `~/.kube/config`, else the in-cluster service
//! account. The context is the step's `context`, else [`KubeOptions::context`], else the
//! kubeconfig's current context; a kind's namespace defaults to the context's namespace. Clients
//! are built on first use, one per context, and shared by the run's steps.
//!
//! **No client-side retries.** kube's default client retries 429, 503 and 504 up to 15 times
//! with exponential backoff; a PodDisruptionBudget answers an eviction with 429, so a blocked
//! drain hung for minutes. The clients built here have that policy off: `nodes.drain` retries
//! evictions itself until the step's deadline, and other transient failures are for the step's
//! `retry:`.
//!
//! **Waits watch** (`pods.wait_ready`, `rollout.status`, `endpoints.ready`,
//! `namespace.delete`, the end of `nodes.drain`): a list, then a watch from its
//! resourceVersion, re-evaluated on every event; no polling. They end a little before the
//! attempt's deadline with a message saying what was last seen.
//!
//! **Dry run**: reads are real; every mutation is sent with `dryRun=All` (evictions also carry
//! `deleteOptions.dryRun`), so the API server validates it and persists nothing. Steps that
//! would wait for a mutation's effect (a namespace going away, evicted pods terminating) return
//! once the dry-run request was accepted. `exec` runs in a dry run only when declared
//! `effect: read`.
//!
//! | type | result |
//! |---|---|
//! | `pods.delete` | `deleted`: names of the pods deleted (does not wait for them to go) |
//! | `pods.wait_ready` | `ready`: count of Ready, non-terminating matching pods; `pods`: their names |
//! | `nodes.cordon`, `nodes.uncordon` | `unschedulable`: the node's `spec.unschedulable` after the patch |
//! | `nodes.drain` | `evicted`: `namespace/name` of evicted pods; `skipped`: `{pod, reason}` |
//! | `rollout.restart` | `restarted_at`: the `kubectl.kubernetes.io/restartedAt` value set |
//! | `rollout.status` | `replicas`, `updated`, `available` |
//! | `get` | `object` (one) or `items` (a list), `count`, `fields` (name -> value or null) |
//! | `patch` | `resource_version` after the patch |
//! | `apply` | `applied`: `Kind/namespace/name` (or `Kind/name`) of each manifest |
//! | `namespace.create` | `created`: false when it already existed |
//! | `namespace.delete` | `deleted`: false when it did not exist |
//! | `endpoints.ready` | `ready`: count of ready addresses; `addresses`: their IPs |
//! | `exec` | `stdout`, `stderr`, `exit_code`, `pod`; a non-zero exit is a result, not a failure: check it with `verify` |

#![warn(missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use ripcord_engine::{Executor, Registry, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{Family, KubeKind};

mod drain;
mod dryrun;
mod generic;
mod guard;
pub mod lock;
mod nodes;
mod pods;
mod util;
mod wait;
mod workloads;

pub use drain::{DEFAULT_EVICTION_BACKOFF, MAX_EVICTION_BACKOFF};

/// How to reach clusters: like kubectl's `--kubeconfig` and `--context`.
#[derive(Clone, Debug, Default)]
pub struct KubeOptions {
    /// A kubeconfig file; `KUBECONFIG`, `~/.kube/config` or in-cluster when not given.
    pub kubeconfig: Option<PathBuf>,
    /// The context for steps that name none; the kubeconfig's current context when not given.
    pub context: Option<String>,
}

/// A client and the namespace its context defaults to.
#[derive(Clone)]
pub struct Cluster {
    /// A client for the context (kube's 429/5xx retry policy off).
    pub client: Client,
    /// The namespace steps default to: the context's (in cluster, the service account's).
    pub namespace: String,
}

/// Build a client the way ripcord's executors do (kube's 429/5xx retry policy off).
pub async fn connect(options: &KubeOptions, context: Option<&str>) -> Result<Cluster, String> {
    let context = context.or(options.context.as_deref());
    let kco = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let mut config = match (&options.kubeconfig, context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &kco)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        (None, Some(_)) => Config::from_kubeconfig(&kco)
            .await
            .map_err(|e| format!("kubeconfig: {e}"))?,
        (None, None) => Config::infer().await.map_err(|e| {
            format!("no cluster access (KUBECONFIG, ~/.kube/config or in-cluster): {e}")
        })?,
    };
    config.default_retry = false;
    let namespace = config.default_namespace.clone();
    let client =
        Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    Ok(Cluster { client, namespace })
}

/// Performs the steps of the `kube` family.
pub struct KubeExecutor {
    options: KubeOptions,
    clusters: tokio::sync::Mutex<HashMap<Option<String>, Cluster>>,
    discovery: util::DiscoveryCache,
    /// What this run's dry-run writes previewed (one executor per run).
    memory: dryrun::Memory,
}

impl KubeExecutor {
    /// An executor that reaches clusters as `options` say; clients are built on first use.
    pub fn new(options: KubeOptions) -> Self {
        Self {
            options,
            clusters: tokio::sync::Mutex::new(HashMap::new()),
            discovery: util::DiscoveryCache::default(),
            memory: dryrun::Memory::default(),
        }
    }

    /// An executor whose steps without a `context` use `client` (tests, embedding).
    pub fn with_client(client: Client, namespace: &str) -> Self {
        let ex = Self::new(KubeOptions::default());
        ex.clusters
            .try_lock()
            .expect("a new executor's lock is free")
            .insert(
                None,
                Cluster {
                    client,
                    namespace: namespace.to_owned(),
                },
            );
        ex
    }

    /// The cluster of a step's `context` (built on first use).
    pub async fn cluster(&self, context: Option<&str>) -> Result<Cluster, StepError> {
        let key = context.map(str::to_owned);
        let mut clusters = self.clusters.lock().await;
        if let Some(c) = clusters.get(&key) {
            return Ok(c.clone());
        }
        let c = connect(&self.options, context)
            .await
            .map_err(StepError::Failed)?;
        clusters.insert(key, c.clone());
        Ok(c)
    }
}

/// Register a [`KubeExecutor`] for the `kube` family, with no limit on steps in flight.
pub fn register(registry: &mut Registry, options: KubeOptions) {
    registry.register(Arc::new(KubeExecutor::new(options)), None);
}

#[async_trait]
impl Executor for KubeExecutor {
    fn family(&self) -> Family {
        KubeKind::FAMILY
    }

    async fn execute(&self, request: StepRequest<'_>) -> Result<StepResult, StepError> {
        let r = &request;
        let kind = KubeKind::try_from(r.kind)
            .map_err(|other| StepError::Unsupported(other.name(), KubeKind::FAMILY.as_str()))?;
        if let Some(placeholder) = guard::unobservable(self, kind, r) {
            return Ok(placeholder);
        }
        if r.effect == ripcord_spec::Effect::Read {
            // A read runs for real; a step that finds otherwise reports again (the last counts).
            dryrun::report(r, ripcord_engine::preview::DryRunReport::ran());
        }
        // Exhaustive: a new kube type in the catalog does not build without its arm here.
        let outcome = match kind {
            KubeKind::KubePodsDelete => pods::delete(self, r, r.typed()?).await,
            KubeKind::KubePodsWaitReady => pods::wait_ready(self, r, r.typed()?).await,
            KubeKind::KubeExec => pods::exec(self, r, r.typed()?).await,
            KubeKind::KubeNodesCordon => nodes::cordon(self, r, r.typed()?, true).await,
            KubeKind::KubeNodesUncordon => nodes::cordon(self, r, r.typed()?, false).await,
            KubeKind::KubeNodesDrain => drain::drain(self, r, r.typed()?).await,
            KubeKind::KubeRolloutRestart => workloads::restart(self, r, r.typed()?).await,
            KubeKind::KubeRolloutStatus => workloads::status(self, r, r.typed()?).await,
            KubeKind::KubeGet => generic::get(self, r, r.typed()?).await,
            KubeKind::KubePatch => generic::patch(self, r, r.typed()?).await,
            KubeKind::KubeApply => generic::apply(self, r, r.typed()?).await,
            KubeKind::KubeNamespaceCreate => generic::namespace_create(self, r, r.typed()?).await,
            KubeKind::KubeNamespaceDelete => generic::namespace_delete(self, r, r.typed()?).await,
            KubeKind::KubeEndpointsReady => generic::endpoints_ready(self, r, r.typed()?).await,
        };
        outcome.map_err(|e| e.redact(r.context.redactor()))
    }
}
