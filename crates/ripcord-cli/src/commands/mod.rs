//! One module per family of subcommands; [`dispatch`] hands each its arguments.

mod run;
mod spec;
mod status;
mod timeline;

use crate::cli::{Cli, Command, Globals};
use crate::error::CliError;
use crate::exit::Done;
use crate::output;
use crate::setup::RunFlags;

pub(crate) fn dispatch(args: Cli) -> Result<Done, CliError> {
    let globals = Globals {
        color: output::use_color(args.color),
        runs_dir: args.runs_dir,
        aws: args.aws,
        kube: args.kube,
    };
    match args.command {
        Command::Validate {
            files,
            format,
            deny_warnings,
        } => spec::validate(&files, format, deny_warnings, globals.color),
        Command::Plan {
            file,
            params,
            format,
        } => spec::plan(&file, &params, format, globals.color),
        Command::Schema { journal } => spec::schema(journal),
        Command::Completions { shell } => spec::completions(shell),
        command @ (Command::Run { .. } | Command::Resume { .. } | Command::Retry { .. }) => {
            runs(&globals, command)
        }
        Command::Status { run } => status::status(&globals.runs_dir, run.as_deref()),
        Command::Approve {
            run,
            step,
            by,
            reject,
        } => status::approve(&globals.runs_dir, &run, &step, &by, reject),
        Command::Verify { run } => status::verify(&globals.runs_dir, &run),
        Command::Timeline {
            runs,
            compare,
            format,
            output,
            runbook,
        } => timeline::timeline(
            &globals.runs_dir,
            timeline::TimelineArgs {
                runs,
                compare,
                format,
                output,
                runbook,
            },
        ),
    }
}

/// `run`, `resume` and `retry` (`dispatch` sends no other command here).
fn runs(globals: &Globals, command: Command) -> Result<Done, CliError> {
    match command {
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
        } => run::run(
            globals,
            run::RunArgs {
                file,
                yes,
                dry_run,
                metrics_file,
                lock,
                flags: RunFlags {
                    params,
                    approve,
                    max_parallel,
                    limits,
                    output,
                },
            },
        ),
        Command::Resume {
            run,
            assume_done,
            rerun,
            params,
            approve,
            max_parallel,
            output,
        } => run::resume(
            globals,
            &run,
            run::How::Resume { assume_done, rerun },
            RunFlags {
                params,
                approve,
                max_parallel,
                limits: Vec::new(),
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
        } => run::resume(
            globals,
            &run,
            run::How::Retry(step),
            RunFlags {
                params,
                approve,
                max_parallel,
                limits: Vec::new(),
                output,
            },
        ),
        _ => unreachable!("dispatch handles the other commands"),
    }
}
