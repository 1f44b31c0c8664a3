//! Small helpers shared by the executors.

use std::future::Future;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use ripcord_engine::{StepError, StepRequest};
use ripcord_spec::values::Templated;

/// Run `fut` until it ends, the step is cancelled or its deadline passes (the engine enforces
/// the deadline too; ending here first gives a message that says what was going on).
pub(crate) async fn bounded<T>(
    request: &StepRequest<'_>,
    fut: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let deadline = tokio::time::Instant::from_std(request.deadline);
    tokio::select! {
        out = fut => out,
        () = request.cancel.cancelled() => Err(StepError::Cancelled),
        () = tokio::time::sleep_until(deadline) => Err(StepError::failed(format!(
            "`{}` did not finish within its timeout",
            request.kind.name()
        ))),
    }
}

/// A field that may have been a template: after rendering it must hold a value.
pub(crate) fn value<T: Clone>(field: &Templated<T>, name: &str) -> Result<T, StepError> {
    match field {
        Templated::Value(v) => Ok(v.clone()),
        Templated::Template(t) => Err(StepError::Input(format!(
            "`{name}` is still a template after rendering: `{t}`"
        ))),
    }
}

pub(crate) fn opt_value<T: Clone>(
    field: &Option<Templated<T>>,
    name: &str,
) -> Result<Option<T>, StepError> {
    field.as_ref().map(|f| value(f, name)).transpose()
}

/// An ETag without its quotes (S3 quotes them; some stores do not).
pub(crate) fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

/// A multipart ETag (`<md5>-<parts>`) is not the MD5 of the content: two copies of the same
/// bytes may have different ones.
pub(crate) fn is_multipart_etag(etag: &str) -> bool {
    etag.contains('-')
}

/// RFC 3339 (`2026-11-25T22:13:15Z`), what `date -d` and people read.
pub(crate) fn rfc3339(t: &DateTime) -> String {
    t.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| t.secs().to_string())
}

/// Milliseconds since the epoch, for comparisons.
pub(crate) fn millis(t: Option<&DateTime>) -> i64 {
    t.map_or(0, |t| {
        t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000)
    })
}
