//! `http` and `notify`: one request with reqwest (rustls), its body read under a cap.

use std::future::Future;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, Method, Response, Url};
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::Effect;
use ripcord_spec::catalog::{HttpExpect, HttpWith, NotifyWith};
use serde_json::{Map, Value, json};

use crate::text;

/// Bytes of a response body kept when `max_body` is not given.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
/// The `user-agent` of every request.
pub const USER_AGENT: &str = concat!("ripcord/", env!("CARGO_PKG_VERSION"));
/// Characters of a body quoted in a failure message.
const BODY_EXCERPT: usize = 200;
/// Bytes of a webhook's answer read for a failure message.
const NOTIFY_MAX_BODY: usize = 16 * 1024;

pub(crate) async fn run(
    client: &Client,
    request: &StepRequest<'_>,
    with: &HttpWith,
) -> Result<StepResult, StepError> {
    let method = Method::from_bytes(with.method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| StepError::Input(format!("`{}` is not an HTTP method", with.method)))?;
    let url = parse_url(&with.url)?;
    if with.body.is_some() && with.json.is_some() {
        return Err(StepError::Input("give `body` or `json`, not both".into()));
    }
    let mut headers = Vec::with_capacity(with.headers.len());
    for (name, value) in &with.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| StepError::Input(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            StepError::Input(format!(
                "the value of header `{name}` is not a valid header value"
            ))
        })?;
        headers.push((name, value));
    }
    let what = format!("{method} {url}");
    if request.dry_run && request.effect != Effect::Read {
        request
            .context
            .dry_run(ripcord_engine::DryRunReport::not_simulated(format!(
                "{what} may change something: not sent in a dry run"
            )));
        return Ok(json!({
            "dry_run": true,
            "skipped": "request not sent in a dry run",
            "would_send": {"method": method.as_str(), "url": url.as_str()},
            "status": null,
            "body": "",
            "json": null,
            "headers": {},
        }));
    }

    let mut builder = client.request(method, url);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &with.body {
        builder = builder.body(body.clone());
    }
    if let Some(json) = &with.json {
        // Sets `content-type: application/json` unless a header already gave one.
        builder = builder.json(json);
    }
    let max = usize::try_from(with.max_body.unwrap_or(DEFAULT_MAX_BODY)).unwrap_or(usize::MAX);

    let (status, headers, body, truncated) = cancellable(request, async {
        let response = builder
            .timeout(remaining(request, &what)?)
            .send()
            .await
            .map_err(|e| transport_error(&what, e))?;
        let status = response.status().as_u16();
        let headers = header_map(&response);
        let slack = request.context.redactor().max_len();
        let (body, truncated) = read_capped(response, max.saturating_add(slack))
            .await
            .map_err(|e| transport_error(&what, e))?;
        Ok((status, headers, body, truncated))
    })
    .await?;

    let (text, cut) = request
        .context
        .redactor()
        .redact_then_cut(&text::lossy_prefix(&body), max);
    let truncated = truncated || cut;
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let failures = check(&with.expect, status, &text, parsed.as_ref());
    if !failures.is_empty() {
        let cut = if truncated {
            format!(" (cut at max_body = {max} bytes)")
        } else {
            String::new()
        };
        return Err(StepError::failed(format!(
            "{what}: {}; status {status}, body{cut}: {}",
            failures.join("; "),
            excerpt(&text)
        )));
    }
    Ok(json!({
        "status": status,
        "body": text,
        "json": parsed,
        "headers": headers,
        "truncated": truncated,
    }))
}

pub(crate) async fn notify(
    client: &Client,
    request: &StepRequest<'_>,
    with: &NotifyWith,
) -> Result<StepResult, StepError> {
    let url = parse_url(&with.url)?;
    let mut payload = Map::new();
    payload.insert("text".into(), Value::String(with.message.clone()));
    payload.insert("run".into(), Value::String(request.run_id.to_owned()));
    payload.insert("step".into(), Value::String(request.step_id.to_owned()));
    for (k, v) in &with.fields {
        payload.insert(k.clone(), v.clone());
    }
    let payload = Value::Object(payload);
    if request.dry_run {
        request
            .context
            .dry_run(ripcord_engine::DryRunReport::not_simulated(
                "notifications are not sent in a dry run",
            ));
        return Ok(json!({
            "dry_run": true,
            "skipped": "notification not sent in a dry run",
            "status": null,
            "would_send": payload,
        }));
    }
    let what = format!("POST {url}");
    let (status, body, truncated) = cancellable(request, async {
        let response = client
            .post(url)
            .json(&payload)
            .timeout(remaining(request, &what)?)
            .send()
            .await
            .map_err(|e| transport_error(&what, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok((status, Vec::new(), false));
        }
        // Only for the error message; a broken body does not hide the status.
        let (body, truncated) = read_capped(response, NOTIFY_MAX_BODY)
            .await
            .unwrap_or_default();
        Ok((status, body, truncated))
    })
    .await?;
    if !status.is_success() {
        let mut text = text::lossy_prefix(&body);
        if truncated {
            text.push('…');
        }
        return Err(StepError::failed(format!(
            "webhook {what} answered {status}{}",
            if text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", excerpt(&text))
            }
        )));
    }
    Ok(json!({"status": status.as_u16()}))
}

fn parse_url(url: &str) -> Result<Url, StepError> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| StepError::Input(format!("invalid URL `{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(StepError::Input(format!(
            "`{url}` is not an http:// or https:// URL"
        )));
    }
    Ok(parsed)
}

/// The per-request timeout: what is left of the attempt.
fn remaining(request: &StepRequest<'_>, what: &str) -> Result<std::time::Duration, StepError> {
    let left = request.remaining();
    if left.is_zero() {
        Err(StepError::failed(format!(
            "{what}: no time left before the step's deadline"
        )))
    } else {
        Ok(left)
    }
}

/// Run `work` unless the step is cancelled first.
async fn cancellable<T>(
    request: &StepRequest<'_>,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    tokio::select! {
        r = work => r,
        () = request.cancel.cancelled() => Err(StepError::Cancelled),
    }
}

fn transport_error(what: &str, error: reqwest::Error) -> StepError {
    let timed_out = error.is_timeout();
    // The URL is already in `what`.
    let error = error.without_url();
    let cause = text::error_chain(&error);
    if timed_out {
        StepError::failed(format!(
            "{what}: timed out at the step's deadline ({cause})"
        ))
    } else {
        StepError::failed(format!("{what}: {cause}"))
    }
}

/// Response headers, lower-case name -> value (repeated headers joined with `, `).
fn header_map(response: &Response) -> Value {
    let mut map = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                map.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    Value::Object(map)
}

/// The first `max` bytes of the body; stops reading (and drops the connection) beyond that.
async fn read_capped(
    mut response: Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Every failed expectation, as "expected X, got Y".
fn check(expect: &HttpExpect, status: u16, body: &str, json: Option<&Value>) -> Vec<String> {
    let mut failures = Vec::new();
    if expect.status.is_empty() {
        if !(200..300).contains(&status) {
            failures.push(format!("expected a 2xx status, got {status}"));
        }
    } else if !expect.status.contains(&status) {
        let wanted = expect
            .status
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        failures.push(format!("expected status {wanted}, got {status}"));
    }
    if let Some(needle) = &expect.body_contains
        && !body.contains(needle.as_str())
    {
        failures.push(format!(
            "expected the body to contain `{}`",
            text::clip(needle, BODY_EXCERPT)
        ));
    }
    for (pointer, expected) in &expect.json {
        let Some(json) = json else {
            failures.push(format!(
                "expected JSON with {pointer} = {}, but the body is not JSON",
                short(expected)
            ));
            continue;
        };
        let found = if pointer.is_empty() || pointer.starts_with('/') {
            json.pointer(pointer)
        } else {
            // Be forgiving about the leading slash: `status` means `/status`.
            json.pointer(&format!("/{pointer}"))
        };
        match found {
            None => failures.push(format!(
                "expected {pointer} = {}, found nothing at {pointer}",
                short(expected)
            )),
            Some(found) if !same(expected, found) => failures.push(format!(
                "expected {pointer} = {}, found {}",
                short(expected),
                short(found)
            )),
            Some(_) => {}
        }
    }
    failures
}

/// JSON equality where `1` equals `1.0`, and a string equals a number or boolean that prints
/// the same (a templated expectation such as `"{{ params.replicas }}"` may render to text).
fn same(expected: &Value, found: &Value) -> bool {
    match (expected, found) {
        (Value::Number(a), Value::Number(b)) => {
            a == b || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
        }
        (Value::String(s), Value::Number(_) | Value::Bool(_)) => {
            s.as_str() == found.to_string().as_str()
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => expected == found,
    }
}

fn short(value: &Value) -> String {
    text::clip(&value.to_string(), BODY_EXCERPT)
}

fn excerpt(body: &str) -> String {
    if body.is_empty() {
        "(empty)".into()
    } else {
        text::clip(body, BODY_EXCERPT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_equality() {
        assert!(same(&json!(3), &json!(3.0)));
        assert!(same(&json!("3"), &json!(3)));
        assert!(same(&json!("true"), &json!(true)));
        assert!(same(&json!({"a": [1]}), &json!({"a": [1.0]})));
        assert!(!same(&json!(3), &json!("3x")));
        assert!(!same(&json!("ok"), &json!("OK")));
        assert!(!same(&json!(null), &json!(false)));
    }

    #[test]
    fn checks_name_what_was_expected() {
        let expect = HttpExpect {
            status: vec![200],
            body_contains: Some("ready".into()),
            json: [
                ("/a/b".to_owned(), json!(1)),
                ("/missing".to_owned(), json!("x")),
            ]
            .into_iter()
            .collect(),
        };
        let body = json!({"a": {"b": 2}});
        let failures = check(&expect, 503, &body.to_string(), Some(&body));
        assert_eq!(
            failures,
            [
                "expected status 200, got 503",
                "expected the body to contain `ready`",
                "expected /a/b = 1, found 2",
                "expected /missing = \"x\", found nothing at /missing",
            ]
        );
        assert!(check(&HttpExpect::default(), 204, "", None).is_empty());
    }
}
