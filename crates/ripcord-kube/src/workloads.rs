//! `kube.rollout.restart`, `kube.rollout.status`.

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject, Patch};
use kube::runtime::watcher;
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{WorkloadKind, WorkloadWith};
use serde_json::{Value, json};

use crate::KubeExecutor;
use crate::dryrun::{self, Touch};
use crate::util::{self, failed};
use crate::wait::{self, Check};

pub(crate) fn kind_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
        WorkloadKind::DaemonSet => "DaemonSet",
    }
}

fn api_for(client: kube::Client, ns: &str, kind: WorkloadKind) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&util::gvk("apps/v1", kind_name(kind)));
    Api::namespaced_with(client, ns, &ar)
}

/// The patch `kubectl rollout restart` sends (strategic merge).
pub(crate) fn restart_patch(at: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}})
}

pub(crate) async fn restart(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &WorkloadWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api = api_for(cluster.client, &w.namespace, w.kind);
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let what = format!("{} {}/{}", kind_name(w.kind), w.namespace, w.name);
    let work = async {
        let live = match req.dry_run {
            true => Some(
                api.get(&w.name)
                    .await
                    .map_err(|e| failed(&format!("reading {what}"), e))?,
            ),
            false => None,
        };
        let out = api
            .patch(
                &w.name,
                &util::patch_params(req.dry_run),
                &Patch::Strategic(restart_patch(&at)),
            )
            .await
            .map_err(|e| failed(&format!("restarting {what}"), e))?;
        Ok((live, out))
    };
    let (live, out) = util::bounded(req, work, || {
        format!("restarting {}/{} took too long", w.namespace, w.name)
    })
    .await?;
    if let Some(live) = live {
        let kind = kind_name(w.kind);
        let t = Touch::new(req, w.context.as_deref(), kind, Some(&w.namespace), &w.name);
        ex.memory.record(t);
        let (live, out) = (
            serde_json::to_value(live).unwrap_or_default(),
            serde_json::to_value(out).unwrap_or_default(),
        );
        dryrun::report(req, dryrun::patched("apps/v1", kind, &live, &out));
    }
    Ok(json!({"restarted_at": at}))
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// kubectl's rollout status logic for one object: done (replicas, updated, available), or why not.
pub(crate) fn rollout_state(kind: WorkloadKind, obj: &Value) -> Check<Value> {
    let (spec, status) = (&obj["spec"], &obj["status"]);
    let generation = int(&obj["metadata"]["generation"]);
    let observed = int(&status["observedGeneration"]);
    if observed < generation {
        return Check::Waiting(format!(
            "waiting for the controller to observe generation {generation} (observed {observed})"
        ));
    }
    match kind {
        WorkloadKind::Deployment => {
            let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
            {
                return Check::Fail("the rollout exceeded its progress deadline".into());
            }
            let want = spec["replicas"].as_i64().unwrap_or(1);
            let (total, updated, available) = (
                int(&status["replicas"]),
                int(&status["updatedReplicas"]),
                int(&status["availableReplicas"]),
            );
            if updated < want {
                Check::Waiting(format!("{updated} of {want} new replicas updated"))
            } else if total > updated {
                Check::Waiting(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            } else if available < updated {
                Check::Waiting(format!(
                    "{available} of {updated} updated replicas available"
                ))
            } else {
                Check::Done(json!({"replicas": want, "updated": updated, "available": available}))
            }
        }
        WorkloadKind::StatefulSet => {
            let want = spec["replicas"].as_i64().unwrap_or(1);
            let (ready, updated) = (
                int(&status["readyReplicas"]),
                int(&status["updatedReplicas"]),
            );
            let available = status.get("availableReplicas").map(int).unwrap_or(ready);
            if ready < want {
                Check::Waiting(format!("{ready} of {want} pods ready"))
            } else if spec["updateStrategy"]["type"] != "OnDelete"
                && status["updateRevision"] != status["currentRevision"]
            {
                Check::Waiting(format!("{updated} of {want} pods at the update revision"))
            } else {
                Check::Done(
                    json!({"replicas": want, "updated": updated.max(ready), "available": available}),
                )
            }
        }
        WorkloadKind::DaemonSet => {
            let want = int(&status["desiredNumberScheduled"]);
            let (updated, available) = (
                int(&status["updatedNumberScheduled"]),
                int(&status["numberAvailable"]),
            );
            if updated < want {
                Check::Waiting(format!("{updated} of {want} new pods scheduled"))
            } else if available < want {
                Check::Waiting(format!("{available} of {want} updated pods available"))
            } else {
                Check::Done(json!({"replicas": want, "updated": updated, "available": available}))
            }
        }
    }
}

pub(crate) async fn status(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &WorkloadWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api = api_for(cluster.client, &w.namespace, w.kind);
    let what = format!(
        "waiting for the rollout of {} {}/{}",
        kind_name(w.kind),
        w.namespace,
        w.name
    );
    let config = watcher::Config::default().fields(&format!("metadata.name={}", w.name));
    wait::until(
        req,
        api,
        config,
        &what,
        |objs: &BTreeMap<String, DynamicObject>| {
            let Some(obj) = objs.values().next() else {
                return Check::Fail(format!(
                    "{} {}/{} not found",
                    kind_name(w.kind),
                    w.namespace,
                    w.name
                ));
            };
            let value = serde_json::to_value(obj).unwrap_or(Value::Null);
            rollout_state(w.kind, &value)
        },
    )
    .await
}
