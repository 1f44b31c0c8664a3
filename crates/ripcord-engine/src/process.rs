//! Operating-system processes that executors start, as the journal records them.
//!
//! An executor that starts a program on this machine journals a note of kind
//! [`PROCESS_STARTED`] holding a [`StartedProcess`]. If ripcord itself dies (kill -9, a lost
//! host session), that program's process group can outlive it. On resume, a step whose
//! interrupted attempt left a live process group is not run again: two copies of a restore
//! script racing each other is worse than a stopped run. See [`crate::session::resume`].

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The note kind an executor journals right after starting a process group.
pub const PROCESS_STARTED: &str = "process_started";

/// A process group an executor started for one attempt of a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedProcess {
    /// The group's id, which is its leader's pid: executors start each program in a process
    /// group of its own, so that the whole tree can be signalled at once.
    pub pgid: i32,
    /// What was started (the program, not its arguments, which may hold secrets).
    pub program: String,
    /// The leader's start time in clock ticks since boot (Linux: `/proc/PID/stat`, field 22):
    /// tells our leader from an unrelated process that was given the same pid later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

impl StartedProcess {
    /// The record for a child just started as the leader of its own process group.
    pub fn leader(pid: u32, program: &str) -> StartedProcess {
        StartedProcess {
            pgid: i32::try_from(pid).unwrap_or(i32::MAX),
            program: program.to_owned(),
            start_ticks: start_ticks(pid),
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

    /// Whether the group may still be at work: some process of it is alive and, where its
    /// leader still exists, that leader is the one started (not a reused pid).
    pub fn is_alive(&self) -> bool {
        if self.pgid <= 1 || !group_exists(self.pgid) {
            return false;
        }
        if let (Some(then), Some(now)) = (self.start_ticks, start_ticks(self.pgid as u32))
            && then != now
        {
            // The leader's pid now belongs to a process started later: not ours.
            return false;
        }
        // The kernel does not hand out a pid that is still some group's id, so a group with
        // this id whose leader is ours (or gone) is the one started. Zombies do not count:
        // they hold their pid until reaped but do nothing.
        has_running_member(self.pgid)
    }
}

/// Whether a process of group `pgid` is not a zombie; `true` where `/proc` cannot tell.
fn has_running_member(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
            .and_then(stat)
            .is_some_and(|s| s.group == pgid && s.state != 'Z' && s.state != 'X')
    })
}

#[cfg(unix)]
fn group_exists(pgid: i32) -> bool {
    // Signal 0 checks existence and permission without delivering anything.
    // SAFETY: kill(2) with signal 0 has no side effects; a negative pid names a group.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn group_exists(_pgid: i32) -> bool {
    false
}

/// What `/proc/PID/stat` says of a process.
struct Stat {
    /// Field 3: R, S, D, Z (zombie), ...
    state: char,
    /// Field 5: its process group.
    group: i32,
    /// Field 22: its start time in clock ticks since boot.
    start_ticks: Option<u64>,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        group: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19).and_then(|t| t.parse().ok()),
    })
}

/// The start time of process `pid`, where the system tells it.
fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid)?.start_ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_child_is_alive_and_a_reaped_one_is_not() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let started = StartedProcess::leader(child.id(), "sleep");
        assert!(started.start_ticks.is_some(), "{started:?}");
        assert!(started.is_alive());
        let back = StartedProcess::from_json(&started.to_json()).unwrap();
        assert_eq!(back, started);

        // The same pid with another start time is somebody else.
        let other = StartedProcess {
            start_ticks: started.start_ticks.map(|t| t + 1),
            ..started.clone()
        };
        assert!(!other.is_alive());

        // Killed and not yet reaped: a zombie holds the pid but does nothing.
        child.kill().unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while stat(child.id()).is_some_and(|s| s.state != 'Z') {
            assert!(
                std::time::Instant::now() < until,
                "the child never became a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!started.is_alive());
        child.wait().unwrap();
        assert!(!started.is_alive());
    }

    #[test]
    fn nonsense_is_not_a_started_process() {
        assert!(StartedProcess::from_json(&serde_json::json!({"pgid": "x"})).is_none());
        let init = StartedProcess {
            pgid: 1,
            program: "init".into(),
            start_ticks: None,
        };
        assert!(!init.is_alive(), "pid 1 is never an executor's group");
    }
}
