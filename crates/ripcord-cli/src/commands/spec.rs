//! Commands that read runbooks and touch nothing: `validate`, `plan`, `schema`, `completions`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, DiagnosticFormat, PlanFormat};
use crate::error::CliError;
use crate::exit::{Done, Exit};
use crate::output::{self, eprint, print};
use crate::setup;

/// Every file is reported, in order, whatever the earlier ones had; the worst outcome decides
/// the exit code (an unreadable file outranks an invalid one).
pub(super) fn validate(
    files: &[PathBuf],
    format: DiagnosticFormat,
    deny_warnings: bool,
    color: bool,
) -> Result<Done, CliError> {
    let mut worst = Exit::Ok;
    let mut json = Vec::new();
    for path in files {
        let source = match setup::read_source(path) {
            Ok(s) => s,
            Err(e) => {
                // Here, not in `main`: in order among the other files' reports.
                output::error(&e);
                worst = worst.max(e.exit_code());
                continue;
            }
        };
        let outcome = ripcord_spec::validate(source);
        output::report_into(&outcome, format, color, &mut json);
        let errors = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = outcome.diagnostics.len() - errors;
        let failed = errors > 0 || (deny_warnings && warnings > 0);
        if !matches!(format, DiagnosticFormat::Json) {
            let verdict = if failed { "invalid" } else { "valid" };
            eprint(&format!(
                "{}: {verdict} ({errors} error(s), {warnings} warning(s))\n",
                path.display()
            ));
        }
        if failed {
            worst = worst.max(Exit::Invalid);
        }
    }
    if matches!(format, DiagnosticFormat::Json) {
        print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json).expect("diagnostics are JSON")
        ));
    }
    match worst {
        Exit::Ok => Ok(Done::Ok),
        Exit::Invalid => Ok(Done::Invalid),
        code => Err(CliError::Reported(code)),
    }
}

pub(super) fn plan(
    path: &Path,
    given: &[String],
    format: PlanFormat,
    color: bool,
) -> Result<Done, CliError> {
    let validated = setup::load(path, color, "no plan")?;
    let resolved = setup::resolve(&validated, given, Vec::new())?;
    let plan = ripcord_spec::plan::plan(&validated, &resolved);
    let text = match format {
        PlanFormat::Text => ripcord_report::plan::text(&plan),
        PlanFormat::Json => ripcord_report::plan::json(&plan),
        PlanFormat::Mermaid => ripcord_report::plan::mermaid(&plan),
        PlanFormat::Dot => ripcord_report::plan::dot(&plan),
    };
    print(&text);
    Ok(Done::Ok)
}

pub(super) fn schema(journal: bool) -> Result<Done, CliError> {
    if journal {
        print(&ripcord_engine::journal::journal_schema_json());
    } else {
        print(&ripcord_spec::schema::runbook_schema_json());
    }
    Ok(Done::Ok)
}

pub(super) fn completions(shell: clap_complete::Shell) -> Result<Done, CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "ripcord", &mut std::io::stdout());
    Ok(Done::Ok)
}
