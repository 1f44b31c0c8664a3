//! Quick timing of the phases of `ripcord plan` on a generated runbook (a profiling aid; the
//! benchmark of record is `cargo bench -p ripcord-spec --bench plan`).
#[path = "../benches/generate.rs"]
pub mod generate;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let text = generate::generated_runbook(steps, 50);
    let t = Instant::now();
    let source = ripcord_spec::SourceFile::new("g.yaml", text);
    let root = ripcord_spec::node::parse(&source).unwrap();
    println!("parse     {:?}", t.elapsed());
    drop(root);
    let t = Instant::now();
    let outcome = ripcord_spec::validate(source);
    println!("validate  {:?}", t.elapsed());
    let v = outcome.validated.unwrap();
    let t = Instant::now();
    let p = ripcord_spec::params::resolve(&v.runbook.params, &[], |_| None).unwrap();
    let plan = ripcord_spec::plan::plan(&v, &p);
    println!("plan      {:?} ({} steps)", t.elapsed(), plan.steps.len());
}
