//! HTTP: path parsing, the REST verbs, list and watch, the eviction and exec subresources.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::patch::PatchKind;
use crate::resources::{self, Resource};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ApiError, Event, EventType};
use crate::{Cluster, ExecCall, RecordedRequest, api};

type Shared = Arc<Cluster>;

fn res_pods() -> &'static Resource {
    resources::pods()
}

fn json_response(code: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status())
}

struct Target {
    res: &'static Resource,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// `/api/v1/...` or `/apis/G/V/...` into a target, or a discovery document.
enum Parsed {
    Discovery(Value),
    Target(Target),
}

fn parse_path(path: &str) -> Result<Parsed, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    };
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Ok(Parsed::Discovery(resources::core_versions())),
        ["apis"] => return Ok(Parsed::Discovery(resources::groups())),
        ["version"] => {
            return Ok(Parsed::Discovery(
                json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-ripcord-testkit", "platform": "linux/amd64"}),
            ));
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    if rest.is_empty() {
        return resources::resource_list(group, version)
            .map(Parsed::Discovery)
            .ok_or_else(not_found);
    }
    let namespaced = rest[0] == "namespaces"
        && rest.len() >= 3
        && resources::find(group, version, rest[2]).is_some_and(|r| r.namespaced);
    let (ns, rest) = if namespaced {
        (Some(rest[1].to_owned()), &rest[2..])
    } else {
        (None, rest)
    };
    let res = resources::find(group, version, rest[0]).ok_or_else(not_found)?;
    if rest.len() > 3 {
        return Err(not_found());
    }
    Ok(Parsed::Target(Target {
        res,
        ns,
        name: rest.get(1).map(|s| (*s).to_owned()),
        sub: rest.get(2).map(|s| (*s).to_owned()),
    }))
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| url_pairs(q).into_iter().collect())
        .unwrap_or_default()
}

/// Decode `a=b&c=d` (percent-decoding, `+` as space); repeated keys keep the last value.
pub(crate) fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn dry_run(q: &HashMap<String, String>) -> Result<bool, ApiError> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dry run value: {other:?}, allowed: All"
        ))),
    }
}

fn selectors(
    res: &Resource,
    q: &HashMap<String, String>,
) -> Result<(Option<LabelSelector>, Option<FieldSelector>), ApiError> {
    let labels = match q.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(LabelSelector::parse(s).map_err(ApiError::bad_request)?),
        None => None,
    };
    let fields = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            FieldSelector::parse(s, res.kind, &res.field_labels())
                .map_err(ApiError::bad_request)?,
        ),
        None => None,
    };
    Ok((labels, fields))
}

/// The fallback handler: every API path except exec.
pub(crate) async fn handle(
    State(cluster): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    cluster.record(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(url_pairs).unwrap_or_default(),
        content_type: content_type.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if let Some(resp) = cluster.take_fault(&method, uri.path()) {
        return resp;
    }
    match serve(&cluster, &method, &uri, &content_type, &body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "the fake API server's routing table: one arm per verb and resource kind, read as a list"
)]
async fn serve(
    cluster: &Shared,
    method: &Method,
    uri: &Uri,
    content_type: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let t = match parse_path(uri.path())? {
        Parsed::Discovery(doc) if *method == Method::GET => return Ok(json_response(200, &doc)),
        Parsed::Discovery(_) => {
            return Err(ApiError::new(405, "MethodNotAllowed", "method not allowed"));
        }
        Parsed::Target(t) => t,
    };
    let q = query_map(uri);
    let dry = dry_run(&q)?;
    let parse_body = || -> Result<Value, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not JSON: {e}")))
    };
    if t.res.namespaced && t.ns.is_none() && !(*method == Method::GET && t.name.is_none()) {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
        ));
    }
    let ns = t.ns.clone().unwrap_or_default();
    let status_only = match t.sub.as_deref() {
        None => false,
        Some("status") if t.res.status => true,
        Some("eviction") if t.res.kind == "Pod" && *method == Method::POST => {
            let name = t.name.clone().unwrap_or_default();
            let body = parse_body()?;
            let out = cluster.mutate(|s, o| api::evict(s, o, &ns, &name, &body, dry))?;
            return Ok(json_response(201, &out));
        }
        Some("finalize") if t.res.kind == "Namespace" => false,
        Some("log") if t.res.kind == "Pod" && *method == Method::GET => {
            let name = t.name.clone().unwrap_or_default();
            let exists = cluster
                .store
                .lock()
                .expect("store lock")
                .get(res_pods(), &ns, &name)
                .is_some();
            if !exists {
                return Err(ApiError::not_found(res_pods(), &name));
            }
            let text = format!("(ripcord-testkit keeps no container logs; pod {ns}/{name})\n");
            return Ok(([(header::CONTENT_TYPE, "text/plain")], text).into_response());
        }
        Some(other) => {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({other})"),
            ));
        }
    };
    let res = t.res;
    match (method.clone(), t.name.clone()) {
        (Method::GET, None) => {
            let (labels, fields) = selectors(res, &q)?;
            let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
            if watch {
                return watch_response(cluster, res, t.ns.clone(), labels, fields, &q);
            }
            let store = cluster.store.lock().expect("store lock");
            let items = store.list(res, t.ns.as_deref(), labels.as_ref(), fields.as_ref());
            let list = json!({
                "kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                "metadata": {"resourceVersion": store.resource_version().to_string()},
                "items": items,
            });
            Ok(json_response(200, &list))
        }
        (Method::GET, Some(name)) => {
            let store = cluster.store.lock().expect("store lock");
            let obj = store
                .get(res, &ns, &name)
                .ok_or_else(|| ApiError::not_found(res, &name))?;
            Ok(json_response(200, obj))
        }
        (Method::POST, None) => {
            let body = parse_body()?;
            let obj = cluster.mutate(|s, _| api::create(s, res, &ns, body, dry))?;
            Ok(json_response(201, &obj))
        }
        (Method::PUT, Some(name)) => {
            let body = parse_body()?;
            let obj =
                cluster.mutate(|s, _| api::replace(s, res, &ns, &name, body, status_only, dry))?;
            Ok(json_response(200, &obj))
        }
        (Method::PATCH, Some(name)) => {
            let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
                ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"))
            })?;
            let body = parse_body()?;
            let manager = q.get("fieldManager").cloned();
            let existed = cluster
                .store
                .lock()
                .expect("store lock")
                .get(res, &ns, &name)
                .is_some();
            let obj = cluster.mutate(|s, _| {
                api::patch(
                    s,
                    res,
                    &ns,
                    &name,
                    kind,
                    body,
                    status_only,
                    dry,
                    manager.as_deref(),
                )
            })?;
            Ok(json_response(if existed { 200 } else { 201 }, &obj))
        }
        (Method::DELETE, Some(name)) => {
            let grace = delete_grace(&q, body)?;
            let body_dry = serde_json::from_slice::<Value>(body).ok().is_some_and(|b| {
                b["dryRun"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|v| v == "All"))
            });
            let obj = cluster
                .mutate(|s, o| api::delete(s, o, res, &ns, &name, grace, dry || body_dry))?;
            Ok(json_response(200, &obj))
        }
        (Method::DELETE, None) => {
            let (labels, fields) = selectors(res, &q)?;
            let grace = delete_grace(&q, body)?;
            let items = cluster.mutate(|s, o| {
                let names: Vec<String> = s
                    .list(res, t.ns.as_deref(), labels.as_ref(), fields.as_ref())
                    .iter()
                    .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_owned())
                    .collect();
                let mut out = Vec::new();
                for n in names {
                    if let Ok(v) = api::delete(s, o, res, &ns, &n, grace, dry) {
                        out.push(v);
                    }
                }
                Ok(out)
            })?;
            Ok(json_response(
                200,
                &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {}, "items": items}),
            ))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        )),
    }
}

fn delete_grace(q: &HashMap<String, String>, body: &[u8]) -> Result<Option<i64>, ApiError> {
    if let Some(g) = q.get("gracePeriodSeconds") {
        return g
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}")));
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    Ok(body["gracePeriodSeconds"].as_i64())
}

/// Which event a watcher with selectors sees for a change (selector transitions become
/// ADDED/DELETED, as the API server's watch cache does).
fn visible(
    ev: &Event,
    res: &'static Resource,
    ns: &Option<String>,
    labels: &Option<LabelSelector>,
    fields: &Option<FieldSelector>,
) -> Option<EventType> {
    if !std::ptr::eq(ev.res, res) || ns.as_ref().is_some_and(|n| *n != ev.ns) {
        return None;
    }
    let matches = |o: &Value| {
        labels.as_ref().is_none_or(|l| l.matches(o)) && fields.as_ref().is_none_or(|f| f.matches(o))
    };
    let now = matches(&ev.object);
    match (ev.kind, ev.old.as_ref().map(matches)) {
        (EventType::Modified, Some(before)) => match (before, now) {
            (true, true) => Some(EventType::Modified),
            (false, true) => Some(EventType::Added),
            (true, false) => Some(EventType::Deleted),
            (false, false) => None,
        },
        (kind, _) => now.then_some(kind),
    }
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

struct WatchState {
    pending: VecDeque<Bytes>,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    res: &'static Resource,
    ns: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    last: u64,
    until: tokio::time::Instant,
    cancel: tokio_util::sync::CancellationToken,
}

fn watch_response(
    cluster: &Shared,
    res: &'static Resource,
    ns: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let from = q
        .get("resourceVersion")
        .filter(|r| !r.is_empty() && *r != "0");
    let mut pending = VecDeque::new();
    let (rx, last) = {
        let store = cluster.store.lock().expect("store lock");
        let rx = store.subscribe();
        match from {
            Some(rv) => {
                let rv: u64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?;
                match store.events_since(rv) {
                    Some(events) => {
                        for ev in events {
                            if let Some(kind) = visible(&ev, res, &ns, &labels, &fields) {
                                pending.push_back(watch_line(kind.as_str(), &ev.object));
                            }
                        }
                        (Some(rx), store.resource_version())
                    }
                    None => {
                        let gone = ApiError::new(
                            410,
                            "Expired",
                            format!(
                                "too old resource version: {rv} ({})",
                                store.resource_version()
                            ),
                        );
                        pending.push_back(watch_line("ERROR", &gone.status()));
                        (None, store.resource_version())
                    }
                }
            }
            None => {
                for obj in store.list(res, ns.as_deref(), labels.as_ref(), fields.as_ref()) {
                    pending.push_back(watch_line("ADDED", &obj));
                }
                (Some(rx), store.resource_version())
            }
        }
    };
    let state = WatchState {
        pending,
        rx,
        res,
        ns,
        labels,
        fields,
        last,
        until: tokio::time::Instant::now() + Duration::from_secs(timeout),
        cancel: cluster.cancel.clone(),
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.pending.pop_front() {
                return Some((Ok::<Bytes, Infallible>(line), st));
            }
            let rx = st.rx.as_mut()?;
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::time::sleep_until(st.until) => return None,
                _ = st.cancel.cancelled() => return None,
            };
            match ev {
                Ok(ev) => {
                    if ev.rv <= st.last {
                        continue;
                    }
                    st.last = ev.rv;
                    if let Some(kind) = visible(&ev, st.res, &st.ns, &st.labels, &st.fields) {
                        st.pending.push_back(watch_line(kind.as_str(), &ev.object));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let gone = ApiError::new(
                        410,
                        "Expired",
                        "the watch fell behind; too old resource version",
                    );
                    st.pending.push_back(watch_line("ERROR", &gone.status()));
                    st.rx = None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("a response"))
}

/// `GET .../pods/NAME/exec?command=...` upgraded to a WebSocket (channel protocol v4/v5).
pub(crate) async fn exec(
    State(cluster): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let pairs = uri.query().map(url_pairs).unwrap_or_default();
    cluster.record(RecordedRequest {
        method: "GET".into(),
        path: uri.path().to_owned(),
        query: pairs.clone(),
        content_type: String::new(),
        body: Value::Null,
    });
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let pod = {
        let store = cluster.store.lock().expect("store lock");
        store.get(resources::pods(), &ns, &name).cloned()
    };
    let Some(pod) = pod else {
        return error_response(&ApiError::not_found(resources::pods(), &name));
    };
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let container = match container {
        Some(c) if names.contains(&c) => c,
        Some(c) => {
            return error_response(&ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return error_response(&ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    if pod["status"]["phase"] != "Running" || !pod["metadata"]["deletionTimestamp"].is_null() {
        return error_response(&ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    if command.is_empty() {
        return error_response(&ApiError::bad_request(
            "you must specify at least 1 command",
        ));
    }
    let Ok(ws) = ws else {
        return error_response(&ApiError::bad_request(
            "exec needs a WebSocket upgrade (v4.channel.k8s.io or v5.channel.k8s.io)",
        ));
    };
    let call = ExecCall {
        namespace: ns,
        pod: name,
        container,
        command,
        pod_object: pod,
    };
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| run_exec(cluster, socket, call))
}

async fn run_exec(cluster: Shared, mut socket: WebSocket, call: ExecCall) {
    let output = (cluster.exec)(&call);
    cluster.exec_calls.lock().expect("exec log").push(call);
    let frame = |channel: u8, data: &[u8]| {
        let mut v = Vec::with_capacity(data.len() + 1);
        v.push(channel);
        v.extend_from_slice(data);
        Message::Binary(v.into())
    };
    let _ = socket.send(frame(1, b"")).await;
    if !output.stdout.is_empty() {
        let _ = socket.send(frame(1, output.stdout.as_bytes())).await;
    }
    if !output.stderr.is_empty() {
        let _ = socket.send(frame(2, output.stderr.as_bytes())).await;
    }
    let status = if output.exit_code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
               "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {}", call_text(&output), output.exit_code),
               "details": {"causes": [{"reason": "ExitCode", "message": output.exit_code.to_string()}]}})
    };
    let _ = socket.send(frame(3, status.to_string().as_bytes())).await;
    let _ = socket.send(Message::Close(None)).await;
}

fn call_text(output: &crate::ExecOutput) -> String {
    output.stderr.lines().next().unwrap_or("").to_owned()
}
