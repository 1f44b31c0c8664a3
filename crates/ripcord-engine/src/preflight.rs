//! The preflight: before the first step, ask every executor whether what the run's steps need
//! is there ([`Executor::preflight`]), and collect every problem at once.
//!
//! Inputs are rendered against params and `run` alone: a template that reads another step's
//! outputs cannot be known yet, so that step is checked with `with: None` (its executor checks
//! what it can without it, e.g. the cluster the step will reach).

use std::collections::BTreeMap;

use ripcord_spec::catalog::Family;
use ripcord_spec::params::Params;
use ripcord_spec::validate::Validated;
use ripcord_spec::{StepKind, TypedWith};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::context::to_value;
use crate::executor::Registry;
use crate::preview::{Check, PreflightStep};
use crate::run::render_input;

/// What a preflight found, by family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreflightReport {
    /// Every check made, grouped by the family whose executor made it (`kube`, `s3`, ...).
    pub checks: BTreeMap<String, Vec<Check>>,
}

impl PreflightReport {
    /// The checks that found a problem, with their family.
    pub fn problems(&self) -> impl Iterator<Item = (&str, &Check)> {
        self.checks
            .iter()
            .flat_map(|(family, checks)| checks.iter().map(move |c| (family.as_str(), c)))
            .filter(|(_, c)| c.problem.is_some())
    }

    /// No check found a problem.
    pub fn passed(&self) -> bool {
        self.problems().next().is_none()
    }

    /// How many checks were made.
    pub fn len(&self) -> usize {
        self.checks.values().map(Vec::len).sum()
    }

    /// No check was made (no executor had anything to check).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One step (or compensation) to check, its input rendered where it is static.
struct Planned {
    id: String,
    kind: StepKind,
    with: Option<TypedWith>,
}

/// Run every registered executor's preflight over the steps of its family (main steps,
/// `finally` and compensations); `run` is the template `run` value.
pub async fn preflight(
    validated: &Validated,
    params: &Params,
    run: Json,
    registry: &Registry,
) -> PreflightReport {
    let planned = planned_steps(validated, params, run);
    let mut report = PreflightReport::default();
    for family in Family::ALL {
        let Some(executor) = registry.executor_of(*family) else {
            continue;
        };
        let steps: Vec<PreflightStep<'_>> = planned
            .iter()
            .filter(|p| p.kind.info().family == *family)
            .map(|p| PreflightStep {
                id: &p.id,
                kind: p.kind,
                with: p.with.as_ref(),
            })
            .collect();
        if steps.is_empty() {
            continue;
        }
        let checks = executor.preflight(&steps).await;
        if !checks.is_empty() {
            report.checks.insert(family.as_str().to_owned(), checks);
        }
    }
    report
}

/// Every step and compensation of the runbook, with its input rendered when it reads only
/// `params` and `run`.
fn planned_steps(validated: &Validated, params: &Params, run: Json) -> Vec<Planned> {
    let env = ripcord_spec::template::environment();
    // No `steps` here: strict undefined makes any template that reads one fail to render.
    let context = minijinja::context! {
        params => to_value(Json::Object(params.values())),
        run => to_value(run),
    };
    let mut planned = Vec::new();
    for (i, info) in validated.steps.iter().enumerate() {
        let step = validated.step(i);
        let with = render_input(&env, info.kind, &step.with.0, &context)
            .ok()
            .map(|(typed, _)| typed);
        planned.push(Planned {
            id: step.id.clone(),
            kind: info.kind,
            with,
        });
        if let (Some(c), Some((kind, _))) = (&step.compensate, &info.compensate) {
            let with = render_input(&env, *kind, &c.with.0, &context)
                .ok()
                .map(|(typed, _)| typed);
            planned.push(Planned {
                id: format!("{} (compensation)", step.id),
                kind: *kind,
                with,
            });
        }
    }
    planned
}
