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
}
