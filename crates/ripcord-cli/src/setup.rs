//! What commands need before they do anything: a runbook read and validated with its params;
//! for run, resume and retry also the executors, the run options and the engine's [`Setup`].

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ripcord_engine::Registry;
use ripcord_engine::run::RunOptions;
use ripcord_engine::session::{Operator, Setup};
use ripcord_spec::SourceFile;
use ripcord_spec::params::{self, Params};
use ripcord_spec::validate::Validated;
use tokio_util::sync::CancellationToken;

use crate::cli::{DiagnosticFormat, Globals, Output};
use crate::error::CliError;
use crate::exit::Exit;
use crate::output;

pub(crate) fn read_source(path: &Path) -> Result<SourceFile, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path.display().to_string(), text)),
            Err(e) => Err(CliError::NotUtf8 {
                path: path.to_owned(),
                offset: e.utf8_error().valid_up_to(),
            }),
        },
        Err(source) => Err(CliError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Validate a file into a runbook. Problems are printed, then `{path}: invalid, {verdict}`.
pub(crate) fn load(path: &Path, color: bool, verdict: &str) -> Result<Arc<Validated>, CliError> {
    let outcome = ripcord_spec::validate(read_source(path)?);
    if outcome.has_errors() {
        output::report(&outcome, DiagnosticFormat::Human, color);
        output::eprint(&format!("{}: invalid, {verdict}\n", path.display()));
        return Err(CliError::Reported(Exit::Invalid));
    }
    Ok(Arc::new(
        outcome.validated.expect("no errors means validated"),
    ))
}

/// The params of a run: `recorded` ones (a resumed run's), then `given` (`-p`, they win), then
/// the environment. Problems are printed.
pub(crate) fn resolve(
    validated: &Validated,
    given: &[String],
    recorded: Vec<(String, String)>,
) -> Result<Params, CliError> {
    let invalid = |errors: &[params::ParamError]| {
        output::param_errors(errors);
        CliError::Reported(Exit::Invalid)
    };
    let given = params::parse_assignments(given).map_err(|e| invalid(&[e]))?;
    let all: Vec<(String, String)> = recorded.into_iter().chain(given).collect();
    params::resolve(&validated.runbook.params, &all, param_from_env).map_err(|e| invalid(&e))
}

/// `RIPCORD_PARAM_<NAME>`: keeps secrets out of shell history and process listings.
fn param_from_env(name: &str) -> Option<String> {
    std::env::var(format!("RIPCORD_PARAM_{}", name.to_ascii_uppercase())).ok()
}

/// Async worker threads when `RIPCORD_WORKER_THREADS` does not say otherwise.
///
/// A run waits on APIs, processes and people; its own work per request is a fraction of a
/// millisecond. One worker keeps every task's wake-ups on one thread, which costs measurably
/// less CPU than a pool (an s3.sync of 20,000 objects: 3.7-4.0 s against 4.9-5.4 s with two
/// workers, see docs/performance.md) and leaves the cores to the services being recovered. A sync of
/// hundreds of copies in flight against a far endpoint can use more: set the variable.
const DEFAULT_WORKER_THREADS: usize = 1;

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("RIPCORD_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_WORKER_THREADS);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// The flags run, resume and retry have in common.
pub(crate) struct RunFlags {
    pub params: Vec<String>,
    pub approve: Vec<String>,
    pub max_parallel: usize,
    /// `--limit FAMILY=N` (only `run` has it).
    pub limits: Vec<String>,
    pub output: Output,
}

/// A run ready to start or continue: one setup for run, resume and retry.
pub(crate) struct Prepared {
    pub validated: Arc<Validated>,
    pub path: PathBuf,
    pub params: Params,
    pub output: Output,
    registry: Registry,
    options: RunOptions,
    preapproved: HashSet<String>,
}

impl Prepared {
    /// The executors (refused, before anything runs, when a step type has none or a `--limit`
    /// is wrong) and the options; a continued dry run stays a dry run.
    pub(crate) fn new(
        globals: &Globals,
        validated: Arc<Validated>,
        params: Params,
        path: &Path,
        dry_run: bool,
        flags: &RunFlags,
    ) -> Result<Prepared, CliError> {
        let mut registry = registry(globals);
        apply_limits(&mut registry, &flags.limits)?;
        check_executors(&validated, &registry)?;
        let options = RunOptions {
            max_parallel: flags.max_parallel,
            dry_run,
            cancel: CancellationToken::new(),
            abandon: CancellationToken::new(),
            runbook_dir: path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
        };
        Ok(Prepared {
            validated,
            path: path.to_owned(),
            params,
            output: flags.output,
            registry,
            options,
            preapproved: flags.approve.iter().cloned().collect(),
        })
    }

    pub(crate) fn rto(&self) -> Option<Duration> {
        let objectives = self.validated.runbook.objectives.as_ref();
        objectives.and_then(|o| o.rto).map(|d| d.0)
    }

    /// First signal: cancel the run; second: abandon compensation and `finally`.
    pub(crate) fn cancel_tokens(&self) -> (CancellationToken, CancellationToken) {
        (self.options.cancel.clone(), self.options.abandon.clone())
    }

    /// The engine's setup. The executors move into it: call this once.
    pub(crate) fn setup<'a>(&'a mut self, runs_dir: &'a Path) -> Setup<'a> {
        Setup {
            validated: self.validated.clone(),
            runbook_path: &self.path,
            params: &self.params,
            registry: std::mem::take(&mut self.registry),
            runs_dir,
            options: self.options.clone(),
            operator: Operator::from_environment(),
            preapproved: self.preapproved.clone(),
            interactive: std::io::stdin().is_terminal() && self.output == Output::Text,
        }
    }
}

fn registry(globals: &Globals) -> Registry {
    let mut registry = Registry::new();
    ripcord_builtin::register(&mut registry);
    ripcord_aws::register(&mut registry, globals.aws.settings());
    ripcord_kube::register(&mut registry, globals.kube.options());
    registry
}

/// Refuse, before anything runs, a runbook whose step types have no executor in this build.
fn check_executors(validated: &Validated, registry: &Registry) -> Result<(), CliError> {
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (i, info) in validated.steps.iter().enumerate() {
        let mut kinds = vec![info.kind];
        kinds.extend(info.compensate.as_ref().map(|(k, _)| *k));
        for kind in kinds {
            if registry.executor(kind).is_none() {
                missing
                    .entry(kind.name())
                    .or_default()
                    .push(&validated.step(i).id);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(kind, steps)| format!("  {kind} (steps: {})", steps.join(", ")))
        .collect();
    Err(CliError::MissingExecutors(list.join("\n")))
}

/// `--limit FAMILY=N`: per-family limits on steps in flight.
fn apply_limits(registry: &mut Registry, limits: &[String]) -> Result<(), CliError> {
    for limit in limits {
        let parsed = limit
            .split_once('=')
            .and_then(|(family, n)| Some((family.trim(), n.trim().parse::<usize>().ok()?)));
        let Some((family, n)) = parsed else {
            return Err(CliError::BadLimit(limit.clone()));
        };
        if !registry.set_limit(family, n) {
            let known: Vec<&str> = registry
                .families()
                .into_iter()
                .map(ripcord_spec::catalog::Family::as_str)
                .collect();
            return Err(CliError::UnknownFamily {
                family: family.to_owned(),
                known: known.join(", "),
            });
        }
    }
    Ok(())
}
