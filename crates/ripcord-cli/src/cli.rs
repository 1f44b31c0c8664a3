//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "ripcord",
    version,
    about = "Declarative disaster-recovery runbooks: validate, plan, run, resume, report.",
    after_help = "Exit codes: 0 success, 1 invalid runbook/params or failed verification, 2 usage or I/O error,\n3 run failed, 4 resume needs a decision, 130 cancelled. See docs/cli.md."
)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Where run journals live.
    #[arg(
        long,
        global = true,
        env = "RIPCORD_RUNS_DIR",
        default_value = ".ripcord/runs"
    )]
    pub runs_dir: PathBuf,
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
    /// Run a runbook: live progress, a durable journal, a summary at the end.
    Run {
        file: PathBuf,
        /// A parameter, `name=value` (repeatable). Any param can also come from RIPCORD_PARAM_<NAME>.
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Do not ask for confirmation before steps that change things.
        #[arg(long)]
        yes: bool,
        /// Approve this approval step up front (repeatable).
        #[arg(long = "approve", value_name = "STEP")]
        approve: Vec<String>,
        /// Steps in flight at once.
        #[arg(long, default_value_t = 8)]
        max_parallel: usize,
        /// Steps of one executor family in flight at once, e.g. `kube=4` (repeatable).
        #[arg(long = "limit", value_name = "FAMILY=N")]
        limits: Vec<String>,
        /// Preview: reads run for real, mutations are only previewed (Kubernetes dryRun=All, S3 diffs).
        #[arg(long)]
        dry_run: bool,
        /// Progress output: live text, or the journal's events as JSON lines.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Continue an interrupted run from its journal.
    Resume {
        /// Run id (or `last`).
        run: String,
        /// This in-flight step did take effect: record it as done without running it.
        #[arg(long = "assume-done", value_name = "STEP")]
        assume_done: Vec<String>,
        /// This in-flight step did not take effect: run it again.
        #[arg(long = "rerun", value_name = "STEP")]
        rerun: Vec<String>,
        /// Parameters: secrets are never journaled, so give them again.
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long = "approve", value_name = "STEP")]
        approve: Vec<String>,
        #[arg(long, default_value_t = 8)]
        max_parallel: usize,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Re-run one failed step of a finished run, and everything after it that did not succeed.
    Retry {
        run: String,
        step: String,
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long = "approve", value_name = "STEP")]
        approve: Vec<String>,
        #[arg(long, default_value_t = 8)]
        max_parallel: usize,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// List runs, or show one run's steps.
    Status {
        /// Run id (or `last`); all runs when omitted.
        run: Option<String>,
    },
    /// Approve (or reject) a waiting approval step of a run, from any terminal.
    Approve {
        run: String,
        step: String,
        /// Who decides (journaled).
        #[arg(long)]
        by: String,
        /// Reject instead of approving: the step fails.
        #[arg(long)]
        reject: bool,
    },
    /// Check a run's journal: every hash and the chain. Names the first bad line.
    Verify { run: String },
    /// Print the JSON Schema of runbooks (or of journal events).
    Schema {
        /// The schema of journal lines instead.
        #[arg(long)]
        journal: bool,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Mermaid,
    Dot,
}
