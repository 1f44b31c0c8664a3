//! The run lock: a `coordination.k8s.io/v1` Lease named after the runbook.
//!
//! `ripcord run --lock` calls [`acquire`] before the run starts: the Lease
//! (`ripcord-run-<runbook>` in the context's namespace) is created or taken over with the run id
//! as `holderIdentity`, renewed every [`LockOptions::renew_interval`] while the run goes on, and
//! released (holder cleared) by [`LockGuard::release`] at the end. A Lease whose
//! `renewTime + leaseDurationSeconds` has passed is stale and taken over (a crashed run's lock
//! does not block forever). A second run finds a live holder and fails at once with
//! [`LockError::Held`], naming it. Every write carries the resourceVersion it read, so of two
//! runs racing for the same Lease exactly one wins; the other re-reads and finds it held.
//!
//! Expiry compares the holder's `renewTime` with this machine's clock: clocks more than a lease
//! duration apart can make a live lock look stale (or a stale one live).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::util;

/// Timing of the lock.
#[derive(Clone, Copy, Debug)]
pub struct LockOptions {
    /// How long a lease lives without renewal (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How often the holder renews it.
    pub renew_interval: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(30),
            renew_interval: Duration::from_secs(10),
        }
    }
}

/// Why the run lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds a live Lease for this runbook.
    #[error(
        "runbook '{runbook}' is locked by run {holder} (Lease {namespace}/{lease}, last renewed {renewed}, expires in {expires_in}s unless renewed)"
    )]
    Held {
        /// The runbook whose lock was asked for.
        runbook: String,
        /// The holding run's id (the Lease's `holderIdentity`).
        holder: String,
        /// The namespace of the Lease.
        namespace: String,
        /// The Lease's name (see [`lease_name`]).
        lease: String,
        /// The Lease's `renewTime` as written (RFC 3339), or `never`.
        renewed: String,
        /// Seconds until the Lease expires unless the holder renews it (0 or more).
        expires_in: i64,
    },
    /// The cluster could not be reached or a Lease read or write failed (described), or
    /// three write races were lost in a row.
    #[error("run lock: {0}")]
    Api(String),
}

/// The Lease name for a runbook: `ripcord-run-<name>`, lowercased, other characters as `-`.
pub fn lease_name(runbook: &str) -> String {
    let clean: String = runbook
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!(
        "ripcord-run-{}",
        clean.trim_matches(|c| c == '-' || c == '.')
    );
    name.truncate(253);
    name.trim_end_matches(['-', '.']).to_owned()
}

fn now_micro() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn spec(lease: &Lease) -> Value {
    serde_json::to_value(lease)
        .ok()
        .map(|v| v["spec"].clone())
        .unwrap_or(Value::Null)
}

/// Seconds until the lease expires (negative: expired). A lease with no renewal time or no
/// holder is free.
fn expires_in(spec: &Value) -> Option<i64> {
    let holder = spec["holderIdentity"].as_str().unwrap_or("");
    if holder.is_empty() {
        return None;
    }
    let renewed = spec["renewTime"]
        .as_str()
        .or(spec["acquireTime"].as_str())?;
    let renewed = DateTime::parse_from_rfc3339(renewed)
        .ok()?
        .with_timezone(&Utc);
    let duration = spec["leaseDurationSeconds"].as_i64().unwrap_or(0);
    let end = renewed + chrono::Duration::seconds(duration);
    Some((end - Utc::now()).num_milliseconds().div_euclid(1000))
}

fn lease_object(
    name: &str,
    holder: &str,
    opts: &LockOptions,
    transitions: i64,
    rv: Option<String>,
) -> Lease {
    let now = now_micro();
    serde_json::from_value(json!({
        "metadata": {"name": name, "resourceVersion": rv, "labels": {"app.kubernetes.io/managed-by": "ripcord"}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": opts.lease_duration.as_secs().max(1),
                 "acquireTime": now, "renewTime": now, "leaseTransitions": transitions},
    }))
    .expect("a valid Lease")
}

/// Take the run lock of `runbook` for run `holder` in `namespace`, or fail naming the holder.
pub async fn acquire(
    client: Client,
    namespace: &str,
    runbook: &str,
    holder: &str,
    opts: LockOptions,
) -> Result<LockGuard, LockError> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let name = lease_name(runbook);
    for _ in 0..3 {
        let current = api.get_opt(&name).await.map_err(|e| {
            LockError::Api(util::describe(
                &format!("reading Lease {namespace}/{name}"),
                &e,
            ))
        })?;
        let written = match current {
            None => {
                api.create(
                    &PostParams::default(),
                    &lease_object(&name, holder, &opts, 0, None),
                )
                .await
            }
            Some(lease) => {
                let s = spec(&lease);
                let current_holder = s["holderIdentity"].as_str().unwrap_or("").to_owned();
                let left = expires_in(&s);
                if current_holder != holder && left.is_some_and(|l| l >= 0) {
                    return Err(LockError::Held {
                        runbook: runbook.to_owned(),
                        holder: current_holder,
                        namespace: namespace.to_owned(),
                        lease: name,
                        renewed: s["renewTime"].as_str().unwrap_or("never").to_owned(),
                        expires_in: left.unwrap_or(0),
                    });
                }
                let transitions = s["leaseTransitions"].as_i64().unwrap_or(0)
                    + i64::from(current_holder != holder);
                let next = lease_object(
                    &name,
                    holder,
                    &opts,
                    transitions,
                    lease.metadata.resource_version.clone(),
                );
                api.replace(&name, &PostParams::default(), &next).await
            }
        };
        match written {
            Ok(_) => {
                return Ok(LockGuard::start(
                    api,
                    name,
                    holder.to_owned(),
                    namespace.to_owned(),
                    opts,
                ));
            }
            // Someone else wrote first: read again and judge.
            Err(e) if matches!(util::code(&e), Some(409)) => continue,
            Err(e) => {
                return Err(LockError::Api(util::describe(
                    &format!("writing Lease {namespace}/{name}"),
                    &e,
                )));
            }
        }
    }
    Err(LockError::Api(format!(
        "Lease {namespace}/{name}: lost three races in a row; try again"
    )))
}

/// The lock of `ripcord run --lock`: connect like the executors (`--kubeconfig`, `--context`),
/// and take the Lease of `runbook` in the context's namespace for run `run_id`.
pub async fn acquire_for_run(
    options: &crate::KubeOptions,
    runbook: &str,
    run_id: &str,
) -> Result<LockGuard, LockError> {
    let cluster = crate::connect(options, None)
        .await
        .map_err(LockError::Api)?;
    acquire(
        cluster.client,
        &cluster.namespace,
        runbook,
        run_id,
        LockOptions::default(),
    )
    .await
}

/// A held run lock. Renewed in the background until [`LockGuard::release`]; dropping it stops
/// the renewals (the lease then expires on its own).
pub struct LockGuard {
    api: Api<Lease>,
    name: String,
    holder: String,
    namespace: String,
    stop: CancellationToken,
    lost: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl LockGuard {
    fn start(
        api: Api<Lease>,
        name: String,
        holder: String,
        namespace: String,
        opts: LockOptions,
    ) -> Self {
        let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
        let task = tokio::spawn(renew(
            api.clone(),
            name.clone(),
            holder.clone(),
            opts,
            stop.clone(),
            lost.clone(),
        ));
        Self {
            api,
            name,
            holder,
            namespace,
            stop,
            lost,
            task: Some(task),
        }
    }

    /// `namespace/name` of the Lease.
    pub fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Cancelled when the lock was lost (another holder took it, or renewals failed for a whole
    /// lease duration): the run should stop.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Stop renewing and clear the holder, so the next run need not wait for expiry.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        for _ in 0..3 {
            let lease = match self.api.get_opt(&self.name).await {
                Ok(Some(l)) => l,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(LockError::Api(util::describe(
                        "reading the Lease to release it",
                        &e,
                    )));
                }
            };
            let s = spec(&lease);
            if s["holderIdentity"].as_str() != Some(&self.holder) {
                return Ok(());
            }
            let mut v = serde_json::to_value(&lease).unwrap_or(Value::Null);
            if let Some(spec) = v["spec"].as_object_mut() {
                spec.remove("holderIdentity");
                spec.insert("leaseDurationSeconds".into(), json!(1));
                spec.insert("renewTime".into(), json!(now_micro()));
            }
            let next: Lease = serde_json::from_value(v).expect("a valid Lease");
            match self
                .api
                .replace(&self.name, &PostParams::default(), &next)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if util::code(&e) == Some(409) => continue,
                Err(e) => return Err(LockError::Api(util::describe("releasing the Lease", &e))),
            }
        }
        Err(LockError::Api(
            "releasing the Lease: conflicts three times in a row".into(),
        ))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn renew(
    api: Api<Lease>,
    name: String,
    holder: String,
    opts: LockOptions,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(opts.renew_interval) => {}
        }
        let result = async {
            let lease = api.get(&name).await.map_err(|e| (false, e.to_string()))?;
            let s = spec(&lease);
            if s["holderIdentity"].as_str() != Some(&holder) {
                return Err((
                    true,
                    format!("the Lease is now held by {}", s["holderIdentity"]),
                ));
            }
            let mut v = serde_json::to_value(&lease).unwrap_or(Value::Null);
            v["spec"]["renewTime"] = json!(now_micro());
            let next: Lease = serde_json::from_value(v).map_err(|e| (false, e.to_string()))?;
            api.replace(&name, &PostParams::default(), &next)
                .await
                .map_err(|e| (false, e.to_string()))?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => last_ok = tokio::time::Instant::now(),
            Err((true, _)) => {
                lost.cancel();
                return;
            }
            Err((false, _)) if last_ok.elapsed() >= opts.lease_duration => {
                lost.cancel();
                return;
            }
            Err((false, _)) => {}
        }
    }
}
