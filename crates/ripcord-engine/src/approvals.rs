//! The approval mailbox of a run: `ripcord approve RUN STEP --by NAME` drops a decision file,
//! the waiting `approval` step picks it up. Works across terminals and machines sharing the
//! runs directory, with no daemon.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// A person's decision on an approval step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the step may go ahead; `false` is a rejection.
    pub approved: bool,
    /// Who decided (an approver's name).
    pub by: String,
    /// RFC 3339 UTC.
    pub at: String,
    /// How it was given: `cli` (`ripcord approve`), `tty` (the prompt), `flag` (`--approve`).
    pub via: String,
}

/// Where decisions for one run are exchanged.
#[derive(Clone, Debug)]
pub struct Approvals {
    dir: PathBuf,
    /// Steps approved up front with `--approve STEP`, and by whom.
    preapproved: HashSet<String>,
    user: String,
    /// Ask on the terminal as well as watching the mailbox.
    interactive: bool,
}

/// How often a waiting approval looks for a decision file.
const POLL: Duration = Duration::from_millis(200);

impl Approvals {
    /// The mailbox under `run_dir/approvals`; `user` signs decisions given here on the terminal or by `--approve`.
    pub fn new(
        run_dir: &Path,
        preapproved: HashSet<String>,
        user: String,
        interactive: bool,
    ) -> Self {
        Self {
            dir: run_dir.join("approvals"),
            preapproved,
            user,
            interactive,
        }
    }

    /// Record a decision for `step` (used by `ripcord approve`). Atomic: write then rename.
    pub fn decide(run_dir: &Path, step: &str, decision: &Decision) -> std::io::Result<PathBuf> {
        let dir = run_dir.join("approvals");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{step}.json"));
        let tmp = dir.join(format!(".{step}.json.tmp"));
        std::fs::write(
            &tmp,
            serde_json::to_vec(decision).expect("a decision is JSON"),
        )?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// The decision file of a step, if one was dropped.
    pub fn read(&self, step: &str) -> Option<Decision> {
        let bytes = std::fs::read(self.dir.join(format!("{step}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Move a used decision aside, so a later attempt or a retry asks again.
    fn consume(&self, step: &str) {
        let from = self.dir.join(format!("{step}.json"));
        let to = self.dir.join(format!(
            "{step}.{}.used.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ")
        ));
        let _ = std::fs::rename(from, to);
    }

    /// Wait for a decision until `deadline` or cancellation. `accept` filters decisions (e.g.
    /// by allowed approvers); a refused one is reported through `on_refused` and waiting goes on.
    pub async fn wait(
        &self,
        step: &str,
        prompt: &str,
        deadline: Instant,
        cancel: &CancellationToken,
        accept: impl Fn(&Decision) -> Result<(), String>,
        mut on_refused: impl FnMut(&Decision, &str),
    ) -> Option<Decision> {
        if self.preapproved.contains(step) {
            let decision = Decision {
                approved: true,
                by: self.user.clone(),
                at: now(),
                via: "flag".into(),
            };
            // `--approve` is the user's decision, held to the same `approvers` rule.
            match accept(&decision) {
                Ok(()) => return Some(decision),
                Err(why) => on_refused(&decision, &why),
            }
        }
        let mut tty = if self.interactive {
            let question = format!("\n{prompt}\nApprove step `{step}`? [y/N] ");
            let user = self.user.clone();
            Some(tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut out = std::io::stderr();
                let _ = out.write_all(question.as_bytes());
                let _ = out.flush();
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).ok()?;
                let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
                Some(Decision {
                    approved: yes,
                    by: user,
                    at: now(),
                    via: "tty".into(),
                })
            }))
        } else {
            None
        };
        let mut refused_seen: Option<Decision> = None;
        // Bounded by the deadline: each round sleeps POLL.
        loop {
            if let Some(decision) = self.read(step)
                && refused_seen.as_ref() != Some(&decision)
            {
                match accept(&decision) {
                    Ok(()) => {
                        self.consume(step);
                        return Some(decision);
                    }
                    Err(why) => {
                        on_refused(&decision, &why);
                        refused_seen = Some(decision);
                    }
                }
            }
            let now_i = Instant::now();
            if now_i >= deadline {
                return None;
            }
            let nap = POLL.min(deadline - now_i);
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(nap) => {}
                answer = async { tty.as_mut().expect("guarded").await }, if tty.is_some() => {
                    tty = None;
                    if let Ok(Some(decision)) = answer {
                        match accept(&decision) {
                            Ok(()) => return Some(decision),
                            Err(why) => on_refused(&decision, &why),
                        }
                    }
                }
            }
        }
    }
}

/// The current time as RFC 3339 UTC with milliseconds, for [`Decision::at`].
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
