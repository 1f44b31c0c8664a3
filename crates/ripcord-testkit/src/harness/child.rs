//! A program running in the background while the test watches its effects.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A process running in the background. Killed (SIGKILL) and reaped when dropped, so a failing
/// test leaves nothing behind.
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// Where its stdout goes.
    pub stdout_path: PathBuf,
    /// Where its stderr goes.
    pub stderr_path: PathBuf,
    /// The program's name, for messages.
    program: String,
    done: Option<i32>,
}

impl Spawned {
    /// Its process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid fits in i32")
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
    pub fn wait_code(&mut self, limit: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(code) = self.try_code() {
                return code;
            }
            if start.elapsed() > limit {
                self.kill();
                panic!(
                    "{} did not exit within {limit:?}\nstderr:\n{}",
                    self.program,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
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

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start `cmd` in the background with its output going to `<dir>/<name>.stdout|.stderr`
/// (files rather than pipes: nothing has to drain them, and they can be read while it runs).
pub fn spawn_in(dir: &Path, name: &str, cmd: &mut Command) -> Spawned {
    let program = Path::new(cmd.get_program())
        .file_name()
        .map_or_else(|| name.to_owned(), |p| p.to_string_lossy().into_owned());
    let stdout_path = dir.join(format!("{name}.stdout"));
    let stderr_path = dir.join(format!("{name}.stderr"));
    let child = cmd
        .stdout(std::fs::File::create(&stdout_path).expect("create stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    Spawned {
        child,
        stdout_path,
        stderr_path,
        program,
        done: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_goes_to_files_and_a_dropped_child_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let mut done = spawn_in(
            dir.path(),
            "echo",
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        );
        assert_eq!(done.wait_code(Duration::from_secs(10)), 3);
        assert_eq!(
            (done.stdout(), done.stderr()),
            ("out\n".into(), "err\n".into())
        );

        let sleeper = spawn_in(dir.path(), "sleep", Command::new("sleep").arg("30"));
        let pid = sleeper.pid();
        assert!(crate::harness::process_alive(pid));
        drop(sleeper);
        assert!(crate::harness::process_gone(pid));
    }
}
