//! Runs as things people start, continue and inspect: new runs, resume, retry, and the state of
//! a run rebuilt from its journal.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ripcord_spec::model::Objectives;
use ripcord_spec::params::Params;
use ripcord_spec::validate::Validated;
use ripcord_spec::values::HumanDuration;
use serde_json::{Value as Json, json};

use crate::approvals::Approvals;
use crate::context::Status;
use crate::events::{Decision, DecisionAction, ResumeMode, RunResumed, RunStarted};
use crate::executor::Registry;
use crate::journal::{self, EventKind, Journal, JournalError, Record, ReopenError};
use crate::process::{Liveness, PROCESS_STARTED, StartedProcess};
use crate::redact::Redactor;
use crate::run::{Engine, RunOptions};

/// Who started the run and where, for the journal.
#[derive(Clone, Debug)]
pub struct Operator {
    pub user: String,
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
    pub validated: Arc<Validated>,
    pub runbook_path: &'a Path,
    pub params: &'a Params,
    pub registry: Registry,
    pub runs_dir: &'a Path,
    pub options: RunOptions,
    pub operator: Operator,
    /// Steps approved up front (`--approve STEP`).
    pub preapproved: HashSet<String>,
    /// Ask approvals on the terminal.
    pub interactive: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Reopen(#[from] ReopenError),
    #[error("run `{0}` has no run_started record")]
    NotARun(String),
    #[error("run `{run}` already finished ({outcome}); {hint}")]
    Finished {
        run: String,
        outcome: String,
        hint: String,
    },
    #[error(
        "the runbook changed since run `{run}` started (sha256 {then} -> {now}); resume with the same file"
    )]
    RunbookChanged {
        run: String,
        then: String,
        now: String,
    },
    #[error("possibly applied: {}", describe_undecided(.0))]
    NeedsDecision(Vec<String>),
    #[error(
        "step `{step}` is still running: its program `{program}` (pid {pgid}), started by the \
         interrupted run, is alive. Wait for it to end, or stop its process group \
         (`kill -TERM -- -{pgid}`), then try again"
    )]
    StillRunning {
        step: String,
        pgid: i32,
        program: String,
    },
    #[error("step `{step}` {why}")]
    BadStep { step: String, why: String },
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

/// A step as the journal tells it.
#[derive(Clone, Debug, PartialEq)]
pub enum Replayed {
    Succeeded {
        outputs: Json,
    },
    Failed,
    Skipped,
    /// Started and never finished: a crash, a kill, or a cancel mid-flight.
    InFlight {
        attempt: u32,
    },
    /// Undone by compensation: runs again on resume.
    Compensated,
}

/// A run rebuilt from its journal.
#[derive(Clone, Debug, Default)]
pub struct RunState {
    pub run_id: String,
    pub started: Option<Record>,
    pub finished: Option<Record>,
    pub steps: HashMap<String, Replayed>,
    /// Programs started by the run's steps, in journal order (see [`crate::process`]).
    pub processes: Vec<(String, StartedProcess)>,
    pub records: usize,
}

impl RunState {
    /// The first program of the run that is still running on this machine, with its step.
    pub fn still_running(&self) -> Option<&(String, StartedProcess)> {
        self.processes
            .iter()
            .find(|(_, p)| p.status() == Liveness::Running)
    }

    /// Programs of the run started on another machine, whose state this one cannot tell.
    pub fn started_elsewhere(&self) -> impl Iterator<Item = &(String, StartedProcess)> {
        self.processes
            .iter()
            .filter(|(_, p)| p.status() == Liveness::Elsewhere)
    }
}

impl RunState {
    pub fn replay(records: &[Record]) -> RunState {
        let mut state = RunState {
            records: records.len(),
            ..Default::default()
        };
        for r in records {
            state.run_id.clone_from(&r.run);
            let step = r.step.clone();
            match (r.event, step) {
                (EventKind::RunStarted, _) => state.started = Some(r.clone()),
                (EventKind::RunResumed, _) => state.finished = None,
                (EventKind::RunFinished, _) => state.finished = Some(r.clone()),
                (EventKind::StepStarted, Some(s)) => {
                    state.steps.insert(
                        s,
                        Replayed::InFlight {
                            attempt: r.attempt.unwrap_or(1),
                        },
                    );
                }
                (EventKind::AttemptFailed, Some(s)) => {
                    // Between attempts nothing is in flight: the failed attempt ended.
                    state.steps.remove(&s);
                }
                (EventKind::StepSucceeded, Some(s)) => {
                    let outputs = r.data.get("outputs").cloned().unwrap_or(json!({}));
                    state.steps.insert(s, Replayed::Succeeded { outputs });
                }
                (EventKind::StepFailed, Some(s)) => {
                    state.steps.insert(s, Replayed::Failed);
                }
                (EventKind::StepSkipped, Some(s)) => {
                    // Only a `when` skip is final; a step blocked by others may run on resume.
                    if r.data.get("cause").and_then(Json::as_str) == Some("blocked") {
                        state.steps.remove(&s);
                    } else {
                        state.steps.insert(s, Replayed::Skipped);
                    }
                }
                (EventKind::StepCancelled, Some(s)) => {
                    let attempt = r.attempt.unwrap_or(1);
                    state.steps.insert(s, Replayed::InFlight { attempt });
                }
                (EventKind::Note, Some(s)) => {
                    // Every program the run started, whatever became of its step: an attempt
                    // that timed out, or a compensation, may have left one running.
                    if r.data.get("kind").and_then(Json::as_str) == Some(PROCESS_STARTED)
                        && let Some(p) = r.data.get("data").and_then(StartedProcess::from_json)
                    {
                        state.processes.push((s, p));
                    }
                }
                (EventKind::CompensationSucceeded, Some(s)) => {
                    state.steps.insert(s, Replayed::Compensated);
                }
                (EventKind::Decision, Some(s)) => match r.data.get("action").and_then(Json::as_str)
                {
                    Some("assume_done") => {
                        state
                            .steps
                            .insert(s, Replayed::Succeeded { outputs: json!({}) });
                    }
                    Some("rerun") => {
                        state.steps.remove(&s);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        state
    }

    pub fn outcome(&self) -> Option<&str> {
        self.finished.as_ref()?.data.get("outcome")?.as_str()
    }

    /// Whether the run was started as a dry run (a resume continues it as one).
    pub fn dry_run(&self) -> bool {
        self.started
            .as_ref()
            .and_then(|s| s.data.get("dry_run"))
            .and_then(Json::as_bool)
            .unwrap_or(false)
    }

    pub fn runbook_path(&self) -> Option<PathBuf> {
        Some(PathBuf::from(
            self.started.as_ref()?.data.get("path")?.as_str()?,
        ))
    }

    /// Non-secret params as recorded at the start (secrets must be given again).
    pub fn recorded_params(&self) -> Vec<(String, String)> {
        let Some(started) = &self.started else {
            return Vec::new();
        };
        let secrets: HashSet<&str> = started
            .data
            .get("secret_params")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        started
            .data
            .get("params")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !secrets.contains(k.as_str()))
                    .map(|(k, v)| {
                        let text = match v {
                            Json::String(s) => s.clone(),
                            Json::Array(items) => items
                                .iter()
                                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                                .collect::<Vec<_>>()
                                .join(","),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
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
    pub assume_done: HashSet<String>,
    pub rerun: HashSet<String>,
}

/// What to continue: an interrupted run, or one failed step and what depends on it.
pub enum Continue {
    Resume(Decisions),
    Retry(String),
}

/// Reopen a run and prepare its engine to continue.
pub async fn resume(
    setup: Setup<'_>,
    run_id: &str,
    how: Continue,
) -> Result<Arc<Engine>, SessionError> {
    let redactor = Redactor::new(setup.params.secrets());
    let (journal, records) = Journal::reopen(setup.runs_dir, run_id, redactor)?;
    let state = RunState::replay(&records);
    let started = state
        .started
        .clone()
        .ok_or_else(|| SessionError::NotARun(run_id.into()))?;
    let then = started
        .data
        .get("sha256")
        .and_then(Json::as_str)
        .unwrap_or("");
    let now = setup.validated.content_sha256();
    if then != now {
        return Err(SessionError::RunbookChanged {
            run: run_id.into(),
            then: then.into(),
            now,
        });
    }
    let validated = setup.validated.clone();
    let index: HashMap<&str, usize> = (0..validated.steps.len())
        .map(|i| (validated.step(i).id.as_str(), i))
        .collect();
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
    let mut pending: HashSet<usize> = HashSet::new();
    let mut decisions: Vec<(String, DecisionAction, String)> = Vec::new();
    match &how {
        Continue::Resume(d) => {
            if let Some(outcome) = state.outcome()
                && outcome != "cancelled"
            {
                return Err(SessionError::Finished {
                    run: run_id.into(),
                    outcome: outcome.into(),
                    hint: "re-run a failed step with `ripcord retry RUN STEP`".into(),
                });
            }
            let mut undecided = Vec::new();
            for (id, replayed) in &state.steps {
                let Some(&i) = index.get(id.as_str()) else {
                    continue;
                };
                if let Replayed::InFlight { .. } = replayed {
                    if d.assume_done.contains(id) {
                        decisions.push((
                            id.clone(),
                            DecisionAction::AssumeDone,
                            "--assume-done".into(),
                        ));
                    } else if d.rerun.contains(id) {
                        decisions.push((id.clone(), DecisionAction::Rerun, "--rerun".into()));
                        pending.insert(i);
                    } else if validated.steps[i].idempotent {
                        decisions.push((
                            id.clone(),
                            DecisionAction::Rerun,
                            "idempotent step type".into(),
                        ));
                        pending.insert(i);
                    } else {
                        undecided.push(id.clone());
                    }
                }
            }
            for id in d.assume_done.iter().chain(&d.rerun) {
                if !matches!(state.steps.get(id), Some(Replayed::InFlight { .. })) {
                    return Err(SessionError::BadStep {
                        step: id.clone(),
                        why: "was not in flight: only steps that started and did not finish need a decision".into(),
                    });
                }
            }
            if !undecided.is_empty() {
                undecided.sort();
                return Err(SessionError::NeedsDecision(undecided));
            }
        }
        Continue::Retry(step) => {
            let &i = index
                .get(step.as_str())
                .ok_or_else(|| SessionError::BadStep {
                    step: step.clone(),
                    why: "is not in this runbook".into(),
                })?;
            if state.steps.get(step) != Some(&Replayed::Failed) {
                return Err(SessionError::BadStep {
                    step: step.clone(),
                    why: "did not fail: only a failed step can be retried".into(),
                });
            }
            // The step and every step after it that did not succeed.
            pending.insert(i);
            for j in 0..validated.steps.len() {
                if validated.dag.is_ancestor(i, j)
                    && !matches!(
                        state.steps.get(&validated.step(j).id),
                        Some(Replayed::Succeeded { .. })
                    )
                {
                    pending.insert(j);
                }
            }
        }
    }

    journal
        .append(
            None,
            None,
            RunResumed {
                mode: match &how {
                    Continue::Resume(_) => ResumeMode::Resume,
                    Continue::Retry(_) => ResumeMode::Retry,
                },
                retry: match &how {
                    Continue::Retry(s) => Some(s.clone()),
                    Continue::Resume(_) => None,
                },
                user: setup.operator.user.clone(),
                host: setup.operator.host.clone(),
                params: setup.params.redacted(),
            },
        )
        .await?;
    for (step, action, why) in &decisions {
        journal
            .append(
                Some(step),
                None,
                Decision {
                    action: *action,
                    by: setup.operator.user.clone(),
                    why: why.clone(),
                },
            )
            .await?;
    }

    let started_at = started.ts.clone();
    let mut engine = engine(setup, journal, run_id, &started_at);
    let main = validated
        .steps
        .iter()
        .filter(|s| s.phase == ripcord_spec::validate::Phase::Main)
        .count();
    let assumed: HashSet<&str> = decisions
        .iter()
        .filter(|(_, a, _)| *a == DecisionAction::AssumeDone)
        .map(|(s, _, _)| s.as_str())
        .collect();
    // Resuming a run that stopped mid-way (a crash) continues where it stopped, `finally`
    // included. A run that ended (cancelled) and a retry go on past their end, so their
    // `finally` runs again after the new work.
    let restore = match &how {
        Continue::Resume(_) if state.finished.is_none() => validated.steps.len(),
        _ => main,
    };
    for i in 0..restore {
        if pending.contains(&i) {
            continue;
        }
        let id = validated.step(i).id.as_str();
        match state.steps.get(id) {
            _ if assumed.contains(id) => engine.preset(i, Status::Succeeded, Some(json!({}))),
            Some(Replayed::Succeeded { outputs }) => {
                engine.preset(i, Status::Succeeded, Some(outputs.clone()))
            }
            Some(Replayed::Skipped) => engine.preset(i, Status::Skipped, None),
            Some(Replayed::Failed) => engine.preset(i, Status::Failed, None),
            _ => {}
        }
    }
    Ok(Arc::new(engine))
}
