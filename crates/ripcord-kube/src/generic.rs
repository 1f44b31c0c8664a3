//! `kube.get`, `kube.patch`, `kube.apply`, `kube.namespace.create`, `kube.namespace.delete`,
//! `kube.endpoints.ready`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Endpoints, Namespace};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use ripcord_engine::preview::Change;
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{
    ApplyWith, EndpointsReadyWith, GetWith, NamespaceDeleteWith, NamespaceWith, PatchType,
    PatchWith,
};
use serde_json::{Map, Value, json};

use crate::util::{self, failed};
use crate::wait::{self, Check};
use ripcord_engine::preview::DryRunReport;

use crate::dryrun::{self, Touch};
use crate::guard;
use crate::{Cluster, KubeExecutor};

/// The field manager of `apply`.
pub(crate) const FIELD_MANAGER: &str = "ripcord";

/// A dynamic API for a kind, namespaced to `namespace` or the context's default when namespaced.
async fn dynamic(
    ex: &KubeExecutor,
    cluster: &Cluster,
    context: Option<&str>,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, Option<String>), StepError> {
    let (ar, namespaced) = ex
        .discovery
        .resolve(&cluster.client, context, api_version, kind)
        .await?;
    if namespaced {
        let ns = namespace.unwrap_or(&cluster.namespace).to_owned();
        Ok((
            Api::namespaced_with(cluster.client.clone(), &ns, &ar),
            Some(ns),
        ))
    } else {
        Ok((Api::all_with(cluster.client.clone(), &ar), None))
    }
}

fn strip_managed_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
}

/// Output name -> value at the JSON pointer (null when absent).
fn pick(
    fields: &indexmap::IndexMap<String, String>,
    doc: &Value,
) -> Result<Map<String, Value>, StepError> {
    let mut out = Map::new();
    for (name, pointer) in fields {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(StepError::Input(format!(
                "fields.{name}: `{pointer}` is not a JSON pointer (it starts with `/`)"
            )));
        }
        out.insert(
            name.clone(),
            doc.pointer(pointer).cloned().unwrap_or(Value::Null),
        );
    }
    Ok(out)
}

fn where_(ns: &Option<String>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

pub(crate) async fn get(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &GetWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let (api, ns) = dynamic(
        ex,
        &cluster,
        w.context.as_deref(),
        &w.api_version,
        &w.kind,
        w.namespace.as_deref(),
    )
    .await?;
    let work = async {
        match &w.name {
            Some(name) => {
                let obj = api
                    .get_opt(name)
                    .await
                    .map_err(|e| failed(&format!("reading {} {}", w.kind, where_(&ns, name)), e))?;
                let context = w.context.as_deref();
                let Some(obj) = obj else {
                    if let Some(t) = ex
                        .memory
                        .created_object(context, &w.kind, ns.as_deref(), name)
                        .filter(|_| req.dry_run)
                    {
                        dryrun::report(req, DryRunReport::not_simulated(dryrun::not_created(&t)));
                        return Ok(guard::placeholder(req));
                    }
                    return Err(StepError::Failed(format!(
                        "{} {} not found",
                        w.kind,
                        where_(&ns, name)
                    )));
                };
                let touches = ex
                    .memory
                    .touching_object(context, &w.kind, ns.as_deref(), name);
                if req.dry_run && !touches.is_empty() {
                    dryrun::report(
                        req,
                        DryRunReport::not_simulated(dryrun::reads_unchanged(&touches)),
                    );
                }
                let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
                strip_managed_fields(&mut v);
                let fields = pick(&w.fields, &v)?;
                Ok(json!({"object": v, "items": null, "count": 1, "fields": fields}))
            }
            None => {
                let mut lp = ListParams::default();
                if let Some(l) = &w.label_selector {
                    lp = lp.labels(l);
                }
                if let Some(f) = &w.field_selector {
                    lp = lp.fields(f);
                }
                let list = api
                    .list(&lp)
                    .await
                    .map_err(|e| failed(&format!("listing {}", w.kind), e))?;
                let touches = ns
                    .as_deref()
                    .map(|ns| ex.memory.touching_kind(w.context.as_deref(), &w.kind, ns))
                    .unwrap_or_default();
                if req.dry_run && !touches.is_empty() {
                    dryrun::report(
                        req,
                        DryRunReport::not_simulated(dryrun::reads_unchanged(&touches)),
                    );
                }
                let items: Vec<Value> = list
                    .items
                    .into_iter()
                    .map(|o| {
                        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
                        v["apiVersion"] = json!(w.api_version);
                        v["kind"] = json!(w.kind);
                        strip_managed_fields(&mut v);
                        v
                    })
                    .collect();
                let doc = json!({"apiVersion": w.api_version, "kind": format!("{}List", w.kind), "items": items});
                let fields = pick(&w.fields, &doc)?;
                Ok(json!({"object": null, "count": items.len(), "items": items, "fields": fields}))
            }
        }
    };
    util::bounded(req, work, || format!("reading {} took too long", w.kind)).await
}

pub(crate) async fn patch(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &PatchWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let (api, ns) = dynamic(
        ex,
        &cluster,
        w.context.as_deref(),
        &w.api_version,
        &w.kind,
        w.namespace.as_deref(),
    )
    .await?;
    let patch = match w.patch_type {
        PatchType::Merge => Patch::Merge(w.patch.clone()),
        PatchType::Strategic => Patch::Strategic(w.patch.clone()),
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(w.patch.clone()).map_err(|e| {
                StepError::Input(format!(
                    "`patch` is not a JSON Patch (a list of operations): {e}"
                ))
            })?;
            Patch::Json(ops)
        }
    };
    let context = w.context.as_deref();
    let work = async {
        let live = match req.dry_run {
            true => api
                .get_opt(&w.name)
                .await
                .map_err(|e| failed(&format!("reading {} {}", w.kind, where_(&ns, &w.name)), e))?,
            false => None,
        };
        if req.dry_run
            && live.is_none()
            && let Some(t) = ex
                .memory
                .created_object(context, &w.kind, ns.as_deref(), &w.name)
        {
            dryrun::report(req, DryRunReport::not_simulated(dryrun::not_created(&t)));
            return Ok(None);
        }
        let out = api
            .patch(&w.name, &util::patch_params(req.dry_run), &patch)
            .await
            .map_err(|e| failed(&format!("patching {} {}", w.kind, where_(&ns, &w.name)), e))?;
        Ok(Some((live, out)))
    };
    let out = util::bounded(req, work, || format!("patching {} took too long", w.name)).await?;
    let Some((live, out)) = out else {
        return Ok(guard::placeholder(req));
    };
    if let Some(live) = live {
        ex.memory
            .record(Touch::new(req, context, &w.kind, ns.as_deref(), &w.name));
        let (live, answer) = (
            serde_json::to_value(live).unwrap_or_default(),
            serde_json::to_value(&out).unwrap_or_default(),
        );
        dryrun::report(
            req,
            dryrun::patched(&w.api_version, &w.kind, &live, &answer),
        );
    }
    Ok(json!({"resource_version": out.metadata.resource_version}))
}

/// The manifests of an `apply`: inline, or the YAML documents of a file (`kind: List` flattened).
fn manifests(req: &StepRequest<'_>, w: &ApplyWith) -> Result<Vec<Value>, StepError> {
    let mut docs: Vec<Value> = match (&w.file, w.manifests.is_empty()) {
        (Some(_), false) => {
            return Err(StepError::Input(
                "give `manifests` or `file`, not both".into(),
            ));
        }
        (None, true) => return Err(StepError::Input("give `manifests` or `file`".into())),
        (None, false) => w.manifests.clone(),
        (Some(file), true) => {
            let path = req.context.runbook_dir().join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| StepError::Input(format!("cannot read {}: {e}", path.display())))?;
            serde_saphyr::from_multiple::<Value>(&text)
                .map_err(|e| StepError::Input(format!("{}: {e}", path.display())))?
        }
    };
    docs.retain(|d| !d.is_null());
    let mut out = Vec::new();
    for d in docs {
        if d["kind"] == "List" {
            out.extend(d["items"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(d);
        }
    }
    Ok(out)
}

/// What a dry-run apply previewed, over all its manifests.
#[derive(Default)]
struct ApplyPreview {
    created: Vec<String>,
    patched: Vec<String>,
    pre_state: Vec<ripcord_engine::preview::PreState>,
    /// Why some manifests could not be validated (their namespace was never created).
    unobserved: Vec<String>,
}

impl ApplyPreview {
    fn report(self) -> DryRunReport {
        let diff = dryrun::diff(vec![
            Change::new("create", self.created),
            Change::new("patch", self.patched),
        ]);
        let report = match self.unobserved.is_empty() {
            true => DryRunReport::validated(),
            false => DryRunReport::not_simulated(self.unobserved.join("; ")),
        };
        report.with_diff(diff).with_pre_state(self.pre_state)
    }
}

/// The namespace a 404 says does not exist (`namespaces "x" not found`).
fn missing_namespace(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s) if s.code == 404 => s
            .details
            .as_ref()
            .filter(|d| d.kind == "namespaces")
            .map(|d| d.name.clone()),
        _ => None,
    }
}

/// Apply one manifest; in a dry run, read the live object first and add to the preview.
#[allow(clippy::too_many_arguments)]
async fn apply_one(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &ApplyWith,
    api: &Api<DynamicObject>,
    pp: &PatchParams,
    (av, kind, name, ns): (&str, &str, &str, &Option<String>),
    body: &Value,
    preview: &mut ApplyPreview,
) -> Result<(), StepError> {
    let context = w.context.as_deref();
    let label = format!("{kind} {}", where_(ns, name));
    let live = match req.dry_run {
        true => api
            .get_opt(name)
            .await
            .map_err(|e| failed(&format!("reading {label}"), e))?,
        false => None,
    };
    let answer = match api.patch(name, pp, &Patch::Apply(body)).await {
        Ok(out) => out,
        Err(e) if req.dry_run => {
            let created =
                missing_namespace(&e).and_then(|n| ex.memory.created_namespace(context, &n));
            let Some(t) = created else {
                return Err(failed(&format!("applying {label}"), e));
            };
            preview.unobserved.push(dryrun::not_created(&t));
            preview.created.push(label);
            let touch = Touch::new(req, context, kind, ns.as_deref(), name).creating(true);
            ex.memory.record(touch);
            return Ok(());
        }
        Err(e) => return Err(failed(&format!("applying {label}"), e)),
    };
    if !req.dry_run {
        return Ok(());
    }
    let touch = Touch::new(req, context, kind, ns.as_deref(), name).creating(live.is_none());
    ex.memory.record(touch);
    match live {
        None => preview.created.push(label),
        Some(live) => {
            let live = serde_json::to_value(live).unwrap_or_default();
            let answer = serde_json::to_value(answer).unwrap_or_default();
            let fields = dryrun::field_changes(&live, &answer);
            preview
                .patched
                .extend(fields.into_iter().map(|f| format!("{label} {f}")));
            preview.pre_state.push(dryrun::pre_state(av, kind, &live));
        }
    }
    Ok(())
}

pub(crate) async fn apply(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &ApplyWith,
) -> Result<StepResult, StepError> {
    let docs = manifests(req, w)?;
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.force = w.force_conflicts;
    pp.dry_run = req.dry_run;
    let work = async {
        let mut applied = Vec::new();
        let mut preview = ApplyPreview::default();
        for (i, doc) in docs.iter().enumerate() {
            let (Some(av), Some(kind), Some(name)) = (
                doc["apiVersion"].as_str(),
                doc["kind"].as_str(),
                doc["metadata"]["name"].as_str(),
            ) else {
                return Err(StepError::Input(format!(
                    "manifest #{}: needs apiVersion, kind and metadata.name",
                    i + 1
                )));
            };
            let given = doc["metadata"]["namespace"]
                .as_str()
                .or(w.namespace.as_deref());
            let (api, ns) = dynamic(ex, &cluster, w.context.as_deref(), av, kind, given).await?;
            let mut body = doc.clone();
            if let Some(ns) = &ns {
                body["metadata"]["namespace"] = json!(ns);
            }
            let object = (av, kind, name, &ns);
            apply_one(ex, req, w, &api, &pp, object, &body, &mut preview).await?;
            applied.push(format!("{kind}/{}", where_(&ns, name)));
        }
        Ok((applied, preview))
    };
    let (applied, preview) =
        util::bounded(req, work, || "applying the manifests took too long".into()).await?;
    dryrun::report(req, preview.report());
    Ok(json!({"applied": applied}))
}

pub(crate) async fn namespace_create(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &NamespaceWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Namespace> = Api::all(cluster.client);
    let labels: BTreeMap<String, String> = w
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": w.name, "labels": labels}}))
            .map_err(|e| StepError::Input(e.to_string()))?;
    let context = w.context.as_deref();
    let object = format!("namespace {}", w.name);
    let work = async {
        match api.create(&util::post_params(req.dry_run), &ns).await {
            Ok(_) => {
                if req.dry_run {
                    let t = Touch::new(req, context, "Namespace", None, &w.name).creating(true);
                    ex.memory.record(t);
                    let diff = dryrun::diff(vec![Change::new("create", vec![object.clone()])]);
                    dryrun::report(req, DryRunReport::validated().with_diff(diff));
                }
                Ok(json!({"created": true}))
            }
            Err(e) if util::code(&e) == Some(409) => {
                let existing = api
                    .get(&w.name)
                    .await
                    .map_err(|e| failed(&format!("reading namespace {}", w.name), e))?;
                if existing.metadata.deletion_timestamp.is_some() {
                    return Err(StepError::Failed(format!(
                        "namespace {} exists but is being deleted (Terminating); wait until it is gone",
                        w.name
                    )));
                }
                let live = serde_json::to_value(&existing).unwrap_or_default();
                let have = existing.metadata.labels.unwrap_or_default();
                let mut report = DryRunReport::validated()
                    .with_diff(dryrun::diff(vec![]))
                    .with_pre_state([dryrun::pre_state("v1", "Namespace", &live)]);
                if labels.iter().any(|(k, v)| have.get(k) != Some(v)) {
                    let out = api
                        .patch(
                            &w.name,
                            &util::patch_params(req.dry_run),
                            &Patch::Merge(json!({"metadata": {"labels": labels}})),
                        )
                        .await
                        .map_err(|e| failed(&format!("labelling namespace {}", w.name), e))?;
                    let answer = serde_json::to_value(out).unwrap_or_default();
                    report = dryrun::patched("v1", "Namespace", &live, &answer);
                    if req.dry_run {
                        ex.memory
                            .record(Touch::new(req, context, "Namespace", None, &w.name));
                    }
                }
                dryrun::report(req, report);
                Ok(json!({"created": false}))
            }
            Err(e) => Err(failed(&format!("creating namespace {}", w.name), e)),
        }
    };
    util::bounded(req, work, || {
        format!("creating namespace {} took too long", w.name)
    })
    .await
}

pub(crate) async fn namespace_delete(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &NamespaceDeleteWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Namespace> = Api::all(cluster.client);
    let context = w.context.as_deref();
    let answer = util::bounded(
        req,
        async {
            Ok(api
                .delete(&w.name, &util::delete_params(req.dry_run, None))
                .await)
        },
        || format!("deleting namespace {} took too long", w.name),
    )
    .await?;
    match answer {
        Ok(answer) if req.dry_run => {
            ex.memory
                .record(Touch::new(req, context, "Namespace", None, &w.name));
            let items = vec![format!("namespace {}", w.name)];
            let mut report = DryRunReport::validated()
                .with_diff(dryrun::diff(vec![Change::new("delete", items)]));
            if let Some(live) = answer.left() {
                let live = serde_json::to_value(live).unwrap_or_default();
                report = report.with_pre_state([dryrun::pre_state("v1", "Namespace", &live)]);
            }
            dryrun::report(req, report);
        }
        Ok(_) => {}
        Err(e) if util::code(&e) == Some(404) => {
            if req.dry_run
                && let Some(t) = ex.memory.created_namespace(context, &w.name)
            {
                dryrun::report(req, DryRunReport::not_simulated(dryrun::not_created(&t)));
                return Ok(guard::placeholder(req));
            }
            dryrun::report(
                req,
                DryRunReport::validated().with_diff(dryrun::diff(vec![])),
            );
            return Ok(json!({"deleted": false}));
        }
        Err(e) => return Err(failed(&format!("deleting namespace {}", w.name), e)),
    }
    if req.dry_run {
        return Ok(json!({"deleted": true}));
    }
    let what = format!("waiting for namespace {} to be gone", w.name);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", w.name));
    wait::until(
        req,
        api,
        config,
        &what,
        |objs: &BTreeMap<String, Namespace>| match objs.values().next() {
            None => Check::Done(json!({"deleted": true})),
            Some(ns) => {
                let phase = ns
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default();
                let conditions: Vec<String> = ns
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .map(|c| {
                        c.iter()
                            .filter(|c| c.status == "True")
                            .filter_map(|c| c.message.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                Check::Waiting(format!(
                    "still {phase}{}",
                    if conditions.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", conditions.join("; "))
                    }
                ))
            }
        },
    )
    .await
}

pub(crate) async fn endpoints_ready(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &EndpointsReadyWith,
) -> Result<StepResult, StepError> {
    let min = w
        .min_ready
        .as_ref()
        .map(|m| util::value(m, "min_ready"))
        .transpose()?
        .unwrap_or(1);
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Endpoints> = Api::namespaced(cluster.client, &w.namespace);
    let what = format!(
        "waiting for {min} ready address(es) of {}/{}",
        w.namespace, w.name
    );
    let config = watcher::Config::default().fields(&format!("metadata.name={}", w.name));
    wait::until(
        req,
        api,
        config,
        &what,
        |objs: &BTreeMap<String, Endpoints>| {
            let Some(ep) = objs.values().next() else {
                return Check::Waiting(format!(
                    "no Endpoints {}/{} (is there a Service of that name?)",
                    w.namespace, w.name
                ));
            };
            let subsets = ep.subsets.clone().unwrap_or_default();
            let ready: Vec<String> = subsets
                .iter()
                .flat_map(|s| s.addresses.clone().unwrap_or_default())
                .map(|a| a.ip)
                .collect();
            let not_ready = subsets
                .iter()
                .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
            if ready.len() as u64 >= min {
                Check::Done(json!({"ready": ready.len(), "addresses": ready}))
            } else {
                Check::Waiting(format!(
                    "{} ready, {not_ready} not ready address(es)",
                    ready.len()
                ))
            }
        },
    )
    .await
}
