//! Watch-based waiting: list, then watch from the list's resourceVersion, and evaluate a
//! condition over the current set of objects after the initial list and after every event.

use std::collections::BTreeMap;
use std::fmt::Debug;

use futures::StreamExt;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use ripcord_engine::{StepError, StepRequest};
use serde::de::DeserializeOwned;

use crate::util;

/// What the condition says about the current objects.
pub(crate) enum Check<R> {
    Done(R),
    /// Not yet; the text says why (shown if the deadline comes first).
    Waiting(String),
    /// Will not happen (e.g. a rollout's progress deadline exceeded).
    Fail(String),
}

/// Watch `api` (filtered by `config`) until `check` is done, fails, or the soft deadline.
/// `what` names the wait in the timeout message.
pub(crate) async fn until<K, R>(
    request: &StepRequest<'_>,
    api: Api<K>,
    config: watcher::Config,
    what: &str,
    mut check: impl FnMut(&BTreeMap<String, K>) -> Check<R>,
) -> Result<R, StepError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let started = std::time::Instant::now();
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut objects: BTreeMap<String, K> = BTreeMap::new();
    let mut staging: BTreeMap<String, K> = BTreeMap::new();
    let mut listed = false;
    let mut last = String::from("no answer from the API server yet");
    let mut last_error: Option<String> = None;
    let until = util::soft_deadline(request);
    let key = |o: &K| {
        let m = o.meta();
        format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or(""),
            m.name.as_deref().unwrap_or("")
        )
    };
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = request.cancel.cancelled() => return Err(StepError::Cancelled),
            _ = tokio::time::sleep_until(until.into()) => {
                let err = last_error.map(|e| format!(" (last error: {e})")).unwrap_or_default();
                return Err(StepError::Failed(format!(
                    "{what}: not done after {:.1?}: {last}{err}", started.elapsed()
                )));
            }
        };
        let Some(event) = event else {
            return Err(StepError::Failed(format!("{what}: the watch ended")));
        };
        match event {
            Ok(Event::Init) => staging.clear(),
            Ok(Event::InitApply(o)) => {
                staging.insert(key(&o), o);
            }
            Ok(Event::InitDone) => {
                objects = std::mem::take(&mut staging);
                listed = true;
            }
            Ok(Event::Apply(o)) => {
                objects.insert(key(&o), o);
            }
            Ok(Event::Delete(o)) => {
                objects.remove(&key(&o));
            }
            Err(e) => {
                last_error = Some(e.to_string());
                continue;
            }
        }
        if !listed {
            continue;
        }
        match check(&objects) {
            Check::Done(r) => return Ok(r),
            Check::Fail(m) => return Err(StepError::Failed(format!("{what}: {m}"))),
            Check::Waiting(m) => last = m,
        }
    }
}
