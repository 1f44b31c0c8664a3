//! Exit codes (documented in docs/cli.md, "Exit codes").

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Exit {
    /// Valid, planned, run succeeded.
    Ok = 0,
    /// The runbook (or its params) is invalid; `verify` or `timeline` found a damaged journal.
    Invalid = 1,
    /// Usage error (bad flag, unknown run id, unreadable file), or a run refused before it
    /// started.
    Usage = 2,
    /// The run ended with a failed step (after compensation and `finally`).
    RunFailed = 3,
    /// Resume stopped: a step may have been applied (decide with --assume-done / --rerun); or
    /// resume or retry found a program started by the run still running.
    NeedsDecision = 4,
    /// Someone else has it: the `run --lock` Lease is held by another run, or the run's journal
    /// is locked by another ripcord process.
    Locked = 5,
    /// The journal cannot be written or read, or the engine failed during a run.
    Journal = 6,
    /// Cancelled by Ctrl-C or SIGTERM (compensation and `finally` ran).
    Cancelled = 130,
}

/// How a command ended that did its work (whatever stopped it early is a `CliError`); what it
/// found is printed already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    Ok,
    /// Runbooks invalid (`validate`), a damaged journal (`verify`, `timeline`).
    Invalid,
    /// The run ended `failed`.
    RunFailed,
    /// The run was cancelled, or `run --lock` was interrupted before the run started.
    Cancelled,
}

impl Done {
    pub(crate) fn exit_code(self) -> Exit {
        match self {
            Done::Ok => Exit::Ok,
            Done::Invalid => Exit::Invalid,
            Done::RunFailed => Exit::RunFailed,
            Done::Cancelled => Exit::Cancelled,
        }
    }
}
