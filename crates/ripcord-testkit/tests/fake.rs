//! The fake API server's behaviours, each proven through kube-rs as a client would see it.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Node, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use ripcord_testkit::{FakeCluster, Options};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(5);

async fn client(cluster: &FakeCluster) -> Client {
    let kc = Kubeconfig::read_from(cluster.kubeconfig()).expect("kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }))
    .unwrap()
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Wait (watch-driven, bounded) until the fake's own state satisfies `f`.
async fn until(cluster: &FakeCluster, what: &str, f: impl FnMut(&FakeCluster) -> bool) {
    assert!(
        cluster.wait_until(LIMIT, f).await,
        "timed out waiting for: {what}"
    );
}

fn ready_in_store(c: &FakeCluster, ns: &str, name: &str) -> bool {
    c.get("v1", "Pod", ns, name).is_some_and(|p| {
        p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}

#[tokio::test]
async fn crud_resource_versions_and_conflicts() {
    let cluster = FakeCluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "1"}})).unwrap();
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some());
    let (code, reason, _) = api_error(api.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed
        .data
        .as_mut()
        .unwrap()
        .insert("k".into(), "2".into());
    let replaced = api
        .replace("c", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(replaced.metadata.resource_version.clone().unwrap(), rv1);
    // A write based on the old version conflicts.
    let (code, reason, msg) = api_error(
        api.replace("c", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"), "{msg}");
    assert!(msg.contains("the object has been modified"), "{msg}");
    // A merge patch carrying a stale resourceVersion conflicts too.
    let stale = json!({"metadata": {"resourceVersion": rv1}, "data": {"k": "3"}});
    let (code, _, _) = api_error(
        api.patch("c", &PatchParams::default(), &Patch::Merge(&stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);

    let (code, reason, _) = api_error(api.get("missing").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    // Creating into a namespace that does not exist fails.
    let other: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "nope");
    let (code, _, msg) = api_error(other.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(code, 404, "{msg}");
    api.delete("c", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("c").await.unwrap().is_none());
}

#[tokio::test]
async fn generation_tracks_spec_not_metadata() {
    let cluster = FakeCluster::start().await;
    let api: Api<Deployment> = Api::namespaced(client(&cluster).await, "default");
    let d: Deployment = serde_json::from_value(deployment("web", 1)).unwrap();
    let d = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    // Status written through the main resource is ignored.
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 99}})),
        )
        .await
        .unwrap();
    assert_ne!(d.status.and_then(|s| s.replicas), Some(99));
}

#[tokio::test]
async fn label_and_field_selectors() {
    let cluster = FakeCluster::start().await;
    let api: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        api.create(&PostParams::default(), &pod(name, json!({"app": app})))
            .await
            .unwrap();
    }
    until(&cluster, "all scheduled", |c| {
        c.list("v1", "Pod", Some("default"))
            .iter()
            .all(|p| p["spec"]["nodeName"].is_string())
    })
    .await;
    let names = |l: kube::core::ObjectList<Pod>| -> Vec<String> {
        l.items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app in (db),app!=web"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    let node = cluster.get("v1", "Pod", "default", "a").unwrap()["spec"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_node = names(
        api.list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await
            .unwrap(),
    );
    assert!(on_node.contains(&"a".to_owned()));
    let everywhere = api
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap()
        .items
        .len()
        + api
            .list(&ListParams::default().fields("spec.nodeName=node-2"))
            .await
            .unwrap()
            .items
            .len();
    assert_eq!(everywhere, 3);
    let (code, _, msg) = api_error(
        api.list(&ListParams::default().fields("spec.bogus=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(msg.contains("field label not supported"), "{msg}");
    // Across namespaces.
    let all: Api<Pod> = Api::all(client(&cluster).await);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
}

#[tokio::test]
async fn watch_from_a_resource_version_and_selector_transitions() {
    let cluster = FakeCluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    let mk = |n: &str, team: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n, "labels": {"team": team}}})).unwrap()
    };
    api.create(&PostParams::default(), &mk("before", "a"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // Changes after the list, made before the watch starts: the watch must replay them.
    api.create(&PostParams::default(), &mk("one", "a"))
        .await
        .unwrap();
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &mk("other", "b"))
        .await
        .unwrap();
    api.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    api.delete("one", &DeleteParams::default()).await.unwrap();
    let wp = WatchParams::default().labels("team=a").timeout(5);
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let ev = tokio::time::timeout(LIMIT, stream.try_next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        seen.push(match ev {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.unwrap()),
            WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.unwrap()),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.unwrap()),
            other => format!("{other:?}"),
        });
    }
    // `other` entered the selector by its label change: ADDED, not MODIFIED.
    assert_eq!(
        seen,
        ["ADDED one", "MODIFIED one", "ADDED other", "DELETED one"]
    );
    // Live events follow.
    api.create(&PostParams::default(), &mk("live", "a"))
        .await
        .unwrap();
    let ev = tokio::time::timeout(LIMIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, WatchEvent::Added(ref o) if o.metadata.name.as_deref() == Some("live")),
        "{ev:?}"
    );

    // A version older than the history: 410 Gone in the stream.
    let mut old = api
        .watch(&WatchParams::default().timeout(5), "1")
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(LIMIT, old.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, WatchEvent::Error(ref e) if e.code == 410),
        "{ev:?}"
    );
}

#[tokio::test]
async fn kubelet_makes_scheduled_pods_ready_after_the_delay() {
    let opts = Options {
        ready_delay: Duration::from_millis(300),
        ..Options::default()
    };
    let cluster = FakeCluster::start_with(opts).await;
    let api: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    let start = std::time::Instant::now();
    api.create(&PostParams::default(), &pod("p", json!({"app": "x"})))
        .await
        .unwrap();
    let p = api.get("p").await.unwrap();
    assert!(
        p.spec.as_ref().unwrap().node_name.is_some(),
        "scheduled at once"
    );
    assert!(!is_ready(&p), "not Ready before the delay");
    until(&cluster, "Ready", |c| ready_in_store(c, "default", "p")).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    let p = api.get("p").await.unwrap();
    let status = p.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(status.pod_ip.is_some());
    // Held not Ready, then released.
    cluster.set_pod_ready("default", "p", false);
    assert!(!is_ready(&api.get("p").await.unwrap()));
    cluster.set_pod_ready("default", "p", true);
    assert!(is_ready(&api.get("p").await.unwrap()));
    // A pod on a node that is not Ready turns not Ready; an unschedulable cluster leaves pods Pending.
    cluster.set_node_ready(p.spec_node(), false);
    assert!(!is_ready(&api.get("p").await.unwrap()));
}

trait NodeOf {
    fn spec_node(&self) -> &str;
}
impl NodeOf for Pod {
    fn spec_node(&self) -> &str {
        self.spec.as_ref().unwrap().node_name.as_deref().unwrap()
    }
}

#[tokio::test]
async fn cordoned_nodes_get_no_new_pods() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let nodes: Api<Node> = Api::all(c.clone());
    nodes
        .patch(
            "node-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    let api: Api<Pod> = Api::namespaced(c, "default");
    for i in 0..4 {
        api.create(&PostParams::default(), &pod(&format!("p{i}"), json!({})))
            .await
            .unwrap();
    }
    for p in api.list(&ListParams::default()).await.unwrap() {
        assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("node-2"));
    }
    let cordoned = nodes
        .list(&ListParams::default().fields("spec.unschedulable=true"))
        .await
        .unwrap();
    assert_eq!(cordoned.items.len(), 1);
}

#[tokio::test]
async fn graceful_delete_leaves_a_deletion_timestamp_until_the_kubelet_confirms() {
    let opts = Options {
        termination_delay: Duration::from_millis(300),
        ..Options::default()
    };
    let cluster = FakeCluster::start_with(opts).await;
    let api: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    api.create(&PostParams::default(), &pod("g", json!({})))
        .await
        .unwrap();
    let deleted = api.delete("g", &DeleteParams::default()).await.unwrap();
    let terminating = deleted.left().expect("the pod, still there");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    assert!(
        api.get("g")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some(),
        "still present"
    );
    until(&cluster, "kubelet confirmed", |c| {
        c.get("v1", "Pod", "default", "g").is_none()
    })
    .await;

    // On a failed node nobody confirms: the pod stays Terminating until a force delete.
    api.create(&PostParams::default(), &pod("stuck", json!({})))
        .await
        .unwrap();
    let node = api.get("stuck").await.unwrap().spec_node().to_owned();
    cluster.set_node_ready(&node, false);
    api.delete("stuck", &DeleteParams::default()).await.unwrap();
    assert!(
        !cluster
            .wait_until(Duration::from_millis(600), |c| c
                .get("v1", "Pod", "default", "stuck")
                .is_none())
            .await
    );
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    api.delete("stuck", &force).await.unwrap();
    assert!(
        api.get_opt("stuck").await.unwrap().is_none(),
        "grace 0 removes at once"
    );
}

fn pdb(min_available: i64) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "web-pdb", "namespace": "default"},
           "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}}})
}

#[tokio::test]
async fn eviction_honours_pod_disruption_budgets() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let api: Api<Pod> = Api::namespaced(c.clone(), "default");
    for n in ["w1", "w2"] {
        api.create(&PostParams::default(), &pod(n, json!({"app": "web"})))
            .await
            .unwrap();
    }
    cluster.create(pdb(2)).unwrap();
    until(&cluster, "both Ready", |c| {
        ready_in_store(c, "default", "w1") && ready_in_store(c, "default", "w2")
    })
    .await;
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "w1", "namespace": "default"},
                          "deleteOptions": {"gracePeriodSeconds": 0}});
    let err = api
        .create_subresource::<_, Value>("eviction", "w1", &PostParams::default(), &eviction)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("an API error")
    };
    assert_eq!(status.code, 429);
    assert!(
        status.message.contains("disruption budget"),
        "{}",
        status.message
    );
    let body = serde_json::to_string(&status).unwrap();
    assert!(body.contains("web-pdb"), "the 429 names the budget: {body}");
    let pdb_now = cluster
        .get("policy/v1", "PodDisruptionBudget", "default", "web-pdb")
        .unwrap();
    assert_eq!(pdb_now["status"]["disruptionsAllowed"], 0);

    // A third healthy pod makes one disruption allowed; `deleteOptions` (grace 0) applies.
    api.create(&PostParams::default(), &pod("w3", json!({"app": "web"})))
        .await
        .unwrap();
    until(&cluster, "w3 Ready", |c| ready_in_store(c, "default", "w3")).await;
    let out: Value = api
        .create_subresource("eviction", "w1", &PostParams::default(), &eviction)
        .await
        .unwrap();
    assert_eq!(out["status"], "Success");
    assert!(
        api.get_opt("w1").await.unwrap().is_none(),
        "grace 0 from deleteOptions: gone at once"
    );
    // The budget is spent again.
    let err = api
        .create_subresource::<_, Value>("eviction", "w2", &PostParams::default(), &eviction)
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 429);

    // kube-core 5.0.0's `evict` writes `delete_options`, which the API server ignores: the pod's
    // own grace period applies (deletionTimestamp), not the requested 0.
    cluster.create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": "default"},
                          "spec": {"containers": [{"name": "app"}]}})).unwrap();
    until(&cluster, "solo scheduled", |c| {
        c.get("v1", "Pod", "default", "solo")
            .is_some_and(|p| p["spec"]["nodeName"].is_string())
    })
    .await;
    let wrong = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "solo"}, "delete_options": {"gracePeriodSeconds": 0}});
    let _: Value = api
        .create_subresource("eviction", "solo", &PostParams::default(), &wrong)
        .await
        .unwrap();
    assert!(
        api.get("solo")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some(),
        "graceful, not forced"
    );

    // Evicting a missing pod: 404.
    let err = api
        .create_subresource::<_, Value>("eviction", "ghost", &PostParams::default(), &eviction)
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 404);
}

#[tokio::test]
async fn namespace_deletion_is_asynchronous() {
    let cluster = FakeCluster::start_with(Options {
        namespace_delay: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let c = client(&cluster).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "drill"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), "drill");
    pods.create(&PostParams::default(), &pod("x", json!({})))
        .await
        .unwrap();
    let out = nss.delete("drill", &DeleteParams::default()).await.unwrap();
    let terminating = out.left().expect("the namespace");
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert!(
        nss.get_opt("drill").await.unwrap().is_some(),
        "still there right after the delete"
    );
    let cms: Api<ConfigMap> = Api::namespaced(c, "drill");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
    let (code, _, msg) = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(code, 403, "{msg}");
    assert!(msg.contains("being terminated"), "{msg}");
    until(&cluster, "namespace gone", |c| {
        c.get("v1", "Namespace", "", "drill").is_none()
    })
    .await;
    assert!(cluster.list("v1", "Pod", Some("drill")).is_empty());
}

#[tokio::test]
async fn dry_run_all_persists_nothing() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "d"}, "data": {"a": "1"}})).unwrap();
    let rv = cluster.resource_version();
    let out = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm,
        )
        .await
        .unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("d"));
    assert!(api.get_opt("d").await.unwrap().is_none());
    assert_eq!(cluster.resource_version(), rv);
    api.create(&PostParams::default(), &cm).await.unwrap();
    let rv = cluster.resource_version();
    let patched = api
        .patch(
            "d",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["a"], "2");
    api.delete(
        "d",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(api.get("d").await.unwrap().data.unwrap()["a"], "1");
    assert_eq!(cluster.resource_version(), rv, "nothing written");
    // Dry-run eviction and dry-run pod delete leave the pod alone.
    let pods: Api<Pod> = Api::namespaced(c, "default");
    pods.create(&PostParams::default(), &pod("p", json!({})))
        .await
        .unwrap();
    pods.delete(
        "p",
        &DeleteParams {
            dry_run: true,
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ev = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}, "deleteOptions": {"dryRun": ["All"]}});
    let _: Value = pods
        .create_subresource("eviction", "p", &PostParams::default(), &ev)
        .await
        .unwrap();
    assert!(
        pods.get("p")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
}

#[tokio::test]
async fn patch_types() {
    let cluster = FakeCluster::start().await;
    let api: Api<Deployment> = Api::namespaced(client(&cluster).await, "default");
    let mut d = deployment("web", 1);
    d["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]);
    api.create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    // Strategic: containers merge by name.
    let sp =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}});
    let out = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(sp))
        .await
        .unwrap();
    let cs = spec_of(&out)["template"]["spec"]["containers"].clone();
    assert_eq!(
        (cs.as_array().unwrap().len(), cs[1]["image"].as_str()),
        (2, Some("b:2"))
    );
    // Merge: lists are replaced.
    let mp =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c:1"}]}}}});
    let out = api
        .patch("web", &PatchParams::default(), &Patch::Merge(mp))
        .await
        .unwrap();
    assert_eq!(
        spec_of(&out)["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // JSON patch, with a failing test op refused.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]))
            .unwrap();
    let out = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .unwrap();
    assert_eq!(spec_of(&out)["replicas"], 3);
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 7}]))
            .unwrap();
    assert_eq!(
        api_error(
            api.patch("web", &PatchParams::default(), &Patch::Json::<()>(bad))
                .await
                .unwrap_err()
        )
        .0,
        422
    );
    // Server-side apply creates and updates; it needs a field manager.
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": deployment("api", 2)["spec"]});
    let out = api
        .patch(
            "api",
            &PatchParams::apply("ripcord"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(spec_of(&out)["replicas"], 2);
    let mut again = applied.clone();
    again["spec"]["replicas"] = json!(4);
    let out = api
        .patch(
            "api",
            &PatchParams::apply("ripcord").force(),
            &Patch::Apply(&again),
        )
        .await
        .unwrap();
    assert_eq!(spec_of(&out)["replicas"], 4);
    let no_manager = PatchParams {
        field_manager: None,
        ..PatchParams::default()
    };
    assert_eq!(
        api_error(
            api.patch("api", &no_manager, &Patch::Apply(&again))
                .await
                .unwrap_err()
        )
        .0,
        400
    );
}

/// A Deployment's spec as JSON (k8s-openapi versions differ on whether `spec` is optional).
fn spec_of(d: &Deployment) -> Value {
    serde_json::to_value(d).unwrap()["spec"].clone()
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
           "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}})
}

fn deployment_done(c: &FakeCluster, name: &str, generation: i64, replicas: i64) -> bool {
    c.get("apps/v1", "Deployment", "default", name)
        .is_some_and(|d| {
            let s = &d["status"];
            s["observedGeneration"] == generation
                && s["updatedReplicas"] == replicas
                && s["replicas"] == replicas
                && s["availableReplicas"] == replicas
        })
}

#[tokio::test]
async fn deployments_roll_out_and_restart() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(deployment("web", 2)).unwrap(),
    )
    .await
    .unwrap();
    until(&cluster, "rollout 1", |c| deployment_done(c, "web", 1, 2)).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let first: Vec<String> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    assert_eq!(first.len(), 2);
    // `kubectl rollout restart`: a template annotation, a new generation, new pods.
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(restart))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    until(&cluster, "rollout 2", |c| deployment_done(c, "web", 2, 2)).await;
    until(&cluster, "old pods gone", |c| {
        let names: Vec<String> = c
            .list("v1", "Pod", Some("default"))
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        names.len() == 2 && first.iter().all(|f| !names.contains(f))
    })
    .await;
    assert_eq!(
        cluster.list("apps/v1", "ReplicaSet", Some("default")).len(),
        2
    );
    // Deleting a pod: the replica set replaces it.
    let victim = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.delete(
        &victim,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    until(&cluster, "replaced", |c| {
        c.list("v1", "Pod", Some("default"))
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count()
            == 2
    })
    .await;
    // Deleting the deployment collects its replica sets and pods.
    api.delete("web", &DeleteParams::default()).await.unwrap();
    until(&cluster, "collected", |c| {
        c.list("v1", "Pod", Some("default")).is_empty()
            && c.list("apps/v1", "ReplicaSet", Some("default")).is_empty()
    })
    .await;
}

#[tokio::test]
async fn endpoints_follow_ready_pods() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    cluster.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "default"},
                          "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})).unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    pods.create(&PostParams::default(), &pod("w", json!({"app": "web"})))
        .await
        .unwrap();
    until(&cluster, "address ready", |c| {
        c.get("v1", "Endpoints", "default", "svc").is_some_and(|e| {
            e["subsets"][0]["addresses"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        })
    })
    .await;
    let eps: Api<Endpoints> = Api::namespaced(c, "default");
    let ep = eps.get("svc").await.unwrap();
    assert_eq!(ep.subsets.unwrap()[0].ports.as_ref().unwrap()[0].port, 8080);
    cluster.set_pod_ready("default", "w", false);
    let ep = eps.get("svc").await.unwrap();
    let subset = &ep.subsets.unwrap()[0];
    assert!(subset.addresses.is_none() && subset.not_ready_addresses.as_ref().unwrap().len() == 1);
}

#[tokio::test]
async fn leases_take_optimistic_concurrency() {
    let cluster = FakeCluster::start().await;
    let api: Api<Lease> = Api::namespaced(client(&cluster).await, "default");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})).unwrap();
    let l = api.create(&PostParams::default(), &lease).await.unwrap();
    let mut mine = l.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
    api.replace("l", &PostParams::default(), &mine)
        .await
        .unwrap();
    let mut theirs = l;
    theirs.spec.as_mut().unwrap().holder_identity = Some("c".into());
    assert_eq!(
        api_error(
            api.replace("l", &PostParams::default(), &theirs)
                .await
                .unwrap_err()
        )
        .0,
        409
    );
    assert_eq!(
        api.get("l")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("b")
    );
}

#[tokio::test]
async fn exec_over_websocket() {
    let cluster = FakeCluster::start().await;
    let api: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    api.create(&PostParams::default(), &pod("e", json!({})))
        .await
        .unwrap();
    until(&cluster, "Ready", |c| ready_in_store(c, "default", "e")).await;
    let ap = kube::api::AttachParams::default().stdout(true).stderr(true);
    let mut proc = api
        .exec("e", ["echo", "hello", "world"], &ap)
        .await
        .unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut proc.stdout().unwrap(), &mut out)
        .await
        .unwrap();
    let status = proc.take_status().unwrap().await.unwrap();
    assert_eq!(out, "hello world\n");
    assert_eq!(status.status.as_deref(), Some("Success"));
    let mut proc = api.exec("e", ["sh", "-c", "exit 3"], &ap).await.unwrap();
    let status = tokio::time::timeout(LIMIT, proc.take_status().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(
        status.details.unwrap().causes.unwrap()[0]
            .message
            .as_deref(),
        Some("3")
    );
    assert_eq!(cluster.exec_calls().len(), 2);
}

#[tokio::test]
async fn discovery_lists_the_served_resources() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let discovery = kube::Discovery::new(c).run().await.unwrap();
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources().into_iter().map(|(r, _)| r.kind))
        .collect();
    for k in [
        "Pod",
        "Node",
        "Deployment",
        "Lease",
        "PodDisruptionBudget",
        "Endpoints",
        "ConfigMap",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn injected_faults_answer_before_the_api() {
    let cluster = FakeCluster::start().await;
    cluster.inject(ripcord_testkit::Fault {
        method: "GET".into(),
        path_contains: "/configmaps".into(),
        status: 503,
        times: 1,
    });
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    assert_eq!(
        api_error(api.list(&ListParams::default()).await.unwrap_err()).0,
        503
    );
    api.list(&ListParams::default()).await.unwrap();
}
