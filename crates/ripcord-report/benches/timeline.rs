//! The timeline of a 100,000-event journal: verify, build, render (Markdown, HTML, JSON).
//!
//! The journal is sealed line by line exactly as the engine's writer does (hash of the line up
//! to `,"hash":`, chained through `prev`) and must pass `journal::verify` before anything is
//! measured. 25,000 steps in waves of 100, each with a start, a gate and an end, some with a
//! failed first attempt and a retry, some with polls.
//!
//! Run: `cargo bench -p ripcord-report --bench timeline`. Target: under 1 s for what
//! `ripcord timeline RUN` does (verify + build + render); figures in docs/performance.md.
//! `RIPCORD_BENCH_RUNS=DIR` also leaves the journal in DIR/bench-run for timing the command.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ripcord_engine::EventKind;
use ripcord_engine::journal::{self, GENESIS};
use ripcord_report::timeline::{self, Verification};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The allocator the `ripcord` binary uses, so the figures are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const EVENTS: usize = 100_000;

/// A journal line without its hash, in the writer's field order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    ts: &'a str,
    run: &'a str,
    step: Option<&'a str>,
    attempt: Option<u32>,
    event: EventKind,
    data: &'a Value,
    prev: &'a str,
}

struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    seq: u64,
    prev: String,
    t0: chrono::DateTime<chrono::Utc>,
}

impl Writer {
    fn line(
        &mut self,
        at_ms: u64,
        step: Option<&str>,
        attempt: Option<u32>,
        event: EventKind,
        data: Value,
    ) {
        self.seq += 1;
        let ts = (self.t0 + chrono::Duration::milliseconds(at_ms as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let body = Body {
            seq: self.seq,
            ts: &ts,
            run: "bench-run",
            step,
            attempt,
            event,
            data: &data,
            prev: &self.prev,
        };
        let json = serde_json::to_string(&body).unwrap();
        let prefix = &json[..json.len() - 1];
        let hash: String = Sha256::digest(prefix.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        writeln!(self.out, "{prefix},\"hash\":\"{hash}\"}}").unwrap();
        self.prev = hash;
    }
}

/// Write a journal of exactly `events` records to `path`.
pub fn generate(path: &Path, events: usize) {
    let mut w = Writer {
        out: std::io::BufWriter::new(std::fs::File::create(path).unwrap()),
        seq: 0,
        prev: GENESIS.to_owned(),
        t0: chrono::DateTime::parse_from_rfc3339("2025-03-01T02:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    };
    w.line(0, None, None, EventKind::RunStarted, json!({
        "runbook": "bench", "version": "1.0.0", "sha256": "0".repeat(64), "path": "/bench.yaml",
        "params": {"region": "eu-west-1"}, "labels": {"severity": "P1"}, "rto": "15m", "rpo": "1h",
        "user": "bench", "host": "bench", "ripcord_version": "0.1.0", "dry_run": false
    }));
    let mut step = 0usize;
    // Leave room for run_finished; each step takes 3 to 6 records.
    while events - 1 - w.seq as usize >= 2 {
        let wave = step / 100;
        let id = format!("step_{step:05}");
        let start = 1 + wave as u64 * 40 + (step % 100) as u64 / 10;
        let left = events - 1 - w.seq as usize;
        let started = json!({"type": "shell", "effect": "write", "idempotent": false, "timeout_ms": 300000,
            "attempts": 2, "dry_run": false, "with": {"argv": ["sh", "-c", format!("restore --part {step}")]}});
        let mut t = start;
        let retried = step.is_multiple_of(10) && left >= 6;
        if retried {
            w.line(
                t,
                Some(&id),
                Some(1),
                EventKind::StepStarted,
                started.clone(),
            );
            t += 3;
            w.line(t, Some(&id), Some(1), EventKind::AttemptFailed,
                json!({"error": "`sh` exited with code 1 (accepted: 0); stderr:\nconnection refused", "retry_in_ms": 5}));
            t += 5;
            w.line(t, Some(&id), Some(2), EventKind::StepStarted, started);
        } else {
            w.line(t, Some(&id), Some(1), EventKind::StepStarted, started);
        }
        let attempt = if retried { 2 } else { 1 };
        let left = events - 1 - w.seq as usize;
        if step % 5 == 1 && left >= 3 {
            t += 4;
            w.line(
                t,
                Some(&id),
                Some(attempt),
                EventKind::Poll,
                json!({"n": 1, "expr": "result.status == 200", "satisfied": true}),
            );
        }
        let left = events - 1 - w.seq as usize;
        if left >= 2 {
            t += 2;
            w.line(t, Some(&id), Some(attempt), EventKind::Gate,
                json!({"name": "restored", "expr": "result.exit_code == 0", "passed": true, "message": null}));
        }
        t += 10 + (step % 7) as u64 * 3;
        w.line(t, Some(&id), Some(attempt), EventKind::StepSucceeded,
            json!({"outputs": {"part": step}, "result": {"stdout": "ok\n", "stderr": "", "exit_code": 0, "truncated": false}}));
        step += 1;
    }
    let end = 1 + (step / 100) as u64 * 40 + 100;
    while (w.seq as usize) < events - 1 {
        w.line(
            end - 1,
            None,
            None,
            EventKind::Note,
            json!({"kind": "padding", "data": {}}),
        );
    }
    w.line(
        end,
        None,
        None,
        EventKind::RunFinished,
        json!({"outcome": "succeeded", "failed_steps": [], "elapsed_ms": end}),
    );
    w.out.flush().unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    generate(&path, EVENTS);
    // To time the command itself: RIPCORD_BENCH_RUNS=DIR keeps the journal as run `bench-run`
    // there (`ripcord timeline bench-run --runs-dir DIR`).
    if let Some(runs) = std::env::var_os("RIPCORD_BENCH_RUNS") {
        let keep = Path::new(&runs).join("bench-run");
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&path, keep.join("journal.jsonl")).unwrap();
    }
    let report = journal::verify(&path).unwrap();
    assert!(
        report.problem.is_none(),
        "the generated journal verifies: {:?}",
        report.problem
    );
    assert_eq!(report.records.len(), EVENTS);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let t = timeline::build(&report.records, Verification::from_report(&report), None);
    eprintln!(
        "journal: {EVENTS} events, {:.1} MB, {} steps; markdown {:.1} MB, html {:.1} MB, json {:.1} MB",
        bytes as f64 / 1e6,
        t.steps.len(),
        timeline::markdown(&t).len() as f64 / 1e6,
        timeline::html(&t).len() as f64 / 1e6,
        timeline::json(&t).len() as f64 / 1e6,
    );

    let mut g = c.benchmark_group("timeline_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("verify", |b| b.iter(|| journal::verify(&path).unwrap()));
    g.bench_function("build", |b| {
        b.iter(|| timeline::build(&report.records, Verification::verified(EVENTS), None))
    });
    g.bench_function("markdown", |b| b.iter(|| timeline::markdown(&t)));
    g.bench_function("html", |b| b.iter(|| timeline::html(&t)));
    g.bench_function("json", |b| b.iter(|| timeline::json(&t)));
    for (name, render) in [
        (
            "verify+build+markdown",
            timeline::markdown as fn(&timeline::Timeline) -> String,
        ),
        ("verify+build+html", timeline::html),
        ("verify+build+json", timeline::json),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let report = journal::verify(&path).unwrap();
                let t = timeline::build(&report.records, Verification::from_report(&report), None);
                render(&t)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
