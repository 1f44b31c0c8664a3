//! `ripcord timeline`: postmortem timelines and drill comparisons from journals.

use std::path::{Path, PathBuf};

use ripcord_engine::journal;
use ripcord_report::timeline::{self, RunbookSteps, Timeline, Verification, compare};

use crate::cli::TimelineFormat;
use crate::error::CliError;
use crate::exit::Done;
use crate::output::{eprint, print, write_atomically};
use crate::store;

pub(super) struct TimelineArgs {
    pub runs: Vec<String>,
    pub compare: bool,
    pub format: Option<TimelineFormat>,
    pub output: Option<PathBuf>,
    pub runbook: Option<PathBuf>,
}

/// The runbook the run was made from: `given`, or the path recorded in `run_started`; used only
/// when its SHA-256 matches the journal's.
fn runbook_steps(records: &[ripcord_engine::Record], given: Option<&Path>) -> Option<RunbookSteps> {
    let started = records.iter().find_map(|r| match r.event() {
        Ok(ripcord_engine::Event::RunStarted(e)) => Some(e),
        _ => None,
    })?;
    let sha = started.sha256.as_str();
    let path = match given {
        Some(p) => p.to_owned(),
        None => started.path.clone(),
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
fn load(runs_dir: &Path, run: &str, runbook: Option<&Path>) -> Result<Timeline, CliError> {
    let run_id = store::run_id(runs_dir, run)?;
    let path = journal::journal_path(runs_dir, &run_id);
    let report = journal::verify(&path).map_err(|source| CliError::ReadJournal {
        path: path.clone(),
        source,
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
fn emit(text: &str, output: Option<&Path>) -> Result<(), CliError> {
    match output {
        None => {
            print(text);
            Ok(())
        }
        Some(path) => write_atomically(path, text, false).map_err(|source| CliError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

pub(super) fn timeline(runs_dir: &Path, args: TimelineArgs) -> Result<Done, CliError> {
    if args.runs.is_empty() {
        return Err(CliError::NoRunNamed);
    }
    if !args.compare && args.runs.len() > 1 {
        return Err(CliError::SeveralRuns);
    }
    let loaded = args
        .runs
        .iter()
        .map(|run| load(runs_dir, run, args.runbook.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let damaged = loaded.iter().any(|t| !t.verification.ok);
    let text = if args.compare {
        if loaded.len() < 2 {
            return Err(CliError::CompareNeedsTwo);
        }
        let comparison = compare::compare(&loaded);
        match args.format.unwrap_or(TimelineFormat::Text) {
            TimelineFormat::Text => compare::text(&comparison),
            TimelineFormat::Md => compare::markdown(&comparison),
            TimelineFormat::Json => compare::json(&comparison),
            TimelineFormat::Html => return Err(CliError::CompareFormat),
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
    emit(&text, args.output.as_deref())?;
    Ok(if damaged { Done::Invalid } else { Done::Ok })
}
