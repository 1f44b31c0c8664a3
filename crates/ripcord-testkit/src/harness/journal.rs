//! A runs directory (`<runs>/<run id>/journal.jsonl`) read the way a test inspects it: as
//! untyped JSON, independent of the engine's own reader (which is what is under test).

use std::path::{Path, PathBuf};

use serde_json::Value;

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
    ids.into_iter().next().expect("one run")
}

/// `<runs>/<run_id>/journal.jsonl`.
pub fn journal_path(runs: &Path, run_id: &str) -> PathBuf {
    runs.join(run_id).join("journal.jsonl")
}

/// The complete lines of a journal, parsed (a torn last line, or a missing file, is ignored:
/// this is also used to watch a journal being written).
pub fn journal_records(path: &Path) -> Vec<Value> {
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
pub fn events<'a>(records: &'a [Value], event: &str, step: Option<&str>) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["event"] == event)
        .filter(|r| step.is_none_or(|s| r["step"] == s))
        .collect()
}

/// A record's `ts` as microseconds since the epoch.
pub fn ts_micros(record: &Value) -> i64 {
    let ts = record["ts"].as_str().expect("a record has a ts");
    chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("ts `{ts}` is not RFC 3339: {e}"))
        .timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_and_a_missing_file_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path();
        std::fs::create_dir(runs.join("run-b")).unwrap();
        std::fs::create_dir(runs.join("run-a")).unwrap();
        std::fs::create_dir(runs.join("no-journal")).unwrap();
        std::fs::write(journal_path(runs, "run-a"), "").unwrap();
        let path = journal_path(runs, "run-b");
        assert!(journal_records(&path).is_empty());
        std::fs::write(
            &path,
            "{\"event\":\"a\",\"step\":\"s\",\"ts\":\"2026-01-01T00:00:00.000001Z\"}\n{\"event\":\"b\"}\n{\"eve",
        )
        .unwrap();
        let records = journal_records(&path);
        assert_eq!(records.len(), 2);
        assert_eq!(events(&records, "a", Some("s")).len(), 1);
        assert!(events(&records, "a", Some("t")).is_empty());
        assert_eq!(ts_micros(&records[0]), 1_767_225_600_000_001);
        assert_eq!(run_ids(runs), ["run-a", "run-b"]);
    }
}
