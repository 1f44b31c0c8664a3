//! The Lease run lock against the fake API server.

use std::time::Duration;

use ripcord_kube::lock::{self, LockError, LockOptions};
use ripcord_kube::{KubeOptions, connect};
use ripcord_testkit::FakeCluster;
use serde_json::json;

async fn client(cluster: &FakeCluster) -> kube::Client {
    connect(
        &KubeOptions {
            kubeconfig: Some(cluster.kubeconfig().to_owned()),
            context: None,
        },
        None,
    )
    .await
    .unwrap()
    .client
}

fn fast() -> LockOptions {
    LockOptions {
        lease_duration: Duration::from_secs(30),
        renew_interval: Duration::from_millis(100),
    }
}

#[tokio::test]
async fn a_second_run_fails_fast_naming_the_holder_until_release() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let guard = lock::acquire(c.clone(), "default", "Pod Recovery", "run-1", fast())
        .await
        .unwrap();
    assert_eq!(guard.lease(), "default/ripcord-run-pod-recovery");
    let lease = cluster
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "default",
            "ripcord-run-pod-recovery",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "run-1");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 30);

    let started = std::time::Instant::now();
    let err = lock::acquire(c.clone(), "default", "Pod Recovery", "run-2", fast())
        .await
        .err()
        .expect("held");
    assert!(started.elapsed() < Duration::from_secs(1), "fails fast");
    assert!(
        matches!(&err, LockError::Held { holder, .. } if holder == "run-1"),
        "{err}"
    );
    assert!(err.to_string().contains("locked by run run-1"), "{err}");

    // Renewed while held.
    let first = lease["spec"]["renewTime"].clone();
    assert!(
        cluster
            .wait_until(Duration::from_secs(5), |c| {
                c.get(
                    "coordination.k8s.io/v1",
                    "Lease",
                    "default",
                    "ripcord-run-pod-recovery",
                )
                .unwrap()["spec"]["renewTime"]
                    != first
            })
            .await,
        "renewTime advances"
    );

    guard.release().await.unwrap();
    let lease = cluster
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "default",
            "ripcord-run-pod-recovery",
        )
        .unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released: {lease}"
    );
    let g2 = lock::acquire(c, "default", "Pod Recovery", "run-2", fast())
        .await
        .unwrap();
    let lease = cluster
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "default",
            "ripcord-run-pod-recovery",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "run-2");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    g2.release().await.unwrap();
}

#[tokio::test]
async fn a_stale_lease_is_taken_over() {
    let cluster = FakeCluster::start().await;
    // A crashed run's lease: renewed a minute ago, 15 s duration.
    let stale = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    cluster.create(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "ripcord-run-dr-drill", "namespace": "default"},
        "spec": {"holderIdentity": "crashed-run", "leaseDurationSeconds": 15, "acquireTime": stale, "renewTime": stale, "leaseTransitions": 3}})).unwrap();
    let c = client(&cluster).await;
    let guard = lock::acquire(c, "default", "dr-drill", "run-9", fast())
        .await
        .unwrap();
    let lease = cluster
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            "default",
            "ripcord-run-dr-drill",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "run-9");
    assert_eq!(lease["spec"]["leaseTransitions"], 4);
    drop(guard);
}

#[tokio::test]
async fn of_two_concurrent_runs_exactly_one_proceeds() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    for round in 0..5 {
        let book = format!("book-{round}");
        let (a, b) = tokio::join!(
            lock::acquire(c.clone(), "default", &book, "run-a", fast()),
            lock::acquire(c.clone(), "default", &book, "run-b", fast()),
        );
        let winners = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(winners, 1, "round {round}");
        let loser = if a.is_err() { a.err() } else { b.err() }.unwrap();
        assert!(matches!(loser, LockError::Held { .. }), "{loser}");
    }
}

#[tokio::test]
async fn losing_the_lease_is_signalled() {
    let cluster = FakeCluster::start().await;
    let c = client(&cluster).await;
    let guard = lock::acquire(c, "default", "x", "run-1", fast())
        .await
        .unwrap();
    let lost = guard.lost();
    cluster.modify(
        "coordination.k8s.io/v1",
        "Lease",
        "default",
        "ripcord-run-x",
        |l| l["spec"]["holderIdentity"] = json!("intruder"),
    );
    tokio::time::timeout(Duration::from_secs(5), lost.cancelled())
        .await
        .expect("lost is signalled");
    // Releasing a lease someone else holds leaves it alone.
    guard.release().await.unwrap();
    assert_eq!(
        cluster
            .get(
                "coordination.k8s.io/v1",
                "Lease",
                "default",
                "ripcord-run-x"
            )
            .unwrap()["spec"]["holderIdentity"],
        "intruder"
    );
}

#[test]
fn lease_names() {
    assert_eq!(lock::lease_name("pod-recovery"), "ripcord-run-pod-recovery");
    assert_eq!(lock::lease_name("My_Book!"), "ripcord-run-my-book");
}
