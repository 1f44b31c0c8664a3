//! `shell`: run a program from an argv, in its own process group.
//!
//! The process group is the unit of clean-up: on cancellation, at the deadline, or when the
//! engine drops the step's future, every process of the group (the program, and whatever it
//! started without leaving the group) gets SIGTERM, then SIGKILL after [`TERM_GRACE`].
//! When the program exits on its own, processes it left behind that still hold its output
//! pipes are killed the same way once [`DRAIN_GRACE`] has passed; processes that detached
//! their output (`nohup cmd >/dev/null 2>&1 &`) are left alone.
//!
//! Right after the start, a `process_started` note journals the group ([`StartedProcess`]):
//! if ripcord itself dies, resume sees the group still alive and does not start a second copy.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use ripcord_engine::process::{PROCESS_STARTED, StartedProcess, proc_stat};
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::Effect;
use ripcord_spec::catalog::ShellWith;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

use crate::text;

/// Bytes of stdout, and of stderr, kept when `max_output` is not given.
pub const DEFAULT_MAX_OUTPUT: u64 = 64 * 1024;
/// Time between SIGTERM and SIGKILL when a process group is stopped.
pub const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long output is still read after the program exits, for children that still write.
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How often a stopping process group is checked.
const POLL: Duration = Duration::from_millis(20);
/// Lines and characters of stderr quoted in a failure message.
const STDERR_TAIL_LINES: usize = 10;
const STDERR_TAIL_CHARS: usize = 2000;

/// A command that may write, in a dry run: not run, and reported so.
fn not_run(request: &StepRequest<'_>) -> StepResult {
    request
        .context
        .dry_run(ripcord_engine::DryRunReport::not_simulated(format!(
            "a `{}` command may change something: not run in a dry run \
             (declare `effect: read` if it only reads)",
            request.effect
        )));
    json!({
        "dry_run": true,
        "skipped": "shell command not run in a dry run",
        "exit_code": null,
        "stdout": "",
        "stderr": "",
    })
}

pub(crate) async fn run(
    request: &StepRequest<'_>,
    with: &ShellWith,
) -> Result<StepResult, StepError> {
    let Some((program, args)) = with.argv.split_first() else {
        return Err(StepError::Input(
            "`argv` is empty: name a program to run".into(),
        ));
    };
    if program.is_empty() {
        return Err(StepError::Input(
            "`argv[0]` is empty: name a program to run".into(),
        ));
    }
    if request.dry_run && request.effect != Effect::Read {
        return Ok(not_run(request));
    }
    if request.cancel.is_cancelled() {
        return Err(StepError::Cancelled);
    }

    let cwd = with
        .cwd
        .as_deref()
        .map(|cwd| resolve(request.context.runbook_dir(), cwd));
    if let Some(dir) = &cwd
        && !dir.is_dir()
    {
        return Err(StepError::failed(format!(
            "working directory `{}` does not exist or is not a directory",
            dir.display()
        )));
    }

    let mut command = Command::new(program);
    command
        .args(args)
        .envs(&with.env)
        .stdin(if with.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &cwd {
        command.current_dir(dir);
    }

    let mut child = command.spawn().map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (is it installed and on PATH?)"
        } else {
            ""
        };
        StepError::failed(format!("cannot run `{program}`: {e}{hint}"))
    })?;
    let pid = child.id().expect("a child that was just spawned has a pid");
    let mut group = GroupGuard::new(pid as libc::pid_t);
    // On disk before the program's output is read: should ripcord die from here on, resume
    // knows which process group may still be at work and will not start a second copy.
    request
        .context
        .note(
            PROCESS_STARTED,
            StartedProcess::leader(pid, program).to_json(),
        )
        .await;

    let max = usize::try_from(with.max_output.unwrap_or(DEFAULT_MAX_OUTPUT)).unwrap_or(usize::MAX);
    // Keep a secret's length beyond the cap: redaction happens before the cut, so no part of
    // a secret survives at the edge.
    let slack = request.context.redactor().max_len();
    let mut out = Capture::new(max, slack);
    let mut err = Capture::new(max, slack);
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");

    let end = {
        let io = async {
            tokio::join!(
                feed(stdin, with.stdin.as_deref()),
                out.read_all(stdout),
                err.read_all(stderr),
            );
        };
        tokio::pin!(io);
        let deadline = Instant::from_std(request.deadline);
        let mut io_done = false;
        let end = loop {
            tokio::select! {
                () = &mut io, if !io_done => io_done = true,
                status = child.wait() => break match status {
                    Ok(status) => End::Exited(status),
                    Err(e) => End::WaitFailed(e),
                },
                () = request.cancel.cancelled() => break End::Cancelled,
                () = tokio::time::sleep_until(deadline) => break End::Deadline,
            }
        };
        if let End::Exited(_) = end
            && !io_done
        {
            // The program is gone but something it started still holds a pipe.
            let grace = tokio::time::sleep_until(deadline.min(Instant::now() + DRAIN_GRACE));
            tokio::select! {
                () = &mut io => io_done = true,
                () = grace => {}
                () = request.cancel.cancelled() => {}
            }
        }
        (end, io_done)
    };

    let (end, io_done) = end;
    let leftovers = !io_done;
    match end {
        End::Cancelled => {
            group.terminate(&mut child).await;
            Err(StepError::Cancelled)
        }
        End::Deadline => {
            group.terminate(&mut child).await;
            Err(StepError::failed(format!(
                "`{program}` was still running at the step's deadline; its process group was killed{}",
                stderr_excerpt(&err.text())
            )))
        }
        End::WaitFailed(e) => {
            group.terminate(&mut child).await;
            Err(StepError::failed(format!(
                "waiting for `{program}` failed: {e}"
            )))
        }
        End::Exited(status) => {
            if leftovers {
                group.terminate(&mut child).await;
                request
                    .context
                    .note(
                        "shell_leftovers_killed",
                        json!({
                            "reason": "processes started by the command still held its output \
                                       after it exited; its process group was stopped",
                            "pgid": pid,
                        }),
                    )
                    .await;
            } else {
                // Whatever is left has detached from our pipes: leave it be.
                group.disarm();
            }
            finish(request, program, with, status, &out, &err).await
        }
    }
}

enum End {
    Exited(ExitStatus),
    WaitFailed(std::io::Error),
    Cancelled,
    Deadline,
}

async fn finish(
    request: &StepRequest<'_>,
    program: &str,
    with: &ShellWith,
    status: ExitStatus,
    out: &Capture,
    err: &Capture,
) -> Result<StepResult, StepError> {
    let redactor = request.context.redactor();
    let (stdout, out_cut) = redactor.redact_then_cut(&out.text(), out.max);
    let (stderr, err_cut) = redactor.redact_then_cut(&err.text(), err.max);
    let truncated = out.truncated() || err.truncated() || out_cut || err_cut;
    if truncated {
        request
            .context
            .note(
                "shell_output_truncated",
                json!({
                    "stdout_bytes": out.total,
                    "stderr_bytes": err.total,
                    "kept_bytes_each": out.max,
                }),
            )
            .await;
    }
    let code = status.code();
    let ok_codes: &[i32] = with.ok_codes.as_deref().unwrap_or(&[0]);
    match code {
        Some(code) if ok_codes.contains(&code) => Ok(json!({
            "stdout": stdout,
            "stderr": stderr,
            "exit_code": code,
            "truncated": truncated,
        })),
        Some(code) => {
            let accepted = ok_codes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            Err(StepError::failed(format!(
                "`{program}` exited with code {code} (accepted: {accepted}){}",
                stderr_excerpt(&stderr)
            )))
        }
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status
                .signal()
                .map_or_else(|| "a signal".to_owned(), |s| format!("signal {s}"));
            Err(StepError::failed(format!(
                "`{program}` was killed by {signal}{}",
                stderr_excerpt(&stderr)
            )))
        }
    }
}

fn stderr_excerpt(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(
            "; stderr:\n{}",
            text::tail(stderr, STDERR_TAIL_LINES, STDERR_TAIL_CHARS)
        )
    }
}

/// `cwd` as given when absolute, else under the runbook's directory.
fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Write the step's stdin text, then close the pipe so the program sees end of input.
async fn feed(stdin: Option<ChildStdin>, data: Option<&str>) {
    if let (Some(mut pipe), Some(data)) = (stdin, data) {
        // A program that exits without reading all its input is not an error of ours.
        let _ = pipe.write_all(data.as_bytes()).await;
        let _ = pipe.shutdown().await;
    }
}

/// One output stream: the first `max` (+ `slack`) bytes, and how many there were in all.
struct Capture {
    kept: Vec<u8>,
    total: u64,
    max: usize,
    slack: usize,
}

impl Capture {
    fn new(max: usize, slack: usize) -> Self {
        Self {
            kept: Vec::new(),
            total: 0,
            max,
            slack,
        }
    }

    /// Read to the end, keeping the first `max` bytes and counting the rest.
    async fn read_all(&mut self, mut from: impl AsyncRead + Unpin) {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => {
                    self.total += n as u64;
                    let room =
                        (self.max.saturating_add(self.slack)).saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&chunk[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    fn text(&self) -> String {
        text::lossy_prefix(&self.kept)
    }
}

/// Stops a process group: explicitly ([`GroupGuard::terminate`]) or, while armed, when dropped.
struct GroupGuard {
    pgid: libc::pid_t,
    armed: bool,
}

impl GroupGuard {
    fn new(pgid: libc::pid_t) -> Self {
        Self { pgid, armed: true }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    /// SIGTERM the group, wait up to [`TERM_GRACE`] for it to be gone, then SIGKILL it; reap
    /// the leader.
    async fn terminate(&mut self, child: &mut Child) {
        signal_group(self.pgid, libc::SIGTERM);
        let until = Instant::now() + TERM_GRACE;
        loop {
            // Reap the leader as soon as it exits, so that it does not linger as a zombie.
            let _ = child.try_wait();
            if !group_alive(self.pgid) {
                break;
            }
            if Instant::now() >= until {
                signal_group(self.pgid, libc::SIGKILL);
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    /// The step's future was dropped with the program still running: SIGTERM now, SIGKILL
    /// from a short-lived thread after [`TERM_GRACE`] (a destructor cannot wait).
    fn drop(&mut self) {
        if !self.armed || !signal_group(self.pgid, libc::SIGTERM) {
            return;
        }
        let pgid = self.pgid;
        PendingKills::add();
        let spawned = std::thread::Builder::new()
            .name("ripcord-shell-kill".into())
            .spawn(move || {
                let until = std::time::Instant::now() + TERM_GRACE;
                while std::time::Instant::now() < until && group_alive(pgid) {
                    std::thread::sleep(POLL);
                }
                if group_alive(pgid) {
                    signal_group(pgid, libc::SIGKILL);
                }
                PendingKills::done();
            });
        if spawned.is_err() {
            // No thread for the grace period: better a hard kill now than a survivor.
            signal_group(pgid, libc::SIGKILL);
            PendingKills::done();
        }
    }
}

/// Process groups stopped from a destructor whose SIGKILL escalation is still pending.
struct PendingKills;

static PENDING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static PENDING_DONE: std::sync::Condvar = std::sync::Condvar::new();

impl PendingKills {
    fn add() {
        *PENDING.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn done() {
        let mut n = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        PENDING_DONE.notify_all();
    }
}

/// Block until every process group of a `shell` step whose future was dropped is gone (or got
/// its SIGKILL), for at most `timeout`; true when none is pending.
///
/// A dropped step cannot wait in its destructor, so the SIGTERM-then-SIGKILL escalation runs
/// on a short-lived thread, which dies with the process: call this before exiting (e.g. after
/// Ctrl-C) so that programs ignoring SIGTERM do not outlive ripcord. Steps that were
/// *cancelled* and awaited need none of this: they return only once their group is gone.
pub fn wait_for_cleanup(timeout: Duration) -> bool {
    let guard = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let (guard, _) = PENDING_DONE
        .wait_timeout_while(guard, timeout, |n| *n > 0)
        .unwrap_or_else(|e| e.into_inner());
    *guard == 0
}

/// Send `signal` to every process of the group; false when the group no longer exists.
fn signal_group(pgid: libc::pid_t, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a group.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

/// Whether the group still has a process that is not a zombie.
fn group_alive(pgid: libc::pid_t) -> bool {
    if !signal_group(pgid, 0) {
        return false;
    }
    // Zombies (exited, not yet reaped by whoever inherited them) still count for kill(2) but
    // are gone for our purposes. Where /proc can tell, ask it.
    live_members(pgid).is_none_or(|n| n > 0)
}

/// Non-zombie processes in group `pgid`, from /proc (None where /proc is not available).
fn live_members(pgid: libc::pid_t) -> Option<usize> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut live = 0;
    let mut seen_any = false;
    for entry in entries.flatten() {
        let Some(stat) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
            .and_then(proc_stat)
        else {
            continue;
        };
        seen_any = true;
        if stat.group == pgid && !stat.is_zombie() {
            live += 1;
        }
    }
    seen_any.then_some(live)
}
