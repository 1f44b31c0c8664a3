//! The executor interface: how the engine asks a plug-in to perform one step.
//!
//! The engine knows step types only through the spec's catalog and this trait. Executor crates
//! (core, kube, aws) implement [`Executor`] and are registered by family in a [`Registry`]; the
//! engine never names a cloud.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ripcord_spec::catalog::Family;
use ripcord_spec::{Effect, StepKind, TypedWith};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::preview::{Check, PreflightStep};
use crate::redact::Redactor;

/// A step's result: a JSON object whose fields are the type's `result` fields.
pub type StepResult = serde_json::Value;

/// Everything an executor needs to perform one attempt of one step.
pub struct StepRequest<'a> {
    /// The run the step belongs to.
    pub run_id: &'a str,
    /// The step's id in the runbook.
    pub step_id: &'a str,
    /// 1 for the first attempt, counting up across retries.
    pub attempt: u32,
    /// The step type, e.g. `kube.drain`.
    pub kind: StepKind,
    /// The step's input, templates rendered and decoded into the type's struct.
    pub with: &'a TypedWith,
    /// The effect declared for this step with this input.
    pub effect: Effect,
    /// Read-only mode: reads run for real; mutations must be previewed, never applied
    /// (e.g. Kubernetes `dryRun=All`, an S3 diff without copies).
    pub dry_run: bool,
    /// When this attempt must be over (the engine also enforces it).
    pub deadline: Instant,
    /// Cancelled on timeout, Ctrl-C or SIGTERM: stop promptly and clean up (kill processes).
    pub cancel: CancellationToken,
    /// Side channel for executors: journal notes, approvals, redaction.
    pub context: &'a dyn StepContext,
}

impl<'a> StepRequest<'a> {
    /// The step's typed input: `request.typed::<ShellWith>()?`.
    pub fn typed<T: 'static>(&self) -> Result<&'a T, StepError> {
        self.with.get::<T>().ok_or_else(|| {
            StepError::Input(format!(
                "the input given is not that of a `{}` step",
                self.kind.name()
            ))
        })
    }

    /// Time left before the attempt's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// What the engine offers an executor while a step runs.
#[async_trait]
pub trait StepContext: Send + Sync {
    /// Record a durable note in the journal (e.g. "eviction blocked by PDB web-pdb, retrying").
    async fn note(&self, kind: &str, data: serde_json::Value);
    /// Scrubs secrets from text an executor is about to return or log.
    fn redactor(&self) -> &Redactor;
    /// The approval channel of this run (for the `approval` step type).
    fn approvals(&self) -> &crate::approvals::Approvals;
    /// The directory relative paths in the runbook resolve against.
    fn runbook_dir(&self) -> &std::path::Path;
    /// Evaluate an expression against this step's template context (`params`, `steps`, `run`):
    /// used by `assert`, whose `expr` is not rendered as a template.
    fn eval(&self, expr: &str) -> Result<serde_json::Value, String>;
    /// In a dry run: what this attempt observed (ran, validated by the server, not simulated),
    /// with the diff and pre-state of a previewed write. The last report of an attempt counts;
    /// an executor that reports nothing gets `ran` for a `read` step, `not_simulated` otherwise.
    fn dry_run(&self, report: crate::preview::DryRunReport);
}

/// Why an attempt failed. The message is shown to people and journaled (after redaction).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// The step ran and the world said no (HTTP 500, exit code 3, PDB blocked the eviction).
    #[error("{0}")]
    Failed(String),
    /// Bad input that rendering could not catch (unparseable URL, unknown kind).
    #[error("invalid input: {0}")]
    Input(String),
    /// The executor stopped because it was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The step failed and trying again cannot change that (e.g. a dry-run eviction a
    /// PodDisruptionBudget would block): not retried.
    #[error("{0}")]
    Permanent(String),
    /// The step type has no executor in this build.
    #[error("no executor for `{0}` (family `{1}`) is registered")]
    Unsupported(&'static str, &'static str),
}

impl StepError {
    /// A [`StepError::Failed`] with this message.
    pub fn failed(msg: impl Into<String>) -> Self {
        StepError::Failed(msg.into())
    }

    /// The same error with every secret scrubbed from its message.
    pub fn redact(self, redactor: &Redactor) -> Self {
        match self {
            StepError::Failed(m) => StepError::Failed(redactor.text(&m)),
            StepError::Input(m) => StepError::Input(redactor.text(&m)),
            StepError::Permanent(m) => StepError::Permanent(redactor.text(&m)),
            other => other,
        }
    }
}

/// A plug-in that performs the steps of one family.
#[async_trait]
pub trait Executor: Send + Sync {
    /// The family this executor serves (`core`, `kube`, `s3`, `route53`).
    fn family(&self) -> Family;

    /// Perform one attempt. Must honour `request.cancel` and `request.dry_run`; in a dry run,
    /// report what was observed through [`StepContext::dry_run`].
    async fn execute(&self, request: StepRequest<'_>) -> Result<StepResult, StepError>;

    /// Check, before the first step, that what these steps (all of this family's steps of the
    /// run) need is there: configuration that loads, endpoints that answer, credentials and
    /// permissions, resources named statically. Must not change anything. One [`Check`] per
    /// thing checked; the run does not start when one has a problem.
    async fn preflight(&self, steps: &[PreflightStep<'_>]) -> Vec<Check> {
        let _ = steps;
        Vec::new()
    }
}

/// An executor and its optional limit on steps in flight at once.
#[derive(Clone)]
struct Entry {
    executor: Arc<dyn Executor>,
    limit: Option<Arc<Semaphore>>,
}

/// Executors by family.
#[derive(Default, Clone)]
pub struct Registry {
    entries: HashMap<Family, Entry>,
}

impl Registry {
    /// An empty registry: no family has an executor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register an executor; `max_parallel` limits its concurrent steps.
    pub fn register(
        &mut self,
        executor: Arc<dyn Executor>,
        max_parallel: Option<usize>,
    ) -> &mut Self {
        let limit = max_parallel.map(|n| Arc::new(Semaphore::new(n.max(1))));
        self.entries
            .insert(executor.family(), Entry { executor, limit });
        self
    }

    /// The executor for a step type.
    pub fn executor(&self, kind: StepKind) -> Option<&Arc<dyn Executor>> {
        self.entries.get(&kind.info().family).map(|e| &e.executor)
    }

    /// Limit the steps in flight of a registered family (`core`, `kube`, `s3`, `route53`).
    /// Returns false when no executor of that family is registered.
    pub fn set_limit(&mut self, family: &str, max_parallel: usize) -> bool {
        let entry = Family::from_name(family).and_then(|f| self.entries.get_mut(&f));
        match entry {
            Some(e) => {
                e.limit = Some(Arc::new(Semaphore::new(max_parallel.max(1))));
                true
            }
            None => false,
        }
    }

    /// The executor registered for a family.
    pub fn executor_of(&self, family: Family) -> Option<&Arc<dyn Executor>> {
        self.entries.get(&family).map(|e| &e.executor)
    }

    /// The per-family limit for a step type, if one was set.
    pub fn limit(&self, kind: StepKind) -> Option<&Arc<Semaphore>> {
        self.entries.get(&kind.info().family)?.limit.as_ref()
    }

    /// Families with an executor, in catalog order (for error messages).
    pub fn families(&self) -> Vec<Family> {
        let mut families: Vec<Family> = self.entries.keys().copied().collect();
        families.sort_unstable();
        families
    }
}
