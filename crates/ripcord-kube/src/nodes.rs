//! `kube.nodes.cordon`, `kube.nodes.uncordon`.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch};
use ripcord_engine::preview::DryRunReport;
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::NodeWith;
use serde_json::json;

use crate::KubeExecutor;
use crate::dryrun::{self, Touch};
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
/// In a dry run, the node is read first and the report (changed fields, pre-state) given.
pub(crate) async fn set_unschedulable(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    context: Option<&str>,
    api: &Api<Node>,
    node: &str,
    unschedulable: bool,
) -> Result<(bool, Option<DryRunReport>), StepError> {
    let dry_run = req.dry_run;
    let verb = if unschedulable {
        "cordoning"
    } else {
        "uncordoning"
    };
    let live = match dry_run {
        true => Some(
            api.get(node)
                .await
                .map_err(|e| failed(&format!("reading node {node}"), e))?,
        ),
        false => None,
    };
    let out = api
        .patch(
            node,
            &util::patch_params(dry_run),
            &Patch::Strategic(cordon_patch(unschedulable)),
        )
        .await
        .map_err(|e| failed(&format!("{verb} node {node}"), e))?;
    let preview = live.map(|live| {
        let (live, answer) = (
            serde_json::to_value(&live).unwrap_or_default(),
            serde_json::to_value(&out).unwrap_or_default(),
        );
        ex.memory
            .record(Touch::new(req, context, "Node", None, node));
        dryrun::patched("v1", "Node", &live, &answer)
    });
    let now = out.spec.and_then(|s| s.unschedulable).unwrap_or(false);
    Ok((now, preview))
}

pub(crate) async fn cordon(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &NodeWith,
    unschedulable: bool,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Node> = Api::all(cluster.client);
    let work = set_unschedulable(ex, req, w.context.as_deref(), &api, &w.node, unschedulable);
    let (now, preview) = util::bounded(req, work, || {
        format!("patching node {} took too long", w.node)
    })
    .await?;
    if let Some(report) = preview {
        dryrun::report(req, report);
    }
    Ok(json!({"unschedulable": now}))
}
