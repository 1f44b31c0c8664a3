//! The scheduler: runs a validated runbook's DAG on tokio.
//!
//! Ready steps start as soon as everything they need is done, up to the global and per-family
//! limits. Each step: `when`, render inputs, then attempts (per-attempt timeout, `until`
//! polling, `verify` gates, retries with backoff and jitter, an overall `deadline`). A failed
//! step with `on_failure: abort` stops new starts; when the main DAG ends badly (failure or
//! cancellation) succeeded steps are compensated in reverse order. `finally` always runs.
//! Every transition is journaled before it is acted upon.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Environment;
use rand::Rng;
use ripcord_spec::catalog::expression_fields;
use ripcord_spec::model::{Compensation, OnFailure, Retry, Until};
use ripcord_spec::params::Params;
use ripcord_spec::validate::{Phase, Validated};
use ripcord_spec::{Effect, StepKind, TypedWith};
use serde_json::{Value as Json, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::approvals::Approvals;
use crate::context::{Board, Contexts, Status, describe, eval, truthy};
use crate::events::{
    AttemptFailed, CancelRequested, CompensationFailed, CompensationStarted, CompensationSucceeded,
    Gate, Note, Poll, RunFinished, SkipCause, StepCancelled, StepFailed, StepSkipped, StepStarted,
    StepSucceeded,
};
use crate::executor::{Executor, Registry, StepContext, StepError, StepRequest};
use crate::journal::{Journal, JournalError};
use crate::preview::{DryRunReport, Observed};
use crate::redact::Redactor;
use crate::unobserved::{self, Unobserved};

/// How a run is to be carried out.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Steps in flight at once, across all families.
    pub max_parallel: usize,
    /// Read-only: executors preview mutations instead of applying them.
    pub dry_run: bool,
    /// First signal: stop starting steps, cancel running ones, compensate, run `finally`.
    pub cancel: CancellationToken,
    /// Second signal: also abandon compensation and `finally`.
    pub abandon: CancellationToken,
    /// Where relative paths in the runbook resolve.
    pub runbook_dir: PathBuf,
}

pub use crate::events::Outcome;

/// The result of [`Engine::run`].
#[derive(Clone, Debug)]
pub struct Report {
    /// How the run ended.
    pub outcome: Outcome,
    /// Ids of the steps whose failure made the run fail.
    pub failed: Vec<String>,
    /// Wall time of this call, not counting earlier invocations of the run.
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
/// Why a run could not go on.
pub enum RunError {
    #[error(transparent)]
    /// The journal could not be written: the run stops, since nothing unrecorded may happen.
    Journal(#[from] JournalError),
}

/// A run in progress: the runbook, its params, the executors and the journal.
pub struct Engine {
    validated: Arc<Validated>,
    registry: Registry,
    journal: Journal,
    options: RunOptions,
    env: Environment<'static>,
    contexts: Contexts,
    board: Arc<Board>,
    redactor: Redactor,
    approvals: Approvals,
    global: Arc<Semaphore>,
    /// Order in which steps succeeded, for compensation in reverse.
    succeeded_order: std::sync::Mutex<Vec<usize>>,
    /// Steps that did not run because of other steps (a failure, a cancel). Unlike a `when`
    /// skip, such a step does not satisfy the steps that need it.
    blocked: std::sync::Mutex<HashSet<usize>>,
    /// Set the moment a step fails with `on_failure: abort`, so no new step starts even before
    /// the scheduler has collected that step's task.
    aborted: std::sync::atomic::AtomicBool,
    /// In a dry run: the last report of each step's current attempt ([`StepContext::dry_run`]).
    reports: std::sync::Mutex<std::collections::HashMap<usize, DryRunReport>>,
    /// In a dry run: results and outputs no executor observed.
    unobserved: std::sync::Mutex<Unobserved>,
}

/// What one step ended as.
#[derive(Debug)]
enum StepEnd {
    Succeeded,
    Failed { abort: bool },
    Skipped,
    Cancelled,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    /// An engine ready to run `validated` with `params`; `run` is the template `run` value.
    pub fn new(
        validated: Arc<Validated>,
        params: &Params,
        run: Json,
        registry: Registry,
        journal: Journal,
        approvals: Approvals,
        redactor: Redactor,
        options: RunOptions,
    ) -> Self {
        let ids = (0..validated.steps.len()).map(|i| validated.step(i).id.clone());
        let board = Arc::new(Board::new(ids));
        let params_json = Json::Object(params.values());
        let contexts = Contexts::new(params_json, run, board.clone());
        let global = Arc::new(Semaphore::new(options.max_parallel.max(1)));
        Self {
            validated,
            registry,
            journal,
            env: ripcord_spec::template::environment(),
            contexts,
            board,
            redactor,
            approvals,
            global,
            options,
            succeeded_order: std::sync::Mutex::new(Vec::new()),
            blocked: std::sync::Mutex::new(HashSet::new()),
            aborted: std::sync::atomic::AtomicBool::new(false),
            reports: Default::default(),
            unobserved: Default::default(),
        }
    }

    /// The live status and outputs of every step.
    pub fn board(&self) -> &Arc<Board> {
        &self.board
    }

    /// The run's journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Mark a step as already done (resume): it is not run again and its outputs are visible.
    pub fn preset(&mut self, index: usize, status: Status, outputs: Option<Json>) {
        self.board.set(index, status, outputs);
        if status == Status::Succeeded {
            self.succeeded_order.lock().expect("order lock").push(index);
        }
    }

    /// Run the main DAG, compensation if needed, then `finally`. Journals `run_finished`.
    pub async fn run(self: Arc<Self>) -> Result<Report, RunError> {
        let started = Instant::now();
        let main: Vec<usize> = (0..self.validated.steps.len())
            .filter(|&i| self.validated.steps[i].phase == Phase::Main)
            .collect();
        let finally: Vec<usize> = (0..self.validated.steps.len())
            .filter(|&i| self.validated.steps[i].phase == Phase::Finally)
            .collect();

        let cancel_watch = {
            let engine = self.clone();
            tokio::spawn(async move {
                engine.options.cancel.cancelled().await;
                let _ = engine
                    .journal
                    .append(
                        None,
                        None,
                        CancelRequested {
                            reason: "signal".into(),
                        },
                    )
                    .await;
            })
        };

        let mut failed = self
            .clone()
            .run_phase(&main, self.options.cancel.clone())
            .await?;
        let cancelled = self.options.cancel.is_cancelled();
        let aborted = failed.iter().any(|(_, abort)| *abort);
        if cancelled || aborted {
            self.compensate().await?;
        }
        // `finally` runs even after a cancel; only a second signal abandons it.
        let finally_failed = self
            .clone()
            .run_phase(&finally, self.options.abandon.clone())
            .await?;
        failed.extend(finally_failed);
        cancel_watch.abort();
        // Failures of `on_failure: continue` steps were accepted; any other failure (in `finally`
        // too) fails the run.
        let outcome = if cancelled {
            Outcome::Cancelled
        } else if failed.iter().any(|(_, abort)| *abort) {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };

        let failed_ids: Vec<String> = failed
            .iter()
            .map(|(i, _)| self.validated.step(*i).id.clone())
            .collect();
        let elapsed = started.elapsed();
        self.journal
            .append(
                None,
                None,
                RunFinished {
                    outcome,
                    failed_steps: failed_ids.clone(),
                    elapsed_ms: elapsed.as_millis() as u64,
                },
            )
            .await?;
        Ok(Report {
            outcome,
            failed: failed_ids,
            elapsed,
        })
    }

    /// Run the steps of one phase as a DAG. Returns the failed steps (and whether each aborts).
    async fn run_phase(
        self: Arc<Self>,
        steps: &[usize],
        cancel: CancellationToken,
    ) -> Result<Vec<(usize, bool)>, RunError> {
        let in_phase: HashSet<usize> = steps.iter().copied().collect();
        let main_phase = steps
            .first()
            .is_some_and(|&i| self.validated.steps[i].phase == Phase::Main);
        let mut pending: Vec<usize> = steps
            .iter()
            .copied()
            .filter(|i| !self.board.status(*i).is_final())
            .collect();
        let mut running: JoinSet<(usize, Result<StepEnd, RunError>)> = JoinSet::new();
        let mut failed = Vec::new();
        let mut stop = false;
        // Each round starts every ready step, then waits for one to end: at most
        // 2 x steps rounds.
        loop {
            // An abort in the main DAG stops new main steps; `finally` runs regardless.
            let aborted = main_phase && self.aborted.load(std::sync::atomic::Ordering::SeqCst);
            if !stop && !aborted && !cancel.is_cancelled() {
                let mut still = Vec::with_capacity(pending.len());
                for i in pending.drain(..) {
                    match self.readiness(i, &in_phase) {
                        Readiness::Ready => {
                            self.board.set_status(i, Status::Running);
                            let engine = self.clone();
                            let token = cancel.child_token();
                            running.spawn(async move { (i, engine.run_step(i, token).await) });
                        }
                        Readiness::Waiting => still.push(i),
                        Readiness::Blocked(why) => {
                            self.skip(i, &why).await?;
                        }
                    }
                }
                pending = still;
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (i, end) = match joined {
                Ok(pair) => pair,
                Err(e) => panic!("a step task panicked: {e}"),
            };
            match end? {
                StepEnd::Succeeded | StepEnd::Skipped => {}
                StepEnd::Cancelled => {}
                StepEnd::Failed { abort, .. } => {
                    failed.push((i, abort));
                    if abort {
                        stop = true;
                    }
                }
            }
        }
        // Whatever never started is recorded, so the journal accounts for every step.
        for i in pending {
            let reason = if cancel.is_cancelled() {
                "the run was cancelled before it started"
            } else {
                "an earlier step failed and aborted the run"
            };
            self.skip(i, reason).await?;
        }
        Ok(failed)
    }

    fn readiness(&self, i: usize, in_phase: &HashSet<usize>) -> Readiness {
        let mut waiting = false;
        for &need in &self.validated.steps[i].needs {
            if !in_phase.contains(&need) {
                continue;
            }
            match self.board.status(need) {
                Status::Skipped if self.blocked.lock().expect("blocked lock").contains(&need) => {
                    return Readiness::Blocked(format!(
                        "needed step `{}` did not run",
                        self.validated.step(need).id
                    ));
                }
                Status::Succeeded | Status::Skipped => {}
                Status::Failed => {
                    let continues = self.validated.step(need).on_failure == OnFailure::Continue;
                    if !continues {
                        return Readiness::Blocked(format!(
                            "needed step `{}` failed",
                            self.validated.step(need).id
                        ));
                    }
                }
                Status::Compensated => {
                    return Readiness::Blocked(format!(
                        "needed step `{}` was undone by its compensation",
                        self.validated.step(need).id
                    ));
                }
                Status::Cancelled => {
                    return Readiness::Blocked(format!(
                        "needed step `{}` was cancelled",
                        self.validated.step(need).id
                    ));
                }
                Status::Pending | Status::Running => waiting = true,
            }
        }
        if waiting {
            Readiness::Waiting
        } else {
            Readiness::Ready
        }
    }

    /// Record a step that will not run in this run because of others (`cause: blocked`):
    /// unlike a `when` skip, a resume or retry may still run it.
    async fn skip(&self, i: usize, reason: &str) -> Result<(), RunError> {
        self.blocked.lock().expect("blocked lock").insert(i);
        self.board.set_status(i, Status::Skipped);
        let id = self.validated.step(i).id.clone();
        self.journal
            .append(
                Some(&id),
                None,
                StepSkipped {
                    reason: reason.into(),
                    cause: SkipCause::Blocked,
                    when: None,
                },
            )
            .await?;
        Ok(())
    }

    /// One step, all its attempts.
    async fn run_step(
        self: Arc<Self>,
        i: usize,
        cancel: CancellationToken,
    ) -> Result<StepEnd, RunError> {
        let step = self.validated.step(i);
        let base = self.contexts.base();
        if let Some(why) = self.unobserved_input(i) {
            return self.not_simulated(i, why).await;
        }
        if let Some(end) = self.check_when(i, &base).await? {
            return Ok(end);
        }
        let plan = match self.plan_step(i, &base) {
            Ok(plan) => plan,
            Err(e) => return self.fail(i, None, e).await,
        };
        let mut last_error = String::new();
        for attempt in 1..=plan.attempts {
            if cancel.is_cancelled() {
                return self.cancelled(i, attempt).await;
            }
            match self.try_attempt(i, attempt, &plan, &cancel).await? {
                Tried::Ended(end) => return Ok(end),
                Tried::Failed(error) => last_error = error,
            }
            let retry_in = backoff(step.retry.as_ref(), attempt, plan.attempts)
                .filter(|delay| plan.deadline.is_none_or(|d| Instant::now() + *delay < d));
            self.journal
                .append(
                    Some(&step.id),
                    Some(attempt),
                    AttemptFailed {
                        error: last_error.clone(),
                        retry_in_ms: retry_in.map(|d| d.as_millis() as u64),
                    },
                )
                .await?;
            match retry_in {
                Some(delay) => {
                    tokio::select! {
                        _ = cancel.cancelled() => return self.cancelled(i, attempt).await,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                None if attempt < plan.attempts => {
                    last_error =
                        format!("{last_error} (the step's deadline leaves no time to retry)");
                    break;
                }
                None => {}
            }
        }
        self.fail(i, Some(plan.attempts), last_error).await
    }

    /// In a dry run: why step `i` cannot be simulated because its `when` or its input reads a
    /// value the dry run did not observe.
    fn unobserved_input(&self, i: usize) -> Option<String> {
        if !self.options.dry_run {
            return None;
        }
        let step = self.validated.step(i);
        let unobserved = self.unobserved.lock().expect("unobserved lock");
        if let Some(when) = &step.when {
            let refs = unobserved::expression(&self.env, when);
            if let Some(why) = unobserved.why(&refs, None) {
                return Some(format!("`when` {why}"));
            }
        }
        let refs =
            unobserved::input_references(&self.env, self.validated.steps[i].kind, &step.with.0);
        unobserved
            .why(&refs, None)
            .map(|why| format!("its input {why}"))
    }

    /// In a dry run: step `i` is not run and ends `not_simulated`; its result and every
    /// output are unknown to the steps after it.
    async fn not_simulated(&self, i: usize, why: String) -> Result<StepEnd, RunError> {
        let step = self.validated.step(i);
        let outputs: serde_json::Map<String, Json> = step
            .outputs
            .keys()
            .map(|k| (k.clone(), Json::Null))
            .collect();
        {
            let mut unobserved = self.unobserved.lock().expect("unobserved lock");
            unobserved.result(&step.id);
            for name in step.outputs.keys() {
                unobserved.output(&step.id, name, &step.id);
            }
        }
        self.board
            .set(i, Status::Succeeded, Some(Json::Object(outputs.clone())));
        self.journal
            .append(
                Some(&step.id),
                None,
                StepSucceeded {
                    outputs: Json::Object(outputs),
                    result: Json::Null,
                    dry_run: Some(DryRunReport::not_simulated(why)),
                },
            )
            .await?;
        Ok(StepEnd::Succeeded)
    }

    /// A step whose `when` is false is skipped; one whose `when` fails, failed. `None`: it runs.
    async fn check_when(
        &self,
        i: usize,
        base: &minijinja::Value,
    ) -> Result<Option<StepEnd>, RunError> {
        let step = self.validated.step(i);
        let Some(when) = &step.when else {
            return Ok(None);
        };
        match truthy(&self.env, when, base) {
            Ok(true) => Ok(None),
            Ok(false) => {
                self.board.set_status(i, Status::Skipped);
                self.journal
                    .append(
                        Some(&step.id),
                        None,
                        StepSkipped {
                            reason: "when is false".into(),
                            cause: SkipCause::When,
                            when: Some(when.clone()),
                        },
                    )
                    .await?;
                Ok(Some(StepEnd::Skipped))
            }
            Err(e) => self
                .fail(i, None, format!("`when` failed: {e}"))
                .await
                .map(Some),
        }
    }

    /// The step's rendered input and limits, the same for each of its attempts.
    fn plan_step(&self, i: usize, base: &minijinja::Value) -> Result<StepPlan, String> {
        let step = self.validated.step(i);
        let info = &self.validated.steps[i];
        let (with, rendered) = self.render_input(info.kind, &step.with.0, base)?;
        let (attempt_timeout, _) = ripcord_spec::plan::attempt_timeout(step, info);
        Ok(StepPlan {
            effect: info.kind.effect(Some(&with)),
            with,
            rendered,
            attempt_timeout,
            attempts: ripcord_spec::plan::attempts(step),
            deadline: step.deadline.map(|d| Instant::now() + d.0),
        })
    }

    /// One attempt of a step: its slots, its start record, the call, gates and outputs.
    async fn try_attempt(
        &self,
        i: usize,
        attempt: u32,
        plan: &StepPlan,
        cancel: &CancellationToken,
    ) -> Result<Tried, RunError> {
        let id = self.validated.step(i).id.as_str();
        let info = &self.validated.steps[i];
        // The permits bound concurrency; the start record is durable before the effect. They
        // are held until the attempt is decided (gates, outputs, the record) and given back
        // (when this returns) before any backoff delay.
        let _global = self.global.acquire().await.expect("semaphore never closed");
        let _family = match self.registry.limit(info.kind) {
            Some(limit) => Some(limit.acquire().await.expect("semaphore never closed")),
            None => None,
        };
        // The attempt's clock starts when it may run, not while it queues for a slot.
        let mut deadline = Instant::now() + plan.attempt_timeout;
        if let Some(d) = plan.deadline {
            deadline = deadline.min(d);
        }
        self.journal
            .append(
                Some(id),
                Some(attempt),
                StepStarted {
                    step_type: info.kind.name().into(),
                    effect: plan.effect,
                    idempotent: info.idempotent,
                    timeout_ms: plan.attempt_timeout.as_millis() as u64,
                    attempts: plan.attempts,
                    dry_run: self.options.dry_run,
                    with: plan.rendered.clone(),
                },
            )
            .await?;
        let token = cancel.child_token();
        let call = Call {
            step: i,
            kind: info.kind,
            attempt,
            with: &plan.with,
            effect: plan.effect,
            until: self.validated.step(i).until.as_ref(),
            deadline,
            cancel: token.clone(),
        };
        let outcome = match self.executor(info.kind) {
            Ok(executor) => self.call(executor, call).await,
            Err(e) => Ok(Err(e)),
        };
        token.cancel();
        let error = match outcome {
            Ok(Ok(result)) => return self.succeed(i, attempt, result, plan.effect).await,
            Ok(Err(StepError::Cancelled)) => {
                return self.cancelled(i, attempt).await.map(Tried::Ended);
            }
            _ if cancel.is_cancelled() => {
                return self.cancelled(i, attempt).await.map(Tried::Ended);
            }
            Ok(Err(
                e @ (StepError::Input(_) | StepError::Permanent(_) | StepError::Unsupported(..)),
            )) => {
                return self
                    .fail(i, Some(attempt), e.to_string())
                    .await
                    .map(Tried::Ended);
            }
            // The executor noticed the deadline first: still a timeout.
            Ok(Err(e)) if Instant::now() >= deadline => {
                format!("{}: {e}", timed_out(plan.attempt_timeout))
            }
            Ok(Err(e)) => e.to_string(),
            Err(Elapsed) => timed_out(plan.attempt_timeout),
        };
        Ok(Tried::Failed(error))
    }

    /// A call that returned: its gates and outputs decide whether the step succeeded.
    async fn succeed(
        &self,
        i: usize,
        attempt: u32,
        result: Json,
        effect: Effect,
    ) -> Result<Tried, RunError> {
        let id = &self.validated.step(i).id;
        let dry_run = self.take_report(i, effect);
        if dry_run
            .as_ref()
            .is_some_and(|r| r.observed == Observed::NotSimulated)
        {
            self.unobserved.lock().expect("unobserved lock").result(id);
        }
        let outputs = match self.finish_attempt(i, attempt, &result).await? {
            Ok(outputs) => outputs,
            Err(gate_error) => return Ok(Tried::Failed(gate_error)),
        };
        self.board.set(i, Status::Succeeded, Some(outputs.clone()));
        self.succeeded_order.lock().expect("order lock").push(i);
        self.journal
            .append(
                Some(id),
                Some(attempt),
                StepSucceeded {
                    outputs,
                    result,
                    dry_run,
                },
            )
            .await?;
        Ok(Tried::Ended(StepEnd::Succeeded))
    }

    /// In a dry run: whether step `i`'s executor reported its current call not simulated.
    fn reported_not_simulated(&self, i: usize) -> bool {
        self.options.dry_run
            && self
                .reports
                .lock()
                .expect("reports lock")
                .get(&i)
                .is_some_and(|r| r.observed == Observed::NotSimulated)
    }

    /// In a dry run, what step `i`'s last attempt observed: its executor's report, or the
    /// default (`ran` for a read, `not_simulated` for a write).
    fn take_report(&self, i: usize, effect: Effect) -> Option<DryRunReport> {
        if !self.options.dry_run {
            return None;
        }
        let reported = self.reports.lock().expect("reports lock").remove(&i);
        Some(reported.unwrap_or_else(|| match effect {
            Effect::Read => DryRunReport::ran(),
            _ => DryRunReport::not_simulated(format!(
                "the `{}` executor does not preview this step",
                self.validated.steps[i].kind.name()
            )),
        }))
    }

    /// Render `with` (all strings but expression fields) and decode it into the type's struct.
    fn render_input(
        &self,
        kind: StepKind,
        with: &Json,
        context: &minijinja::Value,
    ) -> Result<(TypedWith, Json), String> {
        render_input(&self.env, kind, with, context)
    }

    /// The executor of a step type, or why there is none.
    fn executor(&self, kind: StepKind) -> Result<&dyn Executor, StepError> {
        self.registry
            .executor(kind)
            .map(|e| &**e)
            .ok_or(StepError::Unsupported(
                kind.name(),
                kind.info().family.as_str(),
            ))
    }

    /// One call of a step's (or its compensation's) executor, within `call.deadline`, repeated
    /// while `until` is not yet true. The one attempt routine of steps and compensation.
    async fn call(
        &self,
        executor: &dyn Executor,
        call: Call<'_>,
    ) -> Result<Result<Json, StepError>, Elapsed> {
        let step_id = &self.validated.step(call.step).id;
        let context = ExecContext {
            engine: self,
            step: call.step,
        };
        let run_id = self.journal.run_id();
        let cancel = &call.cancel;
        let polled = async {
            let poll_start = Instant::now();
            let mut polls = 0u32;
            // Bounded by `until.timeout` (and the attempt's deadline around it).
            loop {
                polls += 1;
                let request = StepRequest {
                    run_id,
                    step_id,
                    attempt: call.attempt,
                    kind: call.kind,
                    with: call.with,
                    effect: call.effect,
                    dry_run: self.options.dry_run,
                    deadline: call.deadline,
                    cancel: cancel.clone(),
                    context: &context,
                };
                let result = executor.execute(request).await;
                let Some(until) = call.until else {
                    return result;
                };
                // Polling a result nobody observed would wait for a change that never comes.
                if self.reported_not_simulated(call.step) {
                    return result;
                }
                let result = match result {
                    Ok(r) => r,
                    Err(StepError::Cancelled) => return Err(StepError::Cancelled),
                    // A failing call while polling is one more "not yet".
                    Err(e) => json!({"error": e.to_string()}),
                };
                if self
                    .poll(call.step, call.attempt, polls, until, &result)
                    .await
                {
                    return Ok(result);
                }
                if poll_start.elapsed() + until.interval.0 > until.timeout.0 {
                    return Err(StepError::Failed(format!(
                        "`{}` still false after {} polls in {}",
                        until.expr,
                        polls,
                        humantime::format_duration(until.timeout.0)
                    )));
                }
                tokio::select! {
                    _ = cancel.cancelled() => return Err(StepError::Cancelled),
                    _ = tokio::time::sleep(until.interval.0) => {}
                }
            }
        };
        let remaining = call.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, polled).await {
            Ok(r) => Ok(r),
            Err(_) => {
                cancel.cancel();
                Err(Elapsed)
            }
        }
    }

    /// Evaluate `until` on a call's result and journal the poll: whether it is satisfied.
    async fn poll(&self, i: usize, attempt: u32, n: u32, until: &Until, result: &Json) -> bool {
        let satisfied =
            truthy(&self.env, &until.expr, &self.contexts.with_result(result)).unwrap_or(false);
        let _ = self
            .journal
            .append(
                Some(&self.validated.step(i).id),
                Some(attempt),
                Poll {
                    n,
                    expr: until.expr.clone(),
                    satisfied,
                },
            )
            .await;
        satisfied
    }

    /// Gates and outputs of a successful call. `Err` holds why the attempt failed after all.
    async fn finish_attempt(
        &self,
        i: usize,
        attempt: u32,
        result: &Json,
    ) -> Result<Result<Json, String>, RunError> {
        let step = self.validated.step(i);
        let context = self.contexts.with_result(result);
        for (n, check) in step.verify.iter().enumerate() {
            let name = check
                .name
                .clone()
                .unwrap_or_else(|| format!("check {}", n + 1));
            let refs = || unobserved::expression(&self.env, &check.expr);
            let gate = match self.unobserved_reading(refs, &step.id) {
                Some(unknown) => Gate {
                    name: name.clone(),
                    expr: check.expr.clone(),
                    passed: false,
                    unknown: true,
                    message: Some(unknown.why),
                },
                None => self.judge(&name, check, &context),
            };
            let failed = !gate.passed && !gate.unknown;
            let message = gate.message.clone();
            self.journal
                .append(Some(&step.id), Some(attempt), gate)
                .await?;
            if failed {
                return Ok(Err(format!(
                    "gate `{name}` failed: {}",
                    message.unwrap_or_else(|| format!("`{}` is false", check.expr))
                )));
            }
        }
        Ok(self.outputs(i, &context))
    }

    /// In a dry run: the unobserved value that what `refs` finds (in step `id`'s gates or
    /// outputs) depends on, if any. Real runs do not even look for references.
    fn unobserved_reading(
        &self,
        refs: impl FnOnce() -> ripcord_spec::template::References,
        id: &str,
    ) -> Option<unobserved::Unknown> {
        if !self.options.dry_run {
            return None;
        }
        self.unobserved
            .lock()
            .expect("unobserved lock")
            .unknown(&refs(), Some(id))
    }

    /// Evaluate one gate.
    fn judge(
        &self,
        name: &str,
        check: &ripcord_spec::model::Check,
        context: &minijinja::Value,
    ) -> Gate {
        let verdict = truthy(&self.env, &check.expr, context);
        let message = match (&verdict, &check.message) {
            (Err(e), _) => Some(format!("could not evaluate: {e}")),
            (Ok(false), Some(m)) => Some(
                self.env
                    .render_str(m, context.clone())
                    .unwrap_or_else(|_| m.clone()),
            ),
            _ => None,
        };
        Gate {
            name: name.to_owned(),
            expr: check.expr.clone(),
            passed: matches!(verdict, Ok(true)),
            unknown: false,
            message,
        }
    }

    /// A step's declared outputs, rendered; in a dry run an output reading an unobserved
    /// value is `null` and unknown to the steps after it.
    fn outputs(&self, i: usize, context: &minijinja::Value) -> Result<Json, String> {
        let step = self.validated.step(i);
        let mut outputs = serde_json::Map::new();
        for (name, template) in &step.outputs {
            let refs = || unobserved::template(&self.env, template);
            if let Some(unknown) = self.unobserved_reading(refs, &step.id) {
                self.unobserved.lock().expect("unobserved lock").output(
                    &step.id,
                    name,
                    &unknown.origin,
                );
                outputs.insert(name.clone(), Json::Null);
                continue;
            }
            let value = ripcord_spec::template::render_json(
                &self.env,
                &Json::String(template.clone()),
                context,
            )
            .map_err(|e| format!("output `{name}`: {}", describe(&e)))?;
            outputs.insert(name.clone(), value);
        }
        Ok(Json::Object(outputs))
    }

    async fn fail(
        &self,
        i: usize,
        attempt: Option<u32>,
        error: String,
    ) -> Result<StepEnd, RunError> {
        let step = self.validated.step(i);
        self.board.set_status(i, Status::Failed);
        let abort = step.on_failure == OnFailure::Abort;
        if abort && self.validated.steps[i].phase == Phase::Main {
            self.aborted
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.journal
            .append(
                Some(&step.id),
                attempt,
                StepFailed {
                    error,
                    on_failure: if abort {
                        OnFailure::Abort
                    } else {
                        OnFailure::Continue
                    },
                },
            )
            .await?;
        Ok(StepEnd::Failed { abort })
    }

    async fn cancelled(&self, i: usize, attempt: u32) -> Result<StepEnd, RunError> {
        let step = self.validated.step(i);
        self.board.set_status(i, Status::Cancelled);
        self.journal
            .append(Some(&step.id), Some(attempt), StepCancelled {})
            .await?;
        Ok(StepEnd::Cancelled)
    }

    /// Undo succeeded steps that declare `compensate`, last first, one at a time.
    async fn compensate(&self) -> Result<(), RunError> {
        let order: Vec<usize> = self.succeeded_order.lock().expect("order lock").clone();
        for &i in order.iter().rev() {
            let step = self.validated.step(i);
            let (Some(def), Some((kind, _))) =
                (&step.compensate, &self.validated.steps[i].compensate)
            else {
                continue;
            };
            if self.options.abandon.is_cancelled() {
                break;
            }
            let id = step.id.as_str();
            let base = self.contexts.base();
            self.journal
                .append(
                    Some(id),
                    None,
                    CompensationStarted {
                        step_type: kind.name().into(),
                    },
                )
                .await?;
            match self.undo(i, *kind, def, &base).await {
                Ok(()) => {
                    self.board.set_status(i, Status::Compensated);
                    self.journal
                        .append(Some(id), None, CompensationSucceeded {})
                        .await?;
                }
                Err(error) => {
                    self.journal
                        .append(Some(id), None, CompensationFailed { error })
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A step's compensation, all its attempts. Only a second signal cancels it.
    async fn undo(
        &self,
        i: usize,
        kind: StepKind,
        def: &Compensation,
        base: &minijinja::Value,
    ) -> Result<(), String> {
        let timeout = def.timeout.map_or(kind.info().default_timeout, |t| t.0);
        let attempts = def.retry.as_ref().map_or(1, |r| r.attempts.max(1));
        let (with, _) = self.render_input(kind, &def.with.0, base)?;
        let executor = self.executor(kind).map_err(|e| e.to_string())?;
        let mut error = String::new();
        for attempt in 1..=attempts {
            let call = Call {
                step: i,
                kind,
                attempt,
                with: &with,
                effect: kind.effect(Some(&with)),
                until: None,
                deadline: Instant::now() + timeout,
                cancel: self.options.abandon.child_token(),
            };
            match self.call(executor, call).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => error = e.to_string(),
                Err(Elapsed) => error = timed_out(timeout),
            }
            if let Some(delay) = backoff(def.retry.as_ref(), attempt, attempts) {
                tokio::time::sleep(delay).await;
            }
        }
        Err(error)
    }
}

/// What a step's attempt left to do: nothing more (the step ended), or maybe another attempt.
enum Tried {
    Ended(StepEnd),
    Failed(String),
}

/// A step's rendered input and limits, worked out once for all its attempts.
struct StepPlan {
    with: TypedWith,
    /// The rendered input as journaled.
    rendered: Json,
    effect: Effect,
    attempt_timeout: Duration,
    attempts: u32,
    /// The step's own `deadline`, over all its attempts.
    deadline: Option<Instant>,
}

/// One call of an executor (see [`Engine::call`]).
struct Call<'a> {
    step: usize,
    kind: StepKind,
    attempt: u32,
    with: &'a TypedWith,
    effect: Effect,
    until: Option<&'a Until>,
    deadline: Instant,
    cancel: CancellationToken,
}

fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", humantime::format_duration(timeout))
}

/// The delay before the attempt after `attempt`, if there is one and a retry policy.
fn backoff(retry: Option<&Retry>, attempt: u32, attempts: u32) -> Option<Duration> {
    let retry = retry.filter(|_| attempt < attempts)?;
    Some(jittered(retry.delay_after(attempt), retry.jitter))
}

enum Readiness {
    Ready,
    Waiting,
    Blocked(String),
}

/// A per-attempt timeout fired.
struct Elapsed;

/// `delay` spread by up to ±`jitter` (a fraction).
fn jittered(delay: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return delay;
    }
    let factor = 1.0 + rand::rng().random_range(-jitter..=jitter);
    delay.mul_f64(factor.max(0.0))
}

/// Render `with` (all strings but expression fields) and decode it into the type's struct.
pub(crate) fn render_input(
    env: &Environment<'static>,
    kind: StepKind,
    with: &Json,
    context: &minijinja::Value,
) -> Result<(TypedWith, Json), String> {
    let keep = expression_fields(kind);
    let rendered = match with {
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    if keep.contains(&k.as_str()) {
                        Ok((k.clone(), v.clone()))
                    } else {
                        ripcord_spec::template::render_json(env, v, context)
                            .map(|r| (k.clone(), r))
                            .map_err(|e| format!("rendering `with.{k}`: {}", describe(&e)))
                    }
                })
                .collect::<Result<_, String>>()?,
        ),
        Json::Null => Json::Object(Default::default()),
        other => other.clone(),
    };
    // Decoded like the YAML was: a number rendered into a text field is taken as its text.
    let node = ripcord_spec::node::Node::from_json(&rendered);
    let (typed, errors) = ripcord_spec::decode::decode_with(&node, |d| kind.decode(d));
    let typed = typed.ok_or_else(|| {
        let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("input after rendering is invalid: {}", why.join("; "))
    })?;
    Ok((typed, rendered))
}

/// The [`StepContext`] handed to executors.
struct ExecContext<'e> {
    engine: &'e Engine,
    step: usize,
}

#[async_trait::async_trait]
impl StepContext for ExecContext<'_> {
    async fn note(&self, kind: &str, data: Json) {
        let id = &self.engine.validated.step(self.step).id;
        let _ = self
            .engine
            .journal
            .append(
                Some(id),
                None,
                Note {
                    kind: kind.into(),
                    data,
                },
            )
            .await;
    }

    fn redactor(&self) -> &Redactor {
        &self.engine.redactor
    }

    fn approvals(&self) -> &Approvals {
        &self.engine.approvals
    }

    fn runbook_dir(&self) -> &std::path::Path {
        &self.engine.options.runbook_dir
    }

    fn eval(&self, expr: &str) -> Result<Json, String> {
        eval(&self.engine.env, expr, &self.engine.contexts.base())
    }

    fn dry_run(&self, report: DryRunReport) {
        if self.engine.options.dry_run {
            self.engine
                .reports
                .lock()
                .expect("reports lock")
                .insert(self.step, report);
        }
    }
}
