//! Commands about runs that exist: `status`, `approve`, `verify`.

use std::path::Path;

use ripcord_engine::approvals::{Approvals, Decision};
use ripcord_engine::journal;
use ripcord_engine::session;

use crate::error::CliError;
use crate::exit::Done;
use crate::output::{eprint, print};
use crate::store;

pub(super) fn status(runs_dir: &Path, run: Option<&str>) -> Result<Done, CliError> {
    let Some(run) = run else {
        list(runs_dir);
        return Ok(Done::Ok);
    };
    let run_id = store::run_id(runs_dir, run)?;
    let report = journal::verify(&journal::journal_path(runs_dir, &run_id)).map_err(|source| {
        CliError::ReadRun {
            run: run_id,
            source,
        }
    })?;
    let verified = report
        .problem
        .as_ref()
        .map_or(Ok(()), |p| Err(p.to_string()));
    print(&ripcord_report::summary::text(&report.records, verified));
    Ok(Done::Ok)
}

/// One line per run, oldest first: its id and how it ended.
fn list(runs_dir: &Path) {
    let mut runs = store::list_runs(runs_dir);
    runs.sort_by_key(|(_, m)| *m);
    if runs.is_empty() {
        print(&format!("no runs in {}\n", runs_dir.display()));
    }
    for (id, _) in runs {
        let outcome = session::load(runs_dir, &id)
            .map(|(state, report)| {
                let o = state.outcome().unwrap_or("unfinished").to_owned();
                if report.problem.is_some() {
                    format!("{o} (journal damaged)")
                } else {
                    o
                }
            })
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        print(&format!("{id:<60} {outcome}\n"));
    }
}

pub(super) fn approve(
    runs_dir: &Path,
    run: &str,
    step: &str,
    by: &str,
    reject: bool,
) -> Result<Done, CliError> {
    let run_id = store::run_id(runs_dir, run)?;
    // Refuse a decision nothing waits for; a journal unreadable here is no reason to refuse.
    if let Ok((state, _)) = session::load(runs_dir, &run_id) {
        if state.finished.is_some() {
            return Err(CliError::AlreadyFinished {
                run: run_id,
                outcome: state.outcome().unwrap_or("?").to_owned(),
            });
        }
        if state
            .replayed(step)
            .is_some_and(|r| !matches!(r, session::Replayed::InFlight { .. }))
        {
            return Err(CliError::NotWaiting {
                step: step.to_owned(),
                run: run_id,
            });
        }
    }
    let decision = Decision {
        approved: !reject,
        by: by.to_owned(),
        at: ripcord_engine::approvals::now(),
        via: "cli".into(),
    };
    Approvals::decide(&journal::run_dir(runs_dir, &run_id), step, &decision)
        .map_err(CliError::Decide)?;
    print(&format!(
        "{} step `{step}` of run {run_id} as {by}\n",
        if reject { "rejected" } else { "approved" }
    ));
    Ok(Done::Ok)
}

pub(super) fn verify(runs_dir: &Path, run: &str) -> Result<Done, CliError> {
    let run_id = store::run_id(runs_dir, run)?;
    let path = journal::journal_path(runs_dir, &run_id);
    let report = journal::verify(&path).map_err(|source| CliError::ReadJournal {
        path: path.clone(),
        source,
    })?;
    match report.problem {
        None => {
            print(&format!(
                "{}: {} events, hash chain intact\n",
                path.display(),
                report.records.len()
            ));
            Ok(Done::Ok)
        }
        Some(p) => {
            eprint(&format!(
                "{}:{}: journal verification failed: {}\n",
                path.display(),
                p.line,
                p.reason
            ));
            Ok(Done::Invalid)
        }
    }
}
