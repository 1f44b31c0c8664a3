//! Validation: from source text to a [`Validated`] runbook, or to every problem at once.
//!
//! Each pass reports all it finds and hands the next what it worked out; none stops at the
//! first problem. In order:
//!
//! 1. [`document`]: YAML syntax, duplicate keys (dropped, so later passes see one value per
//!    key), the top-level shape, `apiVersion`, `kind`, `metadata`, `objectives`.
//! 2. [`params`]: parameter names, types and defaults. Before the steps: templates are checked
//!    against the declared params.
//! 3. [`steps`]: each step's typed structure (unknown keys, wrong types, missing fields, bad
//!    durations), its type, its `with` (typed, then the type's own checks beside its struct in
//!    [`crate::catalog`]), `compensate`, and ranges serde cannot express.
//! 4. [`needs`]: step ids, `needs` resolved to indices, the DAG and its cycles. Needs every
//!    step's id first, so it runs after all steps are decoded.
//! 5. [`references`]: templates and expressions (syntax, params, `run`, `result` outside a
//!    step's own gates, outputs of steps that are not ancestors). Ancestry needs the DAG; with a
//!    cycle the other reference checks still run.
//! 6. [`warnings`]: unused outputs (from the uses the references pass collected) and
//!    irreversible steps without an approval or restore point before them (from the DAG).
//!
//! Diagnostics are sorted by position at the end, so the order above decides only what each
//! pass can rely on, and the order of diagnostics that start at the same place.

mod document;
mod needs;
mod params;
mod references;
mod steps;
mod warnings;

use crate::catalog::{Effect, StepKind, TypedWith};
use crate::decode::{self, DecodeError, DecodeErrorKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::Dag;
use crate::model::{Metadata, Objectives, Param, Runbook, Step};
use crate::node::{Node, Value};
use crate::source::{SourceFile, Span};
use crate::suggest::closest;
use crate::template;

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

/// The result of [`validate`]: every diagnostic, and the runbook when there was no error.
#[derive(Debug)]
pub struct Validation {
    pub source: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    pub validated: Option<Validated>,
}

impl Validation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Validate a runbook's text.
pub fn validate(source: SourceFile) -> Validation {
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
    Validation {
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

/// The runbook's header fields, each `None` when it was missing or wrong (already reported).
struct Header {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<Metadata>,
    objectives: Option<Objectives>,
}

impl Validator {
    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// The passes in order (see the module documentation); the runbook only when every piece
    /// decoded and the steps form a DAG.
    fn run(&mut self) -> Option<Validated> {
        let root = self.parse()?;
        self.check_top_level(&root)?;
        let header = self.header(&root);
        let params = self.decode_params(&root);
        let decoded = self.decode_steps(&root);
        let ids = self.check_ids(&decoded);
        let needs = self.resolve_needs(&decoded, &ids);
        let dag = self.build_dag(&decoded, &needs);
        // Without a DAG (a cycle), ancestry is undefined: check everything else.
        let used_outputs = self.check_references(&decoded, &ids, dag.as_ref(), params.as_ref());
        let dag = dag?;
        self.warn_unused_outputs(&decoded, &used_outputs);
        self.warn_unguarded_irreversible(&decoded, &dag);
        self.assemble(header, params?, decoded, &needs, dag)
    }

    /// The [`Validated`] runbook, when every piece decoded.
    fn assemble(
        &self,
        header: Header,
        params: indexmap::IndexMap<String, Param>,
        decoded: Vec<Decoded<'_>>,
        needs: &[Vec<usize>],
        dag: Dag,
    ) -> Option<Validated> {
        let (api_version, kind, metadata) = (header.api_version?, header.kind?, header.metadata?);
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
                objectives: header.objectives,
                params,
                steps,
                finally,
            },
            steps: infos,
            dag,
            warnings: Vec::new(),
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        let (value, errors) = decode::decode(node);
        self.report_decode_errors(node, errors);
        value
    }

    fn report_decode_errors(&mut self, node: &Node, errors: Vec<DecodeError>) {
        for e in errors {
            let d = self.decode_diagnostic(node, &e);
            self.push(d);
        }
    }

    /// A decoding error as a diagnostic, at its own place or else at `node`.
    fn decode_diagnostic(&self, node: &Node, e: &DecodeError) -> Diagnostic {
        let span = e.span.unwrap_or(node.span);
        match &e.kind {
            DecodeErrorKind::UnknownField { field, expected } => {
                let key = find_key_at(node, span).unwrap_or(node);
                self.unknown_key_diagnostic(key, field, expected)
            }
            DecodeErrorKind::UnknownVariant { variant, expected } => {
                let d = Diagnostic::error(Code::BadValue, span, e.to_string())
                    .label("not a known value");
                match closest(variant, expected.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d,
                }
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
            // Custom errors carry their help after "; " (e.g. durations, in `values`).
            DecodeErrorKind::Message(m) => match m.split_once("; ") {
                Some((message, help)) => Diagnostic::error(Code::BadValue, span, message)
                    .label("here")
                    .help(help),
                None => Diagnostic::error(Code::BadValue, span, m.clone()).label("here"),
            },
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
}

/// The text of a scalar node (`5` reads as "5"); `None` for lists and mappings.
fn scalar(node: &Node) -> Option<String> {
    match &node.value {
        Value::Seq(_) | Value::Map(_) => None,
        _ => Some(node.scalar_text()),
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
