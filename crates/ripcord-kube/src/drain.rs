//! `kube.nodes.drain`: cordon, then evict the node's pods through the Eviction API with our own
//! retry policy, then wait for them to terminate.
//!
//! kube's default client retries 429 fifteen times (a PDB-blocked eviction hung ~265 s on a
//! real API server); the executor's clients have that off, and a 429 here is retried with
//! backoff (`eviction_backoff`, default 1 s, doubling up to 10 s) until the step's deadline, when
//! the drain fails naming the PodDisruptionBudget. kube-core 5.0.0's `Api::evict` serializes the
//! body's delete options as `delete_options`, which the API server ignores, so the Eviction is
//! built here (`deleteOptions`) and posted with `create_subresource("eviction", ...)`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use ripcord_engine::preview::Change;
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::DrainWith;
use serde_json::{Value, json};

use ripcord_engine::preview::DryRunReport;

use crate::KubeExecutor;
use crate::dryrun::{self, Touch};
use crate::nodes::set_unschedulable;
use crate::util::{self, failed};
use crate::wait::{self, Check};

/// First delay after a 429, unless the step sets `eviction_backoff`.
pub const DEFAULT_EVICTION_BACKOFF: Duration = Duration::from_secs(1);
/// Upper bound of one delay between eviction attempts.
pub const MAX_EVICTION_BACKOFF: Duration = Duration::from_secs(10);
/// No further attempt when less than this is left before giving up (room for the request).
const LAST_ATTEMPT_MARGIN: Duration = Duration::from_millis(100);

/// The policy/v1 Eviction body (with `deleteOptions`, the field the API server reads).
pub(crate) fn eviction_body(
    namespace: &str,
    name: &str,
    grace: Option<u32>,
    dry_run: bool,
) -> Value {
    let mut delete_options = json!({});
    if let Some(g) = grace {
        delete_options["gracePeriodSeconds"] = json!(g);
    }
    if dry_run {
        delete_options["dryRun"] = json!(["All"]);
    }
    json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
        "deleteOptions": delete_options,
    })
}

fn is_mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

fn controller_kind(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.kind.as_str())
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn uses_empty_dir(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|v| v.iter().any(|v| v.empty_dir.is_some()))
}

/// The budget named in a 429's causes ("The disruption budget NAME needs ...").
fn budget_from_status(status: &kube::core::Status) -> Option<String> {
    let causes = &status.details.as_ref()?.causes;
    causes.iter().find_map(|c| {
        let m = c.message.as_str();
        let rest = m.strip_prefix("The disruption budget ")?;
        Some(rest.split_whitespace().next()?.to_owned())
    })
}

/// Why an eviction is blocked, for notes and the final message.
struct Blocked {
    budget: String,
    detail: String,
}

async fn name_budget(
    pdbs: &Api<k8s_openapi::api::policy::v1::PodDisruptionBudget>,
    pod: &Pod,
    status: &kube::core::Status,
) -> Blocked {
    let detail = status
        .details
        .as_ref()
        .and_then(|d| {
            d.causes
                .iter()
                .find(|c| !c.message.is_empty())
                .map(|c| c.message.clone())
        })
        .unwrap_or_else(|| status.message.clone());
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    if let Some(name) = budget_from_status(status) {
        return Blocked {
            budget: format!("{ns}/{name}"),
            detail,
        };
    }
    // Not in the answer: find the budget whose selector matches the pod.
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let budget = match pdbs.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .find(|p| {
                let sel = serde_json::to_value(p.spec.as_ref().and_then(|s| s.selector.as_ref()))
                    .unwrap_or(Value::Null);
                util::selector_matches(&sel, &labels)
            })
            .and_then(|p| p.metadata.name.clone())
            .map(|n| format!("{ns}/{n}"))
            .unwrap_or_else(|| "(unknown PodDisruptionBudget)".into()),
        Err(_) => "(unknown PodDisruptionBudget)".into(),
    };
    Blocked { budget, detail }
}

struct EvictCtx<'a, 'r> {
    req: &'a StepRequest<'r>,
    client: kube::Client,
    grace: Option<u32>,
    backoff: Duration,
    give_up: Instant,
}

/// Evict one pod, retrying 429s with backoff until the give-up time.
async fn evict_one(cx: &EvictCtx<'_, '_>, pod: &Pod) -> Result<String, StepError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let full = format!("{ns}/{name}");
    let api: Api<Pod> = Api::namespaced(cx.client.clone(), &ns);
    let pdbs = Api::namespaced(cx.client.clone(), &ns);
    let body = eviction_body(&ns, &name, cx.grace, cx.req.dry_run);
    let mut delay = cx.backoff;
    let mut attempts = 0u32;
    let mut blocked: Option<Blocked> = None;
    loop {
        attempts += 1;
        let answer = api
            .create_subresource::<Value, Value>(
                "eviction",
                &name,
                &util::post_params(cx.req.dry_run),
                &body,
            )
            .await;
        match answer {
            Ok(_) => return Ok(full),
            Err(e) if util::code(&e) == Some(404) => return Ok(full),
            Err(kube::Error::Api(status)) if status.code == 429 => {
                let b = name_budget(&pdbs, pod, &status).await;
                if blocked.is_none() {
                    cx.req
                        .context
                        .note("eviction_blocked", json!({"pod": full, "budget": b.budget, "detail": b.detail, "retry_in_ms": delay.as_millis() as u64}))
                        .await;
                }
                if cx.req.dry_run {
                    // The server answers a dry-run eviction as a real one: waiting cannot
                    // change a budget nothing in a dry run disrupts.
                    return Err(StepError::Permanent(format!(
                        "would be blocked by PodDisruptionBudget {}: {}",
                        b.budget, b.detail
                    )));
                }
                blocked = Some(b);
            }
            Err(e) => return Err(failed(&format!("evicting {full}"), e)),
        }
        // The last wait is cut short so that one more attempt lands just before giving up.
        let left = cx.give_up.saturating_duration_since(Instant::now());
        if left < LAST_ATTEMPT_MARGIN {
            let b = blocked.expect("set on 429");
            return Err(StepError::Failed(format!(
                "eviction of {full} blocked by PodDisruptionBudget {} until the step's deadline ({attempts} attempts): {}",
                b.budget, b.detail
            )));
        }
        let pause = delay.min(left - LAST_ATTEMPT_MARGIN / 2);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = cx.req.cancel.cancelled() => return Err(StepError::Cancelled),
        }
        delay = (delay * 2).min(MAX_EVICTION_BACKOFF);
    }
}

pub(crate) async fn drain(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &DrainWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let client = cluster.client;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = w.node.as_str();
    let grace = util::duration(&w.grace_period, "grace_period")?.map(|d| d.as_secs() as u32);
    let backoff = util::duration(&w.eviction_backoff, "eviction_backoff")?
        .unwrap_or(DEFAULT_EVICTION_BACKOFF);

    let (_, cordoned) =
        set_unschedulable(ex, req, w.context.as_deref(), &nodes, node, true).await?;
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| failed(&format!("listing the pods of node {node}"), e))?;

    let mut to_evict = Vec::new();
    let mut skipped = Vec::new();
    let mut refusals = Vec::new();
    for pod in on_node.items {
        let full = util::full_name(&pod.metadata);
        if is_mirror(&pod) {
            skipped.push(json!({"pod": full, "reason": "mirror pod"}));
            continue;
        }
        let kind = controller_kind(&pod);
        if kind == Some("DaemonSet") {
            if w.ignore_daemonsets {
                skipped.push(json!({"pod": full, "reason": "DaemonSet"}));
            } else {
                refusals.push(format!(
                    "{full} is managed by a DaemonSet (set ignore_daemonsets)"
                ));
            }
            continue;
        }
        if kind.is_none() && !finished(&pod) {
            refusals.push(format!(
                "{full} is not managed by a controller (it would not come back)"
            ));
            continue;
        }
        if uses_empty_dir(&pod) && !w.delete_emptydir_data && !finished(&pod) {
            refusals.push(format!(
                "{full} uses emptyDir (its data would be lost; set delete_emptydir_data)"
            ));
            continue;
        }
        to_evict.push(pod);
    }
    if !refusals.is_empty() {
        let stays = if req.dry_run {
            "a real run would leave it cordoned"
        } else {
            "it stays cordoned"
        };
        return Err(StepError::Failed(format!(
            "cannot drain node {node} ({stays}): {}",
            refusals.join("; ")
        )));
    }

    let until = util::soft_deadline(req);
    let cx = EvictCtx {
        req,
        client: client.clone(),
        grace,
        backoff,
        give_up: until,
    };
    let evicted = tokio::select! {
        r = try_join_all(to_evict.iter().map(|p| evict_one(&cx, p))) => r?,
        _ = req.cancel.cancelled() => return Err(StepError::Cancelled),
    };

    if !req.dry_run && !to_evict.is_empty() {
        let node_ready = nodes
            .get(node)
            .await
            .ok()
            .and_then(|n| n.status?.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if node_ready {
            let uids: Vec<String> = to_evict
                .iter()
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            let what = format!("waiting for the pods evicted from {node} to terminate");
            let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
            wait::until(
                req,
                pods,
                config,
                &what,
                |current: &BTreeMap<String, Pod>| {
                    let left: Vec<String> = current
                        .values()
                        .filter(|p| p.metadata.uid.as_ref().is_some_and(|u| uids.contains(u)))
                        .map(|p| util::full_name(&p.metadata))
                        .collect();
                    if left.is_empty() {
                        Check::Done(())
                    } else {
                        Check::Waiting(format!("still terminating: {}", left.join(", ")))
                    }
                },
            )
            .await?;
        } else {
            req.context
                .note("drain_not_waiting", json!({"node": node, "reason": "the node is not Ready: its kubelet cannot confirm the deletions; replacements are scheduled elsewhere"}))
                .await;
        }
    }
    if let Some(cordoned) = cordoned {
        preview_drain(ex, req, w, cordoned, &to_evict);
    }
    Ok(json!({"evicted": evicted, "skipped": skipped}))
}

/// A dry-run drain: the node's changed fields, the pods it would evict, their pre-state,
/// remembered for later steps.
fn preview_drain(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &DrainWith,
    cordoned: DryRunReport,
    evicted: &[Pod],
) {
    let mut changes = cordoned.diff.map(|d| d.changes).unwrap_or_default();
    let mut items = Vec::new();
    let mut pre = cordoned.pre_state;
    for pod in evicted {
        let ns = pod.metadata.namespace.as_deref();
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let t = Touch::new(req, w.context.as_deref(), "Pod", ns, name);
        items.push(t.object());
        ex.memory.record(t);
        pre.push(dryrun::pre_state(
            "v1",
            "Pod",
            &serde_json::to_value(pod).unwrap_or_default(),
        ));
    }
    changes.push(Change::new("evict", items));
    let report = DryRunReport::validated()
        .with_diff(dryrun::diff(changes))
        .with_pre_state(pre);
    dryrun::report(req, report);
}
