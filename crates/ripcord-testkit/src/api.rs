//! The API operations: create, replace, patch, delete, evict. Each takes `dry_run`; a dry run
//! goes through every check and returns the would-be result without storing anything.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Options;
use crate::patch::{self, PatchKind};
use crate::resources::{self, Resource};
use crate::selectors::LabelSelector;
use crate::store::{ApiError, Store, generation_part, now_rfc3339};

fn name_of(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or("").to_owned()
}

fn namespace_res() -> &'static Resource {
    resources::get("", "namespaces")
}

fn check_namespace(
    store: &Store,
    res: &Resource,
    ns: &str,
    creating: bool,
) -> Result<(), ApiError> {
    if !res.namespaced {
        return Ok(());
    }
    let Some(nsobj) = store.get(namespace_res(), "", ns) else {
        let mut e = ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"));
        e.details = Some(json!({"name": ns, "kind": "namespaces"}));
        return Err(e);
    };
    if creating && !nsobj["metadata"]["deletionTimestamp"].is_null() {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                res.plural
            ),
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Server-side defaults of new objects.
fn defaults(res: &Resource, obj: &mut Value, store: &Store) {
    match res.kind {
        "Pod" => {
            let spec = &mut obj["spec"];
            if spec["terminationGracePeriodSeconds"].is_null() {
                spec["terminationGracePeriodSeconds"] = json!(30);
            }
            if spec["restartPolicy"].is_null() {
                spec["restartPolicy"] = json!("Always");
            }
            if spec["schedulerName"].is_null() {
                spec["schedulerName"] = json!("default-scheduler");
            }
            if obj["status"]["phase"].is_null() {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
        }
        "Namespace" => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            let name = name_of(obj);
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        }
        "Node" if obj["status"]["conditions"].is_null() => {
            obj["status"]["conditions"] = json!([
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                 "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}
            ]);
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" => {
            if obj["spec"]["replicas"].is_null() {
                obj["spec"]["replicas"] = json!(1);
            }
            if res.kind == "Deployment" && obj["spec"]["strategy"].is_null() {
                obj["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            }
            if obj["status"].is_null() {
                obj["status"] = json!({});
            }
        }
        "Service" => {
            if obj["spec"]["type"].is_null() {
                obj["spec"]["type"] = json!("ClusterIP");
            }
            if obj["spec"]["clusterIP"].is_null() {
                let n = store.resource_version() % 250 + 2;
                obj["spec"]["clusterIP"] = json!(format!("10.96.0.{n}"));
            }
        }
        _ => {}
    }
}

/// The checks the API server's validation would make for what the fake models.
fn validate(res: &Resource, obj: &Value) -> Result<(), ApiError> {
    let name = name_of(obj);
    if !valid_name(&name) && res.kind != "Lease" {
        return Err(ApiError::invalid(
            res,
            &name,
            format!(
                "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
            ),
        ));
    }
    match res.kind {
        "Pod" => {
            let ok = obj["spec"]["containers"]
                .as_array()
                .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c["name"].is_string()));
            if !ok {
                return Err(ApiError::invalid(
                    res,
                    &name,
                    "spec.containers: Required value",
                ));
            }
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            let selector = LabelSelector::from_object(&obj["spec"]["selector"])
                .map_err(|e| ApiError::invalid(res, &name, e))?;
            let Some(selector) = selector.filter(|s| !s.is_empty()) else {
                return Err(ApiError::invalid(
                    res,
                    &name,
                    "spec.selector: Required value",
                ));
            };
            if !selector.matches_labels(&obj["spec"]["template"]["metadata"]["labels"]) {
                return Err(ApiError::invalid(
                    res,
                    &name,
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn create(
    store: &mut Store,
    res: &'static Resource,
    ns: &str,
    body: Value,
    dry: bool,
) -> Result<Value, ApiError> {
    check_namespace(store, res, ns, true)?;
    let mut obj = store.prepare_new(res, ns, body)?;
    defaults(res, &mut obj, store);
    validate(res, &obj)?;
    let name = name_of(&obj);
    if store.get(res, ns, &name).is_some() {
        return Err(ApiError::already_exists(res, &name));
    }
    if dry {
        return Ok(obj);
    }
    store.insert(res, obj)
}

/// Metadata the server owns: a client cannot change it with an update or a patch.
fn keep_server_fields(old: &Value, new: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
}

/// Shared tail of update and patch: status handling, generation, validation, finalizers.
fn store_update(
    store: &mut Store,
    res: &'static Resource,
    old: &Value,
    mut new: Value,
    status_only: bool,
    dry: bool,
) -> Result<Value, ApiError> {
    keep_server_fields(old, &mut new);
    if res.status {
        if status_only {
            let status = new["status"].clone();
            new = old.clone();
            new["status"] = status;
        } else {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
    }
    if generation_part(old) != generation_part(&new) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        new["metadata"]["generation"] = json!(g);
    }
    validate(res, &new)?;
    if dry {
        return Ok(new);
    }
    let terminating = !new["metadata"]["deletionTimestamp"].is_null();
    let no_finalizers = new["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if terminating && no_finalizers && res.kind != "Pod" && res.kind != "Namespace" {
        let ns = new["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        return Ok(store.remove(res, &ns, &name_of(&new)).unwrap_or(new));
    }
    Ok(store.put(res, new))
}

pub(crate) fn replace(
    store: &mut Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
    body: Value,
    status_only: bool,
    dry: bool,
) -> Result<Value, ApiError> {
    let Some(old) = store.get(res, ns, name).cloned() else {
        return Err(ApiError::not_found(res, name));
    };
    let body_name = body["metadata"]["name"].as_str().unwrap_or("");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let given = body["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if !given.is_empty() && given != old["metadata"]["resourceVersion"].as_str().unwrap_or("") {
        return Err(ApiError::conflict(res, name));
    }
    store_update(store, res, &old, body, status_only, dry)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn patch(
    store: &mut Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
    kind: PatchKind,
    body: Value,
    status_only: bool,
    dry: bool,
    field_manager: Option<&str>,
) -> Result<Value, ApiError> {
    if kind == PatchKind::Apply && field_manager.is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let Some(old) = store.get(res, ns, name).cloned() else {
        if kind == PatchKind::Apply {
            let mut body = body;
            body["metadata"]["name"] = json!(name);
            return create(store, res, ns, body, dry);
        }
        return Err(ApiError::not_found(res, name));
    };
    if kind == PatchKind::Apply {
        let (av, k) = (body["apiVersion"].as_str(), body["kind"].as_str());
        if av != Some(&res.api_version()) || k != Some(res.kind) {
            return Err(ApiError::bad_request(format!(
                "apply patch: apiVersion/kind {av:?}/{k:?} do not match the URL ({}/{})",
                res.api_version(),
                res.kind
            )));
        }
    }
    let patched = patch::apply(kind, &old, &body).map_err(|e| ApiError::new(422, "Invalid", e))?;
    let before = old["metadata"]["resourceVersion"].as_str().unwrap_or("");
    let after = patched["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or(before);
    if kind != PatchKind::Apply && before != after {
        return Err(ApiError::conflict(res, name));
    }
    store_update(store, res, &old, patched, status_only, dry)
}

/// A `Status` of success for a deletion.
fn deleted_status(res: &Resource, obj: &Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
           "details": {"name": name_of(obj), "group": res.group, "kind": res.plural, "uid": obj["metadata"]["uid"]}})
}

/// Delete one object. Pods are deleted gracefully when scheduled (deletionTimestamp; the
/// kubelet confirms); namespaces terminate asynchronously; objects with finalizers wait for them.
pub(crate) fn delete(
    store: &mut Store,
    opts: &Options,
    res: &'static Resource,
    ns: &str,
    name: &str,
    grace: Option<i64>,
    dry: bool,
) -> Result<Value, ApiError> {
    let Some(obj) = store.get(res, ns, name).cloned() else {
        return Err(ApiError::not_found(res, name));
    };
    match res.kind {
        "Pod" => Ok(delete_pod(store, opts, ns, name, grace, dry)),
        "Namespace" => {
            let mut o = obj.clone();
            if o["metadata"]["deletionTimestamp"].is_null() {
                o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                o["status"]["phase"] = json!("Terminating");
            }
            if dry {
                return Ok(o);
            }
            store
                .timers
                .namespace_at
                .entry(name.to_owned())
                .or_insert_with(|| Instant::now() + opts.namespace_delay);
            Ok(store.put(res, o))
        }
        _ => {
            let finalizers = obj["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if finalizers {
                let mut o = obj.clone();
                if o["metadata"]["deletionTimestamp"].is_null() {
                    o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                }
                return Ok(if dry { o } else { store.put(res, o) });
            }
            if dry {
                return Ok(deleted_status(res, &obj));
            }
            let removed = store.remove(res, ns, name).unwrap_or(obj);
            Ok(deleted_status(res, &removed))
        }
    }
}

/// Delete a pod: at once when unscheduled or with grace 0, else mark it terminating and let the
/// simulated kubelet confirm after `min(grace, termination_delay)`.
pub(crate) fn delete_pod(
    store: &mut Store,
    opts: &Options,
    ns: &str,
    name: &str,
    grace: Option<i64>,
    dry: bool,
) -> Value {
    let pods = resources::pods();
    let Some(obj) = store.get(pods, ns, name).cloned() else {
        return Value::Null;
    };
    let own = obj["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30);
    let mut grace = grace.unwrap_or(own).max(0);
    if let Some(current) = obj["metadata"]["deletionGracePeriodSeconds"].as_i64() {
        grace = grace.min(current);
    }
    let scheduled = obj["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let mut o = obj.clone();
    if grace == 0 || !scheduled {
        if dry {
            return o;
        }
        return store.remove(pods, ns, name).unwrap_or(o);
    }
    let already = !o["metadata"]["deletionTimestamp"].is_null();
    let shorter = o["metadata"]["deletionGracePeriodSeconds"].as_i64() != Some(grace);
    if !already || shorter {
        let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
        o["metadata"]["deletionTimestamp"] =
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        o["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    }
    if dry {
        return o;
    }
    let uid = o["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let confirm = Instant::now()
        + opts
            .termination_delay
            .min(Duration::from_secs(grace as u64));
    let slot = store.timers.remove_at.entry(uid).or_insert(confirm);
    *slot = (*slot).min(confirm);
    store.put(pods, o)
}

/// Whether a pod counts as healthy for a PodDisruptionBudget: Ready and not terminating.
pub(crate) fn pod_ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// A PDB's budget over the current pods: (expected, healthy, desired healthy, allowed).
pub(crate) fn budget(store: &Store, pdb: &Value) -> (i64, i64, i64, i64) {
    let ns = pdb["metadata"]["namespace"].as_str().unwrap_or("");
    let Ok(Some(sel)) = LabelSelector::from_object(&pdb["spec"]["selector"]) else {
        return (0, 0, 0, 0);
    };
    let pods: Vec<Value> = store
        .list(resources::pods(), Some(ns), Some(&sel), None)
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    let expected = pods.len() as i64;
    let healthy = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let resolve = |v: &Value| -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => {
                let pct: f64 = s.trim_end_matches('%').parse().ok()?;
                Some((pct * expected as f64 / 100.0).ceil() as i64)
            }
            _ => None,
        }
    };
    let desired = if let Some(min) = resolve(&pdb["spec"]["minAvailable"]) {
        min
    } else if let Some(max) = resolve(&pdb["spec"]["maxUnavailable"]) {
        (expected - max).max(0)
    } else {
        expected
    };
    (expected, healthy, desired, (healthy - desired).max(0))
}

/// `POST pods/NAME/eviction`: delete the pod unless a PodDisruptionBudget would be violated
/// (429 naming the budget). The body's `deleteOptions` (grace period, dryRun) apply.
pub(crate) fn evict(
    store: &mut Store,
    opts: &Options,
    ns: &str,
    name: &str,
    body: &Value,
    dry: bool,
) -> Result<Value, ApiError> {
    let pods = resources::pods();
    let Some(pod) = store.get(pods, ns, name).cloned() else {
        return Err(ApiError::not_found(pods, name));
    };
    if body["kind"].as_str().is_some_and(|k| k != "Eviction") {
        return Err(ApiError::bad_request(format!(
            "expected an Eviction, got {}",
            body["kind"]
        )));
    }
    let delete_options = &body["deleteOptions"];
    let dry = dry
        || delete_options["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let grace = delete_options["gracePeriodSeconds"].as_i64();
    let terminating = !pod["metadata"]["deletionTimestamp"].is_null();
    if !terminating {
        let pdbs: Vec<Value> = store
            .list(
                resources::get("policy", "poddisruptionbudgets"),
                Some(ns),
                None,
                None,
            )
            .into_iter()
            .filter(|pdb| {
                LabelSelector::from_object(&pdb["spec"]["selector"])
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.matches(&pod))
            })
            .collect();
        if pdbs.len() > 1 {
            return Err(ApiError::new(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some(pdb) = pdbs.first() {
            let (_, healthy, desired, allowed) = budget(store, pdb);
            let pod_healthy = pod_ready(&pod);
            let ok = if pod_healthy {
                allowed >= 1
            } else {
                healthy >= desired
            };
            if !ok {
                let pdb_name = name_of(pdb);
                let mut e = ApiError::new(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                );
                e.details = Some(
                    json!({"causes": [{"reason": "DisruptionBudget", "message": format!(
                    "The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently")}]}),
                );
                return Err(e);
            }
        }
    }
    delete_pod(store, opts, ns, name, grace, dry);
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}
