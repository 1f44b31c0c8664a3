//! One function per subcommand.

use std::io::{IsTerminal, Write};
use std::path::Path;

use clap::CommandFactory;
use ripcord_spec::diagnostic;
use ripcord_spec::params::{self, ParamError};
use ripcord_spec::{SourceFile, Validation};

use crate::cli::{Cli, Color, Command, DiagnosticFormat, PlanFormat};
use crate::exit::Exit;

pub fn dispatch(args: Cli) -> Exit {
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match args.command {
        Command::Validate {
            files,
            format,
            deny_warnings,
        } => validate(&files, format, deny_warnings, color),
        Command::Plan {
            file,
            params,
            format,
        } => plan(&file, &params, format, color),
        Command::Schema { journal } => {
            if journal {
                print(&ripcord_engine::journal::journal_schema_json());
            } else {
                print(&ripcord_spec::schema::runbook_schema_json());
            }
            Exit::Ok
        }
        Command::Run {
            file,
            params,
            yes,
            approve,
            max_parallel,
            limits,
            dry_run,
            output,
            metrics_file,
            lock,
        } => crate::runs::run(crate::runs::RunArgs {
            file,
            params,
            yes,
            approve,
            max_parallel,
            limits,
            dry_run,
            output,
            runs_dir: args.runs_dir,
            color,
            metrics_file,
            lock,
        }),
        Command::Resume {
            run,
            assume_done,
            rerun,
            params,
            approve,
            max_parallel,
            output,
        } => crate::runs::resume(
            &args.runs_dir,
            &run,
            crate::runs::How::Resume { assume_done, rerun },
            crate::runs::ContinueArgs {
                params,
                approve,
                max_parallel,
                output,
            },
        ),
        Command::Retry {
            run,
            step,
            params,
            approve,
            max_parallel,
            output,
        } => crate::runs::resume(
            &args.runs_dir,
            &run,
            crate::runs::How::Retry(step),
            crate::runs::ContinueArgs {
                params,
                approve,
                max_parallel,
                output,
            },
        ),
        Command::Status { run } => crate::runs::status(&args.runs_dir, run.as_deref()),
        Command::Approve {
            run,
            step,
            by,
            reject,
        } => crate::runs::approve(&args.runs_dir, &run, &step, &by, reject),
        Command::Verify { run } => crate::runs::verify(&args.runs_dir, &run),
        Command::Timeline {
            runs,
            compare,
            format,
            output,
            runbook,
        } => crate::timeline::timeline(
            &args.runs_dir,
            crate::timeline::TimelineArgs {
                runs,
                compare,
                format,
                output,
                runbook,
            },
        ),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "ripcord", &mut std::io::stdout());
            Exit::Ok
        }
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub fn eprint(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

pub fn read_source(path: &Path) -> Result<SourceFile, Exit> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path.display().to_string(), text)),
            Err(e) => {
                eprint(&format!(
                    "error: {}: not UTF-8 text (invalid byte at offset {})\n",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ));
                Err(Exit::Invalid)
            }
        },
        Err(e) => {
            eprint(&format!("error: cannot read {}: {e}\n", path.display()));
            Err(Exit::Usage)
        }
    }
}

pub fn report(outcome: &Validation, format: DiagnosticFormat, color: bool) {
    report_into(outcome, format, color, &mut Vec::new());
}

/// Print diagnostics; JSON ones are collected into `json` so several files make one array.
fn report_into(
    outcome: &Validation,
    format: DiagnosticFormat,
    color: bool,
    json: &mut Vec<serde_json::Value>,
) {
    match format {
        DiagnosticFormat::Human => eprint(&diagnostic::render(
            &outcome.source,
            &outcome.diagnostics,
            color,
        )),
        DiagnosticFormat::Short => eprint(&diagnostic::render_short(
            &outcome.source,
            &outcome.diagnostics,
        )),
        DiagnosticFormat::Json => {
            json.extend(outcome.diagnostics.iter().map(|d| {
                let at = outcome.source.line_col(d.span.start);
                serde_json::json!({
                    "file": outcome.source.name(),
                    "line": at.line,
                    "column": at.column,
                    "severity": d.severity,
                    "code": d.code,
                    "message": d.message,
                    "help": d.help,
                })
            }));
        }
    }
}

fn validate(
    files: &[std::path::PathBuf],
    format: DiagnosticFormat,
    deny_warnings: bool,
    color: bool,
) -> Exit {
    let mut worst = Exit::Ok;
    let mut json = Vec::new();
    for path in files {
        let source = match read_source(path) {
            Ok(s) => s,
            Err(code) => {
                worst = worst_of(worst, code);
                continue;
            }
        };
        let outcome = ripcord_spec::validate(source);
        report_into(&outcome, format, color, &mut json);
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
            worst = worst_of(worst, Exit::Invalid);
        }
    }
    if matches!(format, DiagnosticFormat::Json) {
        print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json).expect("diagnostics are JSON")
        ));
    }
    worst
}

/// Usage/I-O problems outrank invalid runbooks in the exit code.
fn worst_of(a: Exit, b: Exit) -> Exit {
    if a == Exit::Usage || b == Exit::Usage {
        Exit::Usage
    } else if a == Exit::Invalid || b == Exit::Invalid {
        Exit::Invalid
    } else {
        Exit::Ok
    }
}

fn plan(path: &Path, given: &[String], format: PlanFormat, color: bool) -> Exit {
    let source = match read_source(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let outcome = ripcord_spec::validate(source);
    if outcome.has_errors() {
        report(&outcome, DiagnosticFormat::Human, color);
        eprint(&format!("{}: invalid, no plan\n", path.display()));
        return Exit::Invalid;
    }
    let validated = outcome.validated.expect("no errors means validated");
    let resolved = params::parse_assignments(given)
        .map_err(|e| vec![e])
        .and_then(|given| params::resolve(&validated.runbook.params, &given, param_from_env));
    let resolved = match resolved {
        Ok(p) => p,
        Err(errors) => {
            report_param_errors(&errors);
            return Exit::Invalid;
        }
    };
    let plan = ripcord_spec::plan::plan(&validated, &resolved);
    let text = match format {
        PlanFormat::Text => ripcord_report::plan::text(&plan),
        PlanFormat::Json => ripcord_report::plan::json(&plan),
        PlanFormat::Mermaid => ripcord_report::plan::mermaid(&plan),
        PlanFormat::Dot => ripcord_report::plan::dot(&plan),
    };
    print(&text);
    Exit::Ok
}

/// `RIPCORD_PARAM_<NAME>`: keeps secrets out of shell history and process listings.
pub fn param_from_env(name: &str) -> Option<String> {
    std::env::var(format!("RIPCORD_PARAM_{}", name.to_ascii_uppercase())).ok()
}

pub fn report_param_errors(errors: &[ParamError]) {
    for e in errors {
        eprint(&format!("error: {e}\n"));
    }
}
