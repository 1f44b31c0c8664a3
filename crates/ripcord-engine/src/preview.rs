//! What a dry run saw, and what a preflight checked: the reports executors give the engine.
//!
//! A dry run must never claim what it did not see. Every step of a dry run ends in exactly one
//! [`Observed`] state, reported by its executor through [`crate::StepContext::dry_run`] (the
//! engine supplies a default when an executor reports nothing: `ran` for a `read` step,
//! `not_simulated` otherwise). A write previewed against the real system carries a [`Diff`]
//! (what it would change) and the [`PreState`] it would act on, so a saved plan can tell when
//! the world drifted before it is applied.
//!
//! A preflight ([`crate::Executor::preflight`]) runs before the first step: each executor checks
//! that what the run's steps need (a cluster context, permissions, a bucket, credentials) is
//! there, and answers [`Check`]s. All problems are reported together, before anything changes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How much of one step a dry run observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// Read-only: it ran for real and its result is real.
    Ran,
    /// A write checked by the real system without being applied (Kubernetes `dryRun=All`, a
    /// Route53 batch checked against the live records, an S3 diff from real listings). Its
    /// result is the predicted one.
    Validated,
    /// Not simulated: its result was not observed (see the report's `reason`). Gates and
    /// conditions that read it are unknown, never passed.
    NotSimulated,
}

impl Observed {
    /// The name as journaled and shown (`ran`, `validated`, `not_simulated`).
    pub fn as_str(self) -> &'static str {
        match self {
            Observed::Ran => "ran",
            Observed::Validated => "validated",
            Observed::NotSimulated => "not_simulated",
        }
    }
}

/// What one dry-run step observed, as journaled in its `step_succeeded` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DryRunReport {
    /// Ran, validated by the server, or not simulated.
    pub observed: Observed,
    /// Why it was not simulated (or a qualification of a validation); shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The result was read from the state earlier simulated writes predict (e.g. a count of a
    /// bucket a dry-run restore would have refilled), not from the live system.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub predicted: bool,
    /// What the write would change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// The live state the write would act on, as observed now (for saved plans' drift checks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_state: Vec<PreState>,
}

impl DryRunReport {
    /// A step that ran for real (a read).
    pub fn ran() -> Self {
        Self::new(Observed::Ran)
    }

    /// A write the real system checked without applying it.
    pub fn validated() -> Self {
        Self::new(Observed::Validated)
    }

    /// A step whose result was not observed, and why.
    pub fn not_simulated(reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::new(Observed::NotSimulated)
        }
    }

    fn new(observed: Observed) -> Self {
        Self {
            observed,
            reason: None,
            predicted: false,
            diff: None,
            pre_state: Vec::new(),
        }
    }

    /// The same report with this diff.
    pub fn with_diff(mut self, diff: Diff) -> Self {
        self.diff = Some(diff);
        self
    }

    /// The same report with these observed pre-states added.
    pub fn with_pre_state(mut self, pre_state: impl IntoIterator<Item = PreState>) -> Self {
        self.pre_state.extend(pre_state);
        self
    }

    /// The same report, marked as read from predicted state.
    pub fn predicted(mut self) -> Self {
        self.predicted = true;
        self
    }
}

/// How many keys, records or fields of each change a [`Diff`] lists by name (the counts are
/// always complete).
pub const DIFF_ITEMS: usize = 10;

/// What a previewed write would change, in terms any reporter can render.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diff {
    /// One line for people, e.g. `30 to copy, 3 to overwrite, 1 to delete`.
    pub summary: String,
    /// The changes by action, in the order they would be made.
    pub changes: Vec<Change>,
}

impl Diff {
    /// A diff of these changes, summarized as `30 to copy, 3 to overwrite` (`no change` when
    /// there are none).
    pub fn new(changes: Vec<Change>) -> Self {
        let summary = if changes.is_empty() {
            "no change".to_owned()
        } else {
            changes
                .iter()
                .map(|c| format!("{} to {}", c.count, c.action))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Self { summary, changes }
    }
}

/// One kind of change of a [`Diff`]: e.g. the objects a sync would delete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// What happens to them: `copy`, `overwrite`, `delete`, `create`, `upsert`, `patch`, ...
    pub action: String,
    /// How many things it happens to.
    pub count: u64,
    /// The first [`DIFF_ITEMS`] of them by name (`key`, `NAME TYPE: old -> new`,
    /// `spec.replicas: 3 -> 5`), in a stable order.
    pub items: Vec<String>,
}

impl Change {
    /// A change of `action` over `items`: all counted, the first [`DIFF_ITEMS`] named.
    pub fn new(action: &str, items: Vec<String>) -> Self {
        Self {
            action: action.to_owned(),
            count: items.len() as u64,
            items: items.into_iter().take(DIFF_ITEMS).collect(),
        }
    }
}

/// The observed state of one thing a write would act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PreState {
    /// What it is: `s3://bucket/prefix/`, `route53 zone Z123 app.example.com. A`,
    /// `apps/v1 Deployment ns/name`.
    pub object: String,
    /// Changes whenever the thing changes: a listing digest, an ETag, a resourceVersion.
    pub fingerprint: String,
    /// For people: `21 objects, 1.2 MiB`, `resourceVersion 4711`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One step as a preflight sees it.
pub struct PreflightStep<'a> {
    /// The step's id.
    pub id: &'a str,
    /// Its type.
    pub kind: ripcord_spec::StepKind,
    /// Its input rendered against params and `run` alone, when it needs nothing else (most
    /// inputs of most runbooks); `None` when it reads other steps' outputs.
    pub with: Option<&'a ripcord_spec::TypedWith>,
}

/// One thing a preflight checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    /// What was checked, e.g. `kube context prod-typo`, `get pods in mcp-system`,
    /// `s3 bucket mcp-artifacts`, `aws profile nosuch`.
    pub target: String,
    /// `None` when the check held; otherwise what is wrong and how to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The steps that need it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
}

impl Check {
    /// A check that held.
    pub fn ok(target: impl Into<String>, steps: Vec<String>) -> Self {
        Self {
            target: target.into(),
            problem: None,
            steps,
        }
    }

    /// A check that found a problem.
    pub fn problem(
        target: impl Into<String>,
        problem: impl Into<String>,
        steps: Vec<String>,
    ) -> Self {
        Self {
            target: target.into(),
            problem: Some(problem.into()),
            steps,
        }
    }
}
