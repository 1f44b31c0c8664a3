//! Dry-run reports of kube steps: the field diff of a previewed write (live object against the
//! server's `dryRun=All` answer), the pre-state it acts on, and the executor's memory of what
//! dry-run writes it previewed, so that later steps of the same dry run do not pass the
//! unchanged world off as observed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ripcord_engine::StepRequest;
use ripcord_engine::preview::{Change, Diff, DryRunReport, PreState};
use serde_json::Value;

/// One write a dry run previewed (and did not make).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Touch {
    /// The step's `context` (`None`: the run's default).
    pub context: Option<String>,
    /// `Deployment`, `Pod`, `Node`, `Namespace`, ...
    pub kind: String,
    /// The object's namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    pub name: String,
    /// The step type without `kube.`: `rollout.restart`, `pods.delete`, ...
    pub action: String,
    /// The id of the step that previewed it.
    pub step: String,
    /// The object did not exist: the write would have created it.
    pub creates: bool,
}

impl Touch {
    /// A touch of `kind` `namespace/name` by this request's step.
    pub(crate) fn new(
        req: &StepRequest<'_>,
        context: Option<&str>,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        Self {
            context: context.map(str::to_owned),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            action: req.kind.name().trim_start_matches("kube.").to_owned(),
            step: req.step_id.to_owned(),
            creates: false,
        }
    }

    /// The same touch, of an object the write would create.
    pub(crate) fn creating(mut self, creates: bool) -> Self {
        self.creates = creates;
        self
    }

    /// `deployment mcp-system/web`, `namespace mcp-dr-test`.
    pub(crate) fn object(&self) -> String {
        format!(
            "{} {}",
            self.kind.to_lowercase(),
            qualified(self.namespace.as_deref(), &self.name)
        )
    }

    /// `rollout.restart of deployment mcp-system/web`.
    fn describe(&self) -> String {
        format!("{} of {}", self.action, self.object())
    }
}

/// `ns/name`, or `name` for cluster-scoped objects.
pub(crate) fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// What dry-run writes the executor previewed in this run (one executor per run).
#[derive(Default)]
pub(crate) struct Memory {
    touches: Mutex<Vec<Touch>>,
}

impl Memory {
    /// Remember a previewed write.
    pub(crate) fn record(&self, touch: Touch) {
        self.touches.lock().expect("dry-run memory").push(touch);
    }

    fn find(&self, f: impl Fn(&Touch) -> bool) -> Vec<Touch> {
        let touches = self.touches.lock().expect("dry-run memory");
        touches.iter().filter(|t| f(t)).cloned().collect()
    }

    /// The write that would have created namespace `ns` (it does not exist).
    pub(crate) fn created_namespace(&self, context: Option<&str>, ns: &str) -> Option<Touch> {
        self.find(|t| {
            t.context.as_deref() == context && t.kind == "Namespace" && t.name == ns && t.creates
        })
        .into_iter()
        .next()
    }

    /// The write that would have created this object (it does not exist).
    pub(crate) fn created_object(
        &self,
        context: Option<&str>,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Touch> {
        self.touching_object(context, kind, ns, name)
            .into_iter()
            .find(|t| t.creates)
    }

    /// Every previewed write to this object.
    pub(crate) fn touching_object(
        &self,
        context: Option<&str>,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Vec<Touch> {
        self.find(|t| {
            t.context.as_deref() == context
                && t.kind == kind
                && t.namespace.as_deref().filter(|n| !n.is_empty()) == ns.filter(|n| !n.is_empty())
                && t.name == name
        })
    }

    /// Every previewed write to objects of `kind` in `ns`.
    pub(crate) fn touching_kind(&self, context: Option<&str>, kind: &str, ns: &str) -> Vec<Touch> {
        self.find(|t| {
            t.context.as_deref() == context && t.kind == kind && t.namespace.as_deref() == Some(ns)
        })
    }

    /// Every previewed write in namespace `ns`, or to the namespace itself.
    pub(crate) fn touching_namespace(&self, context: Option<&str>, ns: &str) -> Vec<Touch> {
        self.find(|t| {
            t.context.as_deref() == context
                && (t.namespace.as_deref() == Some(ns) || (t.kind == "Namespace" && t.name == ns))
        })
    }
}

/// `namespace mcp-dr-test would be created by step `create_ns`; the dry run did not create it`.
pub(crate) fn not_created(t: &Touch) -> String {
    format!(
        "{} would be created by step `{}`; the dry run did not create it",
        t.object(),
        t.step
    )
}

fn listed(touches: &[Touch]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for t in touches {
        let d = t.describe();
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    let more = seen.len().saturating_sub(3);
    seen.truncate(3);
    let mut text = seen.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// `waits for changes the dry run did not make: rollout.restart of deployment ns/x`.
pub(crate) fn waits_for(touches: &[Touch]) -> String {
    format!(
        "waits for changes the dry run did not make: {}",
        listed(touches)
    )
}

/// `reads what the dry run did not change: patch of deployment ns/x`.
pub(crate) fn reads_unchanged(touches: &[Touch]) -> String {
    format!("reads what the dry run did not change: {}", listed(touches))
}

/// Give a report when the step is a dry run (the engine journals the last one).
pub(crate) fn report(req: &StepRequest<'_>, report: DryRunReport) {
    if req.dry_run {
        req.context.dry_run(report);
    }
}

/// The pre-state of an existing object: `apps/v1 Deployment ns/name`, its resourceVersion.
pub(crate) fn pre_state(api_version: &str, kind: &str, obj: &Value) -> PreState {
    let meta = &obj["metadata"];
    let rv = meta["resourceVersion"].as_str().unwrap_or("").to_owned();
    PreState {
        object: format!(
            "{api_version} {kind} {}",
            qualified(
                meta["namespace"].as_str(),
                meta["name"].as_str().unwrap_or("")
            )
        ),
        detail: Some(format!("resourceVersion {rv}")),
        fingerprint: rv,
    }
}

/// Metadata the server sets on every write: not a change the write makes.
const IGNORED_METADATA: &[&str] = &[
    "resourceVersion",
    "managedFields",
    "generation",
    "uid",
    "creationTimestamp",
];

fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in IGNORED_METADATA {
            m.remove(*f);
        }
    }
    v
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        // An empty map or list is no field: `{}` growing a key is that key's change.
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The fields that differ between the live object and the server's dry-run answer, as
/// `spec.replicas: 3 -> 5` (server-set metadata and `status` ignored), in path order.
pub(crate) fn field_changes(before: &Value, after: &Value) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &comparable(before), &mut a);
    flatten("", &comparable(after), &mut b);
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| format!("{p}: {} -> {}", show(a.get(p)), show(b.get(p))))
        .collect()
}

/// A diff of these changes (empty ones left out), summarized as `2 to patch, 1 to create`.
pub(crate) fn diff(changes: Vec<Change>) -> Diff {
    Diff::new(changes.into_iter().filter(|c| c.count > 0).collect())
}

/// A validated report of one patched object: its changed fields and its pre-state.
pub(crate) fn patched(api_version: &str, kind: &str, live: &Value, answer: &Value) -> DryRunReport {
    DryRunReport::validated()
        .with_diff(diff(vec![Change::new(
            "patch",
            field_changes(live, answer),
        )]))
        .with_pre_state([pre_state(api_version, kind, live)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_changes_name_paths_and_ignore_server_metadata_and_status() {
        let before = json!({"metadata": {"name": "web", "resourceVersion": "5", "generation": 1},
            "spec": {"replicas": 3, "template": {"metadata": {}}}, "status": {"replicas": 3}});
        let after = json!({"metadata": {"name": "web", "resourceVersion": "5", "generation": 2},
            "spec": {"replicas": 5, "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-02T08:00:00Z"}}}},
            "status": {"replicas": 1}});
        assert_eq!(
            field_changes(&before, &after),
            vec![
                "spec.replicas: 3 -> 5",
                "spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt: (none) -> 2026-12-02T08:00:00Z",
            ]
        );
        assert!(field_changes(&before, &before).is_empty());
    }

    #[test]
    fn arrays_are_indexed_and_diffs_summarize_their_counts() {
        let a = json!({"spec": {"containers": [{"image": "app:1"}]}});
        let b = json!({"spec": {"containers": [{"image": "app:2"}]}});
        let items = field_changes(&a, &b);
        assert_eq!(items, vec!["spec.containers[0].image: app:1 -> app:2"]);
        let d = diff(vec![
            Change::new("patch", items),
            Change::new("delete", vec![]),
        ]);
        assert_eq!(d.summary, "1 to patch");
        assert_eq!(d.changes.len(), 1);
        assert_eq!(diff(vec![]).summary, "no change");
    }
}
