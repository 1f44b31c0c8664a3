//! Live progress: a reporter that consumes journal records as they become durable.
//!
//! On a terminal: one line per running step (elapsed vs timeout) under a line for the run
//! (elapsed vs RTO). Elsewhere: one timestamped line per event. With `-o json`: the records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ripcord_engine::{EventKind, Record};
use tokio::sync::broadcast;

use crate::cli::Output;
use crate::output::{eprint, print};

pub enum Mode {
    Live,
    Plain,
    Json,
}

impl Mode {
    pub fn choose(output: Output, terminal: bool) -> Mode {
        match (output, terminal) {
            (Output::Json, _) => Mode::Json,
            (Output::Text, true) => Mode::Live,
            (Output::Text, false) => Mode::Plain,
        }
    }
}

/// Consume records until the journal closes.
pub async fn report(
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

/// One human line for a record, or `None` for records not worth a line.
pub fn describe(r: &Record) -> Option<String> {
    let step = r.step.as_deref().unwrap_or("");
    let d = &r.data;
    let text = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    Some(match r.event {
        EventKind::RunStarted => format!(
            "run {} of {}@{} started by {}@{}{}",
            r.run,
            text("runbook"),
            text("version"),
            text("user"),
            text("host"),
            if d.get("dry_run").and_then(|v| v.as_bool()) == Some(true) {
                " (dry run)"
            } else {
                ""
            }
        ),
        EventKind::RunResumed => format!("run {} {} by {}", r.run, text("mode"), text("user")),
        EventKind::StepStarted => format!(
            "▶ {step:<24} {} attempt {}/{}",
            text("type"),
            r.attempt.unwrap_or(1),
            d.get("attempts").and_then(|v| v.as_u64()).unwrap_or(1)
        ),
        EventKind::StepSucceeded => format!("✓ {step}"),
        EventKind::StepFailed => format!("✗ {step:<24} {}", text("error")),
        EventKind::StepSkipped => format!("– {step:<24} skipped: {}", text("reason")),
        EventKind::StepCancelled => format!("⊘ {step:<24} cancelled"),
        EventKind::AttemptFailed => match d.get("retry_in_ms").and_then(|v| v.as_u64()) {
            Some(ms) => format!(
                "↻ {step:<24} attempt {} failed: {}; retrying in {}",
                r.attempt.unwrap_or(1),
                text("error"),
                humantime::format_duration(Duration::from_millis(ms))
            ),
            None => format!(
                "↻ {step:<24} attempt {} failed: {}",
                r.attempt.unwrap_or(1),
                text("error")
            ),
        },
        EventKind::Gate => {
            let passed = d.get("passed").and_then(|v| v.as_bool()) == Some(true);
            format!(
                "{} {step:<24} gate `{}`{}",
                if passed { "◆" } else { "◇" },
                text("name"),
                if passed {
                    String::new()
                } else {
                    format!(" failed: {}", text("message"))
                }
            )
        }
        EventKind::Poll => return None,
        EventKind::Note => {
            let kind = text("kind");
            if kind == ripcord_engine::process::PROCESS_STARTED {
                // One per shell step: the journal and the timeline keep it for after a crash.
                return None;
            }
            let data = d.get("data").cloned().unwrap_or_default();
            if kind == "approval_waiting" {
                format!(
                    "⏸ {step:<24} waiting for approval: {}",
                    data.get("hint").and_then(|v| v.as_str()).unwrap_or("")
                )
            } else {
                format!("· {step:<24} {kind}: {data}")
            }
        }
        EventKind::Decision => format!(
            "· {step:<24} decision: {} ({})",
            text("action"),
            text("why")
        ),
        EventKind::CompensationStarted => {
            format!("↶ {step:<24} compensating with {}", text("type"))
        }
        EventKind::CompensationSucceeded => format!("↶ {step:<24} compensated"),
        EventKind::CompensationFailed => {
            format!("✗ {step:<24} compensation failed: {}", text("error"))
        }
        EventKind::CancelRequested => {
            "cancel requested: stopping running steps, then compensation and finally".into()
        }
        EventKind::RunFinished => format!(
            "run {} {} in {}",
            r.run,
            text("outcome"),
            humantime::format_duration(Duration::from_millis(
                d.get("elapsed_ms").and_then(|v| v.as_u64()).unwrap_or(0)
            ))
        ),
    })
}

/// The terminal display.
struct Live {
    multi: MultiProgress,
    header: ProgressBar,
    steps: HashMap<String, ProgressBar>,
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
            started: Instant::now(),
            rto,
            style: ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}")
                .expect("valid template"),
        }
    }

    fn on(&mut self, r: &Record) {
        let step = r.step.clone().unwrap_or_default();
        match r.event {
            EventKind::StepStarted => {
                let timeout = r
                    .data
                    .get("timeout_ms")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                bar.set_message(format!(
                    "of {2} · {step} ({}) attempt {}",
                    r.data.get("type").and_then(|v| v.as_str()).unwrap_or(""),
                    r.attempt.unwrap_or(1),
                    humantime::format_duration(Duration::from_millis(timeout))
                ));
                if let Some(old) = self.steps.insert(step, bar) {
                    old.finish_and_clear();
                }
            }
            EventKind::StepSucceeded
            | EventKind::StepFailed
            | EventKind::StepCancelled
            | EventKind::AttemptFailed => {
                if let Some(bar) = self.steps.remove(&step) {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        self.refresh_header(&r.run);
        if let Some(line) = describe(r) {
            let _ = self.multi.println(format!("{}  {line}", clock(&r.ts)));
        }
        // A terminal prompt for approval needs the screen: stop redrawing while it waits.
        if r.event == EventKind::Note
            && r.data.get("kind").and_then(|v| v.as_str()) == Some("approval_waiting")
        {
            self.multi.set_draw_target(ProgressDrawTarget::hidden());
        } else if matches!(r.event, EventKind::StepSucceeded | EventKind::StepFailed) {
            self.multi
                .set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
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
            self.steps.len()
        ));
    }

    fn finish(self) {
        for bar in self.steps.values() {
            bar.finish_and_clear();
        }
        self.header.finish_and_clear();
    }
}
