//! AWS SDK errors turned into messages that name the operation, the object and the error code.

use std::error::Error as StdError;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use ripcord_engine::StepError;

/// What went wrong, for callers that react to some codes (a missing key, a missing bucket).
#[derive(Debug)]
pub(crate) struct AwsFailure {
    /// The AWS error code (`NoSuchKey`, `AccessDenied`, ...), or the HTTP status as text when
    /// the response had no body (HEAD requests).
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: String,
}

impl AwsFailure {
    pub(crate) fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(
                self.code.as_deref(),
                Some(
                    "NoSuchKey" | "NoSuchBucket" | "NotFound" | "NoSuchHostedZone" | "NoSuchChange"
                )
            )
    }

    pub(crate) fn into_step_error(self) -> StepError {
        StepError::Failed(self.message)
    }
}

/// Describe an SDK error: `{operation} {target}: {code}: {message} (HTTP {status})`.
pub(crate) fn describe<E>(
    operation: &str,
    target: &str,
    endpoint: &str,
    err: &SdkError<E, HttpResponse>,
) -> AwsFailure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let head = format!("{operation} {target}");
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            let code = e
                .code()
                .map(str::to_owned)
                .or_else(|| default_code(status).map(str::to_owned));
            let text = e.message().map(str::to_owned);
            let mut message = format!("{head}: {}", code.as_deref().unwrap_or("error"));
            match text {
                Some(t) if !t.is_empty() => message.push_str(&format!(": {t}")),
                _ => {
                    if let Some(hint) = hint(status) {
                        message.push_str(&format!(": {hint}"));
                    }
                }
            }
            message.push_str(&format!(" (HTTP {status})"));
            if matches!(
                code.as_deref(),
                Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidClientTokenId")
            ) {
                message.push_str(
                    "; check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, \
                     --aws-profile) and that they belong to this endpoint",
                );
            }
            AwsFailure {
                code,
                status: Some(status),
                message,
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            AwsFailure {
                code: default_code(status).map(str::to_owned),
                status: Some(status),
                message: format!(
                    "{head}: unreadable response (HTTP {status}) from {endpoint}: {}",
                    DisplayErrorContext(err)
                ),
            }
        }
        SdkError::DispatchFailure(d) => {
            let why = if d.is_timeout() {
                "timed out connecting to"
            } else if d.is_io() {
                "cannot reach"
            } else {
                "request failed to"
            };
            AwsFailure {
                code: None,
                status: None,
                message: format!("{head}: {why} {endpoint}: {}", DisplayErrorContext(err)),
            }
        }
        SdkError::TimeoutError(_) => AwsFailure {
            code: None,
            status: None,
            message: format!("{head}: timed out waiting for {endpoint}"),
        },
        SdkError::ConstructionFailure(_) => AwsFailure {
            code: None,
            status: None,
            message: format!(
                "{head}: the request could not be built: {} (are AWS credentials configured? \
                 environment, --aws-profile or a profile's credentials)",
                DisplayErrorContext(err)
            ),
        },
        _ => AwsFailure {
            code: err.code().map(str::to_owned),
            status: err.raw_response().map(|r| r.status().as_u16()),
            message: format!("{head}: {}", DisplayErrorContext(err)),
        },
    }
}

/// A code for bodiless error responses (HEAD).
fn default_code(status: u16) -> Option<&'static str> {
    match status {
        301 => Some("PermanentRedirect"),
        400 => Some("BadRequest"),
        401 => Some("Unauthorized"),
        403 => Some("Forbidden"),
        404 => Some("NotFound"),
        _ => None,
    }
}

fn hint(status: u16) -> Option<&'static str> {
    match status {
        301 => Some("the bucket is in another region: give the step its `region`"),
        403 => Some("access denied (wrong credentials, or no permission for this)"),
        404 => Some("not found"),
        _ => None,
    }
}
