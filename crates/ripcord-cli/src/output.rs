//! What the commands print, and where: stdout and stderr that shrug off a closed pipe, the
//! colour choice, diagnostics, errors, and files written atomically.

use std::io::{IsTerminal, Write};
use std::path::Path;

use ripcord_engine::session::SessionError;
use ripcord_spec::Validation;
use ripcord_spec::diagnostic;
use ripcord_spec::params::ParamError;

use crate::cli::{Color, DiagnosticFormat};
use crate::error::CliError;

/// `--color auto`: colour on a terminal, unless NO_COLOR says otherwise.
pub(crate) fn use_color(choice: Color) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub(crate) fn eprint(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// An error, as `error: {e}` on stderr; nothing for one that is printed already.
pub(crate) fn error(e: &CliError) {
    match e {
        CliError::Reported(_) => {}
        // Not ripcord's failures: the operator said no, or has to decide.
        CliError::Declined | CliError::Session(SessionError::NeedsDecision(_)) => {
            eprint(&format!("{e}\n"))
        }
        _ => eprint(&format!("error: {e}\n")),
    }
}

/// Param problems, one `error:` line each (like diagnostics, all of them at once).
pub(crate) fn param_errors(errors: &[ParamError]) {
    for e in errors {
        eprint(&format!("error: {e}\n"));
    }
}

pub(crate) fn report(outcome: &Validation, format: DiagnosticFormat, color: bool) {
    report_into(outcome, format, color, &mut Vec::new());
}

/// Print diagnostics; JSON ones are collected into `json` so several files make one array.
pub(crate) fn report_into(
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

/// Readers see the old file or the new one, never a part; `durable` also fsyncs the data.
pub(crate) fn write_atomically(path: &Path, text: &str, durable: bool) -> std::io::Result<()> {
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
