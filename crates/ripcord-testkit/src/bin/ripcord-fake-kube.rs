//! Run the fake Kubernetes API server by hand: `ripcord-fake-kube [--seed FILE.json]...
//! [--kubeconfig-out PATH] [--ready-delay-ms N]`. Prints the kubeconfig path; stops on Ctrl-C.
//! A seed file holds one manifest or a JSON list of manifests, created in order.

use std::time::Duration;

use ripcord_testkit::{FakeCluster, Options};

#[tokio::main]
async fn main() {
    let mut opts = Options::default();
    let mut seeds = Vec::new();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seed" => seeds.push(value()),
            "--kubeconfig-out" => out = Some(value()),
            "--ready-delay-ms" => {
                opts.ready_delay = Duration::from_millis(value().parse().expect("milliseconds"))
            }
            "--nodes" => opts.nodes = value().split(',').map(str::to_owned).collect(),
            other => panic!("unknown argument {other}"),
        }
    }
    let cluster = FakeCluster::start_with(opts).await;
    for seed in seeds {
        let text = std::fs::read_to_string(&seed).unwrap_or_else(|e| panic!("{seed}: {e}"));
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{seed}: {e}"));
        let items = match value {
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        for item in items {
            if let Err(e) = cluster.create(item) {
                eprintln!("{seed}: {}", e.message);
            }
        }
    }
    let path = match out {
        Some(p) => {
            std::fs::copy(cluster.kubeconfig(), &p).expect("write the kubeconfig");
            p
        }
        None => cluster.kubeconfig().display().to_string(),
    };
    println!("{path}");
    let _ = tokio::signal::ctrl_c().await;
}
