//! Shared helpers: input values, errors, deadlines, discovery.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{ApiResource, DeleteParams, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, Scope};
use ripcord_engine::{StepError, StepRequest};
use ripcord_spec::values::{HumanDuration, Templated};

/// A rendered input value (the engine renders templates before the executor runs).
pub(crate) fn value<T: Clone>(t: &Templated<T>, field: &str) -> Result<T, StepError> {
    t.value()
        .ok_or_else(|| StepError::Input(format!("`{field}` was not rendered to a value")))
}

pub(crate) fn duration(
    t: &Option<Templated<HumanDuration>>,
    field: &str,
) -> Result<Option<Duration>, StepError> {
    t.as_ref().map(|t| value(t, field).map(|d| d.0)).transpose()
}

/// A kube error as a step failure: `doing: message (code Reason)`.
pub(crate) fn failed(doing: &str, e: kube::Error) -> StepError {
    StepError::Failed(describe(doing, &e))
}

pub(crate) fn describe(doing: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{doing}: {} ({} {})", s.message, s.code, s.reason),
        other => format!("{doing}: {other}"),
    }
}

/// The API status code of an error, if it is an API error.
pub(crate) fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// When our own waits give up: a little before the engine's deadline, so that our message
/// (what was last seen, which budget blocked) is the one reported.
pub(crate) fn soft_deadline(request: &StepRequest<'_>) -> Instant {
    let left = request.remaining();
    request.deadline - (left / 10).min(Duration::from_millis(250))
}

/// Run `fut` until done, cancelled, or the soft deadline (then `on_timeout()` is the error).
pub(crate) async fn bounded<T>(
    request: &StepRequest<'_>,
    fut: impl Future<Output = Result<T, StepError>>,
    on_timeout: impl FnOnce() -> String,
) -> Result<T, StepError> {
    let until = soft_deadline(request);
    tokio::select! {
        r = fut => r,
        _ = request.cancel.cancelled() => Err(StepError::Cancelled),
        _ = tokio::time::sleep_until(until.into()) => Err(StepError::Failed(on_timeout())),
    }
}

pub(crate) fn post_params(dry_run: bool) -> PostParams {
    PostParams {
        dry_run,
        ..PostParams::default()
    }
}

pub(crate) fn patch_params(dry_run: bool) -> PatchParams {
    if dry_run {
        PatchParams::default().dry_run()
    } else {
        PatchParams::default()
    }
}

pub(crate) fn delete_params(dry_run: bool, grace: Option<u32>) -> DeleteParams {
    DeleteParams {
        dry_run,
        grace_period_seconds: grace,
        ..DeleteParams::default()
    }
}

/// `group/version` and kind into a GVK.
pub(crate) fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

/// (context, apiVersion, kind)
type DiscoveryKey = (Option<String>, String, String);

/// Discovery results by cluster context and GVK: the resource and whether it is namespaced.
#[derive(Default)]
pub(crate) struct DiscoveryCache {
    cache: tokio::sync::Mutex<HashMap<DiscoveryKey, (ApiResource, bool)>>,
}

impl DiscoveryCache {
    /// The resource of `api_version`/`kind` and whether it is namespaced.
    pub(crate) async fn resolve(
        &self,
        client: &Client,
        context: Option<&str>,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), StepError> {
        let key = (
            context.map(str::to_owned),
            api_version.to_owned(),
            kind.to_owned(),
        );
        if let Some(hit) = self.cache.lock().await.get(&key) {
            return Ok(hit.clone());
        }
        let (ar, caps): (ApiResource, ApiCapabilities) =
            kube::discovery::pinned_kind(client, &gvk(api_version, kind))
                .await
                .map_err(|e| match &e {
                    kube::Error::Discovery(_) | kube::Error::Api(_) => StepError::Input(format!(
                        "the cluster serves no kind `{kind}` in `{api_version}`: {}",
                        describe("discovery", &e)
                    )),
                    _ => failed(&format!("discovering {api_version} {kind}"), e),
                })?;
        let namespaced = caps.scope == Scope::Namespaced;
        self.cache
            .lock()
            .await
            .insert(key, (ar.clone(), namespaced));
        Ok((ar, namespaced))
    }
}

/// Whether a `LabelSelector` object matches labels (client side, to name a blocking PDB).
pub(crate) fn selector_matches(
    selector: &serde_json::Value,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let Some(sel) = selector.as_object() else {
        return false;
    };
    let ok_labels = sel
        .get("matchLabels")
        .and_then(|m| m.as_object())
        .is_none_or(|m| {
            m.iter()
                .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        });
    let ok_exprs = sel
        .get("matchExpressions")
        .and_then(|m| m.as_array())
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = e["key"].as_str().unwrap_or("");
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                let have = labels.get(key).map(String::as_str);
                match e["operator"].as_str().unwrap_or("") {
                    "In" => have.is_some_and(|h| values.contains(&h)),
                    "NotIn" => !have.is_some_and(|h| values.contains(&h)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
        });
    ok_labels && ok_exprs
}

/// `namespace/name` of an object.
pub(crate) fn full_name(meta: &kube::core::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}
