//! Exit codes (documented in docs/cli.md).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Valid, planned, run succeeded.
    Ok = 0,
    /// The runbook (or its params) is invalid.
    Invalid = 1,
    /// Usage error, unreadable file, or other I/O problem.
    Usage = 2,
    /// The run ended with a failed step (after compensation and `finally`).
    RunFailed = 3,
    /// Resume stopped: a step may have been applied (decide with --assume-done / --rerun); or
    /// resume or retry found a program started by the run still running.
    NeedsDecision = 4,
    /// Cancelled by Ctrl-C or SIGTERM (compensation and `finally` ran).
    Cancelled = 130,
}
