//! Templates (`{{ ... }}` in strings) and expressions (`when`, `verify`, `until`, `assert`).
//!
//! Both are minijinja. This module owns the one environment definition shared by validation
//! (syntax and references, checked statically) and the engine (rendering), so a template that
//! validates is a template that renders the same way.

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};

/// Variables a template may name at its top level.
pub const ROOTS: &[&str] = &["params", "steps", "run", "result"];
/// Fields of `run`.
pub const RUN_FIELDS: &[&str] = &["id", "runbook", "version", "started_at", "user", "dry_run"];
/// Fields of `steps.<id>`.
pub const STEP_FIELDS: &[&str] = &["outputs", "status"];
/// Values of `steps.<id>.status` (as seen by later steps and `finally`).
pub const STEP_STATUSES: &[&str] = &[
    "pending",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "compensated",
];
/// Global functions templates may call: minijinja's and ours.
pub const FUNCTIONS: &[&str] = &["range", "dict", "namespace", "debug", "now"];

/// The environment templates run in: strict about undefined values, with fuel so a template
/// cannot loop forever.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(1_000_000));
    env.set_recursion_limit(64);
    env.add_function("now", now);
    env.add_filter("age_seconds", age_seconds);
    env.add_filter("fromjson", fromjson);
    env
}

/// `text | fromjson`: parse JSON text (e.g. a command's stdout) into a value.
fn fromjson(text: &str) -> Result<minijinja::Value, minijinja::Error> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("not JSON: {e}"),
        )
    })?;
    Ok(minijinja::Value::from(minijinja::value::Serde(value)))
}

/// `now()`: the current time, RFC 3339 UTC (for freshness checks such as the RPO).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `ts | age_seconds`: seconds from an RFC 3339 timestamp (or `YYYYMMDD-HHMMSS`, the DR plan's
/// backup naming) until now.
fn age_seconds(ts: &str) -> Result<i64, minijinja::Error> {
    let parsed = chrono::DateTime::parse_from_rfc3339(ts.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(ts.trim(), "%Y%m%d-%H%M%S").map(|t| t.and_utc())
        })
        .map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`{ts}` is not an RFC 3339 timestamp or YYYYMMDD-HHMMSS"),
            )
        })?;
    Ok((chrono::Utc::now() - parsed).num_seconds())
}

/// Render a JSON value's strings. A string that is exactly one `{{ expression }}` keeps the
/// expression's type (`replicas: "{{ params.replicas }}"` gives a number); other strings render
/// to text.
pub fn render_json(
    env: &Environment<'_>,
    value: &serde_json::Value,
    context: &minijinja::Value,
) -> Result<serde_json::Value, minijinja::Error> {
    use serde_json::Value as J;
    Ok(match value {
        J::String(s) if crate::values::is_template(s) => {
            if let Some(expr) = single_expression(s) {
                let v = env.compile_expression(expr)?.eval(context.clone())?;
                serde_json::to_value(&v).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.to_string())
                })?
            } else {
                J::String(env.render_str(s, context.clone())?)
            }
        }
        J::Array(items) => J::Array(
            items
                .iter()
                .map(|i| render_json(env, i, context))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(env, v, context)?)))
                .collect::<Result<_, minijinja::Error>>()?,
        ),
        other => other.clone(),
    })
}

/// `"{{ expr }}"` -> `Some("expr")` when the string is nothing but one expression.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then_some(inner)
}

/// A syntax error inside a template, with the byte range in the template text when known.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub range: Option<std::ops::Range<usize>>,
}

impl SyntaxError {
    fn from_minijinja(err: &minijinja::Error, text: &str) -> Self {
        let message = err
            .detail()
            .map_or_else(|| err.kind().to_string(), str::to_owned);
        let range = err.range().or_else(|| {
            // Fall back to the start of the reported line.
            let line = err.line()?;
            let start = text
                .split_inclusive('\n')
                .take(line.saturating_sub(1))
                .map(str::len)
                .sum::<usize>();
            Some(start..start)
        });
        Self { message, range }
    }
}

/// The dotted variable paths a template or expression reads, e.g. `steps.latest.outputs.prefix`.
pub type References = BTreeSet<String>;

/// Parse a string that may hold templates; return what it references.
pub fn template_references(env: &Environment<'_>, text: &str) -> Result<References, SyntaxError> {
    if !crate::values::is_template(text) {
        return Ok(References::new());
    }
    let template = env
        .template_from_str(text)
        .map_err(|e| SyntaxError::from_minijinja(&e, text))?;
    Ok(template.undeclared_variables(true).into_iter().collect())
}

/// Parse an expression (no braces); return what it references.
pub fn expression_references(env: &Environment<'_>, expr: &str) -> Result<References, SyntaxError> {
    if expr.trim().is_empty() {
        return Err(SyntaxError {
            message: "empty expression".into(),
            range: None,
        });
    }
    if expr.trim_start().starts_with("{{") {
        return Err(SyntaxError {
            message: "expressions are written without `{{ }}`".into(),
            range: Some(0..2),
        });
    }
    let compiled = env
        .compile_expression(expr)
        .map_err(|e| SyntaxError::from_minijinja(&e, expr))?;
    Ok(compiled.undeclared_variables(true).into_iter().collect())
}

/// A reference split into its root and the rest: `steps.a.outputs.b` -> ("steps", ["a","outputs","b"]).
pub fn split_reference(reference: &str) -> (&str, Vec<&str>) {
    let mut parts = reference.split('.');
    let root = parts.next().unwrap_or("");
    (root, parts.collect())
}

/// Whether a string is a valid name for use after a dot in templates (`steps.<id>`, `params.<x>`).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_references() {
        let env = environment();
        let refs = template_references(
            &env,
            "s3://{{ params.bucket }}/{{ steps.latest.outputs.prefix | trim }}/",
        )
        .unwrap();
        assert!(refs.contains("params.bucket"));
        assert!(refs.contains("steps.latest.outputs.prefix"));
    }

    #[test]
    fn syntax_errors_have_a_range() {
        let env = environment();
        let err = template_references(&env, "a {{ params.x ").unwrap_err();
        assert!(err.range.is_some(), "{err:?}");
        let err = expression_references(&env, "result.count >").unwrap_err();
        assert!(!err.message.is_empty());
    }

    #[test]
    fn single_expressions_keep_their_type() {
        let env = environment();
        let ctx = minijinja::Value::from(minijinja::value::Serde(
            serde_json::json!({"params": {"n": 3, "name": "x"}}),
        ));
        let v = serde_json::json!({"replicas": "{{ params.n }}", "label": "app-{{ params.name }}"});
        let out = render_json(&env, &v, &ctx).unwrap();
        assert_eq!(out, serde_json::json!({"replicas": 3, "label": "app-x"}));
    }

    #[test]
    fn plain_strings_are_not_parsed() {
        let env = environment();
        assert!(
            template_references(&env, "no templates here }}")
                .unwrap()
                .is_empty()
        );
    }
}
