//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "ripcord",
    version,
    about = "Declarative disaster-recovery runbooks: validate, plan, run, resume, report.",
    after_help = "Exit codes: 0 success, 1 invalid runbook/params or failed verification, 2 usage or I/O error,\n3 run failed, 4 resume needs a decision, 5 locked by another run or process,\n6 journal or engine failure, 130 cancelled. See docs/cli.md."
)]
pub(crate) struct Cli {
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
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// AWS settings of `s3.*` and `route53.*` steps, on top of the standard chain (environment,
/// profiles, SSO). See docs/aws.md.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct AwsArgs {
    /// AWS profile for s3.* and route53.* steps (AWS_PROFILE otherwise).
    #[arg(long, global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Default AWS region (a step's `region` wins; AWS_REGION or the profile's otherwise).
    #[arg(long, global = true, value_name = "REGION")]
    pub aws_region: Option<String>,
    /// Send AWS requests to this endpoint (an S3-compatible store, an emulator). The SDK's own
    /// AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 are honoured too.
    #[arg(
        long,
        global = true,
        env = "RIPCORD_AWS_ENDPOINT_URL",
        value_name = "URL"
    )]
    pub aws_endpoint_url: Option<String>,
    /// Path-style S3 addressing (http://host/bucket/key); automatic for IP-address and
    /// localhost endpoints.
    #[arg(long, global = true)]
    pub aws_path_style: bool,
}

impl AwsArgs {
    pub(crate) fn settings(&self) -> ripcord_aws::Settings {
        ripcord_aws::Settings {
            profile: self.aws_profile.clone(),
            region: self.aws_region.clone(),
            endpoint_url: self
                .aws_endpoint_url
                .clone()
                .filter(|u| !u.trim().is_empty()),
            path_style: self.aws_path_style.then_some(true),
            ..ripcord_aws::Settings::default()
        }
    }
}

/// Cluster access of `kube.*` steps, as kubectl's flags (a step's `context` wins).
/// See docs/kubernetes.md.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct KubeArgs {
    /// kubeconfig context for kube.* steps (the kubeconfig's current context otherwise).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// kubeconfig file (KUBECONFIG, ~/.kube/config or in-cluster otherwise).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

impl KubeArgs {
    pub(crate) fn options(&self) -> ripcord_kube::KubeOptions {
        ripcord_kube::KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// The global flags, parsed once (in `main`) and handed to the commands that use them.
pub(crate) struct Globals {
    /// `--color`, decided for this process.
    pub color: bool,
    pub runs_dir: PathBuf,
    pub aws: AwsArgs,
    pub kube: KubeArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
        /// When the run ends, update this Prometheus textfile (last success, duration, outcome).
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf>,
        /// Hold a Kubernetes Lease named after the runbook while running; a second locked run
        /// of the same runbook fails at once, naming the holder.
        #[arg(long)]
        lock: bool,
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
    /// A run's postmortem timeline (Markdown, HTML with a Gantt, JSON), or compare drill runs.
    Timeline {
        /// Run id (or `last`); with --compare, two or more.
        #[arg(required = true, value_name = "RUN")]
        runs: Vec<String>,
        /// Compare runs: per-step duration changes and the RTO trend.
        #[arg(long)]
        compare: bool,
        /// md (default), html or json; with --compare: text (default), md or json.
        #[arg(long, value_enum)]
        format: Option<TimelineFormat>,
        /// Write to FILE (atomically) instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// The runbook the run used, if it moved (default: the path in the journal); its
        /// `needs` give the critical path when its SHA-256 matches.
        #[arg(long, value_name = "FILE")]
        runbook: Option<PathBuf>,
    },
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
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum DiagnosticFormat {
    /// rustc-style, with the source line and a caret.
    Human,
    /// One line per problem: file:line:col: severity[code]: message.
    Short,
    /// A JSON array of diagnostics with line and column.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum TimelineFormat {
    Md,
    Html,
    Json,
    Text,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum PlanFormat {
    Text,
    Json,
    Mermaid,
    Dot,
}
