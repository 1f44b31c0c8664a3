//! AWS configuration and clients: the standard chain plus ripcord's overrides, loaded once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::interceptors::InterceptorContext;
use aws_sdk_s3::config::retry::{ClassifyRetry, RetryAction, RetryConfig};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use ripcord_engine::StepError;
use tokio::sync::OnceCell;

use crate::order::Order;
use crate::preview::Overlay;

/// The region used when neither the step, the settings nor the environment names one and an
/// endpoint override is given (local S3-compatible stores ignore it); Route53 is global and
/// always signs for it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What the command line (or a test) adds to the standard AWS configuration chain.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A named profile (`--aws-profile`); `AWS_PROFILE` otherwise.
    pub profile: Option<String>,
    /// The default region (`--aws-region`); a step's `region` wins. The chain's otherwise.
    pub region: Option<String>,
    /// Send every request to this endpoint (`--aws-endpoint-url`), e.g. a local S3-compatible
    /// store. The SDK also honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_S3` by itself.
    pub endpoint_url: Option<String>,
    /// Path-style S3 addressing (`http://host/bucket/key`). `None`: on when the endpoint is an
    /// IP address or `localhost` (virtual-host style cannot work there), off otherwise.
    pub path_style: Option<bool>,
    /// Static credentials (access key, secret) instead of the chain: tests and local stores.
    pub credentials: Option<(String, String)>,
    /// Attempts per SDK request for transient errors (throttling, 5xx, timeouts). Default 3.
    pub max_attempts: u32,
    /// Connecting to an endpoint gives up after this long. Default 5 s.
    pub connect_timeout: Duration,
    /// Objects larger than this are copied part by part (UploadPartCopy); S3's single-request
    /// copy stops at 5 GiB.
    pub multipart_threshold: u64,
    /// Part size of multipart copies (S3: 5 MiB to 5 GiB, at most 10,000 parts).
    pub multipart_part_size: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: None,
            region: None,
            endpoint_url: None,
            path_style: None,
            credentials: None,
            max_attempts: 3,
            connect_timeout: Duration::from_secs(5),
            multipart_threshold: 5 * 1024 * 1024 * 1024,
            multipart_part_size: 512 * 1024 * 1024,
        }
    }
}

impl Settings {
    /// Settings for a local endpoint with static credentials (tests, sandboxes, benchmarks).
    pub fn local(endpoint_url: &str, access_key: &str, secret_key: &str) -> Self {
        Self {
            endpoint_url: Some(endpoint_url.to_owned()),
            region: Some(DEFAULT_REGION.to_owned()),
            credentials: Some((access_key.to_owned(), secret_key.to_owned())),
            ..Self::default()
        }
    }

    /// The endpoint requests go to, if overridden here or in the environment.
    fn effective_endpoint(&self) -> Option<String> {
        self.endpoint_url.clone().or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        })
    }

    fn path_style_for(&self, endpoint: Option<&str>) -> bool {
        self.path_style
            .unwrap_or_else(|| endpoint.is_some_and(host_needs_path_style))
    }
}

/// An endpoint whose host is an IP address or `localhost`: bucket subdomains cannot resolve.
fn host_needs_path_style(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        return v6.contains(']');
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    host == "localhost" || host.ends_with(".localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

/// The shared AWS state of a run: settings, the loaded configuration, clients by region, and
/// what `s3.sync` learned about the endpoint's listing order.
pub struct Aws {
    settings: Settings,
    sdk: OnceCell<SdkConfig>,
    s3: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    route53: OnceCell<aws_sdk_route53::Client>,
    order: AtomicU8,
    /// What this run's dry-run writes predict (see [`Overlay`]).
    overlay: Mutex<Overlay>,
}

impl Aws {
    /// State for `settings`; nothing is loaded or connected until a step needs it.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            sdk: OnceCell::new(),
            s3: Mutex::new(HashMap::new()),
            route53: OnceCell::new(),
            order: AtomicU8::new(Order::Binary as u8),
            overlay: Mutex::new(Overlay::default()),
        }
    }

    /// The settings given to [`Aws::new`].
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The listing order `s3.sync` walks in (learned from the endpoint, see [`Order`]).
    pub fn listing_order(&self) -> Order {
        Order::from_u8(self.order.load(Ordering::Relaxed))
    }

    /// The predicted state of this run's dry-run writes.
    pub(crate) fn overlay(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().expect("overlay lock")
    }

    pub(crate) fn learn_order(&self, order: Order) {
        self.order.store(order as u8, Ordering::Relaxed);
    }

    async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let s = &self.settings;
                let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
                    .retry_config(RetryConfig::standard().with_max_attempts(s.max_attempts.max(1)))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(s.connect_timeout)
                            .build(),
                    );
                if let Some(profile) = &s.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &s.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(url) = &s.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                if let Some((key, secret)) = &s.credentials {
                    loader = loader.credentials_provider(SharedCredentialsProvider::new(
                        Credentials::new(key, secret, None, None, "ripcord-settings"),
                    ));
                }
                loader.load().await
            })
            .await
    }

    /// The S3 client for a region (`None`: the configured default).
    pub async fn s3(&self, region: Option<&str>) -> Result<aws_sdk_s3::Client, StepError> {
        let sdk = self.sdk().await;
        let endpoint = self.settings.effective_endpoint();
        let region = match region.filter(|r| !r.trim().is_empty()) {
            Some(r) => r.trim().to_owned(),
            None => match sdk.region() {
                Some(r) => r.to_string(),
                None if endpoint.is_some() => DEFAULT_REGION.to_owned(),
                None => {
                    return Err(StepError::Input(
                        "no AWS region: give the step a `region`, pass --aws-region, or set \
                         AWS_REGION (or a profile's region)"
                            .into(),
                    ));
                }
            },
        };
        let mut clients = self.s3.lock().expect("client map lock");
        if let Some(client) = clients.get(&region) {
            return Ok(client.clone());
        }
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .force_path_style(self.settings.path_style_for(endpoint.as_deref()))
            .retry_classifier(NoRetryOnAuth)
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        clients.insert(region, client.clone());
        Ok(client)
    }

    /// The Route53 client (global: signed for us-east-1).
    pub async fn route53(&self) -> aws_sdk_route53::Client {
        let sdk = self.sdk().await;
        self.route53
            .get_or_init(|| async {
                let config = aws_sdk_route53::config::Builder::from(sdk)
                    .region(Region::new(DEFAULT_REGION))
                    .retry_classifier(NoRetryOnAuth)
                    .build();
                aws_sdk_route53::Client::from_conf(config)
            })
            .await
            .clone()
    }

    /// Where requests go, for error messages about unreachable endpoints.
    pub(crate) fn endpoint_description(&self) -> String {
        match self.settings.effective_endpoint() {
            Some(url) => url,
            None => "the AWS endpoint".into(),
        }
    }
}

/// Authentication and authorisation failures (HTTP 401/403: InvalidAccessKeyId,
/// SignatureDoesNotMatch, AccessDenied, ExpiredToken, ...) are answers, not accidents: retrying
/// them only delays the message.
#[derive(Debug)]
struct NoRetryOnAuth;

impl ClassifyRetry for NoRetryOnAuth {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response().map(|r| r.status().as_u16()) {
            Some(401 | 403) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "ripcord: no retry on 401/403"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_for_local_hosts() {
        for url in [
            "http://127.0.0.1:8333",
            "http://localhost:5000/",
            "https://[::1]:9000",
            "http://10.0.0.5",
            "http://minio.localhost:9000",
        ] {
            assert!(host_needs_path_style(url), "{url}");
        }
        for url in [
            "https://s3.eu-west-1.amazonaws.com",
            "https://storage.example.com:443",
        ] {
            assert!(!host_needs_path_style(url), "{url}");
        }
        let s = Settings {
            path_style: Some(false),
            ..Settings::default()
        };
        assert!(!s.path_style_for(Some("http://127.0.0.1")));
        assert!(Settings::default().path_style_for(Some("http://127.0.0.1")));
        assert!(!Settings::default().path_style_for(None));
    }
}
