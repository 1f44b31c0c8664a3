//! 10,000 no-op steps in waves of 100 with the durable journal: the engine's own overhead
//! (scheduling, rendering, journaling with fsync) per step.
//!
//! Run: `cargo bench -p ripcord-engine --bench noop`. Target: 1 s total (docs/performance.md).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use ripcord_engine::run::{Outcome, RunOptions};
use ripcord_engine::session::{self, Operator, Setup};
use ripcord_engine::{Executor, Registry, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::Family;
use ripcord_spec::{SourceFile, params, validate};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Does nothing, instantly: what remains is the engine.
struct Noop;

#[async_trait]
impl Executor for Noop {
    fn family(&self) -> Family {
        Family::Core
    }
    async fn execute(&self, _: StepRequest<'_>) -> Result<StepResult, StepError> {
        Ok(serde_json::json!({}))
    }
}

/// `steps` sleep-0s steps; each wave of `width` needs one step of the wave before.
fn runbook(steps: usize, width: usize) -> String {
    let mut y = String::from(
        "apiVersion: ripcord/v1\nkind: Runbook\nmetadata: {name: noop, version: 1.0.0}\nsteps:\n",
    );
    for i in 0..steps {
        y.push_str(&format!(
            "  - {{id: s{i}, type: sleep, with: {{duration: 0s}}"
        ));
        if i >= width {
            y.push_str(&format!(", needs: [s{}]", i - width));
        }
        y.push_str("}\n");
    }
    y
}

fn bench(c: &mut Criterion) {
    let validated = Arc::new(
        validate(SourceFile::new("noop.yaml", runbook(10_000, 100)))
            .validated
            .expect("valid"),
    );
    let params = params::resolve(&validated.runbook.params, &[], |_| None).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("engine");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("10000 no-op steps, width 100, durable journal", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            rt.block_on(async {
                let mut registry = Registry::new();
                registry.register(Arc::new(Noop), None);
                let setup = Setup {
                    validated: validated.clone(),
                    runbook_path: std::path::Path::new("noop.yaml"),
                    params: &params,
                    registry,
                    runs_dir: dir.path(),
                    options: RunOptions {
                        max_parallel: 100,
                        dry_run: false,
                        cancel: CancellationToken::new(),
                        abandon: CancellationToken::new(),
                        runbook_dir: ".".into(),
                    },
                    operator: Operator {
                        user: "bench".into(),
                        host: "bench".into(),
                    },
                    preapproved: HashSet::new(),
                    interactive: false,
                };
                let engine = session::start(setup).await.unwrap();
                let report = engine.run().await.unwrap();
                assert_eq!(report.outcome, Outcome::Succeeded);
            });
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
