//! The step catalog: every step type, its typed `with` input, its effect and whether re-running
//! it is safe.
//!
//! The whole catalog is declared here, in the pure language crate, so that `validate` and `plan`
//! know every type even before (or without) the executor crate that runs it.

use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::Code;
use crate::values::{HumanDuration, Templated};

/// What a step does to the world; decides approvals, dry runs and warnings.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Observes only; always safe, runs for real in a dry run.
    Read,
    /// Changes state that can be put back.
    Write,
    /// Destroys or overwrites state that cannot be put back without a restore point.
    Irreversible,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::Irreversible => "irreversible",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The executor family a step type belongs to (the part of its name before the first dot).
///
/// A new family needs a variant here, its name in [`Family::as_str`] and a rule in
/// `family_kinds!` below (which gives it its `...Kind` enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Core,
    Kube,
    S3,
    Route53,
}

impl Family {
    pub const ALL: &'static [Family] = &[Family::Core, Family::Kube, Family::S3, Family::Route53];

    /// The family's name as written in step types (`kube.get`) and in `--limit kube=4`: the one
    /// spelling every crate uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Core => "core",
            Family::Kube => "kube",
            Family::S3 => "s3",
            Family::Route53 => "route53",
        }
    }

    /// The family named `name` (`core`, `kube`, `s3`, `route53`).
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Static facts about a step type.
#[derive(Clone, Copy, Debug)]
pub struct StepTypeInfo {
    pub name: &'static str,
    pub family: Family,
    /// The effect when `with` does not say otherwise (see [`StepKind::effect`]).
    pub effect: Effect,
    /// Re-running after an interrupted attempt is safe.
    pub idempotent: bool,
    /// Per-attempt timeout when the step gives none.
    pub default_timeout: Duration,
    /// Planning estimate when the step gives no `expected`.
    pub default_expected: Duration,
    pub summary: &'static str,
    /// Names of the outputs (`result.*`) the executor returns.
    pub result_fields: &'static [&'static str],
    /// Fields a dry-run result may carry besides (some of) `result_fields`, e.g. `skipped` when
    /// nothing was done. Runbooks cannot read them: a real run does not return them.
    pub dry_run_fields: &'static [&'static str],
}

/// The input of a step, as written (templates unrendered). Typed by [`StepKind::decode`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepWith(pub serde_json::Value);

impl JsonSchema for StepWith {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepWith".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "Inputs of the step type; the fields depend on `type`."
        })
    }
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

macro_rules! catalog {
    ($(
        $variant:ident($with:ty) = $name:literal {
            family: $family:ident, effect: $effect:ident, idempotent: $idem:literal,
            timeout: $timeout:expr, expected: $expected:expr,
            result: [$($field:literal),* $(,)?],
            $(dry_run: [$($dry:literal),* $(,)?],)?
            summary: $summary:literal $(,)?
        }
    ),* $(,)?) => {
        /// Every step type of the language.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum StepKind { $($variant),* }

        /// A step's `with`, decoded into the type's own struct.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum TypedWith { $($variant($with)),* }

        impl StepKind {
            pub const ALL: &'static [StepKind] = &[$(StepKind::$variant),*];

            pub fn from_name(name: &str) -> Option<StepKind> {
                match name { $($name => Some(StepKind::$variant),)* _ => None }
            }

            pub fn info(self) -> &'static StepTypeInfo {
                match self {
                    $(StepKind::$variant => { const INFO: StepTypeInfo = StepTypeInfo {
                        name: $name,
                        family: Family::$family,
                        effect: Effect::$effect,
                        idempotent: $idem,
                        default_timeout: $timeout,
                        default_expected: $expected,
                        summary: $summary,
                        result_fields: &[$($field),*],
                        dry_run_fields: &[$($($dry),*)?],
                    }; &INFO })*
                }
            }

            /// Decode a `with` value with any deserializer (the YAML node decoder at validation,
            /// `serde_json::Value` after rendering at run time).
            pub fn decode<'de, D: serde::Deserializer<'de>>(self, d: D) -> Result<TypedWith, D::Error> {
                match self {
                    $(StepKind::$variant => <$with>::deserialize(d).map(TypedWith::$variant),)*
                }
            }

            /// JSON Schema of this type's `with`.
            pub fn with_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self {
                    $(StepKind::$variant => generator.subschema_for::<$with>(),)*
                }
            }
        }

        impl TypedWith {
            fn input(&self) -> &dyn WithInput {
                match self { $(TypedWith::$variant(w) => w),* }
            }
        }

        family_kinds!(@sort [] [] [] [] $($family $variant)*);
    };
}

/// Sorts the catalog's rows by family into one enum per family (`CoreKind`, `KubeKind`, ...), so
/// that an executor's `match` over its family's kinds is checked by the compiler: a new row
/// without a dispatch arm does not build. macro_rules cannot compare identifiers, hence one
/// `@sort` rule per family.
macro_rules! family_kinds {
    (@sort [$($c:ident)*] [$($k:ident)*] [$($s:ident)*] [$($r:ident)*] Core $v:ident $($rest:tt)*) => {
        family_kinds!(@sort [$($c)* $v] [$($k)*] [$($s)*] [$($r)*] $($rest)*);
    };
    (@sort [$($c:ident)*] [$($k:ident)*] [$($s:ident)*] [$($r:ident)*] Kube $v:ident $($rest:tt)*) => {
        family_kinds!(@sort [$($c)*] [$($k)* $v] [$($s)*] [$($r)*] $($rest)*);
    };
    (@sort [$($c:ident)*] [$($k:ident)*] [$($s:ident)*] [$($r:ident)*] S3 $v:ident $($rest:tt)*) => {
        family_kinds!(@sort [$($c)*] [$($k)*] [$($s)* $v] [$($r)*] $($rest)*);
    };
    (@sort [$($c:ident)*] [$($k:ident)*] [$($s:ident)*] [$($r:ident)*] Route53 $v:ident $($rest:tt)*) => {
        family_kinds!(@sort [$($c)*] [$($k)*] [$($s)*] [$($r)* $v] $($rest)*);
    };
    (@sort [$($c:ident)*] [$($k:ident)*] [$($s:ident)*] [$($r:ident)*]) => {
        family_kinds!(@one Core CoreKind [$($c)*]);
        family_kinds!(@one Kube KubeKind [$($k)*]);
        family_kinds!(@one S3 S3Kind [$($s)*]);
        family_kinds!(@one Route53 Route53Kind [$($r)*]);

        /// A step type as the kind of its family: what an executor serving several families
        /// (`s3` and `route53`) matches on.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FamilyKind {
            Core(CoreKind),
            Kube(KubeKind),
            S3(S3Kind),
            Route53(Route53Kind),
        }

        impl StepKind {
            /// This type as the kind of its family.
            pub fn family_kind(self) -> FamilyKind {
                match self {
                    $(StepKind::$c => FamilyKind::Core(CoreKind::$c),)*
                    $(StepKind::$k => FamilyKind::Kube(KubeKind::$k),)*
                    $(StepKind::$s => FamilyKind::S3(S3Kind::$s),)*
                    $(StepKind::$r => FamilyKind::Route53(Route53Kind::$r),)*
                }
            }
        }

        impl Family {
            /// The family's step types, in catalog order.
            pub fn kinds(self) -> &'static [StepKind] {
                match self {
                    Family::Core => &[$(StepKind::$c),*],
                    Family::Kube => &[$(StepKind::$k),*],
                    Family::S3 => &[$(StepKind::$s),*],
                    Family::Route53 => &[$(StepKind::$r),*],
                }
            }
        }
    };
    (@one $family:ident $fkind:ident [$($v:ident)*]) => {
        #[doc = concat!("The step types of [`Family::", stringify!($family), "`]; executors `match` on it")]
        /// exhaustively (`CoreKind::try_from(request.kind)`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $fkind { $($v),* }

        impl $fkind {
            pub const FAMILY: Family = Family::$family;
            pub const ALL: &'static [$fkind] = &[$($fkind::$v),*];

            pub fn kind(self) -> StepKind {
                match self { $($fkind::$v => StepKind::$v),* }
            }
        }

        impl From<$fkind> for StepKind {
            fn from(kind: $fkind) -> StepKind {
                kind.kind()
            }
        }

        impl TryFrom<StepKind> for $fkind {
            /// The kind given back: it belongs to another family.
            type Error = StepKind;

            fn try_from(kind: StepKind) -> Result<Self, StepKind> {
                match kind.family_kind() {
                    FamilyKind::$family(k) => Ok(k),
                    _ => Err(kind),
                }
            }
        }
    };
}

impl StepKind {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The effect of a step of this type with this input (e.g. `s3.sync` with `delete: true`
    /// is irreversible, an `http` GET is a read).
    pub fn effect(self, with: Option<&TypedWith>) -> Effect {
        with.map_or(self.info().effect, |w| w.input().effect(self.info().effect))
    }

    /// Whether re-running this step after an interruption is safe, given its input.
    pub fn idempotent(self, with: Option<&TypedWith>) -> bool {
        with.map_or(self.info().idempotent, |w| {
            w.input().idempotent(self.info().idempotent)
        })
    }

    /// Decode a rendered `with` (run time).
    pub fn decode_json(self, value: serde_json::Value) -> Result<TypedWith, serde_json::Error> {
        self.decode(value)
    }

    /// The name of the closest known step type, for "did you mean".
    pub fn suggest(name: &str) -> Option<&'static str> {
        crate::suggest::closest(name, StepKind::ALL.iter().map(|k| k.name()))
    }
}

/// `with` fields that hold expressions (evaluated by the step), not templates to render.
pub fn expression_fields(kind: StepKind) -> &'static [&'static str] {
    match kind {
        StepKind::Assert => &["expr"],
        _ => &[],
    }
}

impl TypedWith {
    /// Extract a type's struct: `with.get::<ShellWith>()`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        (self.input() as &dyn std::any::Any).downcast_ref::<T>()
    }
}

/// Per-input refinements of the type's static facts, and the rules of each type's `with` that
/// serde cannot express. Implemented beside each `with` struct.
trait WithInput: std::any::Any {
    fn effect(&self, default: Effect) -> Effect {
        default
    }
    fn idempotent(&self, default: bool) -> bool {
        default
    }
    /// What is wrong with this input beyond its shape (one-of fields, URL forms); `step_type`
    /// names the type in messages. Most types have no such rule.
    fn check(&self, step_type: &'static str) -> Vec<WithProblem> {
        let _ = step_type;
        Vec::new()
    }
}

catalog! {
    // ---- core ----
    Shell(ShellWith) = "shell" {
        family: Core, effect: Write, idempotent: false, timeout: secs(300), expected: secs(30),
        result: ["stdout", "stderr", "exit_code", "truncated"],
        dry_run: ["dry_run", "skipped"],
        summary: "Run a program (argv, no shell unless you name one); stdout/stderr become outputs.",
    },
    Http(HttpWith) = "http" {
        family: Core, effect: Read, idempotent: true, timeout: secs(30), expected: secs(2),
        result: ["status", "body", "json", "headers", "truncated"],
        dry_run: ["dry_run", "skipped", "would_send"],
        summary: "Send an HTTP request and check its status, body and JSON fields.",
    },
    Sleep(SleepWith) = "sleep" {
        family: Core, effect: Read, idempotent: true, timeout: secs(3600), expected: secs(0),
        result: [],
        dry_run: ["dry_run"],
        summary: "Wait for a fixed duration (e.g. to let caches expire).",
    },
    Assert(AssertWith) = "assert" {
        family: Core, effect: Read, idempotent: true, timeout: secs(10), expected: secs(0),
        result: ["value"],
        summary: "Fail unless an expression over params and earlier outputs is true.",
    },
    Approval(ApprovalWith) = "approval" {
        family: Core, effect: Read, idempotent: true, timeout: secs(1800), expected: secs(60),
        result: ["approved_by", "approved_at", "via"],
        dry_run: ["dry_run"],
        summary: "Wait for a person: a prompt on a TTY, or `ripcord approve RUN STEP --by NAME`.",
    },
    Notify(NotifyWith) = "notify" {
        family: Core, effect: Write, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["status"],
        dry_run: ["dry_run", "skipped", "would_send"],
        summary: "POST a JSON message to a webhook (chat, status page, pager).",
    },
    // ---- kube ----
    KubePodsDelete(PodsDeleteWith) = "kube.pods.delete" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(120), expected: secs(5),
        result: ["deleted"],
        summary: "Delete pods by name or label selector (force = grace period 0).",
    },
    KubePodsWaitReady(PodsWaitReadyWith) = "kube.pods.wait_ready" {
        family: Kube, effect: Read, idempotent: true, timeout: secs(300), expected: secs(30),
        result: ["ready", "pods"],
        summary: "Watch pods until at least `min_ready` match the selector and are Ready.",
    },
    KubeNodesCordon(NodeWith) = "kube.nodes.cordon" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["unschedulable"],
        summary: "Mark a node unschedulable.",
    },
    KubeNodesDrain(DrainWith) = "kube.nodes.drain" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(600), expected: secs(90),
        result: ["evicted", "skipped"],
        summary: "Evict a node's pods through the Eviction API, honouring PodDisruptionBudgets.",
    },
    KubeNodesUncordon(NodeWith) = "kube.nodes.uncordon" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["unschedulable"],
        summary: "Mark a node schedulable again.",
    },
    KubeRolloutRestart(WorkloadWith) = "kube.rollout.restart" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["restarted_at"],
        summary: "Restart a workload's pods the way `kubectl rollout restart` does.",
    },
    KubeRolloutStatus(WorkloadWith) = "kube.rollout.status" {
        family: Kube, effect: Read, idempotent: true, timeout: secs(600), expected: secs(120),
        result: ["replicas", "updated", "available"],
        summary: "Watch a rollout until the new generation is observed and fully available.",
    },
    KubeGet(GetWith) = "kube.get" {
        family: Kube, effect: Read, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["object", "items", "count", "fields"],
        summary: "Read any object, or list objects by selector; pick fields out by JSON pointer.",
    },
    KubePatch(PatchWith) = "kube.patch" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["resource_version"],
        summary: "Patch an object (merge, strategic or JSON patch).",
    },
    KubeApply(ApplyWith) = "kube.apply" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(60), expected: secs(2),
        result: ["applied"],
        summary: "Server-side apply manifests with field manager `ripcord`.",
    },
    KubeNamespaceCreate(NamespaceWith) = "kube.namespace.create" {
        family: Kube, effect: Write, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["created"],
        summary: "Create a namespace (succeeds if it already exists).",
    },
    KubeNamespaceDelete(NamespaceDeleteWith) = "kube.namespace.delete" {
        family: Kube, effect: Irreversible, idempotent: true, timeout: secs(300), expected: secs(30),
        result: ["deleted"],
        summary: "Delete a namespace and everything in it; waits until it is gone.",
    },
    KubeEndpointsReady(EndpointsReadyWith) = "kube.endpoints.ready" {
        family: Kube, effect: Read, idempotent: true, timeout: secs(120), expected: secs(2),
        result: ["ready", "addresses"],
        summary: "Wait until a Service has at least `min_ready` ready endpoint addresses.",
    },
    KubeExec(ExecWith) = "kube.exec" {
        family: Kube, effect: Write, idempotent: false, timeout: secs(120), expected: secs(5),
        result: ["stdout", "stderr", "exit_code", "pod"],
        summary: "Run a command in a container; stdout becomes an output.",
    },
    // ---- s3 ----
    S3List(S3ListWith) = "s3.list" {
        family: S3, effect: Read, idempotent: true, timeout: secs(120), expected: secs(2),
        result: ["keys", "count", "truncated"],
        summary: "List keys under a prefix (up to `limit`).",
    },
    S3Count(S3PrefixWith) = "s3.count" {
        family: S3, effect: Read, idempotent: true, timeout: secs(300), expected: secs(5),
        result: ["count", "bytes"],
        summary: "Count objects and bytes under a prefix.",
    },
    S3GetObject(S3GetObjectWith) = "s3.get_object" {
        family: S3, effect: Read, idempotent: true, timeout: secs(60), expected: secs(1),
        result: ["body", "json", "etag", "size"],
        summary: "Read an object as text or JSON (size-capped).",
    },
    S3HeadObject(S3ObjectWith) = "s3.head_object" {
        family: S3, effect: Read, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["etag", "size", "checksum_sha256", "last_modified"],
        summary: "Read an object's metadata: ETag (unquoted), size, checksum.",
    },
    S3Copy(S3CopyWith) = "s3.copy" {
        family: S3, effect: Write, idempotent: true, timeout: secs(300), expected: secs(2),
        result: ["etag", "size", "dry_run"],
        summary: "Copy one object server-side (selective restore).",
    },
    S3Sync(S3SyncWith) = "s3.sync" {
        family: S3, effect: Write, idempotent: true, timeout: secs(1800), expected: secs(120),
        result: ["copied", "deleted", "skipped", "bytes", "source_count", "dest_count", "missing", "changed", "extra", "manifest_sample", "changed_during_sync", "changes", "dry_run"],
        summary: "Make a destination prefix match a source prefix (diff, bounded parallel copy, verify).",
    },
    S3ReplicationStatus(S3BucketWith) = "s3.replication.status" {
        family: S3, effect: Read, idempotent: true, timeout: secs(30), expected: secs(1),
        result: ["enabled", "rules", "role"],
        summary: "Read a bucket's replication configuration and rules.",
    },
    // ---- route53 ----
    Route53ChangeRecords(ChangeRecordsWith) = "route53.change_records" {
        family: Route53, effect: Write, idempotent: true, timeout: secs(60), expected: secs(2),
        result: ["change_id", "status", "submitted_at", "dry_run"],
        summary: "Submit a batch of record changes (CREATE / UPSERT / DELETE, failover records).",
    },
    Route53WaitInsync(WaitInsyncWith) = "route53.wait_insync" {
        family: Route53, effect: Read, idempotent: true, timeout: secs(300), expected: secs(60),
        result: ["status"],
        summary: "Wait until a Route53 change is INSYNC.",
    },
}

// ---------------------------------------------------------------------------------------------
// checks shared by the `with` structs below

impl TypedWith {
    /// The rules of this type's `with` that serde cannot express (see [`WithProblem`]).
    pub fn check(&self, kind: StepKind) -> Vec<WithProblem> {
        self.input().check(kind.name())
    }
}

/// A problem with a decoded `with`; validation reports it as a diagnostic at [`WithProblem::at`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithProblem {
    pub code: Code,
    pub at: WithPlace,
    pub message: String,
    pub label: String,
    pub help: String,
}

/// Where in a `with` a [`WithProblem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithPlace {
    /// The `with` mapping itself (the step, when it has no `with`).
    Whole,
    /// The value of a field.
    Field(&'static str),
    /// One item of a list field.
    Item(&'static str, usize),
}

/// Exactly one of fields `a` and `b` must be given.
fn exactly_one(
    step_type: &str,
    (a, has_a): (&str, bool),
    (b, has_b): (&str, bool),
) -> Vec<WithProblem> {
    if has_a != has_b {
        return Vec::new();
    }
    vec![WithProblem {
        code: Code::BadValue,
        at: WithPlace::Whole,
        message: format!("`{step_type}` needs exactly one of `{a}` and `{b}`"),
        label: (if has_a { "both given" } else { "neither given" }).into(),
        help: format!("give `{a}: ...` or `{b}: ...`"),
    }]
}

/// Each of these fields must hold an `s3://` URL (or a template that renders one).
fn s3_urls(fields: &[(&'static str, &str)]) -> Vec<WithProblem> {
    fields
        .iter()
        .filter(|(_, text)| !crate::values::is_template(text) && !text.starts_with("s3://"))
        .map(|&(field, text)| WithProblem {
            code: Code::BadValue,
            at: WithPlace::Field(field),
            message: format!("`{field}` must be an `s3://bucket/prefix` URL"),
            label: "not an s3:// URL".into(),
            help: format!("write `s3://{}`", text.trim_start_matches('/')),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// core

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellWith {
    /// Program and arguments. No shell is involved unless you name one (`[bash, -c, ...]`).
    pub argv: Vec<String>,
    /// Extra environment variables (the run's environment is inherited).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Working directory; defaults to the directory ripcord runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Text written to the program's standard input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Bytes of stdout and of stderr kept in outputs (the rest is cut and counted). Default 64 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u64>,
    /// Exit codes that count as success. Default `[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_codes: Option<Vec<i32>>,
    /// What the command does, declared by the author (default `write`). A `read` command also
    /// runs in a dry run, so declare it only for commands that change nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// Whether re-running the command after an interruption is safe (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
}
impl WithInput for ShellWith {
    fn effect(&self, default: Effect) -> Effect {
        self.effect.unwrap_or(default)
    }
    fn idempotent(&self, default: bool) -> bool {
        self.idempotent.unwrap_or(default)
    }
    fn check(&self, _: &'static str) -> Vec<WithProblem> {
        if !self.argv.is_empty() {
            return Vec::new();
        }
        vec![WithProblem {
            code: Code::BadValue,
            at: WithPlace::Field("argv"),
            message: "`argv` is empty".into(),
            label: "nothing to run".into(),
            help: "give the program and its arguments, e.g. `[pg_isready, -h, db]`".into(),
        }]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpWith {
    pub url: String,
    /// GET unless given.
    #[serde(default = "HttpWith::default_method")]
    pub method: String,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// A text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A JSON body (sets `content-type: application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    #[serde(default)]
    pub expect: HttpExpect,
    /// Bytes of the response body kept. Default 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<u64>,
}
impl HttpWith {
    fn default_method() -> String {
        "GET".into()
    }
}
impl WithInput for HttpWith {
    fn effect(&self, _: Effect) -> Effect {
        match self.method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" | "OPTIONS" => Effect::Read,
            _ => Effect::Write,
        }
    }
    fn idempotent(&self, _: bool) -> bool {
        !self.method.eq_ignore_ascii_case("POST") && !self.method.eq_ignore_ascii_case("PATCH")
    }
}

/// What an HTTP response must look like for the step to succeed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Accepted status codes. Default: any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
    /// The body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// JSON pointer -> expected value, e.g. `/status: ok`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub json: IndexMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepWith {
    pub duration: Templated<HumanDuration>,
}
impl WithInput for SleepWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertWith {
    /// A minijinja expression without braces, e.g. `steps.count.outputs.n > 0`.
    pub expr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
impl WithInput for AssertWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalWith {
    /// The question shown to the approver.
    pub prompt: String,
    /// Who may approve; anyone when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}
impl WithInput for ApprovalWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyWith {
    /// Webhook URL (use a `secret` param for tokens in it).
    pub url: String,
    pub message: String,
    /// Extra JSON fields merged into the payload.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub fields: IndexMap<String, serde_json::Value>,
}
impl WithInput for NotifyWith {}

// ---------------------------------------------------------------------------------------------
// kube

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodsDeleteWith {
    /// kubeconfig context; the current context when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    /// One pod by name ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ... or every pod matching a label selector, e.g. `app=mcp-semantic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Grace period; the pod's own when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<Templated<HumanDuration>>,
    /// Delete immediately (grace period 0), like `kubectl delete --force --grace-period=0`.
    #[serde(default = "no")]
    pub force: Templated<bool>,
}
impl WithInput for PodsDeleteWith {
    fn check(&self, step_type: &'static str) -> Vec<WithProblem> {
        exactly_one(
            step_type,
            ("name", self.name.is_some()),
            ("selector", self.selector.is_some()),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodsWaitReadyWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    pub selector: String,
    /// At least this many matching pods must be Ready. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready: Option<Templated<u64>>,
}
impl WithInput for PodsWaitReadyWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub node: String,
}
impl WithInput for NodeWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub node: String,
    /// Leave DaemonSet pods in place (as `--ignore-daemonsets`). Default true.
    #[serde(default = "yes")]
    pub ignore_daemonsets: bool,
    /// Evict pods that use emptyDir volumes (their data is lost). Default false.
    #[serde(default)]
    pub delete_emptydir_data: bool,
    /// Grace period given to each evicted pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<Templated<HumanDuration>>,
    /// First delay when an eviction is refused with 429 (a PodDisruptionBudget). Default 1s,
    /// doubling up to 10s, until the step's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_backoff: Option<Templated<HumanDuration>>,
}
impl WithInput for DrainWith {
    fn effect(&self, default: Effect) -> Effect {
        if self.delete_emptydir_data {
            Effect::Irreversible
        } else {
            default
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    #[default]
    Deployment,
    StatefulSet,
    DaemonSet,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    #[serde(default)]
    pub kind: WorkloadKind,
    pub name: String,
}
impl WithInput for WorkloadWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// e.g. `v1`, `apps/v1`.
    pub api_version: String,
    pub kind: String,
    /// Omit for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// One object by name; without a name, a list (filtered by the selectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// e.g. `app=mcp-semantic` (lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// e.g. `spec.nodeName=node-1` (lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
    /// Output name -> JSON pointer into the object (or the list), e.g. `replicas: /spec/replicas`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub fields: IndexMap<String, String>,
}
impl WithInput for GetWith {}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    #[default]
    Merge,
    Strategic,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default)]
    pub patch_type: PatchType,
    /// The patch document (a JSON Patch list for `patch_type: json`).
    pub patch: serde_json::Value,
}
impl WithInput for PatchWith {
    fn idempotent(&self, _: bool) -> bool {
        self.patch_type != PatchType::Json
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace for namespaced manifests that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Manifests inline ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<serde_json::Value>,
    /// ... or a YAML file of manifests (relative to the runbook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Take ownership of fields another manager set.
    #[serde(default)]
    pub force_conflicts: bool,
}
impl WithInput for ApplyWith {
    fn check(&self, step_type: &'static str) -> Vec<WithProblem> {
        exactly_one(
            step_type,
            ("manifests", !self.manifests.is_empty()),
            ("file", self.file.is_some()),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}
impl WithInput for NamespaceWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceDeleteWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub name: String,
}
impl WithInput for NamespaceDeleteWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointsReadyWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    /// The Service (and Endpoints) name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready: Option<Templated<u64>>,
}
impl WithInput for EndpointsReadyWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecWith {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    /// A pod by name ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// ... or the first Ready pod matching a selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub command: Vec<String>,
    /// What the command does, declared by the author (default `write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// Whether re-running the command after an interruption is safe (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
}
impl WithInput for ExecWith {
    fn effect(&self, default: Effect) -> Effect {
        self.effect.unwrap_or(default)
    }
    fn idempotent(&self, default: bool) -> bool {
        self.idempotent.unwrap_or(default)
    }
    fn check(&self, step_type: &'static str) -> Vec<WithProblem> {
        exactly_one(
            step_type,
            ("pod", self.pod.is_some()),
            ("selector", self.selector.is_some()),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// s3

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3ListWith {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    /// At most this many keys in `result.keys`. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Templated<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3ListWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3PrefixWith {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3PrefixWith {}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3GetObjectWith {
    pub bucket: String,
    pub key: String,
    /// `json` parses the body into `result.json`.
    #[serde(default)]
    pub format: BodyFormat,
    /// Refuse objects larger than this many bytes. Default 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<Templated<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3GetObjectWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3ObjectWith {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3ObjectWith {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3CopyWith {
    /// `s3://bucket/key`
    pub source: String,
    /// `s3://bucket/key`
    pub dest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3CopyWith {
    fn check(&self, _: &'static str) -> Vec<WithProblem> {
        s3_urls(&[("source", &self.source), ("dest", &self.dest)])
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3SyncWith {
    /// `s3://bucket/prefix/`
    pub source: String,
    /// `s3://bucket/prefix/`
    pub dest: String,
    /// Delete destination objects that the source does not have (irreversible).
    #[serde(default = "no")]
    pub delete: Templated<bool>,
    /// Compute and return the diff without writing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Copies in flight at once. Default 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Templated<u64>>,
    /// Compare by size only, not ETag (for stores whose ETags differ after copy).
    #[serde(default)]
    pub size_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3SyncWith {
    fn effect(&self, default: Effect) -> Effect {
        if self.dry_run {
            Effect::Read
        } else if self.delete != Templated::Value(false) {
            // A templated `delete` may be true: plan for the worst.
            Effect::Irreversible
        } else {
            default
        }
    }
    fn check(&self, _: &'static str) -> Vec<WithProblem> {
        s3_urls(&[("source", &self.source), ("dest", &self.dest)])
    }
}

fn no() -> Templated<bool> {
    Templated::Value(false)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3BucketWith {
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl WithInput for S3BucketWith {}

// ---------------------------------------------------------------------------------------------
// route53

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeAction {
    Create,
    Upsert,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Failover {
    Primary,
    Secondary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordChange {
    pub action: ChangeAction,
    /// Fully qualified record name, e.g. `api.example.com.`
    pub name: String,
    /// Record type: A, AAAA, CNAME, TXT, ...
    #[serde(rename = "type")]
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Templated<i64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Needed for failover and weighted records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<Failover>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRecordsWith {
    pub zone_id: String,
    pub changes: Vec<RecordChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}
impl WithInput for ChangeRecordsWith {
    fn effect(&self, default: Effect) -> Effect {
        if self
            .changes
            .iter()
            .any(|c| c.action == ChangeAction::Delete)
        {
            Effect::Irreversible
        } else {
            default
        }
    }
    fn idempotent(&self, _: bool) -> bool {
        self.changes
            .iter()
            .all(|c| c.action == ChangeAction::Upsert)
    }
    fn check(&self, _: &'static str) -> Vec<WithProblem> {
        let unnamed =
            |(_, c): &(usize, &RecordChange)| c.failover.is_some() && c.set_identifier.is_none();
        self.changes
            .iter()
            .enumerate()
            .filter(unnamed)
            .map(|(i, _)| WithProblem {
                code: Code::MissingField,
                at: WithPlace::Item("changes", i),
                message: "a failover record needs `set_identifier`".into(),
                label: "failover without set_identifier".into(),
                help: "add `set_identifier: primary` (or secondary)".into(),
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitInsyncWith {
    /// The change id from `route53.change_records` (`result.change_id`).
    pub change_id: String,
}
impl WithInput for WaitInsyncWith {}
