//! Bounded polling: every wait in a test has a limit, so a regression fails instead of hanging.

use std::time::{Duration, Instant};

/// How often a condition is polled: fast enough for millisecond-scale timing tests, slow enough
/// not to starve the process under test on a small machine.
const POLL: Duration = Duration::from_millis(10);

/// Poll `probe` every 10 ms until it returns `Some`, at most `limit`; panics with `what` after.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// Poll `f` every 10 ms until it gives `Some`, for at most `limit` (`None` after), without
/// blocking the runtime's thread.
pub async fn poll_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}
