//! Helpers shared by the end-to-end tests: run the `ripcord` binary from the workspace root and
//! collect what it printed. What is not about the binary (background processes, bounded waits,
//! journals) comes from `ripcord_testkit::harness`.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

// The harness the test folders share: background processes, bounded waits, journals.
#[allow(unused_imports)] // each test binary uses a different subset
pub(crate) use ripcord_testkit::harness::{
    Spawned, events, journal_path, journal_records, live_processes_mentioning, only_run,
    process_gone, run_ids, spawn_in, ts_micros, wait_for,
};

/// The workspace root (the tests run with the package as working directory).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for "appears nowhere" checks.
    pub(crate) fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A `ripcord` command run from the workspace root, so that file names in diagnostics are the
/// relative paths we pass (stable across machines), with no colour and no stray parameters
/// from the environment.
pub(crate) fn ripcord() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RIPCORD_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Run a prepared command to completion.
pub(crate) fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("the ripcord binary runs");
    let run = Run {
        // A signal (no code) shows up as -1; a panic is 101.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked at"),
        "ripcord panicked (exit {}):\n{}",
        run.code,
        run.stderr
    );
    run
}

/// `ripcord ARGS...` from the workspace root.
pub(crate) fn run(args: &[&str]) -> Run {
    run_cmd(ripcord().args(args))
}

/// `runbooks/*.yaml`, relative to the workspace root, sorted.
pub(crate) fn runbooks() -> Vec<String> {
    yaml_files_in("runbooks")
}

/// `DIR/*.yaml` (DIR relative to the workspace root), as relative paths, sorted.
pub(crate) fn yaml_files_in(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

/// The file stem: `runbooks/data-recovery.yaml` -> `data-recovery`.
pub(crate) fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".yaml").unwrap_or(name)
}

/// The 1-based line and column (in characters) of the first occurrence of `needle` in the
/// `nth` (1-based) line containing `line_marker`, for computing expected locations from the
/// fixture text instead of hard-coding offsets that drift when a fixture is edited.
pub(crate) fn locate(text: &str, line_marker: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if line.contains(line_marker)
            && let Some(byte) = line.find(needle)
        {
            return (i + 1, line[..byte].chars().count() + 1);
        }
    }
    panic!("no line with {line_marker:?} containing {needle:?}");
}

// ---------------------------------------------------------------------------------------------
// Helpers for the engine tests (tests/engine.rs, tests/crash.rs): runs in a scratch directory
// (journals and processes are `ripcord_testkit::harness`'s).

/// A `ripcord` command with `dir` as working directory (where `shell` steps run, and where
/// relative files of a test live), no colour, no `RIPCORD_*` variables from the environment and
/// no terminal on stdin.
pub(crate) fn ripcord_in(dir: &Path) -> Command {
    let mut cmd = ripcord();
    cmd.current_dir(dir).stdin(std::process::Stdio::null());
    cmd
}

/// An engine fixture: `tests/fixtures/engine/NAME`, as an absolute path (the tests run in
/// scratch directories).
pub(crate) fn engine_fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/engine").join(name)
}
