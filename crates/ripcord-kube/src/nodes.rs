//! `kube.nodes.cordon`, `kube.nodes.uncordon`.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch};
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::NodeWith;
use serde_json::json;

use crate::KubeExecutor;
use crate::util::{self, failed};

/// The strategic merge patch kubectl sends: `unschedulable: true`, or the field removed.
pub(crate) fn cordon_patch(unschedulable: bool) -> serde_json::Value {
    if unschedulable {
        json!({"spec": {"unschedulable": true}})
    } else {
        json!({"spec": {"unschedulable": null}})
    }
}

/// Set `spec.unschedulable` (as `kubectl cordon` / `uncordon`); returns the node's value after.
pub(crate) async fn set_unschedulable(
    api: &Api<Node>,
    node: &str,
    unschedulable: bool,
    dry_run: bool,
) -> Result<bool, StepError> {
    let verb = if unschedulable {
        "cordoning"
    } else {
        "uncordoning"
    };
    let out = api
        .patch(
            node,
            &util::patch_params(dry_run),
            &Patch::Strategic(cordon_patch(unschedulable)),
        )
        .await
        .map_err(|e| failed(&format!("{verb} node {node}"), e))?;
    Ok(out.spec.and_then(|s| s.unschedulable).unwrap_or(false))
}

pub(crate) async fn cordon(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &NodeWith,
    unschedulable: bool,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Node> = Api::all(cluster.client);
    let work = set_unschedulable(&api, &w.node, unschedulable, req.dry_run);
    let now = util::bounded(req, work, || {
        format!("patching node {} took too long", w.node)
    })
    .await?;
    Ok(json!({"unschedulable": now}))
}
