//! The test harness shared by ripcord's test folders (feature `harness`): the executor crates'
//! integration tests (`crates/*/tests/common`) and the end-to-end tests that drive the binary
//! (`tests/common`). Each folder's `common/mod.rs` re-exports what it uses from here and keeps
//! only what is specific to it (which binary, which services, which fixtures).
//!
//! - [`step`]: run one step of an executor as the engine would ([`Opts`], [`execute`],
//!   [`execute_checked`], [`failed`]).
//! - [`wait`]: bounded polling, blocking ([`wait_for`]) and async ([`poll_until`]).
//! - [`child`]: a background child process with its output in files, killed when dropped
//!   ([`Spawned`], [`spawn_in`]).
//! - [`process`]: what is left of the processes a test started ([`process_alive`],
//!   [`process_gone`], [`live_processes_mentioning`], [`read_pids`], [`assert_all_gone`]).
//! - [`journal`]: the runs directory and its JSON-lines journals ([`journal_records`],
//!   [`events`], [`only_run`], ...).

pub mod child;
pub mod journal;
pub mod process;
pub mod step;
pub mod wait;

pub use child::{Spawned, spawn_in};
pub use journal::{events, journal_path, journal_records, only_run, run_ids, ts_micros};
pub use process::{
    assert_all_gone, live_processes_mentioning, process_alive, process_gone, read_pids,
};
pub use step::{Opts, TestContext, execute, execute_checked, failed};
pub use wait::{poll_until, wait_for};
