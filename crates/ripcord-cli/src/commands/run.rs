//! `run`, `resume` and `retry`: one setup ([`Prepared`]), one driver ([`drive`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ripcord_engine::journal;
use ripcord_engine::run::{Engine, Outcome};
use ripcord_engine::session::{self, Continue, Decisions, RunState};
use ripcord_spec::Effect;
use ripcord_spec::validate::Validated;
use tokio_util::sync::CancellationToken;

use crate::cli::{Globals, KubeArgs, Output};
use crate::error::CliError;
use crate::exit::Done;
use crate::output::{eprint, print};
use crate::progress;
use crate::setup::{self, Prepared, RunFlags};
use crate::store;

pub(super) struct RunArgs {
    pub file: PathBuf,
    pub yes: bool,
    pub dry_run: bool,
    /// Prometheus textfile updated when the run ends (`--metrics-file`).
    pub metrics_file: Option<PathBuf>,
    /// Hold the runbook's Kubernetes Lease while running (`--lock`).
    pub lock: bool,
    pub flags: RunFlags,
}

pub(super) enum How {
    Resume {
        assume_done: Vec<String>,
        rerun: Vec<String>,
    },
    Retry(String),
}

pub(super) fn run(globals: &Globals, args: RunArgs) -> Result<Done, CliError> {
    let validated = setup::load(&args.file, globals.color, "not run")?;
    let params = setup::resolve(&validated, &args.flags.params, Vec::new())?;
    if let Some(step) = args
        .flags
        .approve
        .iter()
        .find(|s| validated.index_of(s).is_none())
    {
        return Err(CliError::UnknownApproveStep(step.clone()));
    }
    confirm(&validated, args.yes, args.dry_run)?;
    let mut prepared = Prepared::new(
        globals,
        validated,
        params,
        &args.file,
        args.dry_run,
        &args.flags,
    )?;
    let runs_dir = &globals.runs_dir;
    let runbook = prepared.validated.runbook.metadata.name.clone();
    let (output, rto) = (prepared.output, prepared.rto());
    setup::runtime().block_on(async move {
        let (cancel, abandon) = prepared.cancel_tokens();
        watch_signals(cancel.clone(), abandon);
        // The lock comes first: a run refused for it is not started, so it leaves no journal
        // for `status` to list or `resume` to pick up.
        let run_id = session::new_run_id(&runbook);
        let lock = if args.lock {
            let guard = take_lock(&globals.kube, &runbook, &run_id, &cancel).await?;
            if cancel.is_cancelled() {
                // Ctrl-C while the lock was being taken: still nothing to journal.
                release(guard).await;
                eprint(&format!("cancelled; run {run_id} not started\n"));
                return Ok(Done::Cancelled);
            }
            Some(guard)
        } else {
            None
        };
        let engine = match session::start_as(prepared.setup(runs_dir), &run_id).await {
            Ok(engine) => engine,
            Err(e) => {
                if let Some(guard) = lock {
                    release(guard).await;
                }
                return Err(e.into());
            }
        };
        let result = drive(engine, runs_dir, output, rto).await;
        if let Some(guard) = lock {
            release(guard).await;
        }
        if let Some(path) = &args.metrics_file {
            crate::metrics::write_metrics(path, runs_dir, &run_id);
        }
        result
    })
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

fn confirm(validated: &Validated, yes: bool, dry_run: bool) -> Result<(), CliError> {
    let (writes, irreversible) = changes(validated);
    if yes || dry_run || writes + irreversible == 0 {
        return Ok(());
    }
    let what =
        format!("{writes} step(s) that change things and {irreversible} irreversible step(s)");
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsYes(what));
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
        Err(CliError::Declined)
    }
}

/// `run --lock`: hold the runbook's Lease for this run (holder = run id); losing it cancels
/// the run. A live holder refuses the run at once, naming it.
async fn take_lock(
    kube: &KubeArgs,
    runbook: &str,
    run_id: &str,
    cancel: &CancellationToken,
) -> Result<ripcord_kube::lock::LockGuard, CliError> {
    let guard = ripcord_kube::lock::acquire_for_run(&kube.options(), runbook, run_id)
        .await
        .map_err(|source| CliError::Lock {
            source: Box::new(source),
            run: run_id.to_owned(),
        })?;
    let (lost, cancel) = (guard.lost(), cancel.clone());
    tokio::spawn(async move {
        lost.cancelled().await;
        eprint("error: the run lock was lost; cancelling the run\n");
        cancel.cancel();
    });
    Ok(guard)
}

/// Give the Lease back; a failure only warns (it expires on its own).
async fn release(guard: ripcord_kube::lock::LockGuard) {
    if let Err(e) = guard.release().await {
        eprint(&format!("warning: {e}\n"));
    }
}

/// `resume` and `retry`: continue a run from its journal.
pub(super) fn resume(
    globals: &Globals,
    run: &str,
    how: How,
    flags: RunFlags,
) -> Result<Done, CliError> {
    let runs_dir = &globals.runs_dir;
    let run_id = store::run_id(runs_dir, run)?;
    let (state, _) = session::load(runs_dir, &run_id).map_err(|source| CliError::ReadRun {
        run: run_id.clone(),
        source,
    })?;
    let path = state
        .runbook_path()
        .ok_or_else(|| CliError::NoRunStarted(run_id.clone()))?;
    warn_started_elsewhere(&state);
    let validated = setup::load(&path, false, "not run")?;
    let params = setup::resolve(&validated, &flags.params, state.recorded_params())?;
    let how = match how {
        How::Resume { assume_done, rerun } => Continue::Resume(Decisions {
            assume_done: assume_done.into_iter().collect(),
            rerun: rerun.into_iter().collect(),
        }),
        How::Retry(step) => Continue::Retry(step),
    };
    // A dry run stays a dry run when it is continued.
    let mut prepared = Prepared::new(globals, validated, params, &path, state.dry_run(), &flags)?;
    let (output, rto) = (prepared.output, prepared.rto());
    setup::runtime().block_on(async move {
        let (cancel, abandon) = prepared.cancel_tokens();
        watch_signals(cancel, abandon);
        let engine = session::resume(prepared.setup(runs_dir), &run_id, how).await?;
        drive(engine, runs_dir, output, rto).await
    })
}

fn warn_started_elsewhere(state: &RunState) {
    for (step, p) in state.started_elsewhere() {
        eprint(&format!(
            "warning: step `{step}` started `{}` (pid {}) on {}; this machine cannot tell \
             whether it still runs: check there before going on\n",
            p.program,
            p.pgid,
            p.host.as_deref().unwrap_or("another machine")
        ));
    }
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

/// Run an engine with progress, then print the summary; the outcome decides how it is `Done`.
async fn drive(
    engine: Arc<Engine>,
    runs_dir: &Path,
    output: Output,
    rto: Option<Duration>,
) -> Result<Done, CliError> {
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
    let report = result?;
    if output == Output::Text {
        print_summary(runs_dir, &run_id);
    }
    Ok(match report.outcome {
        Outcome::Succeeded => Done::Ok,
        Outcome::Failed => Done::RunFailed,
        Outcome::Cancelled => Done::Cancelled,
    })
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
