//! Runs as things people start, continue and inspect: new runs, resume and retry. A run's state
//! rebuilt from its journal is [`crate::state::RunState`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ripcord_spec::model::Objectives;
use ripcord_spec::params::Params;
use ripcord_spec::validate::{Phase, Validated};
use ripcord_spec::values::HumanDuration;
use serde_json::{Value as Json, json};

use crate::approvals::Approvals;
use crate::context::Status;
use crate::events::{Decision, DecisionAction, ResumeMode, RunResumed, RunStarted};
use crate::executor::Registry;
use crate::journal::{self, Journal, JournalError, ReopenError};
use crate::redact::Redactor;
use crate::run::{Engine, RunOptions};
pub use crate::state::{Replayed, RunState};

/// Who started the run and where, for the journal.
#[derive(Clone, Debug)]
pub struct Operator {
    /// User name.
    pub user: String,
    /// Host name.
    pub host: String,
}

impl Operator {
    /// From `$RIPCORD_USER`, `$USER` or `$LOGNAME`, and the host name.
    pub fn from_environment() -> Self {
        let user = ["RIPCORD_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Self { user, host }
    }
}

/// `<runbook>-<UTC time>-<4 hex>`: sortable, unique enough, readable in a terminal.
pub fn new_run_id(runbook: &str) -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let suffix: u16 = rand::random();
    format!("{runbook}-{now}-{suffix:04x}")
}

/// Everything needed to run or continue a run.
pub struct Setup<'a> {
    /// The runbook, validated.
    pub validated: Arc<Validated>,
    /// The runbook file, hashed into the journal so a resume can tell it changed.
    pub runbook_path: &'a Path,
    /// The params given on the command line.
    pub params: &'a Params,
    /// The executors available.
    pub registry: Registry,
    /// The directory holding one directory per run.
    pub runs_dir: &'a Path,
    /// Parallelism, dry run, cancel tokens, runbook directory.
    pub options: RunOptions,
    /// Who runs it, for the journal and approvals.
    pub operator: Operator,
    /// Steps approved up front (`--approve STEP`).
    pub preapproved: HashSet<String>,
    /// Ask approvals on the terminal.
    pub interactive: bool,
}

#[derive(Debug, thiserror::Error)]
/// Why a run could not be started, resumed or retried.
pub enum SessionError {
    #[error(transparent)]
    /// The journal could not be created or written.
    Journal(#[from] JournalError),
    #[error(transparent)]
    /// The existing journal could not be reopened.
    Reopen(#[from] ReopenError),
    #[error("run `{0}` has no run_started record")]
    /// The journal does not start with `run_started`.
    NotARun(String),
    #[error("run `{run}` already finished ({outcome}); {hint}")]
    /// The run already ended in a way resume cannot continue.
    Finished {
        /// The run id.
        run: String,
        /// How it ended.
        outcome: String,
        /// What to do instead.
        hint: String,
    },
    #[error(
        "the runbook changed since run `{run}` started (sha256 {then} -> {now}); resume with the same file"
    )]
    /// The runbook file's SHA-256 differs from the one journaled at the start.
    RunbookChanged {
        /// The run id.
        run: String,
        /// The hash journaled at the start.
        then: String,
        /// The hash of the file now.
        now: String,
    },
    #[error("possibly applied: {}", describe_undecided(.0))]
    /// These steps started and never ended: `--assume-done` or `--rerun` must say what to do with each.
    NeedsDecision(Vec<String>),
    #[error(
        "step `{step}` is still running: its program `{program}` (pid {pgid}), started by the \
         interrupted run, is alive. Wait for it to end, or stop its process group \
         (`kill -TERM -- -{pgid}`), then try again"
    )]
    /// A step's program from the interrupted run is still alive.
    StillRunning {
        /// The step id.
        step: String,
        /// The program's process group id.
        pgid: i32,
        /// The program that was started.
        program: String,
    },
    #[error("step `{step}` {why}")]
    /// A step named in a resume or retry cannot be used that way.
    BadStep {
        /// The step id as given.
        step: String,
        /// What is wrong with it, worded to follow the step id.
        why: String,
    },
}

fn describe_undecided(steps: &[String]) -> String {
    format!(
        "step(s) {} started but did not finish, and re-running them is not known to be safe. \
         Check whether each took effect, then resume with `--assume-done STEP` (it did) or \
         `--rerun STEP` (it did not).",
        steps
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn start_event(setup: &Setup<'_>, resumed: bool) -> RunStarted {
    let rb = &setup.validated.runbook;
    let objective = |pick: fn(&Objectives) -> Option<HumanDuration>| {
        rb.objectives.as_ref().and_then(pick).map(|d| d.to_string())
    };
    RunStarted {
        runbook: rb.metadata.name.clone(),
        version: rb.metadata.version.to_string(),
        sha256: setup.validated.content_sha256(),
        path: setup
            .runbook_path
            .canonicalize()
            .unwrap_or_else(|_| setup.runbook_path.to_owned()),
        params: setup.params.redacted(),
        secret_params: setup
            .params
            .0
            .iter()
            .filter(|(_, v)| v.secret)
            .map(|(k, _)| k.clone())
            .collect(),
        labels: rb.metadata.labels.clone(),
        rto: objective(|o| o.rto),
        rpo: objective(|o| o.rpo),
        user: setup.operator.user.clone(),
        host: setup.operator.host.clone(),
        ripcord_version: env!("CARGO_PKG_VERSION").into(),
        dry_run: setup.options.dry_run,
        max_parallel: setup.options.max_parallel,
        resumed,
    }
}

fn run_context(setup: &Setup<'_>, run_id: &str, started_at: &str) -> Json {
    json!({
        "id": run_id,
        "runbook": setup.validated.runbook.metadata.name,
        "version": setup.validated.runbook.metadata.version.to_string(),
        "started_at": started_at,
        "user": setup.operator.user,
        "dry_run": setup.options.dry_run,
    })
}

fn engine(setup: Setup<'_>, journal: Journal, run_id: &str, started_at: &str) -> Engine {
    let redactor = Redactor::new(setup.params.secrets());
    let approvals = Approvals::new(
        &journal::run_dir(setup.runs_dir, run_id),
        setup.preapproved.clone(),
        setup.operator.user.clone(),
        setup.interactive,
    );
    let run = run_context(&setup, run_id, started_at);
    Engine::new(
        setup.validated,
        setup.params,
        run,
        setup.registry,
        journal,
        approvals,
        redactor,
        setup.options,
    )
}

/// Create a run: its journal with `run_started` on disk, and the engine ready to go.
pub async fn start(setup: Setup<'_>) -> Result<Arc<Engine>, SessionError> {
    let run_id = new_run_id(&setup.validated.runbook.metadata.name);
    start_as(setup, &run_id).await
}

/// [`start`] under a run id chosen beforehand (see [`new_run_id`]): for a caller that must
/// name the run before it exists, such as one taking a lock held by run id, so that a refused
/// lock leaves no journal behind.
pub async fn start_as(setup: Setup<'_>, run_id: &str) -> Result<Arc<Engine>, SessionError> {
    let run_id = run_id.to_owned();
    let redactor = Redactor::new(setup.params.secrets());
    let journal = Journal::create(setup.runs_dir, &run_id, redactor)?;
    let record = journal
        .append(None, None, start_event(&setup, false))
        .await?;
    let started_at = record.ts.clone();
    Ok(Arc::new(engine(setup, journal, &run_id, &started_at)))
}

/// Read a run's journal (verifying it) and rebuild its state.
pub fn load(runs_dir: &Path, run_id: &str) -> std::io::Result<(RunState, journal::VerifyReport)> {
    let report = journal::verify(&journal::journal_path(runs_dir, run_id))?;
    let state = RunState::replay(&report.records);
    Ok((state, report))
}

/// How a resumed run treats steps that were in flight.
#[derive(Clone, Debug, Default)]
pub struct Decisions {
    /// Steps to count as succeeded (`--assume-done`).
    pub assume_done: HashSet<String>,
    /// Steps to run again (`--rerun`).
    pub rerun: HashSet<String>,
}

/// What to continue: an interrupted run, or one failed step and what depends on it.
pub enum Continue {
    /// Continue an interrupted run, with these decisions about steps in flight.
    Resume(Decisions),
    /// Run this failed step again, and what depends on it.
    Retry(String),
}

/// What a resume or retry does: the steps it runs (again), and the decisions it journals about
/// steps that were in flight.
#[derive(Default)]
struct Plan {
    pending: HashSet<usize>,
    decisions: Vec<(String, DecisionAction, String)>,
}

/// Reopen a run and prepare its engine to continue.
pub async fn resume(
    setup: Setup<'_>,
    run_id: &str,
    how: Continue,
) -> Result<Arc<Engine>, SessionError> {
    let redactor = Redactor::new(setup.params.secrets());
    let (journal, records) = Journal::reopen(setup.runs_dir, run_id, redactor)?;
    let mut state = RunState::replay(&records);
    let started_at = check_runbook(&state, &setup, run_id)?;
    // Whatever is decided, nothing starts beside a program the run started that still runs:
    // its step would run twice at once (`--assume-done` waits too: its outcome is not known
    // until it ends). Programs it left in the background do not count, see `process`.
    if let Some((step, p)) = state.still_running() {
        return Err(SessionError::StillRunning {
            step: step.clone(),
            pgid: p.pgid,
            program: p.program.clone(),
        });
    }
    let validated = setup.validated.clone();
    let plan = match &how {
        Continue::Resume(d) => plan_resume(&state, &validated, d, run_id)?,
        Continue::Retry(step) => plan_retry(&state, &validated, step)?,
    };
    // Resuming a run that stopped mid-way (a crash) continues where it stopped, `finally`
    // included. A run that ended (cancelled) and a retry go on past their end, so their
    // `finally` runs again after the new work.
    let restore = match &how {
        Continue::Resume(_) if state.finished.is_none() => validated.steps.len(),
        _ => validated
            .steps
            .iter()
            .filter(|s| s.phase == Phase::Main)
            .count(),
    };
    journal_continue(&journal, &mut state, &setup, &how, &plan).await?;
    let mut engine = engine(setup, journal, run_id, &started_at);
    for i in (0..restore).filter(|i| !plan.pending.contains(i)) {
        match state.replayed(&validated.step(i).id) {
            Some(Replayed::Succeeded { outputs }) => {
                engine.preset(i, Status::Succeeded, Some(outputs))
            }
            Some(Replayed::Skipped) => engine.preset(i, Status::Skipped, None),
            Some(Replayed::Failed) => engine.preset(i, Status::Failed, None),
            _ => {}
        }
    }
    Ok(Arc::new(engine))
}

/// The run's start time, if the runbook is the one it started with.
fn check_runbook(
    state: &RunState,
    setup: &Setup<'_>,
    run_id: &str,
) -> Result<String, SessionError> {
    let started = state
        .started
        .as_ref()
        .ok_or_else(|| SessionError::NotARun(run_id.into()))?;
    let now = setup.validated.content_sha256();
    if started.event.sha256 != now {
        return Err(SessionError::RunbookChanged {
            run: run_id.into(),
            then: started.event.sha256.clone(),
            now,
        });
    }
    Ok(started.ts.clone())
}

fn step_index(validated: &Validated) -> HashMap<&str, usize> {
    (0..validated.steps.len())
        .map(|i| (validated.step(i).id.as_str(), i))
        .collect()
}

/// A resume: every step in flight needs a decision, from a flag or from its step type.
fn plan_resume(
    state: &RunState,
    validated: &Validated,
    d: &Decisions,
    run_id: &str,
) -> Result<Plan, SessionError> {
    if let Some(outcome) = state.outcome()
        && outcome != "cancelled"
    {
        return Err(SessionError::Finished {
            run: run_id.into(),
            outcome: outcome.into(),
            hint: "re-run a failed step with `ripcord retry RUN STEP`".into(),
        });
    }
    let index = step_index(validated);
    let mut plan = Plan::default();
    let mut undecided = Vec::new();
    for id in state.in_flight() {
        let Some(&i) = index.get(id) else {
            continue;
        };
        let (action, why) = if d.assume_done.contains(id) {
            (DecisionAction::AssumeDone, "--assume-done")
        } else if d.rerun.contains(id) {
            (DecisionAction::Rerun, "--rerun")
        } else if validated.steps[i].idempotent {
            (DecisionAction::Rerun, "idempotent step type")
        } else {
            undecided.push(id.to_owned());
            continue;
        };
        if action == DecisionAction::Rerun {
            plan.pending.insert(i);
        }
        plan.decisions.push((id.to_owned(), action, why.into()));
    }
    for id in d.assume_done.iter().chain(&d.rerun) {
        if !matches!(state.replayed(id), Some(Replayed::InFlight { .. })) {
            return Err(SessionError::BadStep {
                step: id.clone(),
                why:
                    "was not in flight: only steps that started and did not finish need a decision"
                        .into(),
            });
        }
    }
    if !undecided.is_empty() {
        undecided.sort();
        return Err(SessionError::NeedsDecision(undecided));
    }
    Ok(plan)
}

/// A retry: the failed step and every step after it that did not succeed.
fn plan_retry(state: &RunState, validated: &Validated, step: &str) -> Result<Plan, SessionError> {
    let &i = step_index(validated)
        .get(step)
        .ok_or_else(|| SessionError::BadStep {
            step: step.to_owned(),
            why: "is not in this runbook".into(),
        })?;
    if state.replayed(step) != Some(Replayed::Failed) {
        return Err(SessionError::BadStep {
            step: step.to_owned(),
            why: "did not fail: only a failed step can be retried".into(),
        });
    }
    let mut plan = Plan::default();
    plan.pending.insert(i);
    for j in 0..validated.steps.len() {
        if validated.dag.is_ancestor(i, j)
            && !matches!(
                state.replayed(&validated.step(j).id),
                Some(Replayed::Succeeded { .. })
            )
        {
            plan.pending.insert(j);
        }
    }
    Ok(plan)
}

/// Journal the resume and its decisions, and apply them to the state: an assumed-done step
/// is then a succeeded one.
async fn journal_continue(
    journal: &Journal,
    state: &mut RunState,
    setup: &Setup<'_>,
    how: &Continue,
    plan: &Plan,
) -> Result<(), SessionError> {
    let (mode, retry) = match how {
        Continue::Resume(_) => (ResumeMode::Resume, None),
        Continue::Retry(s) => (ResumeMode::Retry, Some(s.clone())),
    };
    let resumed = RunResumed {
        mode,
        retry,
        user: setup.operator.user.clone(),
        host: setup.operator.host.clone(),
        params: setup.params.redacted(),
    };
    state.apply(&*journal.append(None, None, resumed).await?);
    for (step, action, why) in &plan.decisions {
        let decision = Decision {
            action: *action,
            by: setup.operator.user.clone(),
            why: why.clone(),
        };
        state.apply(&*journal.append(Some(step), None, decision).await?);
    }
    Ok(())
}
