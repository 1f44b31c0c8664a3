//! ripcord's core step executors: `shell`, `http`, `sleep`, `assert`, `approval`, `notify`.
//!
//! [`CoreExecutor`] serves [`Family::Core`]; [`register`] adds it to an engine [`Registry`].
//! Every executor honours `request.cancel`, `request.deadline` and `request.dry_run`:
//!
//! | type       | in a dry run                                                        |
//! |------------|---------------------------------------------------------------------|
//! | `shell`    | runs only when its declared effect is `read`                        |
//! | `http`     | sends only reads (GET, HEAD, OPTIONS)                               |
//! | `sleep`    | returns at once                                                     |
//! | `assert`   | evaluates (it only reads)                                           |
//! | `approval` | succeeds at once, approved by nobody                                |
//! | `notify`   | never sends                                                         |
//!
//! `shell` runs each program in its own process group and stops the whole group on
//! cancellation, at the deadline, or when the step's future is dropped; a process that is about
//! to exit should call [`wait_for_cleanup`] so that SIGKILL escalations started by dropped steps
//! are not cut short.
//!
//! Error messages are passed through the run's [`ripcord_engine::Redactor`] before they are
//! returned. Step *results* are returned unredacted (later steps may need the values); the
//! engine redacts them when it journals them.

#![warn(missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use ripcord_engine::{Executor, Registry, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{CoreKind, Family};

mod approval;
mod basic;
mod http;
mod shell;
mod text;

pub use http::{DEFAULT_MAX_BODY, USER_AGENT};
pub use shell::{DEFAULT_MAX_OUTPUT, TERM_GRACE, wait_for_cleanup};

/// Performs the steps of the `core` family.
///
/// Holds one HTTP client (connection pool, TLS roots) shared by every `http` and `notify` step
/// of the run.
#[derive(Clone, Debug)]
pub struct CoreExecutor {
    http: reqwest::Client,
}

impl CoreExecutor {
    /// An executor with a default HTTP client (rustls, system proxies, up to 10 redirects).
    ///
    /// # Panics
    /// If the TLS backend cannot be initialised (see [`CoreExecutor::try_new`]).
    pub fn new() -> Self {
        Self::try_new().expect("the HTTP client (rustls) could not be initialised")
    }

    /// Like [`CoreExecutor::new`], reporting a TLS initialisation failure instead of panicking.
    pub fn try_new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().user_agent(USER_AGENT).build()?;
        Ok(Self { http })
    }

    /// An executor using the given HTTP client (custom roots, proxies, timeouts).
    pub fn with_client(http: reqwest::Client) -> Self {
        Self { http }
    }
}

impl Default for CoreExecutor {
    fn default() -> Self {
        Self::new()
    }
}

/// Register [`CoreExecutor`] for the `core` family, with no limit on steps in flight.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(CoreExecutor::new()), None);
}

#[async_trait]
impl Executor for CoreExecutor {
    fn family(&self) -> Family {
        CoreKind::FAMILY
    }

    async fn execute(&self, request: StepRequest<'_>) -> Result<StepResult, StepError> {
        let kind = CoreKind::try_from(request.kind)
            .map_err(|other| StepError::Unsupported(other.name(), CoreKind::FAMILY.as_str()))?;
        // Exhaustive: a new core type in the catalog does not build without its arm here.
        let outcome = match kind {
            CoreKind::Shell => shell::run(&request, request.typed()?).await,
            CoreKind::Http => http::run(&self.http, &request, request.typed()?).await,
            CoreKind::Sleep => basic::sleep(&request, request.typed()?).await,
            CoreKind::Assert => basic::assert(&request, request.typed()?),
            CoreKind::Approval => approval::run(&request, request.typed()?).await,
            CoreKind::Notify => http::notify(&self.http, &request, request.typed()?).await,
        };
        outcome.map_err(|e| e.redact(request.context.redactor()))
    }
}
