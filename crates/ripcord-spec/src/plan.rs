//! The plan: what a run would do, in which waves, and whether it can fit the RTO.
//!
//! A plan is computed from a [`Validated`] runbook and resolved [`Params`] without touching
//! anything. Secrets appear only as `***`: templates are rendered against redacted values.

use std::time::Duration;

use serde::Serialize;

use crate::catalog::Effect;
use crate::model::{Backoff, OnFailure, Step};
use crate::params::{Params, Source};
use crate::validate::{Phase, StepInfo, Validated};
use crate::values::{HumanDuration, is_template};

/// A preview of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub runbook: RunbookSummary,
    pub params: Vec<PlanParam>,
    pub waves: Vec<Wave>,
    pub steps: Vec<PlanStep>,
    pub estimate: Estimate,
    /// Validation warnings, one line each.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunbookSummary {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub labels: indexmap::IndexMap<String, String>,
    pub content_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto: Option<HumanDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpo: Option<HumanDuration>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanParam {
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: &'static str,
    /// `***` for secrets.
    pub value: serde_json::Value,
    pub source: Source,
}

/// Steps that can run at the same time.
#[derive(Clone, Debug, Serialize)]
pub struct Wave {
    pub index: usize,
    pub phase: Phase,
    pub steps: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanStep {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub step_type: &'static str,
    pub phase: Phase,
    pub wave: usize,
    pub needs: Vec<String>,
    pub effect: Effect,
    pub idempotent: bool,
    /// `with`, rendered where it depends only on params and run; other templates as written.
    pub with: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
    pub timeout: Timing,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
    pub expected: Timing,
    /// timeout x attempts + backoff delays, capped by `deadline`.
    pub worst_case: HumanDuration,
    pub gates: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub on_failure: OnFailure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensate: Option<&'static str>,
    /// Will not run: its `when` is false for these params.
    pub skipped: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct When {
    pub expr: String,
    /// Known at plan time when the expression reads only params and run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<bool>,
}

/// A duration and whether it came from the step type's default.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timing {
    pub value: HumanDuration,
    pub default: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    /// The path that decides the expected duration (by `expected`).
    pub critical_path: Vec<String>,
    pub expected: HumanDuration,
    pub expected_secs: f64,
    /// The path that decides the worst case (timeouts x attempts + backoff).
    pub worst_case_path: Vec<String>,
    pub worst_case: HumanDuration,
    pub worst_case_secs: f64,
    /// Steps whose expected duration is the type's default rather than the runbook's.
    pub defaulted_estimates: usize,
    pub verdict: Verdict,
    /// The verdict in one sentence.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Expected and worst case both fit the RTO.
    Fits,
    /// Expected fits, the worst case does not.
    WorstCaseExceeds,
    /// Even the expected duration exceeds the RTO.
    ExpectedExceeds,
    /// The runbook declares no RTO.
    NoObjective,
}

/// The per-attempt timeout of a step: its own, else (for polling steps) the poll time plus the
/// type's default, else the type's default. Shared with the engine.
pub fn attempt_timeout(step: &Step, info: &StepInfo) -> (Duration, bool) {
    match (&step.timeout, &step.until) {
        (Some(t), _) => (t.0, false),
        (None, Some(until)) => (until.timeout.0 + info.kind.info().default_timeout, true),
        (None, None) => (info.kind.info().default_timeout, true),
    }
}

/// Total attempts of a step (at least one).
pub fn attempts(step: &Step) -> u32 {
    step.retry.as_ref().map_or(1, |r| r.attempts.max(1))
}

/// Build the plan.
pub fn plan(validated: &Validated, params: &Params) -> Plan {
    let runbook = &validated.runbook;
    let env = crate::template::environment();
    let context_json = serde_json::json!({
        "params": params.redacted(),
        "run": {
            "id": "<run-id>",
            "runbook": runbook.metadata.name,
            "version": runbook.metadata.version.to_string(),
            "started_at": "<start>",
            "user": "<user>",
            "dry_run": true,
        },
    });
    // Converted once: every rendered string shares it. Outputs of other steps are unknown
    // before the run: they render as `<id.outputs.name>`, looked up only when used.
    let context = minijinja::context! {
        steps => minijinja::Value::from_object(Placeholders(
            (0..validated.steps.len())
                .map(|i| (validated.step(i).id.clone(), i))
                .collect(),
        )),
        ..minijinja::Value::from(minijinja::value::Serde(&context_json))
    };
    let main_count = runbook.steps.len();
    let mut steps = Vec::with_capacity(validated.steps.len());
    for (i, info) in validated.steps.iter().enumerate() {
        let step = validated.step(i);
        let (timeout, timeout_default) = attempt_timeout(step, info);
        let attempts = attempts(step);
        let backoff_total = step
            .retry
            .as_ref()
            .map_or(Duration::ZERO, |r| r.total_delay());
        let mut worst = timeout
            .saturating_mul(attempts)
            .saturating_add(backoff_total);
        if let Some(deadline) = step.deadline {
            worst = worst.min(deadline.0);
        }
        let when = step.when.as_ref().map(|expr| When {
            expr: expr.clone(),
            value: eval_static(&env, expr, &context),
        });
        let skipped = when.as_ref().is_some_and(|w| w.value == Some(false));
        let (expected, expected_default) = match &step.expected {
            Some(e) => (e.0, false),
            None => (info.kind.info().default_expected, true),
        };
        steps.push(PlanStep {
            id: step.id.clone(),
            name: step.name.clone(),
            step_type: info.kind.name(),
            phase: info.phase,
            wave: validated.dag.wave(i),
            needs: info
                .needs
                .iter()
                .map(|&n| validated.step(n).id.clone())
                .collect(),
            effect: info.effect,
            idempotent: info.idempotent,
            with: render_static(&env, &step.with.0, &context),
            when,
            timeout: Timing {
                value: HumanDuration(timeout),
                default: timeout_default,
            },
            attempts,
            backoff: step.retry.as_ref().filter(|r| r.attempts > 1).map(|r| {
                let kind = match r.backoff {
                    Backoff::Fixed => "fixed",
                    Backoff::Exponential => "exponential",
                };
                format!("{kind} {} (max {})", r.initial, r.max)
            }),
            expected: Timing {
                value: HumanDuration(expected),
                default: expected_default,
            },
            worst_case: HumanDuration(worst),
            gates: step.verify.len(),
            until: step
                .until
                .as_ref()
                .map(|u| format!("{} (every {}, up to {})", u.expr, u.interval, u.timeout)),
            on_failure: step.on_failure,
            compensate: step
                .compensate
                .as_ref()
                .and(info.compensate.as_ref())
                .map(|(kind, _)| kind.name()),
            skipped,
        });
    }

    let waves = waves(&mut steps, main_count);

    let estimate = estimate(validated, &steps, main_count);
    Plan {
        runbook: RunbookSummary {
            name: runbook.metadata.name.clone(),
            version: runbook.metadata.version.to_string(),
            description: runbook.metadata.description.clone(),
            owner: runbook.metadata.owner.clone(),
            labels: runbook.metadata.labels.clone(),
            content_sha256: validated.content_sha256(),
            rto: runbook.objectives.as_ref().and_then(|o| o.rto),
            rpo: runbook.objectives.as_ref().and_then(|o| o.rpo),
        },
        params: runbook
            .params
            .iter()
            .filter_map(|(name, p)| {
                let v = params.0.get(name)?;
                Some(PlanParam {
                    name: name.clone(),
                    param_type: p.param_type.as_str(),
                    value: params.redacted().get(name).cloned().unwrap_or_default(),
                    source: v.source,
                })
            })
            .collect(),
        waves,
        steps,
        estimate,
        warnings: validated
            .warnings
            .iter()
            .map(|d| {
                let at = validated.source.line_col(d.span.start);
                format!("{}:{at}: {}", validated.source.name(), d.message)
            })
            .collect(),
    }
}

/// The waves of main steps, then those of `finally`; each `finally` step's wave is moved past the
/// main ones.
fn waves(steps: &mut [PlanStep], main_count: usize) -> Vec<Wave> {
    let mut waves: Vec<Wave> = Vec::new();
    for (phase, range) in [
        (Phase::Main, 0..main_count),
        (Phase::Finally, main_count..steps.len()),
    ] {
        let base = waves.len();
        for i in range {
            let w = steps[i].wave;
            while waves.len() <= base + w {
                waves.push(Wave {
                    index: waves.len(),
                    phase,
                    steps: Vec::new(),
                });
            }
            waves[base + w].steps.push(steps[i].id.clone());
        }
    }
    for (i, step) in steps.iter_mut().enumerate() {
        if i >= main_count {
            // Finally waves follow the main ones.
            step.wave += waves.iter().filter(|w| w.phase == Phase::Main).count();
        }
    }
    waves
}

fn estimate(validated: &Validated, steps: &[PlanStep], main_count: usize) -> Estimate {
    // Only the main DAG counts toward recovery; `finally` (never needed by main steps) is
    // clean-up after it and weighs nothing here.
    let needs = validated.needs();
    let dag = &validated.dag;
    let live = |i: usize, d: Duration| {
        if steps[i].skipped || i >= main_count {
            Duration::ZERO
        } else {
            d
        }
    };
    let (expected, expected_path) =
        dag.heaviest_path(|i| live(i, steps[i].expected.value.0), &needs);
    let (worst, worst_path) = dag.heaviest_path(|i| live(i, steps[i].worst_case.0), &needs);
    let ids = |path: Vec<usize>| {
        path.into_iter()
            .filter(|&i| i < main_count)
            .map(|i| steps[i].id.clone())
            .collect()
    };
    let rto = validated
        .runbook
        .objectives
        .as_ref()
        .and_then(|o| o.rto)
        .map(|r| r.0);
    let (e, w) = (HumanDuration(expected), HumanDuration(worst));
    let (verdict, message) = match rto {
        None => (
            Verdict::NoObjective,
            format!("no RTO declared; expected {e}, worst case {w}"),
        ),
        Some(rto) if expected > rto => (
            Verdict::ExpectedExceeds,
            format!(
                "expected duration {e} exceeds the RTO of {}: this runbook cannot meet its objective",
                HumanDuration(rto)
            ),
        ),
        Some(rto) if worst > rto => (
            Verdict::WorstCaseExceeds,
            format!(
                "expected {e} fits the RTO of {}, but the worst case {w} (timeouts x attempts + backoff) cannot fit",
                HumanDuration(rto)
            ),
        ),
        Some(rto) => (
            Verdict::Fits,
            format!(
                "expected {e} and worst case {w} both fit the RTO of {}",
                HumanDuration(rto)
            ),
        ),
    };
    Estimate {
        critical_path: ids(expected_path),
        expected: e,
        expected_secs: expected.as_secs_f64(),
        worst_case_path: ids(worst_path),
        worst_case: w,
        worst_case_secs: worst.as_secs_f64(),
        defaulted_estimates: steps[..main_count]
            .iter()
            .filter(|s| s.expected.default)
            .count(),
        verdict,
        message,
    }
}

/// Render every string that reads only params, run and step outputs (as placeholders); keep
/// the others as written.
fn render_static(
    env: &minijinja::Environment<'_>,
    value: &serde_json::Value,
    context: &minijinja::Value,
) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        // Strings that read `result` (or anything unknown before the run) fail to render under
        // strict undefined behaviour and are shown as written.
        J::String(s) if is_template(s) => crate::template::render_json(env, value, context)
            .unwrap_or_else(|_| J::String(s.clone())),
        J::Array(items) => J::Array(
            items
                .iter()
                .map(|i| render_static(env, i, context))
                .collect(),
        ),
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_static(env, v, context)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Evaluate an expression at plan time when it reads only params.
fn eval_static(
    env: &minijinja::Environment<'_>,
    expr: &str,
    context: &minijinja::Value,
) -> Option<bool> {
    let compiled = env.compile_expression(expr).ok()?;
    let refs = compiled.undeclared_variables(false);
    if refs.iter().any(|r| r != "params") {
        return None;
    }
    compiled.eval(context.clone()).ok().map(|v| v.is_true())
}

/// `steps` at plan time: every step's outputs and status as `<id.outputs.name>` placeholders.
#[derive(Debug)]
struct Placeholders(std::collections::HashMap<String, usize>);

impl minijinja::value::Object for Placeholders {
    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let id = key.as_str()?;
        self.0.get(id)?;
        Some(minijinja::Value::from_object(StepPlaceholder(
            id.to_owned(),
        )))
    }
}

#[derive(Debug)]
struct StepPlaceholder(String);

impl minijinja::value::Object for StepPlaceholder {
    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        match key.as_str()? {
            "status" => Some(format!("<{}.status>", self.0).into()),
            "outputs" => Some(minijinja::Value::from_object(OutputPlaceholder(
                self.0.clone(),
            ))),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct OutputPlaceholder(String);

impl minijinja::value::Object for OutputPlaceholder {
    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        Some(format!("<{}.outputs.{}>", self.0, key.as_str()?).into())
    }
}
