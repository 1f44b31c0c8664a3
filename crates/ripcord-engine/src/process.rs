//! Operating-system processes that executors start, as the journal records them.
//!
//! An executor that starts a program journals a note of kind [`PROCESS_STARTED`] holding a
//! [`StartedProcess`]. If ripcord itself dies (kill -9, a lost terminal), that program can
//! outlive it. Resume and retry refuse to go on while a program started by the run is still
//! running ([`crate::session::resume`]): two copies of a restore script racing each other are
//! worse than a stopped run.
//!
//! What counts is the program itself, the leader of the process group it was started in.
//! Processes it deliberately left running in the background (a database it started) may live in
//! that group for good and do not hold the run back. The check can only see this machine: a
//! program recorded on another host (or before a reboot) is not checked.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The note kind an executor journals right after starting a program.
pub const PROCESS_STARTED: &str = "process_started";

/// A program an executor started, as the leader of a process group of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedProcess {
    /// The leader's pid, which is also the group's id (executors start each program in a
    /// process group of its own, so that the whole tree can be signalled at once).
    pub pgid: i32,
    /// What was started (the program, not its arguments, which may hold secrets).
    pub program: String,
    /// The leader's start time in clock ticks since boot (Linux: `/proc/PID/stat`, field 22):
    /// tells our leader from an unrelated process that was given the same pid later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// The machine it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// That machine's boot (Linux: `/proc/sys/kernel/random/boot_id`): after a reboot the
    /// program is gone whatever pid now exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// What [`StartedProcess::status`] can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The program is still running here.
    Running,
    /// It has ended (or this machine has rebooted since).
    Ended,
    /// It was started on another machine: this one cannot tell.
    Elsewhere,
}

impl StartedProcess {
    /// The record for a child just started as the leader of its own process group.
    pub fn leader(pid: u32, program: &str) -> StartedProcess {
        StartedProcess {
            pgid: i32::try_from(pid).unwrap_or(i32::MAX),
            program: program.to_owned(),
            start_ticks: proc_stat(pid).and_then(|s| s.start_ticks),
            host: this_host(),
            boot_id: boot_id(),
        }
    }

    /// The note's data, as journaled.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Read a note's data back; `None` for anything else.
    pub fn from_json(data: &Json) -> Option<StartedProcess> {
        serde_json::from_value(data.clone()).ok()
    }

    /// Whether the program is still running.
    pub fn status(&self) -> Liveness {
        if self.host.is_some() && self.host != this_host() {
            return Liveness::Elsewhere;
        }
        if self.boot_id.is_some() && self.boot_id != boot_id() {
            return Liveness::Ended;
        }
        if self.pgid <= 1 {
            return Liveness::Ended;
        }
        match proc_stat(self.pgid as u32) {
            // A different start time is another process that was given the same pid later.
            Some(now) => {
                let reused = self.start_ticks.is_some() && now.start_ticks != self.start_ticks;
                if now.is_zombie() || reused {
                    Liveness::Ended
                } else {
                    Liveness::Running
                }
            }
            // No /proc entry: gone, unless this system has no /proc to ask.
            None if std::path::Path::new("/proc/self/stat").exists() => Liveness::Ended,
            None => {
                if pid_exists(self.pgid) {
                    Liveness::Running
                } else {
                    Liveness::Ended
                }
            }
        }
    }
}

/// This machine's name, read once: a resume checks every program the run journaled.
fn this_host() -> Option<String> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| gethostname::gethostname().into_string().ok())
        .clone()
}

/// This machine's boot, read once (see [`StartedProcess::boot_id`]).
fn boot_id() -> Option<String> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    })
    .clone()
}

#[cfg(unix)]
fn pid_exists(pid: i32) -> bool {
    // Signal 0 checks existence and permission without delivering anything.
    // SAFETY: kill(2) with signal 0 has no side effects.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn pid_exists(_pid: i32) -> bool {
    // Nothing to ask: assume it runs, so that the operator checks.
    true
}

/// What `/proc/PID/stat` says of a process (Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: R, S, D, Z (zombie), X (dead), ...
    pub state: char,
    /// Field 5: its process group.
    pub group: i32,
    /// Field 22: its start time in clock ticks since boot.
    pub start_ticks: Option<u64>,
}

impl ProcStat {
    /// A zombie (or dead) process holds its pid until reaped but does nothing.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

/// Read `/proc/PID/stat`; `None` if there is no such process or no `/proc`.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    // Field 22 is the seventeenth after field 5.
    let start_ticks = fields.nth(16).and_then(|t| t.parse().ok());
    Some(ProcStat {
        state,
        group,
        start_ticks,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn sleeper() -> std::process::Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_running_leader_is_running_and_a_dead_one_is_not() {
        let mut child = sleeper();
        let started = StartedProcess::leader(child.id(), "sleep");
        assert!(started.start_ticks.is_some(), "{started:?}");
        let stat = proc_stat(child.id()).unwrap();
        assert_eq!(
            stat.group,
            child.id() as i32,
            "a leader of its own group: {stat:?}"
        );
        assert_eq!(started.status(), Liveness::Running);
        let back = StartedProcess::from_json(&started.to_json()).unwrap();
        assert_eq!(back, started);

        // The same pid with another start time is somebody else.
        let other = StartedProcess {
            start_ticks: started.start_ticks.map(|t| t + 1),
            ..started.clone()
        };
        assert_eq!(other.status(), Liveness::Ended);
        // Recorded before another boot of this machine: gone.
        let before_reboot = StartedProcess {
            boot_id: Some("another-boot".into()),
            ..started.clone()
        };
        assert_eq!(before_reboot.status(), Liveness::Ended);
        // Recorded on another machine: this one cannot tell.
        let elsewhere = StartedProcess {
            host: Some("some-other-host.invalid".into()),
            ..started.clone()
        };
        assert_eq!(elsewhere.status(), Liveness::Elsewhere);

        // Killed and not yet reaped: a zombie holds the pid but does nothing.
        child.kill().unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while proc_stat(child.id()).is_some_and(|s| !s.is_zombie()) {
            assert!(Instant::now() < until, "the child never became a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(started.status(), Liveness::Ended);
        child.wait().unwrap();
        assert_eq!(started.status(), Liveness::Ended);
    }

    #[test]
    fn nonsense_is_not_a_started_process() {
        assert!(StartedProcess::from_json(&serde_json::json!({"pgid": "x"})).is_none());
        let init = StartedProcess {
            pgid: 1,
            program: "init".into(),
            start_ticks: None,
            host: None,
            boot_id: None,
        };
        assert_eq!(
            init.status(),
            Liveness::Ended,
            "pid 1 is never an executor's"
        );
    }
}
