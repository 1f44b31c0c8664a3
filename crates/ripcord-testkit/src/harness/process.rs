//! The processes a test's steps started: alive or gone, found by their command line, killed if
//! a test would leave them behind. Reads `/proc` itself rather than through
//! `ripcord_engine::process`, whose process checks are among what the tests check.

use std::path::Path;
use std::time::Duration;

use crate::harness::wait::poll_until;

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_ascii_whitespace().next())
        .unwrap_or("");
    state != "Z" && state != "X"
}

/// Whether process `pid` is gone: no /proc entry, or a zombie (it is dead; whether something
/// reaps it depends on the machine's init, which is not ripcord's business).
pub fn process_gone(pid: i32) -> bool {
    !process_alive(pid)
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

/// The pids a script wrote to `file`, once it holds `n` complete lines (up to 5 s).
pub async fn read_pids(file: &Path, n: usize) -> Vec<i32> {
    let pids = poll_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(file).ok()?;
        let pids: Vec<i32> = text
            .split_terminator('\n')
            .map(|l| l.trim().parse().ok())
            .collect::<Option<_>>()?;
        (text.ends_with('\n') && pids.len() == n).then_some(pids)
    })
    .await;
    pids.unwrap_or_else(|| panic!("{} did not get {n} pids within 5 s", file.display()))
}

/// Wait (up to `limit`) until none of `pids` is alive; panic naming the survivors.
pub async fn assert_all_gone(pids: &[i32], limit: Duration) {
    let gone = poll_until(limit, || {
        pids.iter().all(|&p| !process_alive(p)).then_some(())
    })
    .await;
    if gone.is_none() {
        let alive: Vec<i32> = pids.iter().copied().filter(|&p| process_alive(p)).collect();
        for &p in &alive {
            // Do not leave them behind, whatever the test says.
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        panic!("processes {alive:?} still alive after {limit:?}");
    }
}
