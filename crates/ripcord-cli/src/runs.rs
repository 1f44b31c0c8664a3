//! `run`, `resume`, `retry`, `status`, `approve`, `verify`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ripcord_engine::Registry;
use ripcord_engine::approvals::{Approvals, Decision};
use ripcord_engine::journal;
use ripcord_engine::run::{Outcome, RunOptions};
use ripcord_engine::session::{self, Continue, Decisions, Operator, SessionError, Setup};
use ripcord_spec::Effect;
use ripcord_spec::params::{self, Params};
use ripcord_spec::validate::Validated;
use tokio_util::sync::CancellationToken;

use crate::cli::{DiagnosticFormat, Output};
use crate::commands::{eprint, param_from_env, print, read_source, report, report_param_errors};
use crate::exit::Exit;
use crate::progress;

pub struct RunArgs {
    pub file: PathBuf,
    pub params: Vec<String>,
    pub yes: bool,
    pub approve: Vec<String>,
    pub max_parallel: usize,
    pub limits: Vec<String>,
    pub dry_run: bool,
    pub output: Output,
    pub runs_dir: PathBuf,
    pub color: bool,
    /// Prometheus textfile updated when the run ends (`--metrics-file`).
    pub metrics_file: Option<PathBuf>,
    /// Hold the runbook's Kubernetes Lease while running (`--lock`).
    pub lock: bool,
}

pub struct ContinueArgs {
    pub params: Vec<String>,
    pub approve: Vec<String>,
    pub max_parallel: usize,
    pub output: Output,
}

pub enum How {
    Resume {
        assume_done: Vec<String>,
        rerun: Vec<String>,
    },
    Retry(String),
}

/// Async worker threads when `RIPCORD_WORKER_THREADS` does not say otherwise.
///
/// A run waits on APIs, processes and people; its own work per request is a fraction of a
/// millisecond. One worker keeps every task's wake-ups on one thread, which costs measurably
/// less CPU than a pool (an s3.sync of 20,000 objects: 3.7-4.0 s against 4.9-5.4 s with two
/// workers, see docs/performance.md) and leaves the cores to the services being recovered. A sync of
/// hundreds of copies in flight against a far endpoint can use more: set the variable.
const DEFAULT_WORKER_THREADS: usize = 1;

fn runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("RIPCORD_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_WORKER_THREADS);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Validate a file into a runbook, reporting problems.
fn load(path: &Path, color: bool) -> Result<Arc<Validated>, Exit> {
    let source = read_source(path)?;
    let outcome = ripcord_spec::validate(source);
    if outcome.has_errors() {
        report(&outcome, DiagnosticFormat::Human, color);
        eprint(&format!("{}: invalid, not run\n", path.display()));
        return Err(Exit::Invalid);
    }
    Ok(Arc::new(
        outcome.validated.expect("no errors means validated"),
    ))
}

fn resolve(
    validated: &Validated,
    given: &[String],
    recorded: Vec<(String, String)>,
) -> Result<Params, Exit> {
    let given = params::parse_assignments(given).map_err(|e| {
        report_param_errors(&[e]);
        Exit::Invalid
    })?;
    // Recorded values first, so values given now win.
    let all: Vec<(String, String)> = recorded.into_iter().chain(given).collect();
    params::resolve(&validated.runbook.params, &all, param_from_env).map_err(|errors| {
        report_param_errors(&errors);
        Exit::Invalid
    })
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    ripcord_builtin::register(&mut registry);
    ripcord_aws::register(
        &mut registry,
        crate::cli::AwsArgs::from_command_line().settings(),
    );
    ripcord_kube::register(
        &mut registry,
        crate::cli::KubeArgs::from_command_line().options(),
    );
    registry
}

/// Refuse, before anything runs, a runbook whose step types have no executor in this build.
fn check_executors(validated: &Validated, registry: &Registry) -> Result<(), Exit> {
    let mut missing: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (i, info) in validated.steps.iter().enumerate() {
        let mut kinds = vec![info.kind];
        kinds.extend(info.compensate.as_ref().map(|(k, _)| *k));
        for kind in kinds {
            if registry.executor(kind).is_none() {
                missing
                    .entry(kind.name())
                    .or_default()
                    .push(&validated.step(i).id);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(kind, steps)| format!("  {kind} (steps: {})", steps.join(", ")))
        .collect();
    eprint(&format!(
        "error: this build of ripcord has no executor for these step types, so nothing was run:\n{}\n",
        list.join("\n")
    ));
    Err(Exit::Usage)
}

/// `--limit FAMILY=N`: per-family limits on steps in flight.
fn apply_limits(registry: &mut Registry, limits: &[String]) -> Result<(), Exit> {
    for limit in limits {
        let parsed = limit
            .split_once('=')
            .and_then(|(family, n)| Some((family.trim(), n.trim().parse::<usize>().ok()?)));
        let Some((family, n)) = parsed else {
            eprint(&format!(
                "error: --limit `{limit}` is not FAMILY=N (e.g. kube=4)\n"
            ));
            return Err(Exit::Usage);
        };
        if !registry.set_limit(family, n) {
            let known: Vec<&str> = registry
                .families()
                .into_iter()
                .map(ripcord_spec::catalog::Family::as_str)
                .collect();
            eprint(&format!(
                "error: --limit: this build has no `{family}` executors (it has: {})\n",
                known.join(", ")
            ));
            return Err(Exit::Usage);
        }
    }
    Ok(())
}

/// Cancel on the first Ctrl-C / SIGTERM, abandon clean-up on the second.
fn watch_signals(cancel: CancellationToken, abandon: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        for n in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if n == 0 {
                eprint(
                    "\ncancelling: stopping running steps; compensation and `finally` will run (signal again to abandon them)\n",
                );
                cancel.cancel();
            } else {
                eprint("\nabandoning compensation and `finally`\n");
                abandon.cancel();
            }
        }
    });
}

fn options(max_parallel: usize, dry_run: bool, runbook: &Path) -> RunOptions {
    RunOptions {
        max_parallel,
        dry_run,
        cancel: CancellationToken::new(),
        abandon: CancellationToken::new(),
        runbook_dir: runbook
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned),
    }
}

/// Steps that will change something, for the confirmation.
fn changes(validated: &Validated) -> (usize, usize) {
    let mut writes = 0;
    let mut irreversible = 0;
    for info in &validated.steps {
        match info.effect {
            Effect::Read => {}
            Effect::Write => writes += 1,
            Effect::Irreversible => irreversible += 1,
        }
    }
    (writes, irreversible)
}

fn confirm(validated: &Validated, yes: bool, dry_run: bool) -> Result<(), Exit> {
    let (writes, irreversible) = changes(validated);
    if yes || dry_run || writes + irreversible == 0 {
        return Ok(());
    }
    let what =
        format!("{writes} step(s) that change things and {irreversible} irreversible step(s)");
    if !std::io::stdin().is_terminal() {
        eprint(&format!(
            "error: this run has {what}; pass --yes to run it without a terminal (see `ripcord plan` first)\n"
        ));
        return Err(Exit::Usage);
    }
    eprint(&format!(
        "{}@{} has {what}. Proceed? [y/N] ",
        validated.runbook.metadata.name, validated.runbook.metadata.version
    ));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        eprint("not run\n");
        Err(Exit::Usage)
    }
}

pub fn run(args: RunArgs) -> Exit {
    let validated = match load(&args.file, args.color) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let params = match resolve(&validated, &args.params, Vec::new()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    for step in &args.approve {
        if validated.index_of(step).is_none() {
            eprint(&format!("error: --approve names unknown step `{step}`\n"));
            return Exit::Usage;
        }
    }
    if let Err(code) = confirm(&validated, args.yes, args.dry_run) {
        return code;
    }
    let rto = validated
        .runbook
        .objectives
        .as_ref()
        .and_then(|o| o.rto)
        .map(|d| d.0);
    let mut registry = registry();
    if let Err(code) = apply_limits(&mut registry, &args.limits)
        .and_then(|()| check_executors(&validated, &registry))
    {
        return code;
    }
    let options = options(args.max_parallel, args.dry_run, &args.file);
    let runs_dir = args.runs_dir.clone();
    let runbook_name = validated.runbook.metadata.name.clone();
    let cancel = options.cancel.clone();
    runtime().block_on(async move {
        watch_signals(options.cancel.clone(), options.abandon.clone());
        let setup = Setup {
            validated: validated.clone(),
            runbook_path: &args.file,
            params: &params,
            registry,
            runs_dir: &runs_dir,
            options,
            operator: Operator::from_environment(),
            preapproved: args.approve.iter().cloned().collect(),
            interactive: std::io::stdin().is_terminal() && args.output == Output::Text,
        };
        // The lock comes first: a run refused for it is not started, so it leaves no journal
        // for `status` to list or `resume` to pick up.
        let run_id = session::new_run_id(&runbook_name);
        let lock = if args.lock {
            match take_lock(&runbook_name, &run_id, &cancel).await {
                Ok(guard) if cancel.is_cancelled() => {
                    // Ctrl-C while the lock was being taken: still nothing to journal.
                    if let Err(e) = guard.release().await {
                        eprint(&format!("warning: {e}\n"));
                    }
                    eprint(&format!("cancelled; run {run_id} not started\n"));
                    return Exit::Cancelled;
                }
                Ok(guard) => Some(guard),
                Err(code) => return code,
            }
        } else {
            None
        };
        let (code, started) = match session::start_as(setup, &run_id).await {
            Ok(engine) => (drive(engine, &runs_dir, args.output, rto).await, true),
            Err(e) => {
                eprint(&format!("error: {e}\n"));
                (Exit::Usage, false)
            }
        };
        if let Some(guard) = lock
            && let Err(e) = guard.release().await
        {
            eprint(&format!("warning: {e}\n"));
        }
        if started && let Some(path) = &args.metrics_file {
            crate::timeline::write_metrics(path, &runs_dir, &run_id);
        }
        code
    })
}

/// `run --lock`: hold the runbook's Lease for this run (holder = run id); losing it cancels
/// the run. A live holder fails the run at once, naming it.
async fn take_lock(
    runbook: &str,
    run_id: &str,
    cancel: &CancellationToken,
) -> Result<ripcord_kube::lock::LockGuard, Exit> {
    let options = crate::cli::KubeArgs::from_command_line().options();
    match ripcord_kube::lock::acquire_for_run(&options, runbook, run_id).await {
        Ok(guard) => {
            let (lost, cancel) = (guard.lost(), cancel.clone());
            tokio::spawn(async move {
                lost.cancelled().await;
                eprint("error: the run lock was lost; cancelling the run\n");
                cancel.cancel();
            });
            Ok(guard)
        }
        Err(e) => {
            eprint(&format!("error: {e}; run {run_id} not started\n"));
            Err(Exit::RunFailed)
        }
    }
}

/// Run an engine with progress, then print the summary; the exit code follows the outcome.
async fn drive(
    engine: Arc<ripcord_engine::run::Engine>,
    runs_dir: &Path,
    output: Output,
    rto: Option<Duration>,
) -> Exit {
    let run_id = engine.journal().run_id().to_owned();
    let terminal = std::io::stderr().is_terminal();
    let mode = progress::Mode::choose(output, terminal);
    // Subscribe, then read what is already on disk (run_started, a resume's records): nothing
    // is appended in between, because the engine has not started.
    let rx = engine.journal().subscribe();
    let earlier: Vec<Arc<ripcord_engine::Record>> = journal::verify(engine.journal().path())
        .map(|r| r.records.into_iter().map(Arc::new).collect())
        .unwrap_or_default();
    let reporter = tokio::spawn(progress::report(rx, earlier, mode, rto));
    if output == Output::Text {
        eprint(&format!(
            "run {run_id}: journal {}\n",
            engine.journal().path().display()
        ));
    }
    let result = engine.run().await;
    // The reporter ends when the journal (held by the engine) is dropped.
    let _ = tokio::time::timeout(Duration::from_secs(5), reporter).await;
    // Processes of steps cut short get their last signal from a helper thread: let it finish.
    ripcord_builtin::wait_for_cleanup(Duration::from_secs(3));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprint(&format!("error: {e}\n"));
            return Exit::Usage;
        }
    };
    if output == Output::Text {
        print_summary(runs_dir, &run_id);
    }
    match report.outcome {
        Outcome::Succeeded => Exit::Ok,
        Outcome::Failed => Exit::RunFailed,
        Outcome::Cancelled => Exit::Cancelled,
    }
}

fn print_summary(runs_dir: &Path, run_id: &str) {
    match journal::verify(&journal::journal_path(runs_dir, run_id)) {
        Ok(report) => {
            let verified = report
                .problem
                .as_ref()
                .map_or(Ok(()), |p| Err(p.to_string()));
            print(&format!(
                "\n{}",
                ripcord_report::summary::text(&report.records, verified)
            ));
        }
        Err(e) => eprint(&format!("error: cannot read the journal: {e}\n")),
    }
}

/// A run id from the command line: an id, or `last` for the newest run.
pub(crate) fn run_id(runs_dir: &Path, given: &str) -> Result<String, Exit> {
    if given != "last" && given != "latest" {
        if journal::journal_path(runs_dir, given).exists() {
            return Ok(given.to_owned());
        }
        eprint(&format!(
            "error: no run `{given}` in {} (see `ripcord status`)\n",
            runs_dir.display()
        ));
        return Err(Exit::Usage);
    }
    let newest = list_runs(runs_dir)
        .into_iter()
        .max_by_key(|(_, modified)| *modified)
        .map(|(id, _)| id);
    newest.ok_or_else(|| {
        eprint(&format!("error: no runs in {}\n", runs_dir.display()));
        Exit::Usage
    })
}

fn list_runs(runs_dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let modified = std::fs::metadata(e.path().join("journal.jsonl"))
                .ok()?
                .modified()
                .ok()?;
            Some((id, modified))
        })
        .collect()
}

pub fn resume(runs_dir: &Path, run: &str, how: How, args: ContinueArgs) -> Exit {
    let run_id = match run_id(runs_dir, run) {
        Ok(id) => id,
        Err(code) => return code,
    };
    let (state, _) = match session::load(runs_dir, &run_id) {
        Ok(pair) => pair,
        Err(e) => {
            eprint(&format!("error: cannot read run `{run_id}`: {e}\n"));
            return Exit::Usage;
        }
    };
    let Some(path) = state.runbook_path() else {
        eprint(&format!(
            "error: run `{run_id}` has no run_started record\n"
        ));
        return Exit::Usage;
    };
    for (step, p) in state.started_elsewhere() {
        eprint(&format!(
            "warning: step `{step}` started `{}` (pid {}) on {}; this machine cannot tell \
             whether it still runs: check there before going on\n",
            p.program,
            p.pgid,
            p.host.as_deref().unwrap_or("another machine")
        ));
    }
    let validated = match load(&path, false) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let params = match resolve(&validated, &args.params, state.recorded_params()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rto = validated
        .runbook
        .objectives
        .as_ref()
        .and_then(|o| o.rto)
        .map(|d| d.0);
    let how = match how {
        How::Resume { assume_done, rerun } => Continue::Resume(Decisions {
            assume_done: assume_done.into_iter().collect(),
            rerun: rerun.into_iter().collect(),
        }),
        How::Retry(step) => Continue::Retry(step),
    };
    if let Err(code) = check_executors(&validated, &registry()) {
        return code;
    }
    // A dry run stays a dry run when it is continued.
    let options = options(args.max_parallel, state.dry_run(), &path);
    runtime().block_on(async move {
        watch_signals(options.cancel.clone(), options.abandon.clone());
        let setup = Setup {
            validated: validated.clone(),
            runbook_path: &path,
            params: &params,
            registry: registry(),
            runs_dir,
            options,
            operator: Operator::from_environment(),
            preapproved: args.approve.iter().cloned().collect::<HashSet<_>>(),
            interactive: std::io::stdin().is_terminal() && args.output == Output::Text,
        };
        match session::resume(setup, &run_id, how).await {
            Ok(engine) => drive(engine, runs_dir, args.output, rto).await,
            Err(e @ SessionError::NeedsDecision(_)) => {
                eprint(&format!("{e}\n"));
                Exit::NeedsDecision
            }
            Err(e @ SessionError::StillRunning { .. }) => {
                eprint(&format!("error: {e}\n"));
                Exit::NeedsDecision
            }
            Err(e) => {
                eprint(&format!("error: {e}\n"));
                Exit::Usage
            }
        }
    })
}

pub fn status(runs_dir: &Path, run: Option<&str>) -> Exit {
    let Some(run) = run else {
        let mut runs = list_runs(runs_dir);
        runs.sort_by_key(|(_, m)| *m);
        if runs.is_empty() {
            print(&format!("no runs in {}\n", runs_dir.display()));
        }
        for (id, _) in runs {
            let outcome = session::load(runs_dir, &id)
                .map(|(state, report)| {
                    let o = state.outcome().unwrap_or("unfinished").to_owned();
                    if report.problem.is_some() {
                        format!("{o} (journal damaged)")
                    } else {
                        o
                    }
                })
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            print(&format!("{id:<60} {outcome}\n"));
        }
        return Exit::Ok;
    };
    let run_id = match run_id(runs_dir, run) {
        Ok(id) => id,
        Err(code) => return code,
    };
    match journal::verify(&journal::journal_path(runs_dir, &run_id)) {
        Ok(report) => {
            let verified = report
                .problem
                .as_ref()
                .map_or(Ok(()), |p| Err(p.to_string()));
            print(&ripcord_report::summary::text(&report.records, verified));
            Exit::Ok
        }
        Err(e) => {
            eprint(&format!("error: cannot read run `{run_id}`: {e}\n"));
            Exit::Usage
        }
    }
}

pub fn approve(runs_dir: &Path, run: &str, step: &str, by: &str, reject: bool) -> Exit {
    let run_id = match run_id(runs_dir, run) {
        Ok(id) => id,
        Err(code) => return code,
    };
    match session::load(runs_dir, &run_id) {
        Ok((state, _)) if state.finished.is_some() => {
            eprint(&format!(
                "error: run {run_id} already finished ({}); nothing is waiting for approval\n",
                state.outcome().unwrap_or("?")
            ));
            return Exit::Usage;
        }
        Ok((state, _))
            if state.steps.contains_key(step)
                && !matches!(
                    state.steps.get(step),
                    Some(session::Replayed::InFlight { .. })
                ) =>
        {
            eprint(&format!(
                "error: step `{step}` of run {run_id} is not waiting for a decision\n"
            ));
            return Exit::Usage;
        }
        _ => {}
    }
    let decision = Decision {
        approved: !reject,
        by: by.to_owned(),
        at: ripcord_engine::approvals::now(),
        via: "cli".into(),
    };
    match Approvals::decide(&journal::run_dir(runs_dir, &run_id), step, &decision) {
        Ok(_) => {
            print(&format!(
                "{} step `{step}` of run {run_id} as {by}\n",
                if reject { "rejected" } else { "approved" }
            ));
            Exit::Ok
        }
        Err(e) => {
            eprint(&format!("error: cannot record the decision: {e}\n"));
            Exit::Usage
        }
    }
}

pub fn verify(runs_dir: &Path, run: &str) -> Exit {
    let run_id = match run_id(runs_dir, run) {
        Ok(id) => id,
        Err(code) => return code,
    };
    let path = journal::journal_path(runs_dir, &run_id);
    match journal::verify(&path) {
        Ok(report) => match report.problem {
            None => {
                print(&format!(
                    "{}: {} events, hash chain intact\n",
                    path.display(),
                    report.records.len()
                ));
                Exit::Ok
            }
            Some(p) => {
                eprint(&format!(
                    "{}:{}: journal verification failed: {}\n",
                    path.display(),
                    p.line,
                    p.reason
                ));
                Exit::Invalid
            }
        },
        Err(e) => {
            eprint(&format!("error: cannot read {}: {e}\n", path.display()));
            Exit::Usage
        }
    }
}
