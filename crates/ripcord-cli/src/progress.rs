//! Live progress: a reporter that consumes journal records as they become durable.
//!
//! On a terminal: one line per running step (elapsed vs timeout) under a line for the run
//! (elapsed vs RTO). Elsewhere: one timestamped line per event. With `-o json`: the records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ripcord_engine::events::{DecisionAction, Note, ResumeMode};
use ripcord_engine::state::RunState;
use ripcord_engine::{Event, EventKind, Record};
use tokio::sync::broadcast;

use crate::cli::Output;
use crate::output::{eprint, print};

pub(crate) enum Mode {
    Live,
    Plain,
    Json,
}

impl Mode {
    pub(crate) fn choose(output: Output, terminal: bool) -> Mode {
        match (output, terminal) {
            (Output::Json, _) => Mode::Json,
            (Output::Text, true) => Mode::Live,
            (Output::Text, false) => Mode::Plain,
        }
    }
}

/// Consume records until the journal closes.
pub(crate) async fn report(
    mut rx: broadcast::Receiver<Arc<Record>>,
    earlier: Vec<Arc<Record>>,
    mode: Mode,
    rto: Option<Duration>,
) {
    let mut live = matches!(mode, Mode::Live).then(|| Live::new(rto));
    let mut earlier = earlier.into_iter();
    loop {
        let record = match earlier.next() {
            Some(r) => r,
            None => match rx.recv().await {
                Ok(r) => r,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprint(&format!(
                        "(progress skipped {n} events; the journal has them all)\n"
                    ));
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        match (&mode, live.as_mut()) {
            (Mode::Json, _) => {
                if let Ok(line) = serde_json::to_string(&*record) {
                    print(&format!("{line}\n"));
                }
            }
            (Mode::Live, Some(live)) => live.on(&record),
            _ => {
                if let Some(line) = describe(&record) {
                    eprint(&format!("{}  {line}\n", clock(&record.ts)));
                }
            }
        }
    }
    if let Some(live) = live {
        live.finish();
    }
}

/// `HH:MM:SS.mmm` of an RFC 3339 timestamp.
fn clock(ts: &str) -> &str {
    ts.get(11..23).unwrap_or(ts)
}

/// One human line for a record, or `None` for records not worth a line (or not readable).
pub(crate) fn describe(r: &Record) -> Option<String> {
    let step = r.step.as_deref().unwrap_or("");
    let attempt = r.attempt.unwrap_or(1);
    Some(match r.event().ok()? {
        Event::RunStarted(e) => format!(
            "run {} of {}@{} started by {}@{}{}",
            r.run,
            e.runbook,
            e.version,
            e.user,
            e.host,
            if e.dry_run { " (dry run)" } else { "" }
        ),
        Event::RunResumed(e) => format!(
            "run {} {} by {}",
            r.run,
            match e.mode {
                ResumeMode::Resume => "resume",
                ResumeMode::Retry => "retry",
            },
            e.user
        ),
        Event::RunFinished(e) => format!(
            "run {} {} in {}",
            r.run,
            e.outcome.as_str(),
            humantime::format_duration(Duration::from_millis(e.elapsed_ms))
        ),
        Event::CancelRequested(_) => {
            "cancel requested: stopping running steps, then compensation and finally".into()
        }
        Event::Poll(_) => return None,
        Event::Note(note) => describe_note(step, &note)?,
        event => describe_step(step, attempt, event),
    })
}

/// The line of a step's event (every kind but the run's own, polls and notes).
fn describe_step(step: &str, attempt: u32, event: Event) -> String {
    match event {
        Event::StepStarted(e) => format!(
            "▶ {step:<24} {} attempt {attempt}/{}",
            e.step_type, e.attempts
        ),
        Event::StepSucceeded(_) => format!("✓ {step}"),
        Event::StepFailed(e) => format!("✗ {step:<24} {}", e.error),
        Event::StepSkipped(e) => format!("– {step:<24} skipped: {}", e.reason),
        Event::StepCancelled(_) => format!("⊘ {step:<24} cancelled"),
        Event::AttemptFailed(e) => match e.retry_in_ms {
            Some(ms) => format!(
                "↻ {step:<24} attempt {attempt} failed: {}; retrying in {}",
                e.error,
                humantime::format_duration(Duration::from_millis(ms))
            ),
            None => format!("↻ {step:<24} attempt {attempt} failed: {}", e.error),
        },
        Event::Gate(e) if e.passed => format!("◆ {step:<24} gate `{}`", e.name),
        Event::Gate(e) => format!(
            "◇ {step:<24} gate `{}` failed: {}",
            e.name,
            e.message.unwrap_or_default()
        ),
        Event::Decision(e) => format!(
            "· {step:<24} decision: {} ({})",
            match e.action {
                DecisionAction::AssumeDone => "assume_done",
                DecisionAction::Rerun => "rerun",
            },
            e.why
        ),
        Event::CompensationStarted(e) => {
            format!("↶ {step:<24} compensating with {}", e.step_type)
        }
        Event::CompensationSucceeded(_) => format!("↶ {step:<24} compensated"),
        Event::CompensationFailed(e) => {
            format!("✗ {step:<24} compensation failed: {}", e.error)
        }
        other => format!("· {step:<24} {}", other.kind().as_str()),
    }
}

/// The line of an executor's note; `None` for notes kept for the record only.
fn describe_note(step: &str, note: &Note) -> Option<String> {
    if note.kind == ripcord_engine::process::PROCESS_STARTED {
        // One per shell step: the journal and the timeline keep it for after a crash.
        return None;
    }
    Some(if note.kind == "approval_waiting" {
        format!(
            "⏸ {step:<24} waiting for approval: {}",
            note.data.get("hint").and_then(|v| v.as_str()).unwrap_or("")
        )
    } else {
        format!("· {step:<24} {}: {}", note.kind, note.data)
    })
}

/// The terminal display.
struct Live {
    multi: MultiProgress,
    header: ProgressBar,
    /// One bar per running step.
    steps: HashMap<String, ProgressBar>,
    /// The run as its records so far tell it (the one replay every reader shares).
    state: RunState,
    started: Instant,
    rto: Option<Duration>,
    style: ProgressStyle,
}

impl Live {
    fn new(rto: Option<Duration>) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        header.enable_steady_tick(Duration::from_millis(200));
        Self {
            multi,
            header,
            steps: HashMap::new(),
            state: RunState::default(),
            started: Instant::now(),
            rto,
            style: ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}")
                .expect("valid template"),
        }
    }

    fn on(&mut self, r: &Record) {
        self.state.apply(r);
        if let Some(id) = &r.step {
            self.update_bar(id, r.event == EventKind::StepStarted);
        }
        self.refresh_header(&r.run);
        if let Some(line) = describe(r) {
            let _ = self.multi.println(format!("{}  {line}", clock(&r.ts)));
        }
        // A terminal prompt for approval needs the screen: stop redrawing while it waits.
        if matches!(r.event(), Ok(Event::Note(note)) if note.kind == "approval_waiting") {
            self.multi.set_draw_target(ProgressDrawTarget::hidden());
        } else if matches!(r.event, EventKind::StepSucceeded | EventKind::StepFailed) {
            self.multi
                .set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        }
    }

    /// A step's bar after one of its records: a new attempt's bar replaces the previous
    /// attempt's; a step that is not running has none.
    fn update_bar(&mut self, id: &str, started: bool) {
        let running = self
            .state
            .step(id)
            .and_then(|s| Some((s.status.running()?, s.start.as_ref()?)));
        match running {
            Some((attempt, start)) if started => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                bar.set_message(format!(
                    "of {} · {id} ({}) attempt {attempt}",
                    humantime::format_duration(Duration::from_millis(start.timeout_ms)),
                    start.step_type,
                ));
                if let Some(old) = self.steps.insert(id.to_owned(), bar) {
                    old.finish_and_clear();
                }
            }
            Some(_) => {}
            None => {
                if let Some(bar) = self.steps.remove(id) {
                    bar.finish_and_clear();
                }
            }
        }
    }

    /// The run line: elapsed (drawn by the bar) against the RTO, and what is running.
    fn refresh_header(&self, run: &str) {
        let rto = self
            .rto
            .map(|rto| format!(" of RTO {}", humantime::format_duration(rto)))
            .unwrap_or_default();
        let over = self.rto.is_some_and(|rto| self.started.elapsed() > rto);
        self.header.set_message(format!(
            "{rto}{} · run {run} · {} step(s) running",
            if over { " (RTO EXCEEDED)" } else { "" },
            self.state.running().count()
        ));
    }

    fn finish(self) {
        for bar in self.steps.values() {
            bar.finish_and_clear();
        }
        self.header.finish_and_clear();
    }
}
