//! One step of an executor, run as the engine runs it after rendering (through
//! `ripcord_engine::testing`), with the options a test varies.

use std::time::Duration;

use ripcord_engine::{Executor, StepError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use ripcord_engine::testing::TestContext;

/// How to run one step. `DEFAULT_TIMEOUT_SECS` is the step timeout of [`Opts::default`]: each
/// test folder names its own (`pub type Opts = harness::Opts<10>;`), since steps against a
/// local cluster take milliseconds and S3 syncs of thousands of objects take a minute.
#[derive(Clone)]
pub struct Opts<const DEFAULT_TIMEOUT_SECS: u64> {
    /// The step's id (what notes and approvals are keyed by).
    pub step_id: String,
    /// Run it as `--dry-run` would.
    pub dry_run: bool,
    /// The step's timeout (its deadline is now + this).
    pub timeout: Duration,
    /// Cancelled to cancel the step (Ctrl-C, or a run being aborted).
    pub cancel: CancellationToken,
}

impl<const DEFAULT_TIMEOUT_SECS: u64> Default for Opts<DEFAULT_TIMEOUT_SECS> {
    fn default() -> Self {
        Self {
            step_id: "step-1".into(),
            dry_run: false,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            cancel: CancellationToken::new(),
        }
    }
}

impl<const DEFAULT_TIMEOUT_SECS: u64> Opts<DEFAULT_TIMEOUT_SECS> {
    /// The defaults, as a dry run.
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Self::default()
        }
    }

    /// The defaults, with this timeout.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }

    /// The defaults, cancelled by `cancel`.
    pub fn cancel(cancel: &CancellationToken) -> Self {
        Self {
            cancel: cancel.clone(),
            ..Self::default()
        }
    }
}

/// Decode `with` for `kind` (as the engine does after rendering) and execute it with `executor`.
pub async fn execute<const T: u64>(
    executor: &dyn Executor,
    ctx: &TestContext,
    kind: &str,
    with: Value,
    opts: &Opts<T>,
) -> Result<Value, StepError> {
    let attempt = ripcord_engine::testing::Attempt {
        step_id: &opts.step_id,
        dry_run: opts.dry_run,
        timeout: opts.timeout,
        cancel: opts.cancel.clone(),
    };
    ripcord_engine::testing::execute(executor, ctx, kind, with, attempt).await
}

/// [`execute`], and check that a result holds exactly the fields the catalog declares for
/// `kind`.
pub async fn execute_checked<const T: u64>(
    executor: &dyn Executor,
    ctx: &TestContext,
    kind: &str,
    with: Value,
    opts: &Opts<T>,
) -> Result<Value, StepError> {
    let result = execute(executor, ctx, kind, with, opts).await;
    if let Ok(out) = &result {
        ripcord_engine::testing::assert_result_fields(kind, out);
    }
    result
}

/// The message of a failed step (panics on anything else).
pub fn failed(result: Result<Value, StepError>) -> String {
    match result {
        Err(StepError::Failed(m)) => m,
        other => panic!("expected StepError::Failed, got {other:?}"),
    }
}
