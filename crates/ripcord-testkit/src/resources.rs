//! The resource types the fake API server serves, and its discovery documents.

use serde_json::{Value, json};

/// One resource type.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Has a `status` subresource: writes to the main resource keep the stored status and
    /// writes to `/status` keep everything else.
    pub status: bool,
    pub short_names: &'static [&'static str],
    /// Field labels usable in field selectors (besides `metadata.name` and `metadata.namespace`).
    pub fields: &'static [&'static str],
    pub subresources: &'static [&'static str],
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn field_labels(&self) -> Vec<&'static str> {
        let mut all = vec!["metadata.name", "metadata.namespace"];
        all.extend_from_slice(self.fields);
        all
    }
}

macro_rules! res {
    ($g:literal, $v:literal, $plural:literal, $kind:literal, ns: $ns:literal, status: $st:literal,
     short: [$($s:literal),*], fields: [$($f:literal),*], sub: [$($sub:literal),*]) => {
        Resource {
            group: $g, version: $v, plural: $plural, kind: $kind, namespaced: $ns, status: $st,
            short_names: &[$($s),*], fields: &[$($f),*], subresources: &[$($sub),*],
        }
    };
}

pub static RESOURCES: &[Resource] = &[
    res!("", "v1", "namespaces", "Namespace", ns: false, status: true, short: ["ns"], fields: ["status.phase"], sub: ["status", "finalize"]),
    res!("", "v1", "nodes", "Node", ns: false, status: true, short: ["no"], fields: ["spec.unschedulable"], sub: ["status"]),
    res!("", "v1", "pods", "Pod", ns: true, status: true, short: ["po"],
         fields: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName"],
         sub: ["status", "eviction", "exec", "log"]),
    res!("", "v1", "configmaps", "ConfigMap", ns: true, status: false, short: ["cm"], fields: [], sub: []),
    res!("", "v1", "secrets", "Secret", ns: true, status: false, short: [], fields: ["type"], sub: []),
    res!("", "v1", "services", "Service", ns: true, status: true, short: ["svc"], fields: [], sub: ["status"]),
    res!("", "v1", "endpoints", "Endpoints", ns: true, status: false, short: ["ep"], fields: [], sub: []),
    res!("apps", "v1", "deployments", "Deployment", ns: true, status: true, short: ["deploy"], fields: [], sub: ["status"]),
    res!("apps", "v1", "replicasets", "ReplicaSet", ns: true, status: true, short: ["rs"], fields: [], sub: ["status"]),
    res!("apps", "v1", "statefulsets", "StatefulSet", ns: true, status: true, short: ["sts"], fields: [], sub: ["status"]),
    res!("apps", "v1", "daemonsets", "DaemonSet", ns: true, status: true, short: ["ds"], fields: [], sub: ["status"]),
    res!("batch", "v1", "cronjobs", "CronJob", ns: true, status: true, short: ["cj"], fields: [], sub: ["status"]),
    res!("batch", "v1", "jobs", "Job", ns: true, status: true, short: [], fields: [], sub: ["status"]),
    res!("coordination.k8s.io", "v1", "leases", "Lease", ns: true, status: false, short: [], fields: [], sub: []),
    res!("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", ns: true, status: true, short: ["pdb"], fields: [], sub: ["status"]),
];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

pub fn pods() -> &'static Resource {
    find("", "v1", "pods").expect("pods are served")
}

pub fn get(group: &str, plural: &str) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .expect("a served resource")
}

/// `GET /api`
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

/// `GET /apis`
pub fn groups() -> Value {
    let mut names: Vec<&str> = RESOURCES
        .iter()
        .filter(|r| !r.group.is_empty())
        .map(|r| r.group)
        .collect();
    names.dedup();
    let groups: Vec<Value> = names
        .into_iter()
        .map(|g| {
            let gv = format!("{g}/v1");
            json!({"name": g, "versions": [{"groupVersion": gv, "version": "v1"}],
                   "preferredVersion": {"groupVersion": gv, "version": "v1"}})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1`, `GET /apis/GROUP/VERSION`
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let of: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if of.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in &of {
        resources.push(json!({
            "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced,
            "kind": r.kind, "shortNames": r.short_names,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        }));
        for sub in r.subresources {
            let (kind, verbs, group, version) = match *sub {
                "eviction" => ("Eviction", json!(["create"]), "policy", "v1"),
                "exec" => ("PodExecOptions", json!(["create", "get"]), "", "v1"),
                "log" => ("Pod", json!(["get"]), "", "v1"),
                _ => (
                    r.kind,
                    json!(["get", "patch", "update"]),
                    r.group,
                    r.version,
                ),
            };
            resources.push(json!({
                "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": kind, "group": group, "version": version, "verbs": verbs,
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}
