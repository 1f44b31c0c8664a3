//! Planning a generated 5,000-step runbook: load + validate + plan, as `ripcord plan` does.
//!
//! Run: `cargo bench -p ripcord-spec --bench plan`. Target: under 100 ms (docs/performance.md).

use criterion::{Criterion, criterion_group, criterion_main};
use ripcord_spec::{SourceFile, params, plan, validate};

pub mod generate;

// The same allocator as the `ripcord` binary, so the figure is what users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use generate::generated_runbook;

fn bench(c: &mut Criterion) {
    let text = generated_runbook(5_000, 50);
    let mut group = c.benchmark_group("plan");
    group.sample_size(20);
    group.bench_function("validate+plan 5000 steps", |b| {
        b.iter(|| {
            let outcome = validate(SourceFile::new("generated.yaml", text.clone()));
            let validated = outcome.validated.expect("generated runbook is valid");
            let params = params::resolve(&validated.runbook.params, &[], |_| None).unwrap();
            plan::plan(&validated, &params)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
