//! ripcord's AWS step executors: `s3.*` and `route53.*`, on the official AWS SDK.
//!
//! [`register`] adds two executors to an engine [`Registry`], one per family (`s3`, `route53`),
//! sharing one [`Aws`]: the configuration (standard chain: environment, profiles, SSO,
//! `credential_process`; plus [`Settings`] from the command line) is loaded on first use and
//! one SDK client per region is kept for the whole run.
//!
//! | type                     | in a dry run                                                   |
//! |--------------------------|----------------------------------------------------------------|
//! | `s3.list`, `s3.count`    | runs (reads)                                                   |
//! | `s3.get_object`          | runs (reads)                                                   |
//! | `s3.head_object`         | runs (reads)                                                   |
//! | `s3.replication.status`  | runs (reads)                                                   |
//! | `s3.copy`                | reads the source, copies nothing                               |
//! | `s3.sync`                | computes and returns the diff, writes nothing                  |
//! | `route53.change_records` | checks the zone (and that records to DELETE exist), submits nothing |
//! | `route53.wait_insync`    | runs; the empty change id of a dry-run change is `DRY_RUN` at once |
//!
//! Errors name what they were about (`s3://bucket/key`, the hosted zone, the change id) and the
//! AWS error code. Authentication failures (HTTP 401/403) are never retried by the SDK, so wrong
//! credentials fail in one round trip. Messages pass through the run's redactor.
//!
//! `s3.sync` is described in [`sync`]; the listing order it relies on in [`order`].

#![warn(missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use ripcord_engine::{Executor, Registry, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{Family, FamilyKind, Route53Kind, S3Kind};

mod config;
mod error;
pub mod order;
mod preview;
mod route53;
mod s3;
pub mod sync;
mod util;

pub use config::{Aws, DEFAULT_REGION, Settings};
pub use s3::S3Url;

/// Performs the steps of one AWS family (`s3` or `route53`).
#[derive(Clone)]
pub struct AwsExecutor {
    family: Family,
    aws: Arc<Aws>,
}

impl AwsExecutor {
    /// The `s3` executor over a shared [`Aws`].
    pub fn s3(aws: Arc<Aws>) -> Self {
        Self {
            family: Family::S3,
            aws,
        }
    }

    /// The `route53` executor over a shared [`Aws`].
    pub fn route53(aws: Arc<Aws>) -> Self {
        Self {
            family: Family::Route53,
            aws,
        }
    }

    /// The configuration and clients this executor shares with its sibling.
    pub fn aws(&self) -> &Arc<Aws> {
        &self.aws
    }
}

/// Register the `s3` and `route53` executors, sharing one configuration and its clients.
pub fn register(registry: &mut Registry, settings: Settings) {
    let aws = Arc::new(Aws::new(settings));
    registry.register(Arc::new(AwsExecutor::s3(aws.clone())), None);
    registry.register(Arc::new(AwsExecutor::route53(aws)), None);
}

#[async_trait]
impl Executor for AwsExecutor {
    fn family(&self) -> Family {
        self.family
    }

    async fn execute(&self, request: StepRequest<'_>) -> Result<StepResult, StepError> {
        let (aws, r) = (&self.aws, &request);
        let outcome = match (self.family, r.kind.family_kind()) {
            (Family::S3, FamilyKind::S3(kind)) => util::bounded(r, s3_step(aws, r, kind)).await,
            (Family::Route53, FamilyKind::Route53(kind)) => {
                util::bounded(r, route53_step(aws, r, kind)).await
            }
            _ => Err(StepError::Unsupported(r.kind.name(), self.family.as_str())),
        };
        outcome.map_err(|e| e.redact(r.context.redactor()))
    }
}

/// Exhaustive: a new s3 type in the catalog does not build without its arm here.
async fn s3_step(
    aws: &Arc<Aws>,
    r: &StepRequest<'_>,
    kind: S3Kind,
) -> Result<StepResult, StepError> {
    match kind {
        S3Kind::S3List => s3::list(aws, r, r.typed()?).await,
        S3Kind::S3Count => s3::count(aws, r, r.typed()?).await,
        S3Kind::S3GetObject => s3::get_object(aws, r, r.typed()?).await,
        S3Kind::S3HeadObject => s3::head_object(aws, r, r.typed()?).await,
        S3Kind::S3Copy => s3::copy(aws, r, r.typed()?).await,
        S3Kind::S3Sync => sync::run(aws, r, r.typed()?).await,
        S3Kind::S3ReplicationStatus => s3::replication_status(aws, r, r.typed()?).await,
    }
}

/// Exhaustive: a new route53 type in the catalog does not build without its arm here.
async fn route53_step(
    aws: &Aws,
    r: &StepRequest<'_>,
    kind: Route53Kind,
) -> Result<StepResult, StepError> {
    match kind {
        Route53Kind::Route53ChangeRecords => route53::change_records(aws, r, r.typed()?).await,
        Route53Kind::Route53WaitInsync => route53::wait_insync(aws, r, r.typed()?).await,
    }
}
