//! `kube.pods.delete`, `kube.pods.wait_ready`, `kube.exec`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams};
use kube::runtime::watcher;
use ripcord_engine::preview::Change;
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::Effect;
use ripcord_spec::catalog::{ExecWith, PodsDeleteWith, PodsWaitReadyWith};
use serde_json::json;
use tokio::io::AsyncReadExt;

use ripcord_engine::preview::DryRunReport;

use crate::KubeExecutor;
use crate::dryrun::{self, Touch};
use crate::util::{self, failed};
use crate::wait::{self, Check};

/// Why a `kube.exec` not declared `effect: read` is not simulated.
pub(crate) const EXEC_NOT_RUN: &str = "a command that may write is not run in a dry run";

/// Most bytes of stdout and of stderr an `exec` keeps.
pub(crate) const MAX_EXEC_OUTPUT: usize = 1 << 20;

/// Ready (condition `Ready=True`) and not terminating.
pub(crate) fn ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A short description of why a pod is not Ready.
fn why_not(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    if pod.metadata.deletion_timestamp.is_some() {
        return format!("{name} terminating");
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let reason = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        })
        .or_else(|| {
            status.and_then(|s| s.conditions.as_ref()).and_then(|cs| {
                cs.iter()
                    .find(|c| c.status != "True")
                    .and_then(|c| c.reason.clone().or(Some(format!("{} not True", c.type_))))
            })
        });
    match reason {
        Some(r) => format!("{name} {phase} ({r})"),
        None => format!("{name} {phase}, not Ready"),
    }
}

pub(crate) async fn delete(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &PodsDeleteWith,
) -> Result<StepResult, StepError> {
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Pod> = Api::namespaced(cluster.client, &w.namespace);
    let force = util::value(&w.force, "force")?;
    let grace = if force {
        Some(0)
    } else {
        util::duration(&w.grace_period, "grace_period")?.map(|d| d.as_secs() as u32)
    };
    let params = util::delete_params(req.dry_run, grace);
    let pods: Vec<(String, Option<Pod>)> = match (&w.name, &w.selector) {
        (Some(name), None) if req.dry_run => {
            let live = api
                .get_opt(name)
                .await
                .map_err(|e| failed(&format!("reading pod {}/{name}", w.namespace), e))?;
            vec![(name.clone(), live)]
        }
        (Some(name), None) => vec![(name.clone(), None)],
        (None, Some(selector)) => {
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(|e| failed(&format!("listing pods `{selector}` in {}", w.namespace), e))?;
            list.items
                .into_iter()
                .filter_map(|p| Some((p.metadata.name.clone()?, Some(p))))
                .collect()
        }
        _ => {
            return Err(StepError::Input(
                "give exactly one of `name` and `selector`".into(),
            ));
        }
    };
    let work = async {
        let mut deleted = Vec::new();
        for (name, live) in &pods {
            match api.delete(name, &params).await {
                Ok(_) => deleted.push((name.clone(), live.clone())),
                // Already gone: the desired state.
                Err(e) if util::code(&e) == Some(404) => {}
                Err(e) => return Err(failed(&format!("deleting pod {}/{name}", w.namespace), e)),
            }
        }
        Ok(deleted)
    };
    let deleted = util::bounded(req, work, || {
        format!("deleting pods in {} took too long", w.namespace)
    })
    .await?;
    if req.dry_run {
        preview_deletes(ex, req, w, &deleted);
    }
    let names: Vec<&String> = deleted.iter().map(|(n, _)| n).collect();
    Ok(json!({"deleted": names}))
}

/// A dry-run delete: the pods it would delete, their pre-state, remembered for later steps.
fn preview_deletes(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &PodsDeleteWith,
    deleted: &[(String, Option<Pod>)],
) {
    let mut items = Vec::new();
    let mut pre = Vec::new();
    for (name, live) in deleted {
        let t = Touch::new(req, w.context.as_deref(), "Pod", Some(&w.namespace), name);
        items.push(t.object());
        ex.memory.record(t);
        if let Some(p) = live {
            pre.push(dryrun::pre_state(
                "v1",
                "Pod",
                &serde_json::to_value(p).unwrap_or_default(),
            ));
        }
    }
    let report = DryRunReport::validated()
        .with_diff(dryrun::diff(vec![Change::new("delete", items)]))
        .with_pre_state(pre);
    dryrun::report(req, report);
}

pub(crate) async fn wait_ready(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &PodsWaitReadyWith,
) -> Result<StepResult, StepError> {
    let min = w
        .min_ready
        .as_ref()
        .map(|m| util::value(m, "min_ready"))
        .transpose()?
        .unwrap_or(1);
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Pod> = Api::namespaced(cluster.client, &w.namespace);
    let what = format!(
        "waiting for {min} Ready pod(s) `{}` in {}",
        w.selector, w.namespace
    );
    wait::until(
        req,
        api,
        watcher::Config::default().labels(&w.selector),
        &what,
        |pods: &BTreeMap<String, Pod>| {
            let names: Vec<String> = pods
                .values()
                .filter(|p| ready(p))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            if names.len() as u64 >= min {
                return Check::Done(json!({"ready": names.len(), "pods": names}));
            }
            let others: Vec<String> = pods.values().filter(|p| !ready(p)).map(why_not).collect();
            Check::Waiting(format!(
                "{} of {} matching pod(s) Ready{}",
                names.len(),
                pods.len(),
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; {}", others.join(", "))
                }
            ))
        },
    )
    .await
}

pub(crate) async fn exec(
    ex: &KubeExecutor,
    req: &StepRequest<'_>,
    w: &ExecWith,
) -> Result<StepResult, StepError> {
    if w.command.is_empty() {
        return Err(StepError::Input("`command` is empty".into()));
    }
    let cluster = ex.cluster(w.context.as_deref()).await?;
    let api: Api<Pod> = Api::namespaced(cluster.client, &w.namespace);
    let pod = match (&w.pod, &w.selector) {
        (Some(p), None) => p.clone(),
        (None, Some(selector)) => {
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(|e| failed(&format!("listing pods `{selector}` in {}", w.namespace), e))?;
            let mut ready: Vec<String> = list
                .items
                .iter()
                .filter(|p| ready(p))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            ready.sort();
            ready.into_iter().next().ok_or_else(|| {
                StepError::Failed(format!(
                    "no Ready pod matches `{selector}` in {} ({} match)",
                    w.namespace,
                    list.items.len()
                ))
            })?
        }
        _ => {
            return Err(StepError::Input(
                "give exactly one of `pod` and `selector`".into(),
            ));
        }
    };
    if req.dry_run && req.effect != Effect::Read {
        dryrun::report(req, DryRunReport::not_simulated(EXEC_NOT_RUN));
        return Ok(json!({"stdout": null, "stderr": null, "exit_code": null, "pod": pod}));
    }
    let mut ap = AttachParams::default()
        .stdout(true)
        .stderr(true)
        .stdin(false);
    if let Some(c) = &w.container {
        ap = ap.container(c.clone());
    }
    let target = format!("{}/{pod}", w.namespace);
    let work = async {
        let mut proc = api
            .exec(&pod, w.command.clone(), &ap)
            .await
            .map_err(|e| failed(&format!("exec in {target}"), e))?;
        let status = proc.take_status();
        let (mut out, mut err) = (proc.stdout(), proc.stderr());
        let read = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| async move {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(MAX_EXEC_OUTPUT as u64).read_to_end(&mut buf).await;
            }
            String::from_utf8_lossy(&buf).into_owned()
        };
        let (stdout, stderr) = tokio::join!(
            read(
                out.take()
                    .map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)
            ),
            read(
                err.take()
                    .map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)
            ),
        );
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        let _ = proc.join().await;
        let exit_code = match status {
            Some(s) if s.status.as_deref() == Some("Success") => 0,
            Some(s) if s.reason.as_deref() == Some("NonZeroExitCode") => s
                .details
                .and_then(|d| d.causes)
                .and_then(|c| {
                    c.into_iter()
                        .find(|c| c.reason.as_deref() == Some("ExitCode"))
                })
                .and_then(|c| c.message)
                .and_then(|m| m.parse::<i64>().ok())
                .unwrap_or(1),
            Some(s) => {
                return Err(StepError::Failed(format!(
                    "exec in {target}: {}",
                    s.message.unwrap_or_else(|| "failed".into())
                )));
            }
            None => {
                return Err(StepError::Failed(format!(
                    "exec in {target}: the connection closed without an exit status"
                )));
            }
        };
        Ok(json!({"stdout": stdout, "stderr": stderr, "exit_code": exit_code, "pod": pod}))
    };
    util::bounded(req, work, || {
        format!(
            "exec in {target}: `{}` did not finish in time",
            w.command.join(" ")
        )
    })
    .await
}
