//! What runs inside a cluster besides the API server, reduced to what recovery procedures
//! observe: a scheduler, a kubelet per node, the deployment and replica set controllers, the
//! endpoints controller, the namespace controller, garbage collection of owned objects and
//! PodDisruptionBudget status.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use crate::Options;
use crate::api;
use crate::resources::{self, Resource};
use crate::selectors::LabelSelector;
use crate::store::{Key, Store, now_rfc3339, suffix};

/// Pods annotated with this (value `"false"`) are never reported Ready by the kubelet.
pub const READY_ANNOTATION: &str = "testkit.ripcord.dev/ready";

fn res(group: &str, plural: &str) -> &'static Resource {
    resources::get(group, plural)
}

fn key_of(r: &'static Resource, obj: &Value) -> Key {
    (
        r,
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        obj["metadata"]["name"].as_str().unwrap_or("").to_owned(),
    )
}

fn uid(obj: &Value) -> String {
    obj["metadata"]["uid"].as_str().unwrap_or("").to_owned()
}

fn terminating(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

fn owned_by(obj: &Value, owner_uid: &str) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|o| o.iter().any(|r| r["uid"] == owner_uid))
}

pub(crate) fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Run every controller until nothing changes (bounded); returns when timed work is next due.
pub(crate) fn reconcile(store: &mut Store, opts: &Options) -> Option<Instant> {
    let mut now = Instant::now();
    for _ in 0..32 {
        let before = store.resource_version();
        now = Instant::now();
        garbage_collect(store, opts);
        namespaces(store, opts, now);
        deployments(store);
        replicasets(store, opts);
        schedule(store, opts, now);
        kubelet(store, opts, now);
        endpoints(store);
        disruption_budgets(store);
        if store.resource_version() == before {
            break;
        }
    }
    // Timers at or before the last pass's `now` were seen by it (acted on, or waiting on
    // something else, such as a node coming back); later ones need a wake-up, even if they are
    // already past by now (the loop then runs again at once).
    let t = &store.timers;
    t.ready_at
        .values()
        .chain(t.remove_at.values())
        .chain(t.namespace_at.values())
        .filter(|at| **at > now)
        .min()
        .copied()
}

fn garbage_collect(store: &mut Store, opts: &Options) {
    for key in store.all_keys() {
        let Some(obj) = store.get(key.0, &key.1, &key.2) else {
            continue;
        };
        let Some(owners) = obj["metadata"]["ownerReferences"].as_array() else {
            continue;
        };
        if owners.is_empty() || terminating(obj) {
            continue;
        }
        let orphan = owners
            .iter()
            .all(|o| !store.uid_exists(o["uid"].as_str().unwrap_or("")));
        if orphan {
            let _ = api::delete(store, opts, key.0, &key.1, &key.2, None, false);
        }
    }
}

fn namespaces(store: &mut Store, opts: &Options, now: Instant) {
    let ns_res = res("", "namespaces");
    for ns in store.list(ns_res, None, None, None) {
        if !terminating(&ns) {
            continue;
        }
        let name = ns["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let keys = store.keys_in_namespace(&name);
        for (r, n, obj_name) in &keys {
            let obj = store.get(r, n, obj_name).cloned().unwrap_or_default();
            if !terminating(&obj) || r.kind == "Pod" {
                let _ = api::delete(store, opts, r, n, obj_name, None, false);
            }
            // Finalizers are the namespace controller's to wait for, not to remove.
        }
        let due = store
            .timers
            .namespace_at
            .get(&name)
            .is_none_or(|at| *at <= now);
        if store.keys_in_namespace(&name).is_empty() && due {
            store.timers.namespace_at.remove(&name);
            store.remove(ns_res, "", &name);
        }
    }
}

/// A short stable hash of a pod template (`pod-template-hash`).
fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    suffix(h)
        .chars()
        .chain(suffix(h >> 20).chars())
        .take(10)
        .collect()
}

fn owner_ref(owner: &Value) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

fn deployments(store: &mut Store) {
    let (dep_res, rs_res) = (res("apps", "deployments"), res("apps", "replicasets"));
    for dep in store.list(dep_res, None, None, None) {
        if terminating(&dep) {
            continue;
        }
        let ns = dep["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = dep["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let desired = dep["spec"]["replicas"].as_i64().unwrap_or(1);
        let hash = template_hash(&dep["spec"]["template"]);
        let owned: Vec<Value> = store
            .list(rs_res, Some(&ns), None, None)
            .into_iter()
            .filter(|rs| owned_by(rs, &uid(&dep)))
            .collect();
        let revision = owned
            .iter()
            .filter_map(|rs| {
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        let new_rs = owned
            .iter()
            .find(|rs| rs["metadata"]["labels"]["pod-template-hash"] == hash.as_str())
            .cloned();
        let new_rs = match new_rs {
            Some(rs) => rs,
            None => {
                let mut template = dep["spec"]["template"].clone();
                template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = dep["spec"]["selector"].clone();
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "metadata": {"name": format!("{name}-{hash}"), "labels": template["metadata"]["labels"],
                                 "annotations": {"deployment.kubernetes.io/revision": (revision + 1).to_string()},
                                 "ownerReferences": [owner_ref(&dep)]},
                    "spec": {"replicas": 0, "selector": selector, "template": template},
                });
                match api::create(store, rs_res, &ns, rs, false) {
                    Ok(rs) => rs,
                    Err(_) => continue,
                }
            }
        };
        // Rolling update, simplified: the new set scales up at once; old sets scale down as the
        // new one's pods become available, so availability never drops below `desired`.
        let new_available = new_rs["status"]["availableReplicas"].as_i64().unwrap_or(0);
        store.update(&key_of(rs_res, &new_rs), |rs| {
            rs["spec"]["replicas"] = json!(desired)
        });
        let mut old_total = 0;
        for rs in owned
            .iter()
            .filter(|rs| rs["metadata"]["uid"] != new_rs["metadata"]["uid"])
        {
            let keep = (desired - new_available)
                .max(0)
                .min(rs["spec"]["replicas"].as_i64().unwrap_or(0));
            store.update(&key_of(rs_res, rs), |rs| {
                rs["spec"]["replicas"] = json!(keep)
            });
            old_total += rs["status"]["replicas"].as_i64().unwrap_or(0);
        }
        let new_rs = store
            .get(
                rs_res,
                &ns,
                new_rs["metadata"]["name"].as_str().unwrap_or(""),
            )
            .cloned()
            .unwrap_or(new_rs);
        let st = &new_rs["status"];
        let updated = st["replicas"].as_i64().unwrap_or(0);
        let ready: i64 = store
            .list(rs_res, Some(&ns), None, None)
            .iter()
            .filter(|rs| owned_by(rs, &uid(&dep)))
            .map(|rs| rs["status"]["readyReplicas"].as_i64().unwrap_or(0))
            .sum();
        let total = updated + old_total;
        let complete = updated == desired && total == desired && new_available == desired;
        let generation = dep["metadata"]["generation"].clone();
        let revision =
            new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].clone();
        store.update(&key_of(dep_res, &dep), |d| {
            d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = revision;
            let mut conditions = vec![json!({"type": "Available", "status": if ready >= desired { "True" } else { "False" },
                "reason": if ready >= desired { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }})];
            conditions.push(json!({"type": "Progressing", "status": "True",
                "reason": if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }}));
            d["status"] = json!({
                "observedGeneration": generation, "replicas": total, "updatedReplicas": updated,
                "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": (total - ready).max(0),
                "conditions": conditions,
            });
        });
    }
}

fn replicasets(store: &mut Store, opts: &Options) {
    let (rs_res, pods) = (res("apps", "replicasets"), resources::pods());
    for rs in store.list(rs_res, None, None, None) {
        if terminating(&rs) {
            continue;
        }
        let ns = rs["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = rs["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
        let mut live: Vec<Value> = store
            .list(pods, Some(&ns), None, None)
            .into_iter()
            .filter(|p| owned_by(p, &uid(&rs)) && !terminating(p))
            .collect();
        for _ in live.len()..desired {
            store.name_seq += 1;
            let mut template = rs["spec"]["template"].clone();
            let meta = template["metadata"].take();
            let pod = json!({
                "metadata": {"name": format!("{name}-{}", suffix(store.name_seq)), "labels": meta["labels"],
                             "annotations": meta["annotations"].as_object().cloned().unwrap_or_default(),
                             "ownerReferences": [owner_ref(&rs)]},
                "spec": template["spec"],
            });
            if let Ok(p) = api::create(store, pods, &ns, pod, false) {
                live.push(p);
            }
        }
        if live.len() > desired {
            // Remove not-ready pods first, then the newest.
            live.sort_by_key(|p| {
                (
                    api::pod_ready(p),
                    std::cmp::Reverse(
                        p["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or("")
                            .parse::<u64>()
                            .unwrap_or(0),
                    ),
                )
            });
            for p in &live[..live.len() - desired] {
                api::delete_pod(
                    store,
                    opts,
                    &ns,
                    p["metadata"]["name"].as_str().unwrap_or(""),
                    None,
                    false,
                );
            }
            live.drain(..live.len() - desired);
        }
        let ready = live.iter().filter(|p| api::pod_ready(p)).count();
        let generation = rs["metadata"]["generation"].clone();
        store.update(&key_of(rs_res, &rs), |r| {
            r["status"] = json!({"replicas": live.len(), "readyReplicas": ready, "availableReplicas": ready,
                                 "fullyLabeledReplicas": live.len(), "observedGeneration": generation});
        });
    }
}

fn schedule(store: &mut Store, opts: &Options, now: Instant) {
    let (pods, nodes_res) = (resources::pods(), res("", "nodes"));
    let nodes = store.list(nodes_res, None, None, None);
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for p in store.list(pods, None, None, None) {
        if let Some(n) = p["spec"]["nodeName"].as_str() {
            *load.entry(n.to_owned()).or_default() += 1;
        }
    }
    for pod in store.list(pods, None, None, None) {
        if terminating(&pod)
            || pod["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| !n.is_empty())
        {
            continue;
        }
        let selector = LabelSelector::from_map(&pod["spec"]["nodeSelector"]);
        let candidate = nodes
            .iter()
            .filter(|n| node_ready(n) && n["spec"]["unschedulable"] != true)
            .filter(|n| selector.as_ref().is_none_or(|s| s.matches(n)))
            .min_by_key(|n| {
                load.get(n["metadata"]["name"].as_str().unwrap_or(""))
                    .copied()
                    .unwrap_or(0)
            });
        let key = key_of(pods, &pod);
        match candidate {
            Some(node) => {
                let node_name = node["metadata"]["name"].as_str().unwrap_or("").to_owned();
                *load.entry(node_name.clone()).or_default() += 1;
                store
                    .timers
                    .ready_at
                    .insert(uid(&pod), now + opts.ready_delay);
                store.update(&key, |p| {
                    p["spec"]["nodeName"] = json!(node_name);
                    p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()}]);
                });
            }
            None => {
                store.update(&key, |p| {
                    p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "message": "0/N nodes are available: no Ready, schedulable node matches the pod"}]);
                });
            }
        }
    }
}

/// The pod status the kubelet reports.
pub(crate) fn ready_status(pod: &Value, ready: bool, node: &Value) -> Value {
    let mut status = pod["status"].clone();
    let now = now_rfc3339();
    let flag = if ready { "True" } else { "False" };
    let started = status["startTime"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| now.clone());
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": ready, "started": true,
                           "restartCount": 0, "containerID": format!("containerd://{}", c["name"].as_str().unwrap_or("")),
                           "state": {"running": {"startedAt": started}}})
                })
                .collect()
        })
        .unwrap_or_default();
    let n = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .rsplit('-')
        .next()
        .map(|s| u64::from_str_radix(s, 16).unwrap_or(0))
        .unwrap_or(0);
    let host_ip = node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.first())
        .map(|a| a["address"].clone())
        .unwrap_or(json!("192.0.2.1"));
    status["phase"] = json!("Running");
    status["startTime"] = json!(started);
    status["hostIP"] = host_ip;
    status["podIP"] = json!(format!("10.244.{}.{}", (n / 250) % 250, n % 250 + 2));
    status["containerStatuses"] = json!(containers);
    status["conditions"] = json!([
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": now},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
    ]);
    status
}

fn kubelet(store: &mut Store, opts: &Options, now: Instant) {
    let (pods, nodes_res) = (resources::pods(), res("", "nodes"));
    let _ = opts;
    for pod in store.list(pods, None, None, None) {
        let Some(node_name) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let Some(node) = store.get(nodes_res, "", node_name).cloned() else {
            continue;
        };
        let up = node_ready(&node);
        let key = key_of(pods, &pod);
        let id = uid(&pod);
        if terminating(&pod) {
            if up && store.timers.remove_at.get(&id).is_some_and(|at| *at <= now) {
                store.remove(pods, &key.1, &key.2);
            }
            continue;
        }
        let due = *store
            .timers
            .ready_at
            .entry(id.clone())
            .or_insert(now + opts.ready_delay)
            <= now;
        let held = pod["metadata"]["annotations"][READY_ANNOTATION] == "false";
        let want = up && due && !held;
        let running = pod["status"]["phase"] == "Running";
        let is_ready = api::pod_ready(&pod);
        if (due && up && !running) || want != is_ready {
            let status = ready_status(&pod, want, &node);
            let mut wrote = false;
            store.update(&key, |p| {
                wrote = p["status"] != status;
                p["status"] = status;
            });
            if wrote && want {
                store.timers.became_ready.insert(id, Instant::now());
            }
        }
    }
}

fn endpoints(store: &mut Store) {
    let (svc_res, ep_res, pods) = (res("", "services"), res("", "endpoints"), resources::pods());
    for svc in store.list(svc_res, None, None, None) {
        let Some(selector) = LabelSelector::from_map(&svc["spec"]["selector"]) else {
            continue;
        };
        let ns = svc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = svc["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for p in store.list(pods, Some(&ns), Some(&selector), None) {
            let Some(ip) = p["status"]["podIP"].as_str() else {
                continue;
            };
            if terminating(&p) {
                continue;
            }
            let addr = json!({"ip": ip, "nodeName": p["spec"]["nodeName"],
                "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}});
            if api::pod_ready(&p) {
                ready.push(addr)
            } else {
                not_ready.push(addr)
            }
        }
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()
            .map(|ps| ps.iter().map(|p| json!({"name": p["name"], "port": p.get("targetPort").filter(|t| t.is_number()).unwrap_or(&p["port"]), "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))})).collect())
            .unwrap_or_default();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        match store.get(ep_res, &ns, &name) {
            Some(_) => {
                store.update(&(ep_res, ns.clone(), name.clone()), |e| {
                    e["subsets"] = subsets
                });
            }
            None => {
                let ep = json!({"metadata": {"name": name, "labels": svc["metadata"]["labels"]}, "subsets": subsets});
                let _ = api::create(store, ep_res, &ns, ep, false);
            }
        }
    }
}

fn disruption_budgets(store: &mut Store) {
    let pdb_res = res("policy", "poddisruptionbudgets");
    for pdb in store.list(pdb_res, None, None, None) {
        let (expected, healthy, desired, allowed) = api::budget(store, &pdb);
        let generation = pdb["metadata"]["generation"].clone();
        store.update(&key_of(pdb_res, &pdb), |p| {
            p["status"] = json!({"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                                 "disruptionsAllowed": allowed, "observedGeneration": generation});
        });
    }
}
