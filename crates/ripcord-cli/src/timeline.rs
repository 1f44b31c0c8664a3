//! `ripcord timeline`: postmortem timelines and drill comparisons from journals; and the
//! metrics file `ripcord run --metrics-file` writes when a run ends.

use std::path::{Path, PathBuf};

use ripcord_engine::journal;
use ripcord_report::timeline::{self, RunbookSteps, Timeline, Verification, compare, metrics};

use crate::cli::TimelineFormat;
use crate::commands::{eprint, print};
use crate::exit::Exit;

pub struct TimelineArgs {
    pub runs: Vec<String>,
    pub compare: bool,
    pub format: Option<TimelineFormat>,
    pub output: Option<PathBuf>,
    pub runbook: Option<PathBuf>,
}

/// The runbook the run was made from: `given`, or the path recorded in `run_started`; used only
/// when its SHA-256 matches the journal's.
fn runbook_steps(records: &[ripcord_engine::Record], given: Option<&Path>) -> Option<RunbookSteps> {
    let started = records
        .iter()
        .find(|r| r.event == ripcord_engine::EventKind::RunStarted)?;
    let sha = started.data.get("sha256").and_then(|v| v.as_str())?;
    let path = match given {
        Some(p) => p.to_owned(),
        None => PathBuf::from(started.data.get("path").and_then(|v| v.as_str())?),
    };
    let text = std::fs::read_to_string(&path).ok()?;
    let outcome = ripcord_spec::validate(ripcord_spec::SourceFile::new(
        path.display().to_string(),
        text,
    ));
    let validated = outcome.validated?;
    if validated.content_sha256() != sha {
        if given.is_some() {
            eprint(&format!(
                "warning: {} is not the runbook this run used (its SHA-256 differs); the critical path is derived from timing\n",
                path.display()
            ));
        }
        return None;
    }
    Some(RunbookSteps::from_validated(&validated))
}

/// A run's journal, verified, as a timeline (with the runbook it was made from when that is
/// still available unchanged).
fn load(runs_dir: &Path, run: &str, runbook: Option<&Path>) -> Result<Timeline, Exit> {
    let run_id = crate::runs::run_id(runs_dir, run)?;
    let path = journal::journal_path(runs_dir, &run_id);
    let report = journal::verify(&path).map_err(|e| {
        eprint(&format!("error: cannot read {}: {e}\n", path.display()));
        Exit::Usage
    })?;
    let verification = Verification::from_report(&report);
    if let Some(p) = &report.problem {
        eprint(&format!(
            "warning: {}:{}: JOURNAL FAILED VERIFICATION: {}; the timeline shows only the {} events before it\n",
            path.display(),
            p.line,
            p.reason,
            report.records.len()
        ));
    }
    let steps = runbook_steps(&report.records, runbook);
    Ok(timeline::build(
        &report.records,
        verification,
        steps.as_ref(),
    ))
}

/// Write `text` to `path` atomically (a temporary file beside it, then rename), or to stdout.
fn emit(text: &str, output: Option<&Path>) -> Result<(), Exit> {
    match output {
        None => {
            print(text);
            Ok(())
        }
        Some(path) => write_atomically(path, text, false).map_err(|e| {
            eprint(&format!("error: cannot write {}: {e}\n", path.display()));
            Exit::Usage
        }),
    }
}

/// Readers see the old file or the new one, never a part; `durable` also fsyncs the data.
fn write_atomically(path: &Path, text: &str, durable: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        if durable {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn timeline(runs_dir: &Path, args: TimelineArgs) -> Exit {
    if args.runs.is_empty() {
        eprint("error: name a run (or `last`)\n");
        return Exit::Usage;
    }
    if !args.compare && args.runs.len() > 1 {
        eprint("error: several runs given: pass --compare to compare them\n");
        return Exit::Usage;
    }
    let mut loaded = Vec::new();
    for run in &args.runs {
        match load(runs_dir, run, args.runbook.as_deref()) {
            Ok(t) => loaded.push(t),
            Err(code) => return code,
        }
    }
    let damaged = loaded.iter().any(|t| !t.verification.ok);
    let text = if args.compare {
        if loaded.len() < 2 {
            eprint("error: --compare needs at least two runs\n");
            return Exit::Usage;
        }
        let comparison = compare::compare(&loaded);
        match args.format.unwrap_or(TimelineFormat::Text) {
            TimelineFormat::Text => compare::text(&comparison),
            TimelineFormat::Md => compare::markdown(&comparison),
            TimelineFormat::Json => compare::json(&comparison),
            TimelineFormat::Html => {
                eprint("error: --compare renders text, md or json\n");
                return Exit::Usage;
            }
        }
    } else {
        let t = &loaded[0];
        match args.format.unwrap_or(TimelineFormat::Md) {
            // Markdown is meant to read well as plain text.
            TimelineFormat::Md | TimelineFormat::Text => timeline::markdown(t),
            TimelineFormat::Html => timeline::html(t),
            TimelineFormat::Json => timeline::json(t),
        }
    };
    if let Err(code) = emit(&text, args.output.as_deref()) {
        return code;
    }
    if damaged { Exit::Invalid } else { Exit::Ok }
}

/// After `ripcord run --metrics-file PATH`: update the Prometheus textfile with this run.
/// Problems are reported and do not change the run's exit code.
pub fn write_metrics(path: &Path, runs_dir: &Path, run_id: &str) {
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
