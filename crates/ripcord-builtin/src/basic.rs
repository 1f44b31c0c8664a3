//! `sleep` and `assert`.

use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{AssertWith, SleepWith};
use ripcord_spec::values::Templated;
use serde_json::{Value, json};
use tokio::time::Instant;

pub(crate) async fn sleep(
    request: &StepRequest<'_>,
    with: &SleepWith,
) -> Result<StepResult, StepError> {
    let duration = match &with.duration {
        Templated::Value(d) => d.0,
        Templated::Template(t) => {
            return Err(StepError::Input(format!(
                "`duration` is still a template after rendering: `{t}`"
            )));
        }
    };
    if request.dry_run {
        // A sleep changes nothing and its result is all there is: nothing to simulate.
        request.context.dry_run(ripcord_engine::DryRunReport::ran());
        return Ok(json!({"dry_run": true}));
    }
    let wake = Instant::now() + duration;
    if wake > Instant::from_std(request.deadline) {
        // It can never succeed: say so now rather than at the deadline.
        return Err(StepError::failed(format!(
            "a sleep of {} does not fit in the step's timeout ({} left)",
            humanize(duration),
            humanize(request.remaining())
        )));
    }
    tokio::select! {
        () = tokio::time::sleep_until(wake) => Ok(json!({})),
        () = request.cancel.cancelled() => Err(StepError::Cancelled),
    }
}

fn humanize(d: std::time::Duration) -> String {
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ripcord_spec::values::HumanDuration(std::time::Duration::from_millis(millis)).to_string()
}

pub(crate) fn assert(
    request: &StepRequest<'_>,
    with: &AssertWith,
) -> Result<StepResult, StepError> {
    let value = request
        .context
        .eval(&with.expr)
        .map_err(|e| StepError::failed(format!("cannot evaluate `{}`: {e}", with.expr)))?;
    if truthy(&value) {
        Ok(json!({"value": value}))
    } else {
        Err(StepError::Failed(match &with.message {
            Some(message) => message.clone(),
            None => format!("assertion failed: {}", with.expr),
        }))
    }
}

/// true, a non-zero number, a non-empty string, list or map.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness() {
        for v in [
            json!(true),
            json!(1),
            json!(-0.5),
            json!("x"),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(truthy(&v), "{v}");
        }
        for v in [
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
            json!(null),
        ] {
            assert!(!truthy(&v), "{v}");
        }
    }
}
