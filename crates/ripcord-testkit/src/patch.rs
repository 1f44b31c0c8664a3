//! The patch formats the API server accepts: JSON merge patch (RFC 7386), strategic merge patch
//! (merge keys for the lists the executors touch), JSON patch (RFC 6902) and server-side apply
//! (approximated as a strategic merge of the applied configuration, see the README).

use serde_json::{Map, Value};

/// Content types of `PATCH` requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Apply `patch` of `kind` to `target`.
pub(crate) fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, String> {
    match kind {
        PatchKind::Merge => {
            let mut out = target.clone();
            merge(&mut out, patch);
            Ok(out)
        }
        PatchKind::Strategic | PatchKind::Apply => {
            let mut out = target.clone();
            strategic(&mut out, patch, "");
            Ok(out)
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| format!("invalid JSON patch: {e}"))?;
            let mut out = target.clone();
            json_patch::patch(&mut out, &ops).map_err(|e| format!("the JSON patch failed: {e}"))?;
            Ok(out)
        }
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("an object");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The merge key of a list field (by the field's name and its parent path), as in the
/// Kubernetes types' `patchMergeKey`.
fn merge_key(path: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "ports" if path.ends_with("containers") || path.contains("containers") => "containerPort",
        "ports" => "port",
        _ => return None,
    })
}

/// Strategic merge: like [`merge`], but lists with a merge key merge element-wise by that key,
/// `$patch: delete` in an element removes it, `$patch: replace` replaces the list or map,
/// `metadata.finalizers` merges as a set, and other `$` directives are ignored.
pub(crate) fn strategic(target: &mut Value, patch: &Value, path: &str) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch.clone();
        p.remove("$patch");
        *target = Value::Object(p);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("an object");
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        let child_path = format!("{path}.{k}");
        if v.is_null() {
            map.remove(k);
            continue;
        }
        match (v, merge_key(path, k)) {
            (Value::Array(items), Some(key)) if items.iter().all(Value::is_object) => {
                let slot = map.entry(k.clone()).or_insert(Value::Array(vec![]));
                if !slot.is_array() {
                    *slot = Value::Array(vec![]);
                }
                let list = slot.as_array_mut().expect("an array");
                merge_list(list, items, key, &child_path);
            }
            (Value::Array(items), None) if k == "finalizers" && path.ends_with("metadata") => {
                let slot = map.entry(k.clone()).or_insert(Value::Array(vec![]));
                if let Value::Array(list) = slot {
                    for item in items {
                        if !list.contains(item) {
                            list.push(item.clone());
                        }
                    }
                }
            }
            (Value::Object(_), _) => {
                strategic(map.entry(k.clone()).or_insert(Value::Null), v, &child_path);
            }
            _ => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(list: &mut Vec<Value>, items: &[Value], key: &str, path: &str) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *list = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return;
    }
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic(&mut list[i], item, path),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic(&mut fresh, item, path);
                list.push(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_with_null() {
        let t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let out = apply(PatchKind::Merge, &t, &json!({"b": {"c": null}, "l": [3]})).unwrap();
        assert_eq!(out, json!({"a": 1, "b": {"d": 3}, "l": [3]}));
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "z"}]}});
        let out = apply(PatchKind::Strategic, &t, &p).unwrap();
        assert_eq!(out["spec"]["containers"][0]["image"], "x");
        assert_eq!(out["spec"]["containers"][1]["image"], "z");
        let del = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let out = apply(PatchKind::Strategic, &out, &del).unwrap();
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn json_patch_ops() {
        let t = json!({"spec": {"replicas": 1}});
        let p = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}, {"op": "test", "path": "/spec/replicas", "value": 3}]);
        assert_eq!(
            apply(PatchKind::Json, &t, &p).unwrap()["spec"]["replicas"],
            3
        );
        let bad = json!([{"op": "test", "path": "/spec/replicas", "value": 9}]);
        assert!(apply(PatchKind::Json, &t, &bad).is_err());
    }
}
