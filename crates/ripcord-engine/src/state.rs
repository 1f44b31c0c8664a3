//! A run's state, rebuilt from its journal one record at a time.
//!
//! [`RunState::apply`] folds one record into the state; [`RunState::replay`] folds a whole
//! journal. Every reader of a run's state uses it: resume and retry ([`crate::session`]), the
//! summary printed after a run and by `ripcord status`, the live progress display. Like
//! nextest's reporter events, the state is typed (records are decoded with [`Record::event`])
//! and built incrementally, so a live reader applies each record as it becomes durable.
//!
//! A record whose `data` does not decode (no ripcord writes one, but a journal is a file) is
//! counted in [`RunState::undecodable`] and otherwise ignored.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use ripcord_spec::Effect;
use serde_json::{Value as Json, json};

use crate::events::{
    CancelRequested, Decision, DecisionAction, Event, RunFinished, RunResumed, RunStarted,
    SkipCause, StepSkipped, StepStarted,
};
use crate::journal::Record;
use crate::preview::Observed;
use crate::process::{Liveness, PROCESS_STARTED, StartedProcess};

/// An event with the timestamp of its record.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped<T> {
    /// The record's `ts` (RFC 3339).
    pub ts: String,
    /// The decoded event.
    pub event: T,
}

impl<T> Stamped<T> {
    fn at(record: &Record, event: T) -> Self {
        Self {
            ts: record.ts.clone(),
            event,
        }
    }
}

/// Where a step is, as its records tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepStatus {
    /// Nothing started it yet.
    Pending,
    /// An attempt started and nothing ended it. In a run that stopped: a crash or a kill.
    Running {
        /// The attempt under way.
        attempt: u32,
    },
    /// The attempt failed; the next one has not started (or the step's failure follows).
    AttemptFailed {
        /// The attempt that failed.
        attempt: u32,
    },
    /// Its gates passed.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Did not run.
    Skipped {
        /// Whether the skip is final (`when`) or a resume may still run it.
        cause: SkipCause,
    },
    /// An attempt (or the wait for one) was cancelled. It may have taken effect.
    Cancelled {
        /// The attempt that was cancelled.
        attempt: u32,
    },
    /// An interrupted step (running when the run stopped, or cancelled) that a resume decided
    /// to run again, not started since. `cancelled` tells which of the two it was.
    Rerun {
        /// Whether it was cancelled (rather than running when the run stopped).
        cancelled: bool,
    },
    /// A succeeded step's compensation started and did not end.
    Compensating,
    /// Undone by its compensation.
    Compensated,
    /// Its compensation failed: the step's effect stands.
    CompensationFailed,
}

impl StepStatus {
    /// The step's attempt that is under way, if one is.
    pub fn running(&self) -> Option<u32> {
        match self {
            StepStatus::Running { attempt } => Some(*attempt),
            _ => None,
        }
    }

    /// Whether the step ended for this run: nothing more happens to it unless a resume,
    /// a retry or a compensation does something about it.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            StepStatus::Pending
                | StepStatus::Running { .. }
                | StepStatus::AttemptFailed { .. }
                | StepStatus::Rerun { .. }
                | StepStatus::Compensating
        )
    }
}

/// The latest word on a step since its latest attempt started: what a one-line account of
/// the step shows beside its status.
#[derive(Clone, Debug, PartialEq)]
pub enum Remark {
    /// A resume decided about its interrupted attempt.
    Decided(DecisionAction),
    /// The step failed with this error.
    Failed(String),
    /// The step was skipped for this reason.
    Skipped(String),
    /// Its compensation succeeded.
    Compensated,
    /// Its compensation failed with this error.
    CompensationFailed(String),
}

/// One step of a run, as its records tell it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepState {
    /// Where the step is.
    pub status: StepStatus,
    /// The latest attempt's start: its step type, effect, timeout and (redacted) input.
    pub start: Option<StepStarted>,
    /// The number of the latest attempt started (0: none).
    pub attempts: u32,
    /// When the step first started, in this run or a run it continues.
    pub first_started: Option<String>,
    /// When the step last ended (succeeded, failed or was cancelled).
    pub ended: Option<String>,
    /// The latest error: of an attempt, the step, or its compensation.
    pub last_error: Option<String>,
    /// The declared outputs of its success (`{}` when a resume assumed it done).
    pub outputs: Option<Json>,
    /// The latest decision a resume took about the step (who, why), kept once it started again.
    pub decision: Option<Decision>,
    /// The step type of its compensation, once that started.
    pub compensation: Option<String>,
    /// The latest word on the step since its latest attempt started; `None` when there is none.
    pub remark: Option<Remark>,
    /// In a dry run: what its success observed (ran, validated, not simulated).
    pub dry_run: Option<crate::preview::DryRunReport>,
    /// In a dry run: the gates of its latest attempt that read an unobserved value, with why.
    pub unknown_gates: Vec<(String, String)>,
}

impl Default for StepState {
    fn default() -> Self {
        Self {
            status: StepStatus::Pending,
            start: None,
            attempts: 0,
            first_started: None,
            ended: None,
            last_error: None,
            outputs: None,
            decision: None,
            compensation: None,
            remark: None,
            dry_run: None,
            unknown_gates: Vec::new(),
        }
    }
}

impl StepState {
    /// The step type, e.g. `kube.drain`, once an attempt started.
    pub fn step_type(&self) -> Option<&str> {
        self.start.as_ref().map(|s| s.step_type.as_str())
    }

    /// The latest attempt's effect.
    pub fn effect(&self) -> Option<Effect> {
        self.start.as_ref().map(|s| s.effect)
    }

    /// The latest attempt's timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.start
            .as_ref()
            .map(|s| Duration::from_millis(s.timeout_ms))
    }

    /// How a resume treats the step (`None`: as not yet run).
    pub fn replayed(&self) -> Option<Replayed> {
        match self.status {
            StepStatus::Running { attempt } | StepStatus::Cancelled { attempt } => {
                Some(Replayed::InFlight { attempt })
            }
            StepStatus::Succeeded | StepStatus::Compensating | StepStatus::CompensationFailed => {
                Some(Replayed::Succeeded {
                    outputs: self.outputs.clone().unwrap_or_else(|| json!({})),
                })
            }
            StepStatus::Failed => Some(Replayed::Failed),
            // Only a `when` skip is final; a step blocked by others may run on resume.
            StepStatus::Skipped {
                cause: SkipCause::When,
            } => Some(Replayed::Skipped),
            StepStatus::Compensated => Some(Replayed::Compensated),
            StepStatus::Pending
            | StepStatus::AttemptFailed { .. }
            | StepStatus::Skipped {
                cause: SkipCause::Blocked,
            }
            | StepStatus::Rerun { .. } => None,
        }
    }

    fn apply(&mut self, ts: &str, attempt: Option<u32>, event: Event) {
        let attempt = attempt.unwrap_or(1);
        match event {
            Event::StepStarted(start) => {
                self.status = StepStatus::Running { attempt };
                self.start = Some(start);
                self.attempts = attempt;
                self.first_started.get_or_insert_with(|| ts.to_owned());
                self.remark = None;
                self.unknown_gates.clear();
            }
            Event::AttemptFailed(e) => {
                // Between attempts nothing is in flight: the failed attempt ended.
                self.status = StepStatus::AttemptFailed { attempt };
                self.last_error = Some(e.error);
            }
            Event::StepSucceeded(e) => {
                self.status = StepStatus::Succeeded;
                self.outputs = Some(match e.outputs {
                    Json::Null => json!({}),
                    outputs => outputs,
                });
                self.ended = Some(ts.to_owned());
                self.dry_run = e.dry_run;
            }
            Event::StepFailed(e) => {
                self.status = StepStatus::Failed;
                self.ended = Some(ts.to_owned());
                self.remark = Some(Remark::Failed(e.error.clone()));
                self.last_error = Some(e.error);
            }
            Event::StepSkipped(StepSkipped { reason, cause, .. }) => {
                self.status = StepStatus::Skipped { cause };
                self.remark = Some(Remark::Skipped(reason));
            }
            Event::StepCancelled(_) => {
                // Counts as in flight: the cancelled attempt may have taken effect.
                self.status = StepStatus::Cancelled { attempt };
                self.ended = Some(ts.to_owned());
            }
            Event::Decision(decision) => self.decide(decision),
            Event::CompensationStarted(e) => {
                self.status = StepStatus::Compensating;
                self.compensation = Some(e.step_type);
            }
            Event::CompensationSucceeded(_) => {
                self.status = StepStatus::Compensated;
                self.remark = Some(Remark::Compensated);
            }
            Event::CompensationFailed(e) => {
                self.status = StepStatus::CompensationFailed;
                self.remark = Some(Remark::CompensationFailed(e.error.clone()));
                self.last_error = Some(e.error);
            }
            Event::Gate(g) if g.unknown => {
                let why = g.message.unwrap_or_default();
                self.unknown_gates.push((g.name, why));
            }
            Event::Poll(_) | Event::Gate(_) | Event::Note(_) => {}
            Event::RunStarted(_)
            | Event::RunResumed(_)
            | Event::CancelRequested(_)
            | Event::RunFinished(_) => {}
        }
    }

    fn decide(&mut self, decision: Decision) {
        let action = decision.action;
        self.remark = Some(Remark::Decided(action));
        self.decision = Some(decision);
        match action {
            DecisionAction::AssumeDone => {
                self.status = StepStatus::Succeeded;
                self.outputs = Some(json!({}));
            }
            DecisionAction::Rerun => {
                let cancelled = matches!(self.status, StepStatus::Cancelled { .. });
                self.status = StepStatus::Rerun { cancelled };
            }
        }
    }
}

/// How a resume treats a step (see [`StepState::replayed`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Replayed {
    /// Succeeded, or assumed done by a resume: a resume does not run it.
    Succeeded {
        /// Its declared outputs.
        outputs: Json,
    },
    /// Failed for good: only a retry runs it again.
    Failed,
    /// Skipped.
    Skipped,
    /// Started and never finished: a crash, a kill, or a cancel mid-flight.
    InFlight {
        /// The attempt that was interrupted.
        attempt: u32,
    },
    /// Undone by compensation: runs again on resume.
    Compensated,
}

/// How much of a dry run was actually checked: steps by what they observed, and the gates
/// that read what nobody observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DryRunVerdict {
    /// Read-only steps that ran for real on the live system.
    pub ran: usize,
    /// Read-only steps that ran on the state earlier simulated writes predict.
    pub predicted: usize,
    /// Writes validated by the real system without being applied.
    pub validated: usize,
    /// Steps not simulated, with why (step id, reason).
    pub not_simulated: Vec<(String, String)>,
    /// Gates neither passed nor failed (step id, gate name, why).
    pub unknown_gates: Vec<(String, String, String)>,
}

impl DryRunVerdict {
    /// One line: `12 ran, 5 validated by the server, 3 not simulated, 2 gates unknown`.
    pub fn line(&self) -> String {
        let mut parts = vec![format!("{} ran", self.ran)];
        if self.predicted > 0 {
            parts.push(format!("{} ran on predicted state", self.predicted));
        }
        parts.push(format!("{} validated by the server", self.validated));
        parts.push(format!("{} not simulated", self.not_simulated.len()));
        if !self.unknown_gates.is_empty() {
            let n = self.unknown_gates.len();
            parts.push(format!("{n} gate{} unknown", if n == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}

/// A run rebuilt from its journal.
#[derive(Clone, Debug, Default)]
pub struct RunState {
    /// The run id, from the records.
    pub run_id: String,
    /// The `run_started` record; `None` when the journal has none (not a run).
    pub started: Option<Stamped<RunStarted>>,
    /// Every resume and retry, in order.
    pub resumes: Vec<Stamped<RunResumed>>,
    /// A cancel since the run (or its latest resume) started.
    pub cancel_requested: Option<Stamped<CancelRequested>>,
    /// How the run ended; `None` while it runs, or again once a resume continues it.
    pub finished: Option<Stamped<RunFinished>>,
    /// The latest `run_finished`, even if a resume followed it.
    pub last_finished: Option<Stamped<RunFinished>>,
    /// Programs started by the run's steps, in journal order (see [`crate::process`]).
    pub processes: Vec<(String, StartedProcess)>,
    /// Records applied.
    pub records: usize,
    /// Records whose `data` did not decode as their event (ignored otherwise).
    pub undecodable: usize,
    by_step: IndexMap<String, StepState>,
}

impl RunState {
    /// Fold a whole journal.
    pub fn replay(records: &[Record]) -> RunState {
        let mut state = RunState::default();
        for r in records {
            state.apply(r);
        }
        state
    }

    /// Fold one record into the state.
    pub fn apply(&mut self, r: &Record) {
        self.records += 1;
        self.run_id.clone_from(&r.run);
        // A record naming a step makes the step known, in journal order, even when its data
        // does not decode.
        if let Some(step) = &r.step
            && !self.by_step.contains_key(step)
        {
            self.by_step.insert(step.clone(), StepState::default());
        }
        let Ok(event) = r.event() else {
            self.undecodable += 1;
            return;
        };
        match event {
            Event::RunStarted(e) => {
                // The first line; a second one (no ripcord writes it) does not replace it.
                if self.started.is_none() {
                    self.started = Some(Stamped::at(r, e));
                }
            }
            Event::RunResumed(e) => {
                self.finished = None;
                self.cancel_requested = None;
                self.resumes.push(Stamped::at(r, e));
            }
            Event::CancelRequested(e) => self.cancel_requested = Some(Stamped::at(r, e)),
            Event::RunFinished(e) => {
                self.finished = Some(Stamped::at(r, e.clone()));
                self.last_finished = Some(Stamped::at(r, e));
            }
            event => {
                if let Some(step) = &r.step {
                    self.apply_step(step, r, event);
                }
            }
        }
    }

    fn apply_step(&mut self, step: &str, r: &Record, event: Event) {
        // Every program the run started, whatever became of its step: an attempt that timed
        // out, or a compensation, may have left one running.
        if let Event::Note(note) = &event
            && note.kind == PROCESS_STARTED
            && let Some(p) = StartedProcess::from_json(&note.data)
        {
            self.processes.push((step.to_owned(), p));
        }
        let state = self.by_step.entry(step.to_owned()).or_default();
        state.apply(&r.ts, r.attempt, event);
    }

    /// How a resume treats step `id` ([`StepState::replayed`]); `None`: as not yet run.
    pub fn replayed(&self, id: &str) -> Option<Replayed> {
        self.step(id)?.replayed()
    }

    /// One step's state, if any record names it.
    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.by_step.get(id)
    }

    /// Every step a record names, in the order of their first records.
    pub fn step_states(&self) -> impl Iterator<Item = (&str, &StepState)> {
        self.by_step.iter().map(|(id, s)| (id.as_str(), s))
    }

    /// For a dry run: how much of it was actually checked ([`DryRunVerdict`]).
    pub fn dry_run_verdict(&self) -> Option<DryRunVerdict> {
        if !self.started.as_ref().is_some_and(|s| s.event.dry_run) {
            return None;
        }
        let mut verdict = DryRunVerdict::default();
        for (id, step) in self.step_states() {
            if let Some(report) = &step.dry_run {
                match report.observed {
                    Observed::Ran if report.predicted => verdict.predicted += 1,
                    Observed::Ran => verdict.ran += 1,
                    Observed::Validated => verdict.validated += 1,
                    Observed::NotSimulated => verdict
                        .not_simulated
                        .push((id.to_owned(), report.reason.clone().unwrap_or_default())),
                }
            }
            for (gate, why) in &step.unknown_gates {
                verdict
                    .unknown_gates
                    .push((id.to_owned(), gate.clone(), why.clone()));
            }
        }
        Some(verdict)
    }

    /// Steps with an attempt under way, in journal order.
    pub fn running(&self) -> impl Iterator<Item = (&str, &StepState)> {
        self.step_states()
            .filter(|(_, s)| s.status.running().is_some())
    }

    /// Steps whose attempt started and did not end ([`Replayed::InFlight`]), in journal order.
    pub fn in_flight(&self) -> impl Iterator<Item = &str> {
        self.step_states()
            .filter(|(_, s)| matches!(s.replayed(), Some(Replayed::InFlight { .. })))
            .map(|(id, _)| id)
    }

    /// The outcome of the run, once finished (`succeeded`, `failed`, `cancelled`).
    pub fn outcome(&self) -> Option<&str> {
        self.finished.as_ref().map(|f| f.event.outcome.as_str())
    }

    /// Whether the run was started as a dry run (a resume continues it as one).
    pub fn dry_run(&self) -> bool {
        self.started.as_ref().is_some_and(|s| s.event.dry_run)
    }

    /// The runbook's recovery time objective, as recorded at the start.
    pub fn rto(&self) -> Option<Duration> {
        let rto = self.started.as_ref()?.event.rto.as_deref()?;
        humantime::parse_duration(rto).ok()
    }

    /// The runbook file as recorded at the start; `None` without a `run_started` record.
    pub fn runbook_path(&self) -> Option<PathBuf> {
        Some(self.started.as_ref()?.event.path.clone())
    }

    /// Non-secret params as recorded at the start (secrets must be given again).
    pub fn recorded_params(&self) -> Vec<(String, String)> {
        let Some(started) = &self.started else {
            return Vec::new();
        };
        let secrets: HashSet<&str> = started
            .event
            .secret_params
            .iter()
            .map(String::as_str)
            .collect();
        started
            .event
            .params
            .iter()
            .filter(|(k, _)| !secrets.contains(k.as_str()))
            .map(|(k, v)| (k.clone(), param_text(v)))
            .collect()
    }

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

/// A param as given on the command line: a list as `a,b`, text as itself.
fn param_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{
        AttemptFailed, CompensationFailed, CompensationStarted, CompensationSucceeded, Gate, Note,
        Outcome, Poll, ResumeMode, StepCancelled, StepFailed, StepSucceeded,
    };
    use crate::journal::EventKind;
    use ripcord_spec::model::OnFailure;

    /// Records as the engine journals them, one second apart.
    #[derive(Default)]
    struct Journal {
        records: Vec<Record>,
    }

    impl Journal {
        fn push(&mut self, step: Option<&str>, attempt: Option<u32>, event: impl Into<Event>) {
            let event = event.into();
            self.push_raw(step, attempt, event.kind(), event.data());
        }

        fn step(&mut self, step: &str, attempt: u32, event: impl Into<Event>) {
            self.push(Some(step), Some(attempt), event);
        }

        fn push_raw(
            &mut self,
            step: Option<&str>,
            attempt: Option<u32>,
            kind: EventKind,
            data: Json,
        ) {
            let seq = self.records.len() as u64 + 1;
            self.records.push(Record {
                seq,
                ts: format!("2026-01-01T00:00:{seq:02}.000000Z"),
                run: "r-1".into(),
                step: step.map(str::to_owned),
                attempt,
                event: kind,
                data,
                prev: String::new(),
                hash: String::new(),
            });
        }

        fn state(&self) -> RunState {
            RunState::replay(&self.records)
        }
    }

    fn started(step_type: &str) -> StepStarted {
        StepStarted {
            step_type: step_type.into(),
            effect: Effect::Write,
            idempotent: false,
            timeout_ms: 30_000,
            attempts: 2,
            dry_run: false,
            with: json!({}),
        }
    }

    fn run_started() -> RunStarted {
        RunStarted {
            runbook: "rb".into(),
            rto: Some("5m".into()),
            dry_run: true,
            path: "/rb.yaml".into(),
            params: serde_json::from_value(
                json!({"region": "eu", "zones": ["a", "b"], "key": "***"}),
            )
            .unwrap(),
            secret_params: vec!["key".into()],
            ..RunStarted::default()
        }
    }

    fn finished(outcome: Outcome) -> RunFinished {
        RunFinished {
            outcome,
            failed_steps: vec![],
            elapsed_ms: 1,
        }
    }

    fn status(state: &RunState, step: &str) -> StepStatus {
        state.step(step).expect("step known").status
    }

    #[test]
    fn run_level_events() {
        let mut j = Journal::default();
        j.push(None, None, run_started());
        let state = j.state();
        assert_eq!(state.run_id, "r-1");
        assert_eq!(state.started.as_ref().unwrap().ts, j.records[0].ts);
        assert!(state.dry_run());
        assert_eq!(state.rto(), Some(Duration::from_secs(300)));
        assert_eq!(state.runbook_path(), Some(PathBuf::from("/rb.yaml")));
        assert_eq!(
            state.recorded_params(),
            vec![
                ("region".to_owned(), "eu".to_owned()),
                ("zones".to_owned(), "a,b".to_owned())
            ]
        );
        assert_eq!(state.outcome(), None);

        j.push(
            None,
            None,
            CancelRequested {
                reason: "signal".into(),
            },
        );
        j.push(None, None, finished(Outcome::Cancelled));
        let state = j.state();
        assert!(state.cancel_requested.is_some());
        assert_eq!(state.outcome(), Some("cancelled"));

        // A resume continues the run: it is not finished any more, but its last end is known.
        j.push(
            None,
            None,
            RunResumed {
                mode: ResumeMode::Resume,
                ..RunResumed::default()
            },
        );
        let state = j.state();
        assert_eq!(state.resumes.len(), 1);
        assert!(state.finished.is_none() && state.cancel_requested.is_none());
        assert_eq!(state.outcome(), None);
        assert_eq!(
            state.last_finished.as_ref().unwrap().event.outcome,
            Outcome::Cancelled
        );
        assert_eq!(state.records, 4);
        assert_eq!(state.undecodable, 0);
    }

    #[test]
    fn a_step_through_attempts_to_success() {
        let mut j = Journal::default();
        j.push(None, None, run_started());
        j.step("a", 1, started("kube.drain"));
        let state = j.state();
        assert_eq!(status(&state, "a"), StepStatus::Running { attempt: 1 });
        assert_eq!(state.running().map(|(id, _)| id).collect::<Vec<_>>(), ["a"]);
        assert_eq!(state.replayed("a"), Some(Replayed::InFlight { attempt: 1 }));

        j.step(
            "a",
            1,
            Poll {
                n: 1,
                expr: "x".into(),
                satisfied: false,
            },
        );
        j.step(
            "a",
            1,
            AttemptFailed {
                error: "boom".into(),
                retry_in_ms: Some(10),
            },
        );
        let state = j.state();
        assert_eq!(
            status(&state, "a"),
            StepStatus::AttemptFailed { attempt: 1 }
        );
        assert_eq!(
            state.replayed("a"),
            None,
            "between attempts nothing is in flight"
        );
        assert_eq!(state.running().count(), 0);

        j.step("a", 2, started("kube.drain"));
        j.step(
            "a",
            2,
            Gate {
                name: "g".into(),
                expr: "true".into(),
                passed: true,
                unknown: false,
                message: None,
            },
        );
        j.step(
            "a",
            2,
            StepSucceeded {
                outputs: json!({"n": 1}),
                result: json!({}),
                dry_run: None,
            },
        );
        let state = j.state();
        let a = state.step("a").unwrap();
        assert_eq!(a.status, StepStatus::Succeeded);
        assert!(a.status.is_final());
        assert_eq!(a.attempts, 2);
        assert_eq!(a.step_type(), Some("kube.drain"));
        assert_eq!(a.effect(), Some(Effect::Write));
        assert_eq!(a.timeout(), Some(Duration::from_secs(30)));
        assert_eq!(a.first_started.as_deref(), Some(j.records[1].ts.as_str()));
        assert_eq!(a.ended.as_deref(), Some(j.records[6].ts.as_str()));
        assert_eq!(a.last_error.as_deref(), Some("boom"));
        assert_eq!(a.remark, None);
        assert_eq!(
            state.replayed("a"),
            Some(Replayed::Succeeded {
                outputs: json!({"n": 1})
            })
        );
    }

    #[test]
    fn failures_skips_and_cancels() {
        let mut j = Journal::default();
        j.step("f", 1, started("core.shell"));
        j.step(
            "f",
            1,
            StepFailed {
                error: "bad".into(),
                on_failure: OnFailure::Abort,
            },
        );
        let skip = |cause, reason: &str| StepSkipped {
            reason: reason.into(),
            cause,
            when: None,
        };
        j.push(Some("w"), None, skip(SkipCause::When, "when is false"));
        j.push(
            Some("b"),
            None,
            skip(SkipCause::Blocked, "needed step `f` failed"),
        );
        j.step("c", 1, started("core.sleep"));
        j.step("c", 1, StepCancelled {});
        let state = j.state();
        let f = state.step("f").unwrap();
        assert_eq!(f.status, StepStatus::Failed);
        assert_eq!(f.remark, Some(Remark::Failed("bad".into())));
        assert_eq!(f.last_error.as_deref(), Some("bad"));
        assert_eq!(state.replayed("f"), Some(Replayed::Failed));
        assert_eq!(
            status(&state, "w"),
            StepStatus::Skipped {
                cause: SkipCause::When
            }
        );
        assert_eq!(state.replayed("w"), Some(Replayed::Skipped));
        // A blocked skip is not final: a resume may run the step.
        assert_eq!(
            status(&state, "b"),
            StepStatus::Skipped {
                cause: SkipCause::Blocked
            }
        );
        assert_eq!(state.replayed("b"), None);
        // A cancelled attempt may have taken effect: it counts as in flight.
        assert_eq!(status(&state, "c"), StepStatus::Cancelled { attempt: 1 });
        assert_eq!(state.replayed("c"), Some(Replayed::InFlight { attempt: 1 }));
        assert_eq!(state.in_flight().collect::<Vec<_>>(), ["c"]);
        let order: Vec<&str> = state.step_states().map(|(id, _)| id).collect();
        assert_eq!(order, ["f", "w", "b", "c"]);
    }

    #[test]
    fn compensation() {
        let mut j = Journal::default();
        for (id, last) in [("ok", None), ("bad", Some("no undo"))] {
            j.step(id, 1, started("core.shell"));
            j.step(id, 1, StepSucceeded::default());
            j.push(
                Some(id),
                None,
                CompensationStarted {
                    step_type: "core.shell".into(),
                },
            );
            let state = j.state();
            assert_eq!(status(&state, id), StepStatus::Compensating);
            // Until its undo ends, the step's effect stands.
            assert_eq!(
                state.replayed(id),
                Some(Replayed::Succeeded { outputs: json!({}) })
            );
            match last {
                None => j.push(Some(id), None, CompensationSucceeded {}),
                Some(e) => j.push(Some(id), None, CompensationFailed { error: e.into() }),
            }
        }
        let state = j.state();
        assert_eq!(status(&state, "ok"), StepStatus::Compensated);
        assert_eq!(
            state.step("ok").unwrap().compensation.as_deref(),
            Some("core.shell")
        );
        assert_eq!(state.replayed("ok"), Some(Replayed::Compensated));
        let bad = state.step("bad").unwrap();
        assert_eq!(bad.status, StepStatus::CompensationFailed);
        assert_eq!(
            bad.remark,
            Some(Remark::CompensationFailed("no undo".into()))
        );
        assert_eq!(
            state.replayed("bad"),
            Some(Replayed::Succeeded { outputs: json!({}) })
        );
    }

    #[test]
    fn processes_started_by_steps() {
        let mut j = Journal::default();
        let here = StartedProcess::leader(std::process::id(), "sleep");
        let there = StartedProcess {
            host: Some("another-host".into()),
            ..here.clone()
        };
        for (step, p) in [("a", &here), ("b", &there)] {
            let note = Note {
                kind: PROCESS_STARTED.into(),
                data: p.to_json(),
            };
            j.push(Some(step), None, note);
        }
        j.push(
            Some("a"),
            None,
            Note {
                kind: "approval_waiting".into(),
                data: json!({}),
            },
        );
        let state = j.state();
        assert_eq!(state.processes.len(), 2);
        assert_eq!(state.still_running().map(|(s, _)| s.as_str()), Some("a"));
        let elsewhere: Vec<&str> = state.started_elsewhere().map(|(s, _)| s.as_str()).collect();
        assert_eq!(elsewhere, ["b"]);
        // Notes alone start nothing.
        assert_eq!(status(&state, "a"), StepStatus::Pending);
        assert_eq!(state.replayed("a"), None);
    }

    /// A run killed with two steps in flight, then resumed: one assumed done, one rerun.
    #[test]
    fn a_resumed_run() {
        let mut j = Journal::default();
        j.push(None, None, run_started());
        j.step("done", 1, started("core.shell"));
        j.step("cut", 1, started("core.shell"));
        j.step("stop", 1, started("core.shell"));
        j.push(
            None,
            None,
            CancelRequested {
                reason: "signal".into(),
            },
        );
        j.step("stop", 1, StepCancelled {});
        let state = j.state();
        assert_eq!(
            state.in_flight().collect::<Vec<_>>(),
            ["done", "cut", "stop"]
        );
        assert!(state.finished.is_none(), "killed: no run_finished");

        j.push(None, None, RunResumed::default());
        let decide = |action| Decision {
            action,
            by: "me".into(),
            why: "--flag".into(),
        };
        j.push(Some("done"), None, decide(DecisionAction::AssumeDone));
        j.push(Some("cut"), None, decide(DecisionAction::Rerun));
        j.push(Some("stop"), None, decide(DecisionAction::Rerun));
        let state = j.state();
        assert_eq!(state.in_flight().count(), 0);
        let done = state.step("done").unwrap();
        assert_eq!(done.status, StepStatus::Succeeded);
        assert_eq!(
            done.remark,
            Some(Remark::Decided(DecisionAction::AssumeDone))
        );
        assert_eq!(
            state.replayed("done"),
            Some(Replayed::Succeeded { outputs: json!({}) })
        );
        assert_eq!(
            status(&state, "cut"),
            StepStatus::Rerun { cancelled: false }
        );
        assert_eq!(
            status(&state, "stop"),
            StepStatus::Rerun { cancelled: true }
        );
        assert_eq!(state.replayed("cut"), None);
        assert!(state.cancel_requested.is_none());

        // The rerun starts again and succeeds; the one cancelled before it starts again is in
        // flight once more.
        j.step("cut", 1, started("core.shell"));
        let state = j.state();
        assert_eq!(state.step("cut").unwrap().remark, None);
        assert_eq!(
            state.step("cut").unwrap().first_started.as_deref(),
            Some(j.records[2].ts.as_str())
        );
        j.step("cut", 1, StepSucceeded::default());
        j.step("stop", 1, StepCancelled {});
        j.push(None, None, finished(Outcome::Cancelled));
        let state = j.state();
        assert_eq!(status(&state, "cut"), StepStatus::Succeeded);
        assert_eq!(
            state.replayed("stop"),
            Some(Replayed::InFlight { attempt: 1 })
        );
        assert_eq!(state.outcome(), Some("cancelled"));
        assert_eq!(state.resumes.len(), 1);

        // Applying record by record is replaying.
        let mut live = RunState::default();
        for r in &j.records {
            live.apply(r);
        }
        assert_eq!(
            live.step_states().collect::<Vec<_>>(),
            state.step_states().collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_undecodable_record_is_counted_not_applied() {
        let mut j = Journal::default();
        j.push(None, None, run_started());
        j.push_raw(
            Some("x"),
            Some(1),
            EventKind::StepStarted,
            json!({"type": 3}),
        );
        j.push_raw(None, None, EventKind::RunFinished, json!("garbage"));
        let state = j.state();
        assert_eq!(state.undecodable, 2);
        assert_eq!(state.records, 3);
        assert!(state.finished.is_none());
        // The step is known (a record names it) but nothing happened to it.
        assert_eq!(status(&state, "x"), StepStatus::Pending);
        assert_eq!(state.replayed("x"), None);
    }
}
