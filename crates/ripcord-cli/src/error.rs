//! What stops a command: one enum, printed once (by `main`, as `error: {e}`), with the exit code
//! each case gets.

use std::io;
use std::path::PathBuf;

use ripcord_engine::journal::{JournalError, ReopenError};
use ripcord_engine::run::RunError;
use ripcord_engine::session::SessionError;
use ripcord_kube::lock::LockError;

use crate::exit::Exit;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A file named on the command line.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    /// An output file (`timeline -o`).
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error("--approve names unknown step `{0}`")]
    UnknownApproveStep(String),
    #[error("this run has {0}; pass --yes to run it without a terminal (see `ripcord plan` first)")]
    NeedsYes(String),
    /// The operator answered no to the confirmation (printed without `error: `).
    #[error("not run")]
    Declined,
    /// The list: one `  type (steps: a, b)` line per step type.
    #[error("this build of ripcord has no executor for these step types, so nothing was run:\n{0}")]
    MissingExecutors(String),
    #[error("--limit `{0}` is not FAMILY=N (e.g. kube=4)")]
    BadLimit(String),
    #[error("--limit: this build has no `{family}` executors (it has: {known})")]
    UnknownFamily { family: String, known: String },

    #[error("no run `{run}` in {} (see `ripcord status`)", runs_dir.display())]
    UnknownRun { run: String, runs_dir: PathBuf },
    #[error("no runs in {}", .0.display())]
    NoRuns(PathBuf),
    #[error("run `{0}` has no run_started record")]
    NoRunStarted(String),
    #[error("run {run} already finished ({outcome}); nothing is waiting for approval")]
    AlreadyFinished { run: String, outcome: String },
    #[error("step `{step}` of run {run} is not waiting for a decision")]
    NotWaiting { step: String, run: String },
    #[error("name a run (or `last`)")]
    NoRunNamed,
    #[error("several runs given: pass --compare to compare them")]
    SeveralRuns,
    #[error("--compare needs at least two runs")]
    CompareNeedsTwo,
    #[error("--compare renders text, md or json")]
    CompareFormat,

    /// Starting or continuing a run (the exit code depends on the case).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Boxed: the Lease's details would make every `Result<_, CliError>` large.
    #[error("{source}; run {run} not started")]
    Lock { source: Box<LockError>, run: String },
    #[error(transparent)]
    Engine(#[from] RunError),
    #[error("cannot read run `{run}`: {source}")]
    ReadRun { run: String, source: io::Error },
    /// A run's journal (the run exists: its id was found).
    #[error("cannot read {}: {source}", path.display())]
    ReadJournal { path: PathBuf, source: io::Error },
    #[error("cannot record the decision: {0}")]
    Decide(io::Error),

    /// Printed already where it was found (diagnostics of a runbook or its params; `validate`
    /// reports an unreadable file among the others and goes on): only the exit code is left.
    #[error("(reported above)")]
    Reported(Exit),
}

impl CliError {
    /// Listed case by case (no catch-all) so that a new case gets its code chosen.
    pub(crate) fn exit_code(&self) -> Exit {
        match self {
            CliError::NotUtf8 { .. } => Exit::Invalid,
            CliError::Read { .. }
            | CliError::Write { .. }
            | CliError::UnknownApproveStep(_)
            | CliError::NeedsYes(_)
            | CliError::Declined
            | CliError::MissingExecutors(_)
            | CliError::BadLimit(_)
            | CliError::UnknownFamily { .. }
            | CliError::UnknownRun { .. }
            | CliError::NoRuns(_)
            | CliError::NoRunStarted(_)
            | CliError::AlreadyFinished { .. }
            | CliError::NotWaiting { .. }
            | CliError::NoRunNamed
            | CliError::SeveralRuns
            | CliError::CompareNeedsTwo
            | CliError::CompareFormat => Exit::Usage,
            CliError::Session(e) => session_code(e),
            CliError::Lock { source, .. } => match **source {
                LockError::Held { .. } => Exit::Locked,
                // Cannot reach the cluster: refused before it started, like a bad flag.
                LockError::Api(_) => Exit::Usage,
            },
            CliError::Engine(RunError::Journal(e)) => journal_code(e),
            CliError::ReadRun { .. } | CliError::ReadJournal { .. } | CliError::Decide(_) => {
                Exit::Journal
            }
            CliError::Reported(code) => *code,
        }
    }
}

fn session_code(e: &SessionError) -> Exit {
    match e {
        SessionError::Journal(e) | SessionError::Reopen(ReopenError::Journal(e)) => journal_code(e),
        SessionError::NeedsDecision(_) | SessionError::StillRunning { .. } => Exit::NeedsDecision,
        // Refused before anything ran: the operator has to pick another run, file or step.
        SessionError::Reopen(ReopenError::Tampered(_))
        | SessionError::NotARun(_)
        | SessionError::Finished { .. }
        | SessionError::RunbookChanged { .. }
        | SessionError::BadStep { .. } => Exit::Usage,
    }
}

fn journal_code(e: &JournalError) -> Exit {
    match e {
        JournalError::Locked { .. } => Exit::Locked,
        JournalError::Open { .. } | JournalError::Write(_) | JournalError::Closed => Exit::Journal,
    }
}
