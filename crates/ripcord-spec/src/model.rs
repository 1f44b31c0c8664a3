//! The runbook language v1 as Rust types.
//!
//! These types are the single source of truth for the language: the loader decodes into them,
//! the JSON Schema is generated from them and the engine consumes them. Step inputs (`with`)
//! are typed per step type in [`crate::catalog`].

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::StepWith;
use crate::values::{HumanDuration, Version};

/// The only `apiVersion` this release reads.
pub const API_VERSION: &str = "ripcord/v1";
/// The only `kind` this release reads.
pub const KIND: &str = "Runbook";

/// A versioned recovery procedure: a DAG of typed steps with gates, timing and objectives.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Always `ripcord/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Runbook`.
    pub kind: String,
    pub metadata: Metadata,
    /// Recovery objectives the plan and the timeline measure against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Objectives>,
    /// Inputs given with `-p name=value`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub params: IndexMap<String, Param>,
    /// The DAG: each step runs once everything it `needs` has succeeded.
    pub steps: Vec<Step>,
    /// Steps that always run at the end, after success, failure or cancellation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<Step>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Lower-case name with dashes, e.g. `data-recovery`.
    pub name: String,
    /// Semantic version of this runbook, e.g. `1.2.0`.
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Team or person who owns the procedure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Free-form labels; `severity` (P0..P3) and `scenario` are shown in plans and timelines.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Recovery time objective, e.g. `15m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<HumanDuration>,
    /// Recovery point objective, e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<HumanDuration>,
}

/// A runbook input.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    #[serde(rename = "type")]
    pub param_type: ParamType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Used when the parameter is not given. Not allowed for secrets: pass them at run time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// The allowed values.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<serde_json::Value>>,
    /// A required parameter without a default must be given with `-p`.
    #[serde(default)]
    pub required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Int,
    Bool,
    /// A human duration such as `90s` or `5m`.
    Duration,
    /// A comma-separated list on the command line, a YAML list in defaults.
    List,
    /// A string that is redacted everywhere it could be shown or stored.
    Secret,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
            ParamType::List => "list",
            ParamType::Secret => "secret",
        }
    }
}

/// One node of the DAG.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the runbook: letters, digits and `_` (it is used as `steps.<id>` in templates).
    pub id: String,
    /// A step type from the catalog, e.g. `s3.sync` or `kube.nodes.drain`.
    #[serde(rename = "type")]
    pub step_type: String,
    /// One line shown in plans and timelines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Steps that must succeed (or be skipped) before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Inputs of the step type; strings may hold templates.
    #[serde(default)]
    pub with: StepWith,
    /// Named values for later steps: `name: "{{ result.field }}"`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, String>,
    /// Gates checked after every attempt; a failed gate fails the attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<Check>,
    /// Re-run the action until a condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    /// Limit for one attempt. Defaults to the step type's default timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Limit for the whole step: every attempt, poll and backoff delay together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<HumanDuration>,
    /// How long the step usually takes; used for the plan's RTO estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<HumanDuration>,
    /// An expression; the step is skipped when it is false, e.g. `params.force`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// What a failure of this step does to the run.
    #[serde(default, skip_serializing_if = "OnFailure::is_abort")]
    pub on_failure: OnFailure,
    /// Undo action run (in reverse order) when the run fails or is cancelled after this step
    /// succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<Box<Compensation>>,
}

/// A gate: an expression over `result`, `params`, `steps` and `run` that must be true.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A minijinja expression without braces, e.g. `result.count >= params.min_objects`.
    pub expr: String,
    /// Shown when the check fails; may hold templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Poll: repeat the action every `interval` until `expr` is true or `timeout` passes.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Until {
    pub expr: String,
    #[serde(default = "Until::default_interval")]
    pub interval: HumanDuration,
    pub timeout: HumanDuration,
}

impl Until {
    fn default_interval() -> HumanDuration {
        HumanDuration(Duration::from_secs(5))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, including the first.
    pub attempts: u32,
    #[serde(default)]
    pub backoff: Backoff,
    /// Delay before the second attempt.
    #[serde(default = "Retry::default_initial")]
    pub initial: HumanDuration,
    /// Upper bound for one delay.
    #[serde(default = "Retry::default_max")]
    pub max: HumanDuration,
    /// Randomise each delay by up to ±this fraction (0.0..=1.0) so parallel retries spread out.
    #[serde(default)]
    pub jitter: f64,
}

impl Retry {
    fn default_initial() -> HumanDuration {
        HumanDuration(Duration::from_secs(1))
    }
    fn default_max() -> HumanDuration {
        HumanDuration(Duration::from_secs(60))
    }

    /// The delay before attempt `n + 1` (n starting at 1), without jitter.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let initial = self.initial.0;
        let delay = match self.backoff {
            Backoff::Fixed => initial,
            Backoff::Exponential => {
                let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
                initial.saturating_mul(factor)
            }
        };
        delay.min(self.max.0)
    }

    /// Sum of all delays between attempts, without jitter.
    pub fn total_delay(&self) -> Duration {
        (1..self.attempts.max(1))
            .map(|n| self.delay_after(n))
            .fold(Duration::ZERO, Duration::saturating_add)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Fixed,
    #[default]
    Exponential,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop scheduling new steps, compensate, run `finally`.
    #[default]
    Abort,
    /// Record the failure and let dependants run.
    Continue,
}

impl OnFailure {
    fn is_abort(&self) -> bool {
        *self == OnFailure::Abort
    }
}

/// The undo action of a step: a step without id, needs or gates of its own.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compensation {
    #[serde(rename = "type")]
    pub step_type: String,
    #[serde(default)]
    pub with: StepWith,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}
