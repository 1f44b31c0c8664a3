//! The runs directory: a run id from the command line, and the runs it holds.

use std::path::Path;

use ripcord_engine::journal;

use crate::error::CliError;

/// A run id from the command line: an id, or `last` for the newest run.
pub(crate) fn run_id(runs_dir: &Path, given: &str) -> Result<String, CliError> {
    if given != "last" && given != "latest" {
        if journal::journal_path(runs_dir, given).exists() {
            return Ok(given.to_owned());
        }
        return Err(CliError::UnknownRun {
            run: given.to_owned(),
            runs_dir: runs_dir.to_owned(),
        });
    }
    let newest = list_runs(runs_dir)
        .into_iter()
        .max_by_key(|(_, modified)| *modified)
        .map(|(id, _)| id);
    newest.ok_or_else(|| CliError::NoRuns(runs_dir.to_owned()))
}

/// The runs with a journal, with the journal's modification time.
pub(crate) fn list_runs(runs_dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let modified = std::fs::metadata(e.path().join("journal.jsonl"))
                .ok()?
                .modified()
                .ok()?;
            Some((id, modified))
        })
        .collect()
}
