//! Validation: from source text to a [`Validated`] runbook, or to every problem at once.
//!
//! Passes, each reporting all it finds: YAML syntax; duplicate keys; the typed structure (unknown
//! keys, wrong types, missing fields, bad durations and versions); step types and their `with`;
//! ids and `needs`; cycles; templates and expressions (syntax, params, step outputs that are not
//! ancestors, `result` outside a step's own gates); unused outputs and unguarded irreversible
//! steps (warnings).

use std::collections::{HashMap, HashSet};

use crate::catalog::{Effect, StepKind, TypedWith};
use crate::decode::{self, DecodeError, DecodeErrorKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::Dag;
use crate::model::{API_VERSION, KIND, Metadata, Objectives, Param, ParamType, Runbook, Step};
use crate::node::{Node, Value};
use crate::source::{SourceFile, Span};
use crate::suggest::closest;
use crate::template::{self, References};

/// Top-level keys of a runbook.
const TOP_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "objectives",
    "params",
    "steps",
    "finally",
];

/// Whether a step is part of the DAG proper or of `finally`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Main,
    Finally,
}

/// Facts about one step that validation worked out.
#[derive(Clone, Debug)]
pub struct StepInfo {
    pub phase: Phase,
    pub kind: StepKind,
    pub with: TypedWith,
    pub effect: Effect,
    pub idempotent: bool,
    /// Indices (into [`Validated::steps`]) of the steps this one needs.
    pub needs: Vec<usize>,
    pub compensate: Option<(StepKind, TypedWith)>,
}

/// A runbook that passed validation: typed, with its DAG.
#[derive(Clone, Debug)]
pub struct Validated {
    pub source: SourceFile,
    pub runbook: Runbook,
    /// Main steps then `finally` steps, in document order; indices match [`Validated::dag`].
    pub steps: Vec<StepInfo>,
    pub dag: Dag,
    /// Warnings found on the way.
    pub warnings: Vec<Diagnostic>,
}

impl Validated {
    /// The step definition at an index of [`Validated::steps`].
    pub fn step(&self, index: usize) -> &Step {
        let main = self.runbook.steps.len();
        if index < main {
            &self.runbook.steps[index]
        } else {
            &self.runbook.finally[index - main]
        }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        (0..self.steps.len()).find(|&i| self.step(i).id == id)
    }

    /// SHA-256 of the runbook text, hex.
    pub fn content_sha256(&self) -> String {
        crate::sha256_hex(self.source.text().as_bytes())
    }

    /// The needs lists by index, as the DAG was built from them.
    pub fn needs(&self) -> Vec<Vec<usize>> {
        self.steps.iter().map(|s| s.needs.clone()).collect()
    }
}

/// What validation found: every diagnostic, and the runbook when there was no error.
#[derive(Debug)]
pub struct Outcome {
    pub source: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    pub validated: Option<Validated>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Validate a runbook's text.
pub fn validate(source: SourceFile) -> Outcome {
    let mut v = Validator {
        source: source.clone(),
        diagnostics: Vec::new(),
        env: template::environment(),
    };
    let validated = v.run();
    let mut diagnostics = v.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    let validated = validated.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    let validated = validated.map(|mut val| {
        val.warnings = diagnostics.clone();
        val
    });
    Outcome {
        source,
        diagnostics,
        validated,
    }
}

struct Validator {
    source: SourceFile,
    diagnostics: Vec<Diagnostic>,
    env: minijinja::Environment<'static>,
}

/// One step as decoded, before the graph exists.
struct Decoded<'n> {
    node: &'n Node,
    phase: Phase,
    step: Option<Step>,
    kind: Option<StepKind>,
    with: Option<TypedWith>,
    compensate: Option<(StepKind, TypedWith)>,
}

/// Where a template or expression sits, which decides what it may reference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Site {
    /// `with`, `when`: params, run, ancestors' outputs.
    Input,
    /// `outputs`, `verify`, `until`: also the step's own `result`.
    Gate,
    /// `compensate.with`: also the step's own outputs (it ran; now it is undone).
    Compensate,
}

impl Validator {
    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn run(&mut self) -> Option<Validated> {
        let root = match crate::node::parse(&self.source) {
            Ok(root) => root,
            Err(e) => {
                self.push(
                    Diagnostic::error(Code::Yaml, e.span, format!("invalid YAML: {}", e.message))
                        .label("here")
                        .help(if self.source.text().trim().is_empty() {
                            "start from an example in runbooks/ (apiVersion, kind, metadata, steps)"
                        } else {
                            "check indentation, quoting and brackets around this place"
                        }),
                );
                return None;
            }
        };
        let root = self.report_duplicate_keys(root);
        let Some(entries) = root.as_map() else {
            self.push(
                Diagnostic::error(
                    Code::WrongType,
                    root.span,
                    format!("a runbook is a mapping, found {}", root.value.kind()),
                )
                .label("expected `apiVersion`, `kind`, `metadata`, `steps`")
                .help("start from an example in runbooks/ or `ripcord schema`"),
            );
            return None;
        };
        for (key, _) in entries {
            let name = key.scalar_text();
            if !TOP_KEYS.contains(&name.as_str()) {
                self.unknown_key(key, &name, TOP_KEYS);
            }
        }
        let api_version = self.fixed_string(&root, "apiVersion", API_VERSION);
        let kind = self.fixed_string(&root, "kind", KIND);
        let metadata = self.required(&root, "metadata").and_then(|n| {
            if let Some(name) = n.get("name")
                && let Some(text) = name.as_str()
            {
                self.check_runbook_name(text, name);
            }
            self.decode::<Metadata>(n)
        });
        let objectives: Option<Objectives> = root.get("objectives").and_then(|n| self.decode(n));
        let params = self.decode_params(&root);

        let count = ["steps", "finally"]
            .iter()
            .filter_map(|k| root.get(k).and_then(Node::as_seq))
            .map(<[Node]>::len)
            .sum();
        let mut decoded = Vec::with_capacity(count);
        for (phase, key) in [(Phase::Main, "steps"), (Phase::Finally, "finally")] {
            let Some(list) = root.get(key) else {
                if phase == Phase::Main {
                    self.push(
                        Diagnostic::error(Code::MissingField, root.span, "missing field `steps`")
                            .label("this runbook has no steps")
                            .help("add `steps:` with at least one step"),
                    );
                }
                continue;
            };
            match &list.value {
                Value::Seq(items) => {
                    for item in items {
                        decoded.push(self.decode_step(item, phase));
                    }
                }
                Value::Null if phase == Phase::Finally => {}
                other => self.push(
                    Diagnostic::error(
                        Code::WrongType,
                        list.span,
                        format!("`{key}` must be a list of steps, found {}", other.kind()),
                    )
                    .label("expected a list")
                    .help(format!("write `{key}:` followed by `- id: ...` items")),
                ),
            }
        }
        if decoded.iter().all(|d| d.phase == Phase::Finally) && root.get("steps").is_some() {
            let span = root.get("steps").map_or(root.span, |n| n.span);
            if !self.diagnostics.iter().any(|d| d.span == span) {
                self.push(
                    Diagnostic::error(Code::BadValue, span, "a runbook needs at least one step")
                        .label("empty")
                        .help("add a step such as `- {id: check, type: http, with: {url: ...}}`"),
                );
            }
        }

        let ids = self.check_ids(&decoded);
        let needs = self.resolve_needs(&decoded, &ids);
        let dag = match Dag::build(&needs) {
            Ok(dag) => Some(dag),
            Err(cycles) => {
                for cycle in cycles {
                    self.report_cycle(&decoded, &cycle);
                }
                None
            }
        };
        let mut used_outputs = HashSet::new();
        // Without a DAG (a cycle), ancestry is undefined: check everything else.
        self.check_references(
            &decoded,
            &ids,
            dag.as_ref(),
            params.as_ref(),
            &mut used_outputs,
        );
        let dag = dag?;
        self.warn_unused_outputs(&decoded, &used_outputs);
        self.warn_unguarded_irreversible(&decoded, &dag);

        // Assemble only when every piece decoded.
        let (api_version, kind, metadata, params) = (api_version?, kind?, metadata?, params?);
        let mut steps = Vec::with_capacity(decoded.len());
        let mut finally = Vec::new();
        let mut infos = Vec::with_capacity(decoded.len());
        for (i, d) in decoded.into_iter().enumerate() {
            let (step, kind, with) = (d.step?, d.kind?, d.with?);
            infos.push(StepInfo {
                phase: d.phase,
                kind,
                effect: kind.effect(Some(&with)),
                idempotent: kind.idempotent(Some(&with)),
                with,
                needs: needs[i].clone(),
                compensate: d.compensate,
            });
            match d.phase {
                Phase::Main => steps.push(step),
                Phase::Finally => finally.push(step),
            }
        }
        Some(Validated {
            source: self.source.clone(),
            runbook: Runbook {
                api_version,
                kind,
                metadata,
                objectives,
                params,
                steps,
                finally,
            },
            steps: infos,
            dag,
            warnings: Vec::new(),
        })
    }

    // ---- structure -------------------------------------------------------------------------

    /// Report every repeated key (pointing at both places) and drop the repeats so later passes
    /// see one value per key. Walks in place: most maps are small and have no repeats.
    fn report_duplicate_keys(&mut self, mut node: Node) -> Node {
        self.dedupe_keys(&mut node);
        node
    }

    fn dedupe_keys(&mut self, node: &mut Node) {
        match &mut node.value {
            Value::Map(entries) => {
                let mut i = 1;
                while i < entries.len() {
                    let earlier = entries[..i]
                        .iter()
                        .find(|(k, _)| same_key(k, &entries[i].0))
                        .map(|(k, _)| k.span);
                    match earlier {
                        Some(first) => {
                            let (key, _) = entries.remove(i);
                            let name = key.scalar_text();
                            self.push(
                                Diagnostic::error(
                                    Code::DuplicateKey,
                                    key.span,
                                    format!("duplicate key `{name}`"),
                                )
                                .label("defined again here")
                                .related(first, "first defined here")
                                .help("remove one of them; YAML keeps only one value per key"),
                            );
                        }
                        None => i += 1,
                    }
                }
                for (_, value) in entries.iter_mut() {
                    self.dedupe_keys(value);
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(|i| self.dedupe_keys(i)),
            _ => {}
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        let (value, errors) = decode::decode(node);
        self.report_decode_errors(node, errors);
        value
    }

    fn report_decode_errors(&mut self, node: &Node, errors: Vec<DecodeError>) {
        for e in errors {
            let span = e.span.unwrap_or(node.span);
            let d = match &e.kind {
                DecodeErrorKind::UnknownField { field, expected } => {
                    let key = find_key_at(node, span).unwrap_or(node);
                    self.unknown_key_diagnostic(key, field, expected)
                }
                DecodeErrorKind::UnknownVariant { variant, expected } => {
                    let mut d = Diagnostic::error(Code::BadValue, span, e.to_string())
                        .label("not a known value");
                    if let Some(s) = closest(variant, expected.iter().copied()) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    d
                }
                DecodeErrorKind::MissingWith { step_type, field } => {
                    Diagnostic::error(Code::MissingField, span, e.to_string())
                        .label(format!("`{step_type}` needs `{field}`"))
                        .help(format!("add `{field}: ...` under `with`"))
                }
                DecodeErrorKind::MissingField(field) => {
                    Diagnostic::error(Code::MissingField, span, e.to_string())
                        .label(format!("this mapping has no `{field}`"))
                        .help(format!("add `{field}: ...`"))
                }
                DecodeErrorKind::InvalidType { expected, .. } => {
                    Diagnostic::error(Code::WrongType, span, e.to_string())
                        .label(format!("expected {expected}"))
                }
                DecodeErrorKind::Message(m) => {
                    let (message, help) = match m.split_once("; ") {
                        Some((msg, help)) => (msg.to_string(), Some(help.to_string())),
                        None => (m.clone(), None),
                    };
                    let mut d = Diagnostic::error(Code::BadValue, span, message).label("here");
                    if let Some(h) = help {
                        d = d.help(h);
                    }
                    d
                }
            };
            self.push(d);
        }
    }

    fn unknown_key_diagnostic(&self, key: &Node, name: &str, expected: &[&str]) -> Diagnostic {
        let d = Diagnostic::error(Code::UnknownKey, key.span, format!("unknown key `{name}`"))
            .label("not a field here");
        match closest(name, expected.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("expected one of {}", decode::one_of(expected))),
        }
    }

    fn unknown_key(&mut self, key: &Node, name: &str, expected: &[&str]) {
        let d = self.unknown_key_diagnostic(key, name, expected);
        self.push(d);
    }

    fn required<'n>(&mut self, map: &'n Node, key: &str) -> Option<&'n Node> {
        let found = map.get(key);
        if found.is_none() {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    map.span,
                    format!("missing field `{key}`"),
                )
                .label(format!("this mapping has no `{key}`"))
                .help(format!("add `{key}: ...`")),
            );
        }
        found
    }

    fn fixed_string(&mut self, root: &Node, key: &str, want: &str) -> Option<String> {
        let node = self.required(root, key)?;
        if node.as_str() == Some(want) {
            return Some(want.to_owned());
        }
        self.push(
            Diagnostic::error(
                Code::BadValue,
                node.span,
                format!("`{key}` must be `{want}`, found `{}`", node.scalar_text()),
            )
            .label("unsupported")
            .help(format!("write `{key}: {want}`")),
        );
        None
    }

    fn check_runbook_name(&mut self, name: &str, node: &Node) {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-');
        if !ok {
            self.push(
                Diagnostic::error(
                    Code::BadValue,
                    node.span,
                    format!("invalid runbook name `{name}`"),
                )
                .label("names are used in run ids and lock names")
                .help("use lower-case letters, digits and `-`, e.g. `data-recovery`"),
            );
        }
    }

    fn decode_params(&mut self, root: &Node) -> Option<indexmap::IndexMap<String, Param>> {
        let mut params = indexmap::IndexMap::new();
        let Some(node) = root.get("params") else {
            return Some(params);
        };
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Some(params),
            other => {
                self.push(
                    Diagnostic::error(
                        Code::WrongType,
                        node.span,
                        format!("`params` must be a mapping, found {}", other.kind()),
                    )
                    .label("expected `name: {type: ...}` entries"),
                );
                return None;
            }
        };
        let mut ok = true;
        for (key, value) in entries {
            let name = key.scalar_text();
            if !template::is_identifier(&name) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        key.span,
                        format!("invalid param name `{name}`"),
                    )
                    .label("used in templates as `params.<name>`")
                    .help("use letters, digits and `_`, not starting with a digit"),
                );
            }
            match self.decode::<Param>(value) {
                Some(param) => {
                    self.check_param(&name, &param, value);
                    params.insert(name, param);
                }
                None => ok = false,
            }
        }
        ok.then_some(params)
    }

    fn check_param(&mut self, name: &str, param: &Param, node: &Node) {
        if let Some(default) = &param.default {
            let span = node.get("default").map_or(node.span, |n| n.span);
            if param.param_type == ParamType::Secret {
                self.push(
                    Diagnostic::error(
                        Code::BadParam,
                        span,
                        format!("secret param `{name}` has a default"),
                    )
                    .label("a default would store the secret in the runbook")
                    .help("remove the default and pass it at run time: `-p name=...` or RIPCORD_PARAM_<NAME>"),
                );
            } else if let Err(why) = crate::params::check_value(param.param_type, default) {
                self.push(
                    Diagnostic::error(
                        Code::BadParam,
                        span,
                        format!(
                            "default of `{name}` is not a {}: {why}",
                            param.param_type.as_str()
                        ),
                    )
                    .label("wrong type")
                    .help(format!("give a {} value", param.param_type.as_str())),
                );
            } else if let Some(allowed) = &param.allowed
                && !allowed.contains(default)
            {
                self.push(
                    Diagnostic::error(
                        Code::BadParam,
                        span,
                        format!("default of `{name}` is not one of its `enum` values"),
                    )
                    .label("not allowed")
                    .help("add it to `enum` or pick an allowed default"),
                );
            }
        }
    }

    fn decode_step<'n>(&mut self, node: &'n Node, phase: Phase) -> Decoded<'n> {
        let step: Option<Step> = self.decode(node);
        let kind = node.get("type").and_then(|t| self.step_kind(t));
        let with = match (kind, node.get("with")) {
            (Some(kind), Some(with)) => self.decode_with(kind, with),
            (Some(kind), None) => self.decode_with(
                kind,
                &Node {
                    span: node.span,
                    value: Value::Map(Vec::new()),
                },
            ),
            (None, _) => None,
        };
        let compensate = node.get("compensate").and_then(|c| {
            let kind = c.get("type").and_then(|t| self.step_kind(t))?;
            let with_node = c.get("with").cloned().unwrap_or(Node {
                span: c.span,
                value: Value::Map(Vec::new()),
            });
            let with = self.decode_with(kind, &with_node)?;
            Some((kind, with))
        });
        if let Some(step) = &step {
            self.check_step_values(step, node);
        }
        Decoded {
            node,
            phase,
            step,
            kind,
            with,
            compensate,
        }
    }

    /// Ranges and relations serde cannot express.
    fn check_step_values(&mut self, step: &Step, node: &Node) {
        let at = |path: &[&str]| {
            path.iter()
                .try_fold(node, |n, key| n.get(key))
                .map_or(node.span, |n| n.span)
        };
        if let Some(retry) = &step.retry {
            if retry.attempts == 0 {
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        at(&["retry", "attempts"]),
                        "`attempts` must be at least 1",
                    )
                    .label("counts the first attempt too")
                    .help("write `attempts: 1` for no retries, `attempts: 3` for two retries"),
                );
            }
            if !(0.0..=1.0).contains(&retry.jitter) {
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        at(&["retry", "jitter"]),
                        "`jitter` must be between 0 and 1",
                    )
                    .label("a fraction of each delay")
                    .help("e.g. `jitter: 0.2` spreads each delay by up to ±20%"),
                );
            }
            if retry.initial > retry.max {
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        at(&["retry", "max"]),
                        "`max` is shorter than `initial`",
                    )
                    .label("every delay is capped by this")
                    .help("raise `max` or lower `initial`"),
                );
            }
        }
        if step.timeout.is_some_and(|t| t.0.is_zero()) {
            self.push(
                Diagnostic::error(
                    Code::BadValue,
                    at(&["timeout"]),
                    "`timeout` must be longer than zero",
                )
                .label("nothing could finish in time")
                .help("give the longest one attempt may take, e.g. `timeout: 2m`"),
            );
        }
        if let Some(until) = &step.until {
            if until.interval.0.is_zero() || until.interval > until.timeout {
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        at(&["until", "interval"]),
                        "`interval` must be longer than zero and no longer than `timeout`",
                    )
                    .label("polling interval")
                    .help("e.g. `interval: 5s` with `timeout: 2m`"),
                );
            }
            if let Some(t) = step.timeout
                && t < until.timeout
            {
                self.push(
                    Diagnostic::warning(
                        Code::BadValue,
                        at(&["timeout"]),
                        "`timeout` is shorter than `until.timeout`: polling is cut short",
                    )
                    .label(format!("each attempt ends after {t}"))
                    .help("raise `timeout` or drop it: a polling step's default covers `until.timeout`"),
                );
            }
        }
    }

    fn step_kind(&mut self, type_node: &Node) -> Option<StepKind> {
        let text = scalar(type_node)?;
        let name = text.as_str();
        let kind = StepKind::from_name(name);
        if kind.is_none() {
            let mut d = Diagnostic::error(
                Code::UnknownStepType,
                type_node.span,
                format!("unknown step type `{name}`"),
            )
            .label("not in the step catalog");
            d = match StepKind::suggest(name) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("see docs/runbook-reference.md for the step catalog"),
            };
            self.push(d);
        }
        kind
    }

    fn decode_with(&mut self, kind: StepKind, node: &Node) -> Option<TypedWith> {
        let (with, errors) = decode::decode_with(node, |d| kind.decode(d));
        // Missing fields are reported against `with`, with the type named.
        let errors = errors
            .into_iter()
            .map(|mut e| {
                if let DecodeErrorKind::MissingField(f) = e.kind {
                    e.kind = DecodeErrorKind::MissingWith {
                        step_type: kind.name(),
                        field: f,
                    };
                }
                e
            })
            .collect();
        self.report_decode_errors(node, errors);
        let with = with?;
        self.check_with_shape(kind, &with, node);
        Some(with)
    }

    /// Rules serde cannot express: one-of fields, URL shapes.
    fn check_with_shape(&mut self, kind: StepKind, with: &TypedWith, node: &Node) {
        use crate::catalog::*;
        let mut exactly_one = |a: &str, has_a: bool, b: &str, has_b: bool| {
            if has_a == has_b {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::BadValue,
                        node.span,
                        format!("`{}` needs exactly one of `{a}` and `{b}`", kind.name()),
                    )
                    .label(if has_a { "both given" } else { "neither given" })
                    .help(format!("give `{a}: ...` or `{b}: ...`")),
                );
            }
        };
        match with {
            TypedWith::KubePodsDelete(w) => {
                exactly_one("name", w.name.is_some(), "selector", w.selector.is_some())
            }
            TypedWith::KubeExec(w) => {
                exactly_one("pod", w.pod.is_some(), "selector", w.selector.is_some())
            }
            TypedWith::KubeApply(w) => exactly_one(
                "manifests",
                !w.manifests.is_empty(),
                "file",
                w.file.is_some(),
            ),
            _ => {}
        }
        let mut s3_urls: Vec<&str> = Vec::new();
        match with {
            TypedWith::S3Sync(S3SyncWith { source, dest, .. })
            | TypedWith::S3Copy(S3CopyWith { source, dest, .. }) => {
                s3_urls.extend(["source", "dest"]);
                let _ = (source, dest);
            }
            TypedWith::Shell(ShellWith { argv, .. }) if argv.is_empty() => {
                let span = node.get("argv").map_or(node.span, |n| n.span);
                self.push(
                    Diagnostic::error(Code::BadValue, span, "`argv` is empty")
                        .label("nothing to run")
                        .help("give the program and its arguments, e.g. `[pg_isready, -h, db]`"),
                );
            }
            TypedWith::Route53ChangeRecords(w) => {
                for (i, change) in w.changes.iter().enumerate() {
                    if change.failover.is_some() && change.set_identifier.is_none() {
                        let span = node
                            .get("changes")
                            .and_then(|c| c.as_seq())
                            .and_then(|items| items.get(i))
                            .map_or(node.span, |n| n.span);
                        self.push(
                            Diagnostic::error(
                                Code::MissingField,
                                span,
                                "a failover record needs `set_identifier`",
                            )
                            .label("failover without set_identifier")
                            .help("add `set_identifier: primary` (or secondary)"),
                        );
                    }
                }
            }
            _ => {}
        }
        for field in s3_urls {
            if let Some(value) = node.get(field)
                && let Some(text) = value.as_str()
                && !crate::values::is_template(text)
                && !text.starts_with("s3://")
            {
                self.push(
                    Diagnostic::error(
                        Code::BadValue,
                        value.span,
                        format!("`{field}` must be an `s3://bucket/prefix` URL"),
                    )
                    .label("not an s3:// URL")
                    .help(format!("write `s3://{}`", text.trim_start_matches('/'))),
                );
            }
        }
    }

    // ---- ids and graph ---------------------------------------------------------------------

    fn check_ids(&mut self, decoded: &[Decoded<'_>]) -> HashMap<String, usize> {
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (i, d) in decoded.iter().enumerate() {
            let Some(id_node) = d.node.get("id") else {
                continue;
            };
            let Some(id) = scalar(id_node) else { continue };
            let id = id.as_str();
            if !template::is_identifier(id) {
                let suggestion = id.replace(['-', '.', ' '], "_");
                self.push(
                    Diagnostic::error(Code::BadValue, id_node.span, format!("invalid step id `{id}`"))
                        .label("used in templates as `steps.<id>`")
                        .help(format!(
                            "use letters, digits and `_`, not starting with a digit, e.g. `{suggestion}`"
                        )),
                );
            }
            match ids.get(id) {
                Some(&first) => {
                    let first_span = decoded[first]
                        .node
                        .get("id")
                        .map_or(decoded[first].node.span, |n| n.span);
                    self.push(
                        Diagnostic::error(
                            Code::DuplicateStepId,
                            id_node.span,
                            format!("duplicate step id `{id}`"),
                        )
                        .label("used again here")
                        .related(first_span, "first used here")
                        .help("step ids must be unique across `steps` and `finally`; rename one"),
                    );
                }
                None => {
                    ids.insert(id.to_owned(), i);
                }
            }
        }
        ids
    }

    fn resolve_needs(
        &mut self,
        decoded: &[Decoded<'_>],
        ids: &HashMap<String, usize>,
    ) -> Vec<Vec<usize>> {
        let mut all = Vec::with_capacity(decoded.len());
        for d in decoded {
            let mut needs = Vec::new();
            let items = d.node.get("needs").and_then(Node::as_seq).unwrap_or(&[]);
            for item in items {
                let Some(target) = scalar(item) else {
                    continue;
                };
                let target = target.as_str();
                match ids.get(target) {
                    Some(&t) if decoded[t].phase == Phase::Main && d.phase == Phase::Finally => {
                        self.push(
                            Diagnostic::error(
                                Code::UnknownNeeds,
                                item.span,
                                format!("finally step needs main step `{target}`"),
                            )
                            .label("finally steps already run after every main step")
                            .help("drop this need; `needs` in `finally` may only name other finally steps"),
                        );
                    }
                    Some(&t) if decoded[t].phase == Phase::Finally && d.phase == Phase::Main => {
                        self.push(
                            Diagnostic::error(
                                Code::UnknownNeeds,
                                item.span,
                                format!("step `{target}` is a `finally` step"),
                            )
                            .label("main steps cannot need finally steps")
                            .help("move the step out of `finally`, or drop this need"),
                        );
                    }
                    Some(&t) => {
                        if !needs.contains(&t) {
                            needs.push(t);
                        }
                    }
                    None => {
                        let candidates = ids.keys().map(String::as_str);
                        let mut diag = Diagnostic::error(
                            Code::UnknownNeeds,
                            item.span,
                            format!("`needs` names unknown step `{target}`"),
                        )
                        .label("no step has this id");
                        diag = match closest(target, candidates) {
                            Some(s) => diag.help(format!("did you mean `{s}`?")),
                            None => diag.help("list the ids of steps defined in this runbook"),
                        };
                        self.push(diag);
                    }
                }
            }
            all.push(needs);
        }
        all
    }

    fn report_cycle(&mut self, decoded: &[Decoded<'_>], cycle: &[usize]) {
        let name = |i: usize| {
            decoded[i]
                .node
                .get("id")
                .map_or_else(|| format!("#{i}"), Node::scalar_text)
        };
        let mut path: Vec<String> = cycle.iter().map(|&i| name(i)).collect();
        path.push(name(cycle[0]));
        // Point at the `needs` entry that closes the loop in each step.
        let need_span = |step: usize, target: usize| {
            let target_id = name(target);
            decoded[step]
                .node
                .get("needs")
                .and_then(Node::as_seq)
                .and_then(|items| items.iter().find(|n| n.as_str() == Some(&target_id)))
                .map_or(decoded[step].node.span, |n| n.span)
        };
        let first = cycle[0];
        let closing = *cycle.last().unwrap_or(&first);
        let mut d = Diagnostic::error(
            Code::Cycle,
            need_span(first, closing),
            format!(
                "dependency cycle: {} (each runs before the next)",
                path.join(" -> ")
            ),
        )
        .label(format!("`{}` needs `{}`", name(first), name(closing)))
        .help("a runbook is a DAG: remove one of these `needs` to break the cycle");
        for pair in cycle.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            d = d.related(
                need_span(to, from),
                format!("`{}` needs `{}`", name(to), name(from)),
            );
        }
        self.push(d);
    }

    // ---- templates and references ----------------------------------------------------------

    fn check_references(
        &mut self,
        decoded: &[Decoded<'_>],
        ids: &HashMap<String, usize>,
        dag: Option<&Dag>,
        params: Option<&indexmap::IndexMap<String, Param>>,
        used_outputs: &mut HashSet<(usize, String)>,
    ) {
        let main_count = decoded.iter().filter(|d| d.phase == Phase::Main).count();
        for (i, d) in decoded.iter().enumerate() {
            let mut sites: Vec<(&Node, Site, bool)> = Vec::new(); // (node, site, is_expression)
            if let Some(with) = d.node.get("with") {
                let expression_nodes: Vec<&Node> = d
                    .kind
                    .map(crate::catalog::expression_fields)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|f| with.get(f))
                    .collect();
                collect_strings(with, &mut |n| {
                    let is_expr = expression_nodes.iter().any(|e| std::ptr::eq(*e, n));
                    sites.push((n, Site::Input, is_expr));
                });
            }
            if let Some(when) = d.node.get("when") {
                sites.push((when, Site::Input, true));
            }
            if let Some(outputs) = d.node.get("outputs").and_then(Node::as_map) {
                for (key, value) in outputs {
                    if !template::is_identifier(&key.scalar_text()) {
                        self.push(
                            Diagnostic::error(
                                Code::BadValue,
                                key.span,
                                format!("invalid output name `{}`", key.scalar_text()),
                            )
                            .label("used in templates as `steps.<id>.outputs.<name>`")
                            .help("use letters, digits and `_`"),
                        );
                    }
                    sites.push((value, Site::Gate, false));
                }
            }
            for check in d.node.get("verify").and_then(Node::as_seq).unwrap_or(&[]) {
                if let Some(expr) = check.get("expr") {
                    sites.push((expr, Site::Gate, true));
                }
                if let Some(msg) = check.get("message") {
                    sites.push((msg, Site::Gate, false));
                }
            }
            if let Some(expr) = d.node.get("until").and_then(|u| u.get("expr")) {
                sites.push((expr, Site::Gate, true));
            }
            if let Some(with) = d.node.get("compensate").and_then(|c| c.get("with")) {
                collect_strings(with, &mut |n| sites.push((n, Site::Compensate, false)));
            }
            for (node, site, is_expr) in sites {
                let Some(text) = node.as_str() else { continue };
                let parsed = if is_expr {
                    template::expression_references(&self.env, text)
                } else {
                    template::template_references(&self.env, text)
                };
                match parsed {
                    Err(e) => {
                        let span = e
                            .range
                            .clone()
                            .map_or(node.span, |r| self.inner_span(node, text, r));
                        let what = if is_expr { "expression" } else { "template" };
                        let help = if is_expr {
                            "expressions are minijinja without braces, e.g. `result.count > 0`"
                        } else {
                            "templates are minijinja: `{{ params.name }}`, `{{ steps.id.outputs.x }}`"
                        };
                        self.push(
                            Diagnostic::error(
                                Code::Template,
                                span,
                                format!("{what} error: {}", e.message),
                            )
                            .label("here")
                            .help(help),
                        );
                    }
                    Ok(refs) => {
                        let ctx = RefContext {
                            step: i,
                            site,
                            decoded,
                            ids,
                            dag,
                            params,
                            main_count,
                        };
                        self.check_refs(node, text, &refs, &ctx, used_outputs);
                    }
                }
            }
        }
    }

    fn check_refs(
        &mut self,
        node: &Node,
        text: &str,
        refs: &References,
        ctx: &RefContext<'_, '_>,
        used_outputs: &mut HashSet<(usize, String)>,
    ) {
        for reference in refs {
            let (root, rest) = template::split_reference(reference);
            let span = self.find_in(node, text, reference);
            match root {
                "params" => {
                    let Some(params) = ctx.params else { continue };
                    if let Some(&name) = rest.first()
                        && !params.contains_key(name)
                    {
                        let mut d = Diagnostic::error(
                            Code::UnknownParam,
                            span,
                            format!("unknown param `{name}`"),
                        )
                        .label("not declared under `params`");
                        d = match closest(name, params.keys().map(String::as_str)) {
                            Some(s) => d.help(format!("did you mean `params.{s}`?")),
                            None => d.help(format!(
                                "declare it: `params: {{{name}: {{type: string}}}}`"
                            )),
                        };
                        self.push(d);
                    }
                }
                "run" => {
                    if let Some(&field) = rest.first()
                        && !template::RUN_FIELDS.contains(&field)
                    {
                        self.push(
                            Diagnostic::error(
                                Code::Template,
                                span,
                                format!("`run` has no field `{field}`"),
                            )
                            .label("unknown field")
                            .help(format!(
                                "`run` has {}",
                                decode::one_of(template::RUN_FIELDS)
                            )),
                        );
                    }
                }
                "result" => {
                    if ctx.site != Site::Gate {
                        self.push(
                            Diagnostic::error(
                                Code::Template,
                                span,
                                "`result` is only known after the step ran",
                            )
                            .label("used before the step has a result")
                            .help("use `result` in this step's `outputs`, `verify` or `until`"),
                        );
                    } else if let (Some(&field), Some(kind)) =
                        (rest.first(), ctx.decoded[ctx.step].kind)
                    {
                        let fields = kind.info().result_fields;
                        if !fields.contains(&field) {
                            let mut d = Diagnostic::error(
                                Code::Template,
                                span,
                                format!("`{}` returns no field `{field}`", kind.name()),
                            )
                            .label("unknown result field");
                            d = match closest(field, fields.iter().copied()) {
                                Some(s) => d.help(format!("did you mean `result.{s}`?")),
                                None => d.help(format!("`result` has {}", decode::one_of(fields))),
                            };
                            self.push(d);
                        }
                    }
                }
                "steps" => self.check_step_ref(&rest, span, ctx, used_outputs),
                other if template::FUNCTIONS.contains(&other) => {}
                other => {
                    let mut d = Diagnostic::error(
                        Code::Template,
                        span,
                        format!("unknown variable `{other}`"),
                    )
                    .label("not defined in templates");
                    d = match closest(other, template::ROOTS.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help("templates can read `params`, `steps`, `run` and `result`"),
                    };
                    self.push(d);
                }
            }
        }
    }

    fn check_step_ref(
        &mut self,
        rest: &[&str],
        span: Span,
        ctx: &RefContext<'_, '_>,
        used_outputs: &mut HashSet<(usize, String)>,
    ) {
        let Some(&target_id) = rest.first() else {
            return;
        };
        let here = &ctx.decoded[ctx.step];
        let here_id = here
            .node
            .get("id")
            .map(Node::scalar_text)
            .unwrap_or_default();
        let Some(&target) = ctx.ids.get(target_id) else {
            let mut d = Diagnostic::error(
                Code::UnknownStep,
                span,
                format!("unknown step `{target_id}`"),
            )
            .label("no step has this id");
            d = match closest(target_id, ctx.ids.keys().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `steps.{s}`?")),
                None => {
                    d.help("reference an earlier step's outputs as `steps.<id>.outputs.<name>`")
                }
            };
            self.push(d);
            return;
        };
        // A read of an output counts as a use even when it is misplaced (that has its own error).
        if rest.get(1) == Some(&"outputs")
            && let Some(&output) = rest.get(2)
        {
            used_outputs.insert((target, output.to_owned()));
        }
        // Finally steps may read any main step; compensations their own step; the rest need the
        // producer as an ancestor.
        let Some(dag) = ctx.dag else { return };
        let visible = (target == ctx.step && ctx.site == Site::Compensate)
            || (target != ctx.step
                && (dag.is_ancestor(target, ctx.step)
                    || (here.phase == Phase::Finally && target < ctx.main_count)));
        if !visible {
            let d = if target == ctx.step {
                Diagnostic::error(
                    Code::NotAncestor,
                    span,
                    format!("step `{here_id}` reads its own outputs"),
                )
                .label("not known yet")
                .help("use `result` inside this step's `outputs`, `verify` or `until`")
            } else {
                Diagnostic::error(
                    Code::NotAncestor,
                    span,
                    format!(
                        "step `{here_id}` reads outputs of `{target_id}`, which it does not need"
                    ),
                )
                .label(format!("`{target_id}` may not have run yet"))
                .help(format!("add `{target_id}` to `needs` of `{here_id}`"))
            };
            self.push(d);
            return;
        }
        match rest.get(1).copied() {
            Some("outputs") => {
                let Some(&output) = rest.get(2) else { return };
                let declared: Vec<String> = ctx.decoded[target]
                    .node
                    .get("outputs")
                    .and_then(Node::as_map)
                    .map(|m| m.iter().map(|(k, _)| k.scalar_text()).collect())
                    .unwrap_or_default();
                if !declared.iter().any(|o| o == output) {
                    let mut d = Diagnostic::error(
                        Code::UnknownStep,
                        span,
                        format!("step `{target_id}` has no output `{output}`"),
                    )
                    .label("not declared under its `outputs`");
                    d = match closest(output, declared.iter().map(String::as_str)) {
                        Some(s) => d.help(format!("did you mean `steps.{target_id}.outputs.{s}`?")),
                        None => d.help(format!(
                            "declare it on `{target_id}`: `outputs: {{{output}: \"{{{{ result.... }}}}\"}}`"
                        )),
                    };
                    self.push(d);
                }
            }
            Some(field) if !template::STEP_FIELDS.contains(&field) => {
                self.push(
                    Diagnostic::error(
                        Code::Template,
                        span,
                        format!("`steps.{target_id}` has no field `{field}`"),
                    )
                    .label("unknown field")
                    .help(format!(
                        "a step has {}",
                        decode::one_of(template::STEP_FIELDS)
                    )),
                );
            }
            _ => {}
        }
    }

    /// The span of `needle` (a reference) inside a string node, or the node's span.
    fn find_in(&self, node: &Node, text: &str, reference: &str) -> Span {
        let slice = self.source.slice(node.span);
        let (root, rest) = template::split_reference(reference);
        let mut candidates = vec![reference.to_owned()];
        if let Some(first) = rest.first() {
            candidates.push(format!("{root}.{first}"));
        }
        candidates.push(root.to_owned());
        for candidate in candidates {
            // The candidate as a whole name: `params.hos` must not match inside `params.host`.
            let whole = slice.match_indices(&candidate).find(|(pos, _)| {
                let after = slice[pos + candidate.len()..].chars().next();
                !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if let Some((pos, _)) = whole {
                return node.span.sub(pos, candidate.len());
            }
        }
        let _ = text;
        node.span
    }

    /// Map a byte range inside a string's value to the source, when the string is written
    /// plainly or quoted without escapes; otherwise the whole node.
    fn inner_span(&self, node: &Node, text: &str, range: std::ops::Range<usize>) -> Span {
        let slice = self.source.slice(node.span);
        let start = range.start.min(text.len());
        let len = range.end.saturating_sub(range.start).max(1);
        let offset = if slice.starts_with(text) {
            Some(0)
        } else if (slice.starts_with('"') || slice.starts_with('\''))
            && slice[1..].starts_with(text)
        {
            Some(1)
        } else {
            None
        };
        match offset {
            Some(o) => node
                .span
                .sub(o + start, len.min(text.len().saturating_sub(start)).max(1)),
            None => node.span,
        }
    }

    // ---- warnings --------------------------------------------------------------------------

    fn warn_unused_outputs(&mut self, decoded: &[Decoded<'_>], used: &HashSet<(usize, String)>) {
        for (i, d) in decoded.iter().enumerate() {
            let id = d.node.get("id").map(Node::scalar_text).unwrap_or_default();
            for (key, _) in d.node.get("outputs").and_then(Node::as_map).unwrap_or(&[]) {
                let name = key.scalar_text();
                if !used.contains(&(i, name.clone())) {
                    self.push(
                        Diagnostic::warning(
                            Code::UnusedOutput,
                            key.span,
                            format!("output `{name}` of step `{id}` is never used"),
                        )
                        .label("unused")
                        .help(format!(
                            "use it as `{{{{ steps.{id}.outputs.{name} }}}}` or remove it"
                        )),
                    );
                }
            }
        }
    }

    fn warn_unguarded_irreversible(&mut self, decoded: &[Decoded<'_>], dag: &Dag) {
        for (i, d) in decoded.iter().enumerate() {
            let (Some(kind), Some(with)) = (d.kind, &d.with) else {
                continue;
            };
            if kind.effect(Some(with)) != Effect::Irreversible {
                continue;
            }
            // Finally steps run after every main step, so all of those count as before them.
            let main = decoded
                .iter()
                .take_while(|d| d.phase == Phase::Main)
                .count();
            let before: Vec<usize> = if d.phase == Phase::Finally {
                (0..main).chain(dag.ancestors(i)).collect()
            } else {
                dag.ancestors(i).collect()
            };
            let guarded = before.iter().any(|&a| guards(&decoded[a], d));
            if !guarded {
                let id = d.node.get("id").map(Node::scalar_text).unwrap_or_default();
                let span = d.node.get("type").map_or(d.node.span, |n| n.span);
                self.push(
                    Diagnostic::warning(
                        Code::Irreversible,
                        span,
                        format!(
                            "irreversible step `{id}` has no approval or restore point before it"
                        ),
                    )
                    .label(format!("`{}` here cannot be undone", kind.name()))
                    .help("add an `approval` step (or a restore-point copy) and put it in `needs`"),
                );
            }
        }
    }
}

/// The text of a scalar node (`5` reads as "5"); `None` for lists and mappings.
fn scalar(node: &Node) -> Option<String> {
    match &node.value {
        Value::Seq(_) | Value::Map(_) => None,
        _ => Some(node.scalar_text()),
    }
}

/// Keys are the same when their scalar text is (`1` and `"1"` collide, as in YAML tools).
fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => a.scalar_text() == b.scalar_text(),
    }
}

/// Whether `guard` (a step before `step`) makes the irreversible `step` acceptable: an approval
/// always does; a copy that keeps the old state (a restore point) does for S3 steps; creating
/// the namespace a step deletes makes it the run's own resource.
fn guards(guard: &Decoded<'_>, step: &Decoded<'_>) -> bool {
    use crate::catalog::{NamespaceDeleteWith, NamespaceWith};
    let s3 = |k: Option<StepKind>| k.is_some_and(|k| k.info().family == crate::catalog::Family::S3);
    match (guard.kind, &guard.with) {
        (Some(StepKind::Approval), _) => true,
        (Some(StepKind::S3Copy), _) => s3(step.kind),
        (Some(StepKind::S3Sync), Some(w)) => {
            s3(step.kind) && StepKind::S3Sync.effect(Some(w)) == Effect::Write
        }
        (Some(StepKind::KubeNamespaceCreate), Some(w)) => {
            let created = w.get::<NamespaceWith>().map(|w| &w.name);
            let deleted = step
                .with
                .as_ref()
                .and_then(|s| s.get::<NamespaceDeleteWith>())
                .map(|w| &w.name);
            created.is_some() && created == deleted
        }
        _ => false,
    }
}

struct RefContext<'a, 'n> {
    step: usize,
    site: Site,
    decoded: &'a [Decoded<'n>],
    ids: &'a HashMap<String, usize>,
    dag: Option<&'a Dag>,
    params: Option<&'a indexmap::IndexMap<String, Param>>,
    main_count: usize,
}

/// Call `f` on every string scalar under `node` (values, not keys).
fn collect_strings<'n>(node: &'n Node, f: &mut impl FnMut(&'n Node)) {
    match &node.value {
        Value::Str(_) => f(node),
        Value::Seq(items) => items.iter().for_each(|i| collect_strings(i, f)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, f)),
        _ => {}
    }
}

/// The key node at `span` anywhere under `node`.
fn find_key_at(node: &Node, span: Span) -> Option<&Node> {
    match &node.value {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| {
            if k.span == span {
                Some(k)
            } else {
                find_key_at(v, span)
            }
        }),
        Value::Seq(items) => items.iter().find_map(|i| find_key_at(i, span)),
        _ => None,
    }
}
