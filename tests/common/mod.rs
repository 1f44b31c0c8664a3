//! Helpers shared by the end-to-end tests: run the `ripcord` binary from the workspace root and
//! collect what it printed.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the tests run with the package as working directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for "appears nowhere" checks.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A `ripcord` command run from the workspace root, so that file names in diagnostics are the
/// relative paths we pass (stable across machines), with no colour and no stray parameters
/// from the environment.
pub fn ripcord() -> Command {
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
pub fn run_cmd(cmd: &mut Command) -> Run {
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
pub fn run(args: &[&str]) -> Run {
    run_cmd(ripcord().args(args))
}

/// `runbooks/*.yaml`, relative to the workspace root, sorted.
pub fn runbooks() -> Vec<String> {
    yaml_files_in("runbooks")
}

/// `DIR/*.yaml` (DIR relative to the workspace root), as relative paths, sorted.
pub fn yaml_files_in(dir: &str) -> Vec<String> {
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
pub fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".yaml").unwrap_or(name)
}

/// The 1-based line and column (in characters) of the first occurrence of `needle` in the
/// `nth` (1-based) line containing `line_marker`, for computing expected locations from the
/// fixture text instead of hard-coding offsets that drift when a fixture is edited.
pub fn locate(text: &str, line_marker: &str, needle: &str) -> (usize, usize) {
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
// Helpers for the engine tests (tests/engine.rs, tests/crash.rs): runs in a scratch directory,
// journals, processes.

/// A `ripcord` command with `dir` as working directory (where `shell` steps run, and where
/// relative files of a test live), no colour, no `RIPCORD_*` variables from the environment and
/// no terminal on stdin.
pub fn ripcord_in(dir: &Path) -> Command {
    let mut cmd = ripcord();
    cmd.current_dir(dir).stdin(std::process::Stdio::null());
    cmd
}

/// A `ripcord` process running in the background. Killed (SIGKILL) and reaped when dropped, so
/// a failing test leaves nothing behind.
pub struct Spawned {
    pub child: std::process::Child,
    /// Where its stdout and stderr go.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    done: Option<i32>,
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The exit code once it exited (-1 for a signal), None while it runs.
    pub fn try_code(&mut self) -> Option<i32> {
        if self.done.is_none()
            && let Some(status) = self.child.try_wait().expect("try_wait works")
        {
            self.done = Some(status.code().unwrap_or(-1));
        }
        self.done
    }

    /// Wait for the exit, at most `limit`; panics (after killing it) when it takes longer.
    pub fn wait_code(&mut self, limit: std::time::Duration) -> i32 {
        let start = std::time::Instant::now();
        loop {
            if let Some(code) = self.try_code() {
                return code;
            }
            if start.elapsed() > limit {
                self.kill();
                panic!(
                    "ripcord did not exit within {limit:?}\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.try_code().is_none() {
            let _ = self.child.kill();
            let status = self.child.wait().expect("wait works");
            self.done = Some(status.code().unwrap_or(-1));
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start `cmd` in the background with its output going to `<dir>/<name>.stdout|.stderr`.
pub fn spawn_in(dir: &Path, name: &str, cmd: &mut Command) -> Spawned {
    let stdout_path = dir.join(format!("{name}.stdout"));
    let stderr_path = dir.join(format!("{name}.stderr"));
    let child = cmd
        .stdout(std::fs::File::create(&stdout_path).expect("create stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("create stderr file"))
        .spawn()
        .expect("the ripcord binary starts");
    Spawned {
        child,
        stdout_path,
        stderr_path,
        done: None,
    }
}

/// Poll `probe` every 10 ms until it returns `Some`, at most `limit`; panics with `what` after.
pub fn wait_for<T>(
    what: &str,
    limit: std::time::Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The run directories under `runs` that hold a journal, sorted.
pub fn run_ids(runs: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(runs)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("journal.jsonl").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The id of the only run under `runs` (panics unless there is exactly one).
pub fn only_run(runs: &Path) -> String {
    let ids = run_ids(runs);
    assert_eq!(
        ids.len(),
        1,
        "expected exactly one run in {}: {ids:?}",
        runs.display()
    );
    ids.into_iter().next().unwrap()
}

pub fn journal_path(runs: &Path, run_id: &str) -> PathBuf {
    runs.join(run_id).join("journal.jsonl")
}

/// The complete lines of a journal, parsed (a torn last line, or a missing file, is ignored:
/// this is also used to watch a journal being written).
pub fn journal_records(path: &Path) -> Vec<serde_json::Value> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Vec::new(),
    };
    complete
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("journal line is not JSON ({e}): {line}"))
        })
        .collect()
}

/// The records of `event` (for `step`, when given), in journal order.
pub fn events<'a>(
    records: &'a [serde_json::Value],
    event: &str,
    step: Option<&str>,
) -> Vec<&'a serde_json::Value> {
    records
        .iter()
        .filter(|r| r["event"] == event)
        .filter(|r| step.is_none_or(|s| r["step"] == s))
        .collect()
}

/// A record's `ts` as microseconds since the epoch.
pub fn ts_micros(record: &serde_json::Value) -> i64 {
    let ts = record["ts"].as_str().expect("a record has a ts");
    chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("ts `{ts}` is not RFC 3339: {e}"))
        .timestamp_micros()
}

/// Whether process `pid` is gone: no /proc entry, or a zombie (it is dead; whether something
/// reaps it depends on the machine's init, which is not ripcord's business).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_ascii_whitespace().next())
                .unwrap_or("?");
            state == "Z" || state == "X"
        }
    }
}

/// Live processes whose command line contains `marker` (zombies have an empty command line).
pub fn live_processes_mentioning(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).contains(marker))
                .unwrap_or(false)
        })
        .filter(|pid| !process_gone(*pid))
        .collect()
}

/// An engine fixture: `tests/fixtures/engine/NAME`, as an absolute path (the tests run in
/// scratch directories).
pub fn engine_fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/engine").join(name)
}
