//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "ripcord",
    version,
    about = "Declarative disaster-recovery runbooks: validate, plan, run, resume, report.",
    after_help = "Exit codes: 0 success, 1 invalid runbook or params, 2 usage or I/O error. See docs/cli.md."
)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check runbooks and report every problem with its location.
    Validate {
        /// Runbook files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print problems.
        #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
        format: DiagnosticFormat,
        /// Treat warnings as errors (exit 1).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Show what a run would do: waves, effects, timing, and the RTO check. Touches nothing.
    Plan {
        file: PathBuf,
        /// A parameter, `name=value` (repeatable). Secrets can also come from RIPCORD_PARAM_<NAME>.
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Print the JSON Schema of runbooks.
    Schema,
    /// Print a shell completion script.
    Completions {
        shell: clap_complete::Shell,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DiagnosticFormat {
    /// rustc-style, with the source line and a caret.
    Human,
    /// One line per problem: file:line:col: severity[code]: message.
    Short,
    /// A JSON array of diagnostics with line and column.
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Mermaid,
    Dot,
}
