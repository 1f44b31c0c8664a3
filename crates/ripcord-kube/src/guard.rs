//! Before a kube step of a dry run: does it read or wait on what an earlier dry-run write of the
//! same run would have changed? Then its result cannot be observed, and the step ends at once
//! as *not simulated* with a placeholder result (every result field present, unobserved
//! values `null`), instead of failing on a namespace that was never created or passing on the
//! old state.

use ripcord_engine::StepRequest;
use ripcord_engine::preview::DryRunReport;
use ripcord_spec::catalog::{
    EndpointsReadyWith, ExecWith, GetWith, KubeKind, PodsDeleteWith, PodsWaitReadyWith,
    WorkloadWith,
};
use serde_json::{Map, Value, json};

use crate::KubeExecutor;
use crate::dryrun::{self, Touch};
use crate::workloads::kind_name;

/// The result a not-simulated step returns: the type's fields, unobserved ones `null`.
pub(crate) fn placeholder(req: &StepRequest<'_>) -> Value {
    let mut out = Map::new();
    for field in req.kind.info().result_fields {
        out.insert((*field).to_owned(), Value::Null);
    }
    if let Ok(w) = req.typed::<GetWith>() {
        let fields: Map<String, Value> =
            w.fields.keys().map(|k| (k.clone(), Value::Null)).collect();
        out.insert("fields".into(), Value::Object(fields));
    }
    if let Ok(w) = req.typed::<ExecWith>()
        && let Some(pod) = &w.pod
    {
        out.insert("pod".into(), json!(pod));
    }
    Value::Object(out)
}

/// The namespace (and context) a namespaced step works in, when its input names one.
fn scope(kind: KubeKind, req: &StepRequest<'_>) -> Option<(Option<String>, String)> {
    let pair = |c: &Option<String>, ns: &str| Some((c.clone(), ns.to_owned()));
    match kind {
        KubeKind::KubePodsDelete => req
            .typed::<PodsDeleteWith>()
            .ok()
            .and_then(|w| pair(&w.context, &w.namespace)),
        KubeKind::KubePodsWaitReady => req
            .typed::<PodsWaitReadyWith>()
            .ok()
            .and_then(|w| pair(&w.context, &w.namespace)),
        KubeKind::KubeExec => req
            .typed::<ExecWith>()
            .ok()
            .and_then(|w| pair(&w.context, &w.namespace)),
        KubeKind::KubeRolloutRestart | KubeKind::KubeRolloutStatus => req
            .typed::<WorkloadWith>()
            .ok()
            .and_then(|w| pair(&w.context, &w.namespace)),
        KubeKind::KubeEndpointsReady => req
            .typed::<EndpointsReadyWith>()
            .ok()
            .and_then(|w| pair(&w.context, &w.namespace)),
        KubeKind::KubeGet => req
            .typed::<GetWith>()
            .ok()
            .and_then(|w| w.namespace.as_ref().and_then(|ns| pair(&w.context, ns))),
        KubeKind::KubePatch => req
            .typed::<ripcord_spec::catalog::PatchWith>()
            .ok()
            .and_then(|w| w.namespace.as_ref().and_then(|ns| pair(&w.context, ns))),
        _ => None,
    }
}

/// The steps that watch for a state to come about.
fn is_wait(kind: KubeKind) -> bool {
    matches!(
        kind,
        KubeKind::KubePodsWaitReady | KubeKind::KubeRolloutStatus | KubeKind::KubeEndpointsReady
    )
}

/// What earlier dry-run writes a wait depends on: for a rollout, its workload and the pods of
/// its namespace; for other waits, anything in their namespace.
fn waited_on(
    ex: &KubeExecutor,
    kind: KubeKind,
    req: &StepRequest<'_>,
    context: Option<&str>,
    ns: &str,
) -> Vec<Touch> {
    if kind == KubeKind::KubeRolloutStatus
        && let Ok(w) = req.typed::<WorkloadWith>()
    {
        let mut t = ex
            .memory
            .touching_object(context, kind_name(w.kind), Some(ns), &w.name);
        t.extend(ex.memory.touching_kind(context, "Pod", ns));
        t.extend(
            ex.memory
                .touching_namespace(context, ns)
                .into_iter()
                .filter(|t| t.kind == "Namespace"),
        );
        return t;
    }
    ex.memory.touching_namespace(context, ns)
}

/// The dry-run outcome of a step that cannot be observed, decided before it runs: its
/// namespace would have been created by an earlier dry-run write, or it waits for what an
/// earlier dry-run write would have changed. `None`: run the step.
pub(crate) fn unobservable(
    ex: &KubeExecutor,
    kind: KubeKind,
    req: &StepRequest<'_>,
) -> Option<Value> {
    if !req.dry_run {
        return None;
    }
    let (context, ns) = scope(kind, req)?;
    let context = context.as_deref();
    let reason = if let Some(t) = ex.memory.created_namespace(context, &ns) {
        dryrun::not_created(&t)
    } else if is_wait(kind) {
        let touches = waited_on(ex, kind, req, context, &ns);
        if touches.is_empty() {
            return None;
        }
        dryrun::waits_for(&touches)
    } else {
        return None;
    };
    dryrun::report(req, DryRunReport::not_simulated(reason));
    Some(placeholder(req))
}
