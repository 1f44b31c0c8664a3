//! Journal records -> [`Timeline`]: a [`Builder`] reads the records' typed events in order,
//! one method per event kind, and [`Builder::finish`] puts the model together.

use std::collections::{HashMap, HashSet};

use ripcord_engine::events::{self, DecisionAction, Event};
use ripcord_engine::state::RunState;
use ripcord_engine::{EventKind, Record};
use ripcord_spec::model::OnFailure;
use serde_json::Value as Json;

use super::fmt::{human, parse_us};
use super::objectives::{Backup, RunEnd};
use super::payload::{ApprovalRefused, ApprovalWaiting, Approved, NoteData};
use super::{
    Approval, ApprovalDecision, Compensation, CompensationOutcome, Continuation, EventRow, Failure,
    FailureKind, Header, Mark, MarkKind, NeedsFrom, Objectives, RunOutcome, RunbookSteps, SCHEMA,
    Segment, SegmentKind, StepCompensation, StepStatus, StepTimeline, Timeline, Verification,
};

/// Build the timeline of a run from its (verified) records. `runbook`, when given, is the
/// runbook the run was made from (same SHA-256): it names steps and gives `needs` to the
/// critical path and to the waiting segments.
pub fn build(
    records: &[Record],
    verification: Verification,
    runbook: Option<&RunbookSteps>,
) -> Timeline {
    let mut builder = Builder::new(records);
    for r in records {
        builder.on_record(r);
    }
    builder.finish(verification, runbook)
}

/// What a step's records add up to, while reading the journal.
struct StepAcc {
    id: String,
    step_type: Option<String>,
    effect: Option<String>,
    status: StepStatus,
    compensation: Option<StepCompensation>,
    first_start: Option<i64>,
    end: Option<i64>,
    attempts: u32,
    /// The attempt in flight: number and start.
    open: Option<(u32, i64)>,
    /// When an approval began waiting inside the open attempt.
    approval_wait: Option<i64>,
    /// A failed attempt that will be retried: when it failed.
    backoff_from: Option<i64>,
    comp_start: Option<i64>,
    segments: Vec<Segment>,
    marks: Vec<Mark>,
    detail: Option<String>,
}

impl StepAcc {
    fn new(id: &str) -> Self {
        StepAcc {
            id: id.to_owned(),
            step_type: None,
            effect: None,
            status: StepStatus::Pending,
            compensation: None,
            first_start: None,
            end: None,
            attempts: 0,
            open: None,
            approval_wait: None,
            backoff_from: None,
            comp_start: None,
            segments: Vec::new(),
            marks: Vec::new(),
            detail: None,
        }
    }

    /// End the open attempt at `t`; returns its duration.
    fn close(&mut self, t: i64, ok: bool) -> Option<i64> {
        let (attempt, start) = self.open.take()?;
        let kind = if ok {
            SegmentKind::Attempt
        } else {
            SegmentKind::FailedAttempt
        };
        let mut push = |kind, start_us, end_us| {
            self.segments.push(Segment {
                kind,
                start_us,
                end_us,
                attempt: Some(attempt),
            })
        };
        match self.approval_wait.take() {
            Some(w) => {
                let w = w.clamp(start, t);
                if w > start {
                    push(kind, start, w);
                }
                push(SegmentKind::ApprovalWait, w, t);
            }
            None => push(kind, start, t),
        }
        Some(t - start)
    }

    /// The step ended at `t` with `status`.
    fn ended(&mut self, t: i64, status: StepStatus) {
        self.status = status;
        self.end = Some(t);
    }

    fn mark(&mut self, kind: MarkKind, at_us: i64, label: String) {
        self.marks.push(Mark { kind, at_us, label });
    }

    fn into_model(self, runbook: Option<&RunbookSteps>) -> StepTimeline {
        let def = runbook.and_then(|rb| rb.steps.get(&self.id));
        StepTimeline {
            name: def.and_then(|d| d.name.clone()),
            finally: def.map(|d| d.finally),
            on_critical_path: false,
            duration_us: self.first_start.zip(self.end).map(|(a, b)| b - a),
            start_us: self.first_start,
            end_us: self.end,
            status: self.status,
            compensation: self.compensation,
            step_type: self.step_type,
            effect: self.effect,
            attempts: self.attempts,
            segments: self.segments,
            marks: self.marks,
            detail: self.detail,
            id: self.id,
        }
    }
}

/// Where and when a record happened.
struct At<'r> {
    record: &'r Record,
    /// Microseconds since the first record.
    t: i64,
}

impl At<'_> {
    fn ts(&self) -> String {
        self.record.ts.clone()
    }

    fn failure(&self, step: &str, kind: FailureKind, message: String, then: String) -> Failure {
        Failure {
            at: self.ts(),
            at_us: self.t,
            step: step.to_owned(),
            // An attempt's or step's failure names the attempt; a refused decision (a note)
            // and a compensation belong to no attempt.
            attempt: match kind {
                FailureKind::Attempt | FailureKind::Step => self.record.attempt,
                FailureKind::Compensation | FailureKind::ApprovalRefused => None,
            },
            kind,
            message,
            then,
        }
    }
}

/// The timeline so far, while the records are read in order.
struct Builder {
    /// The first record's time, microseconds since the epoch.
    t0: i64,
    start_ts: String,
    run_id: String,
    /// The latest time seen so far (records are in order, clocks may not be).
    last_t: i64,
    steps: Vec<StepAcc>,
    index: HashMap<String, usize>,
    events: Vec<EventRow>,
    failures: Vec<Failure>,
    compensation: Vec<Compensation>,
    approvals: Vec<Approval>,
    continued_by: Vec<Continuation>,
    /// The run-level facts (start, resumes, end), from the replay every reader shares; the
    /// builder adds what only a timeline needs (every attempt, poll, gate and wait).
    state: RunState,
    backup: Option<Backup>,
}

impl Builder {
    fn new(records: &[Record]) -> Self {
        let first = records.first();
        Builder {
            t0: first.and_then(|r| parse_us(&r.ts)).unwrap_or(0),
            start_ts: first.map(|r| r.ts.clone()).unwrap_or_default(),
            run_id: first.map(|r| r.run.clone()).unwrap_or_default(),
            last_t: 0,
            steps: Vec::new(),
            index: HashMap::new(),
            events: Vec::with_capacity(records.len()),
            failures: Vec::new(),
            compensation: Vec::new(),
            approvals: Vec::new(),
            continued_by: Vec::new(),
            state: RunState::default(),
            backup: None,
        }
    }

    fn step_index(&mut self, id: &str) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        self.steps.push(StepAcc::new(id));
        self.index.insert(id.to_owned(), self.steps.len() - 1);
        self.steps.len() - 1
    }

    fn on_record(&mut self, r: &Record) {
        let t = parse_us(&r.ts).map_or(self.last_t, |us| us - self.t0);
        let step = r.step.as_deref().map(|id| self.step_index(id));
        let at = At { record: r, t };
        self.state.apply(r);
        let (duration, detail) = match r.event() {
            Ok(event) => (
                self.on_event(&at, step, &event),
                super::detail::detail(r, &event),
            ),
            Err(e) => (self.on_unreadable(&at, step), super::detail::unreadable(&e)),
        };
        self.events.push(EventRow {
            seq: r.seq,
            ts: r.ts.clone(),
            at_us: t,
            step: r.step.clone(),
            event: r.event,
            attempt: r.attempt,
            duration_us: duration,
            detail,
        });
        self.last_t = self.last_t.max(t);
    }

    /// One event; returns the duration the events table shows for it (ends of attempts,
    /// compensations and the run).
    fn on_event(&mut self, at: &At<'_>, step: Option<usize>, event: &Event) -> Option<i64> {
        match event {
            Event::RunStarted(_) => None,
            Event::RunResumed(e) => {
                self.on_run_resumed(at, e);
                None
            }
            Event::RunFinished(_) => Some(at.t),
            Event::CancelRequested(_) => None,
            step_event => self.on_step_event(at, step?, step_event),
        }
    }

    fn on_step_event(&mut self, at: &At<'_>, i: usize, event: &Event) -> Option<i64> {
        match event {
            Event::StepStarted(e) => {
                self.on_step_started(at, i, Some(e));
                None
            }
            Event::Poll(e) => {
                self.on_poll(at, i, e);
                None
            }
            Event::Gate(e) => {
                self.on_gate(at, i, e);
                None
            }
            Event::Note(e) => {
                self.on_note(at, i, e);
                None
            }
            Event::AttemptFailed(e) => self.on_attempt_failed(at, i, e),
            Event::StepSucceeded(e) => self.on_step_succeeded(at, i, e),
            Event::StepFailed(e) => self.on_step_failed(at, i, e),
            Event::StepSkipped(e) => {
                self.on_step_skipped(i, e);
                None
            }
            Event::StepCancelled(_) => self.on_step_cancelled(at, i),
            Event::Decision(e) => {
                self.on_decision(at, i, e);
                None
            }
            Event::CompensationStarted(_) => {
                self.on_compensation_started(at, i);
                None
            }
            Event::CompensationSucceeded(_) => self.on_compensation_ended(at, i, None),
            Event::CompensationFailed(e) => self.on_compensation_ended(at, i, Some(&e.error)),
            // Run-level events are not about a step even when a record names one.
            Event::RunStarted(_)
            | Event::RunResumed(_)
            | Event::RunFinished(_)
            | Event::CancelRequested(_) => None,
        }
    }

    /// A record whose data is not its event's shape (no ripcord wrote it, e.g. a hand-made
    /// journal): it is listed, and an attempt it starts still starts, without type or effect.
    fn on_unreadable(&mut self, at: &At<'_>, step: Option<usize>) -> Option<i64> {
        match (at.record.event, step) {
            (EventKind::StepStarted, Some(i)) => self.on_step_started(at, i, None),
            (EventKind::RunFinished, _) => return Some(at.t),
            _ => {}
        }
        None
    }

    fn on_run_resumed(&mut self, at: &At<'_>, e: &events::RunResumed) {
        // Attempts in flight when the run stopped never ended: they end at the last thing
        // the journal knew before the stop.
        let last_t = self.last_t;
        for acc in self.steps.iter_mut() {
            if let Some((attempt, _)) = acc.open {
                acc.close(last_t, false);
                self.failures.push(Failure {
                    at: at.ts(),
                    at_us: last_t,
                    step: acc.id.clone(),
                    attempt: Some(attempt),
                    kind: FailureKind::Attempt,
                    message: "interrupted: the run stopped while this attempt was in flight".into(),
                    then: "the run was continued later".into(),
                });
            }
        }
        self.continued_by.push(Continuation {
            mode: e.mode,
            by: format!("{}@{}", or_unknown(&e.user), or_unknown(&e.host)),
            at: at.ts(),
            retry: e.retry.clone(),
        });
    }

    fn on_step_started(&mut self, at: &At<'_>, i: usize, e: Option<&events::StepStarted>) {
        let (t, acc) = (at.t, &mut self.steps[i]);
        let attempt = at.record.attempt.unwrap_or(acc.attempts + 1);
        if acc.open.is_some() {
            acc.close(t, false);
        }
        acc.first_start.get_or_insert(t);
        if let Some(from) = acc.backoff_from.take() {
            acc.segments.push(Segment {
                kind: SegmentKind::Backoff,
                start_us: from,
                end_us: t,
                attempt: None,
            });
        }
        acc.open = Some((attempt, t));
        acc.attempts = acc.attempts.max(attempt);
        acc.status = StepStatus::Running;
        acc.end = None;
        if let Some(e) = e {
            acc.step_type = Some(e.step_type.clone());
            acc.effect = Some(e.effect.as_str().to_owned());
        }
    }

    fn on_poll(&mut self, at: &At<'_>, i: usize, e: &events::Poll) {
        let state = if e.satisfied { "satisfied" } else { "not yet" };
        self.steps[i].mark(MarkKind::Poll, at.t, format!("poll {}: {state}", e.n));
    }

    fn on_gate(&mut self, at: &At<'_>, i: usize, e: &events::Gate) {
        let name = &e.name;
        let (kind, label) = match (e.passed, &e.message) {
            (true, _) => (MarkKind::GatePassed, format!("gate {name}: passed")),
            (false, Some(m)) => (MarkKind::GateFailed, format!("gate {name}: FAILED: {m}")),
            (false, None) => (MarkKind::GateFailed, format!("gate {name}: FAILED")),
        };
        self.steps[i].mark(kind, at.t, label);
    }

    fn on_note(&mut self, at: &At<'_>, i: usize, e: &events::Note) {
        match NoteData::of(e) {
            NoteData::ApprovalWaiting(w) => self.on_approval_waiting(at, i, w),
            NoteData::ApprovalRefused(r) => self.on_approval_refused(at, i, r),
            NoteData::ProcessStarted(_) | NoteData::Other { .. } => {}
        }
    }

    fn on_approval_waiting(&mut self, at: &At<'_>, i: usize, w: ApprovalWaiting) {
        self.steps[i].approval_wait = Some(at.t);
        self.approvals.push(Approval {
            step: self.steps[i].id.clone(),
            prompt: w.prompt,
            waiting_since: Some(at.ts()),
            decided_at: None,
            waited_us: None,
            decision: ApprovalDecision::Waiting,
            by: None,
            via: None,
            refused: Vec::new(),
        });
    }

    fn on_approval_refused(&mut self, at: &At<'_>, i: usize, r: ApprovalRefused) {
        let id = self.steps[i].id.clone();
        let why = format!(
            "{} by {} via {}: {}",
            if r.approved { "approval" } else { "rejection" },
            r.by.as_deref().unwrap_or("?"),
            r.via.as_deref().unwrap_or("?"),
            r.reason.as_deref().unwrap_or("")
        );
        if let Some(a) = self.approvals.iter_mut().rev().find(|a| a.step == id) {
            a.refused.push(why.clone());
        }
        let then = "the step kept waiting for an allowed approver".into();
        self.failures
            .push(at.failure(&id, FailureKind::ApprovalRefused, why, then));
    }

    fn on_attempt_failed(
        &mut self,
        at: &At<'_>,
        i: usize,
        e: &events::AttemptFailed,
    ) -> Option<i64> {
        let acc = &mut self.steps[i];
        let was_approval = acc.approval_wait.is_some();
        let duration = acc.close(at.t, false);
        if e.retry_in_ms.is_some() {
            acc.backoff_from = Some(at.t);
        }
        if was_approval {
            self.approval_ended_without_yes(at, i, &e.error);
        }
        let then = match e.retry_in_ms {
            Some(ms) => format!("retried in {}", human(ms as i64 * 1000)),
            None => "no retry left".into(),
        };
        let id = &self.steps[i].id;
        self.failures
            .push(at.failure(id, FailureKind::Attempt, e.error.clone(), then));
        duration
    }

    fn on_step_succeeded(
        &mut self,
        at: &At<'_>,
        i: usize,
        e: &events::StepSucceeded,
    ) -> Option<i64> {
        let acc = &mut self.steps[i];
        let duration = acc.close(at.t, true);
        acc.ended(at.t, StepStatus::Succeeded);
        acc.backoff_from = None;
        if let Some(a) = Approved::of(&e.result) {
            self.approved(at, i, a);
        }
        if let Some(outputs) = e.outputs.as_object() {
            self.read_backup(at, i, outputs);
        }
        duration
    }

    /// An approval step succeeded: someone said yes.
    fn approved(&mut self, at: &At<'_>, i: usize, a: Approved) {
        let acc = &mut self.steps[i];
        acc.mark(
            MarkKind::Approved,
            at.t,
            format!("approved by {}", a.approved_by),
        );
        let decided = a.approved_at.unwrap_or_else(|| at.ts());
        let found = self.approvals.iter().rposition(|x| x.step == acc.id);
        let n = match found {
            Some(n) => n,
            None => {
                self.approvals.push(Approval {
                    step: acc.id.clone(),
                    prompt: None,
                    waiting_since: None,
                    decided_at: None,
                    waited_us: None,
                    decision: ApprovalDecision::Waiting,
                    by: None,
                    via: None,
                    refused: Vec::new(),
                });
                self.approvals.len() - 1
            }
        };
        let approval = &mut self.approvals[n];
        approval.decision = ApprovalDecision::Approved;
        approval.by = Some(a.approved_by);
        approval.via = a.via;
        approval.waited_us = waited(approval.waiting_since.as_deref(), &decided);
        approval.decided_at = Some(decided);
    }

    /// Outputs that tell a backup's age or time measure the RPO (the last one read wins).
    fn read_backup(&mut self, at: &At<'_>, i: usize, outputs: &serde_json::Map<String, Json>) {
        let now_us = at.t + self.t0;
        for (name, value) in outputs {
            if let Some(b) =
                Backup::from_output(&self.steps[i].id, name, value, &at.record.ts, now_us)
            {
                self.backup = Some(b);
            }
        }
    }

    fn on_step_failed(&mut self, at: &At<'_>, i: usize, e: &events::StepFailed) -> Option<i64> {
        let acc = &mut self.steps[i];
        let was_approval = acc.approval_wait.is_some();
        let duration = acc.close(at.t, false);
        if was_approval {
            self.approval_ended_without_yes(at, i, &e.error);
        }
        let acc = &mut self.steps[i];
        acc.ended(at.t, StepStatus::Failed);
        acc.backoff_from = None;
        acc.detail = Some(e.error.clone());
        let then = match e.on_failure {
            OnFailure::Continue => "the step failed; the run went on (on_failure: continue)",
            OnFailure::Abort => "the step failed and aborted the run",
        };
        // The last attempt's failure says the same: extend it instead of repeating it.
        match self.failures.last_mut() {
            Some(f)
                if f.step == acc.id && f.kind == FailureKind::Attempt && f.message == e.error =>
            {
                f.then = format!("{}; {then}", f.then);
                f.kind = FailureKind::Step;
            }
            _ => {
                let failure = at.failure(&acc.id, FailureKind::Step, e.error.clone(), then.into());
                self.failures.push(failure);
            }
        }
        duration
    }

    fn on_step_skipped(&mut self, i: usize, e: &events::StepSkipped) {
        let acc = &mut self.steps[i];
        acc.status = StepStatus::Skipped;
        acc.detail = Some(e.reason.clone());
        acc.marks.clear();
    }

    fn on_step_cancelled(&mut self, at: &At<'_>, i: usize) -> Option<i64> {
        let acc = &mut self.steps[i];
        let duration = acc.close(at.t, false);
        acc.ended(at.t, StepStatus::Cancelled);
        duration
    }

    /// At resume, a person said an in-flight step did (or did not) take effect.
    fn on_decision(&mut self, at: &At<'_>, i: usize, e: &events::Decision) {
        let acc = &mut self.steps[i];
        let done = e.action == DecisionAction::AssumeDone;
        acc.close(at.t, done);
        if done {
            acc.ended(at.t, StepStatus::Succeeded);
            acc.detail = Some(format!("assumed done at resume by {}", or_unknown(&e.by)));
        }
    }

    fn on_compensation_started(&mut self, at: &At<'_>, i: usize) {
        self.steps[i].comp_start = Some(at.t);
        self.compensation.push(Compensation {
            step: self.steps[i].id.clone(),
            started: at.ts(),
            ended: None,
            duration_us: None,
            outcome: CompensationOutcome::Unfinished,
            error: None,
        });
    }

    /// `error` is `None` for `compensation_succeeded`.
    fn on_compensation_ended(&mut self, at: &At<'_>, i: usize, error: Option<&str>) -> Option<i64> {
        let acc = &mut self.steps[i];
        let from = acc.comp_start.take().unwrap_or(at.t);
        acc.segments.push(Segment {
            kind: SegmentKind::Compensation,
            start_us: from,
            end_us: at.t,
            attempt: None,
        });
        acc.compensation = Some(match error {
            None => StepCompensation::Compensated,
            Some(_) => StepCompensation::CompensationFailed,
        });
        if let Some(c) = self
            .compensation
            .iter_mut()
            .rev()
            .find(|c| c.step == acc.id)
        {
            c.ended = Some(at.ts());
            c.duration_us = Some(at.t - from);
            c.outcome = match error {
                None => CompensationOutcome::Succeeded,
                Some(_) => CompensationOutcome::Failed,
            };
            c.error = error.map(str::to_owned);
        }
        if let Some(error) = error {
            let then = "the step's change was NOT undone: clean up by hand".into();
            let failure = at.failure(&acc.id, FailureKind::Compensation, error.into(), then);
            self.failures.push(failure);
        }
        Some(at.t - from)
    }

    /// An approval's attempt ended without a yes: rejected (the error names who) or timed out.
    fn approval_ended_without_yes(&mut self, at: &At<'_>, i: usize, error: &str) {
        let acc = &mut self.steps[i];
        let by = error.strip_prefix("rejected by ").map(str::to_owned);
        let label = match &by {
            Some(b) => format!("rejected by {b}"),
            None => "no decision".into(),
        };
        acc.mark(MarkKind::Rejected, at.t, label);
        if let Some(a) = self.approvals.iter_mut().rev().find(|a| a.step == acc.id)
            && a.decision == ApprovalDecision::Waiting
        {
            a.decision = if by.is_some() {
                ApprovalDecision::Rejected
            } else {
                ApprovalDecision::TimedOut
            };
            a.by = by;
            a.decided_at = Some(at.ts());
            a.waited_us = waited(a.waiting_since.as_deref(), &at.record.ts);
        }
    }

    fn finish(mut self, verification: Verification, runbook: Option<&RunbookSteps>) -> Timeline {
        // Whatever is still open never ended in this journal.
        for acc in self.steps.iter_mut() {
            if acc.open.is_some() {
                acc.close(self.last_t, true);
            }
        }
        let header = self.header(runbook);
        let started = self.state.started.as_ref().map(|s| &s.event);
        let run_end = RunEnd {
            outcome: header.outcome,
            start: &self.start_ts,
            end: header.end.as_deref(),
            took_us: header.duration_us,
        };
        let objectives = Objectives {
            rto: super::objectives::rto(started.and_then(|s| s.rto.as_deref()), &run_end),
            rpo: super::objectives::rpo(
                started.and_then(|s| s.rpo.as_deref()),
                self.backup.as_ref(),
            ),
        };
        let mut steps: Vec<StepTimeline> = std::mem::take(&mut self.steps)
            .into_iter()
            .map(|acc| acc.into_model(runbook))
            .collect();
        if let Some(rb) = runbook {
            super::path::add_waiting(&mut steps, rb);
        }
        let critical_path = super::path::critical_path(&steps, runbook);
        let on_path: HashSet<&str> = critical_path
            .steps
            .iter()
            .map(|p| p.step.as_str())
            .collect();
        for s in &mut steps {
            s.on_critical_path = on_path.contains(s.id.as_str());
        }
        let mut timeline = Timeline {
            schema: SCHEMA,
            verification,
            run: header,
            objectives,
            critical_path,
            steps,
            failures: self.failures,
            compensation: self.compensation,
            approvals: self.approvals,
            checklist: Vec::new(),
            events: self.events,
            span_us: self.last_t,
        };
        timeline.checklist = super::checklist::checklist(&timeline, runbook);
        timeline
    }

    fn header(&mut self, runbook: Option<&RunbookSteps>) -> Header {
        let started = self.state.started.as_ref().map(|s| &s.event);
        let text = |f: fn(&events::RunStarted) -> &str| started.map_or("?", |s| or_unknown(f(s)));
        let labels = started.map(|s| &s.labels);
        let label = |k: &str| labels.and_then(|l| l.get(k)).cloned();
        let severity = label("severity");
        let finished = self.state.finished.as_ref();
        Header {
            run_id: self.run_id.clone(),
            runbook: text(|s| &s.runbook).to_owned(),
            version: text(|s| &s.version).to_owned(),
            sha256: text(|s| &s.sha256).to_owned(),
            path: started
                .map(|s| s.path.display().to_string())
                .unwrap_or_default(),
            started_by: format!("{}@{}", text(|s| &s.user), text(|s| &s.host)),
            continued_by: std::mem::take(&mut self.continued_by),
            severity_meaning: severity.as_deref().and_then(severity_meaning),
            severity,
            scenario: label("scenario"),
            labels: labels.map_or(Json::Object(Default::default()), |l| {
                serde_json::to_value(l).expect("labels are JSON")
            }),
            params: started.map_or(Json::Null, |s| Json::Object(s.params.clone())),
            dry_run: started.is_some_and(|s| s.dry_run),
            ripcord_version: text(|s| &s.ripcord_version).to_owned(),
            start: self.start_ts.clone(),
            end: finished.map(|f| f.ts.clone()),
            outcome: finished.map_or(RunOutcome::Unfinished, |f| f.event.outcome.into()),
            failed_steps: finished
                .map(|f| f.event.failed_steps.clone())
                .unwrap_or_default(),
            duration_us: finished.map(|f| parse_us(&f.ts).map_or(self.last_t, |us| us - self.t0)),
            needs_from: if runbook.is_some() {
                NeedsFrom::Runbook
            } else {
                NeedsFrom::Timing
            },
        }
    }
}

/// From `since` to `until`, both RFC 3339.
fn waited(since: Option<&str>, until: &str) -> Option<i64> {
    since
        .and_then(parse_us)
        .zip(parse_us(until))
        .map(|(a, b)| b - a)
}

/// Fields a journal may lack (typed events decode them as empty) show as `?`.
fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "?" } else { s }
}

fn severity_meaning(severity: &str) -> Option<&'static str> {
    // The DR plan's "Severity Levels".
    match severity.trim().to_ascii_uppercase().as_str() {
        "P0" => Some("Critical (complete outage)"),
        "P1" => Some("High (partial outage)"),
        "P2" => Some("Medium (degraded performance)"),
        "P3" => Some("Low (minor issue)"),
        _ => None,
    }
}
