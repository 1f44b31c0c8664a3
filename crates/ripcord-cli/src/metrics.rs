//! The metrics file `ripcord run --metrics-file` updates when a run ends.

use std::path::Path;

use ripcord_engine::journal;
use ripcord_report::timeline::{self, Verification, metrics};

use crate::output::{eprint, write_atomically};

/// Update the Prometheus textfile at `path` with run `run_id`. Problems are reported and do not
/// change the run's exit code.
pub(crate) fn write_metrics(path: &Path, runs_dir: &Path, run_id: &str) {
    let journal = journal::journal_path(runs_dir, run_id);
    let report = match journal::verify(&journal) {
        Ok(r) => r,
        Err(e) => {
            eprint(&format!(
                "error: metrics not written: cannot read {}: {e}\n",
                journal.display()
            ));
            return;
        }
    };
    let t = timeline::build(&report.records, Verification::from_report(&report), None);
    let Some(m) = metrics::RunMetrics::from_timeline(&t) else {
        eprint("error: metrics not written: the journal has no run_finished record\n");
        return;
    };
    let previous = std::fs::read_to_string(path).ok();
    if let Err(e) = write_atomically(path, &metrics::render(previous.as_deref(), &m), true) {
        eprint(&format!(
            "error: cannot write the metrics file {}: {e}\n",
            path.display()
        ));
    }
}
