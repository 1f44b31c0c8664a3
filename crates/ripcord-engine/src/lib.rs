//! The ripcord engine: runs a validated runbook.
//!
//! The engine produces events; the journal records them durably and everything else (progress
//! display, timeline) consumes them. It knows step types only through the spec's catalog and
//! the [`executor::Executor`] trait: it never names a cloud.
//!
//! - [`executor`]: the plug-in trait, step requests, the registry by family.
//! - [`events`]: one typed struct per journal event kind ([`events::Event`]).
//! - [`journal`]: the hash-chained JSONL journal, group commit, verification.
//! - [`approvals`]: the approval mailbox shared by `ripcord approve` and waiting steps.
//! - [`preflight`]: every executor checks what the run's steps need before the first step.
//! - [`preview`]: what a dry run observed of a step, and what a preflight checked.
//! - [`redact`]: secret redaction applied to everything that is stored or shown.
//! - [`run`]: the scheduler: readiness, attempts, gates, retries, compensation, `finally`.
//! - [`session`]: new runs, resume, retry.
//! - [`state`]: a run's state rebuilt from its journal, record by record ([`state::RunState`]).
//! - [`process`]: OS process groups executors start, so resume can tell one still at work.
//! - `testing` (feature `testing`): a recording [`executor::StepContext`] for executor tests.
//! - [`context`]: what templates see (`params`, live `steps`, `run`, `result`).
#![warn(missing_docs)]

pub mod approvals;
pub mod context;
pub mod events;
pub mod executor;
pub mod journal;
pub mod preflight;
pub mod preview;
pub mod process;
pub mod redact;
pub mod run;
pub mod session;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod unobserved;

pub use events::Event;
pub use executor::{Executor, Registry, StepContext, StepError, StepRequest, StepResult};
pub use journal::{EventKind, Journal, Record};
pub use preview::{Check, Diff, DryRunReport, Observed, PreState};
pub use redact::Redactor;
