//! Pass 3, steps: the `steps` and `finally` lists, each step's typed structure, its type, its
//! `with` and its `compensate`, and the values serde cannot range-check (retry, timeouts,
//! polling).
//!
//! A `with` is decoded into its type's struct first, then given to that struct's own checks
//! (`check` beside each struct in [`crate::catalog`]), so a per-type rule sees typed values.
//! Steps are decoded even when an earlier one failed: the later passes check ids, needs and
//! templates of every step that has them.

use super::{Decoded, Phase, Validator, scalar};
use crate::catalog::{StepKind, TypedWith, WithPlace};
use crate::decode::{self, DecodeErrorKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::Step;
use crate::node::{Node, Value};

impl Validator {
    /// Every step of `steps` then `finally`, in document order.
    pub(super) fn decode_steps<'n>(&mut self, root: &'n Node) -> Vec<Decoded<'n>> {
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
        self.check_some_main_step(root, &decoded);
        decoded
    }

    /// `steps` present but without a main step, unless its place is already reported.
    fn check_some_main_step(&mut self, root: &Node, decoded: &[Decoded<'_>]) {
        let Some(steps) = root.get("steps") else {
            return;
        };
        if decoded.iter().all(|d| d.phase == Phase::Finally)
            && !self.diagnostics.iter().any(|d| d.span == steps.span)
        {
            self.push(
                Diagnostic::error(
                    Code::BadValue,
                    steps.span,
                    "a runbook needs at least one step",
                )
                .label("empty")
                .help("add a step such as `- {id: check, type: http, with: {url: ...}}`"),
            );
        }
    }

    /// One step: its typed structure, type, `with`, `compensate` and values.
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
        self.check_retry(step, node);
        self.check_timing(step, node);
    }

    /// `retry`: at least one attempt, jitter a fraction, `initial` no longer than `max`.
    fn check_retry(&mut self, step: &Step, node: &Node) {
        let at = |path: &[&str]| at_path(node, path);
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
    }

    /// `timeout` longer than zero; `until` polls at a sane interval within the step's timeout.
    fn check_timing(&mut self, step: &Step, node: &Node) {
        let at = |path: &[&str]| at_path(node, path);
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

    /// The catalog entry named by `type`, with a "did you mean" when there is none.
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

    /// A `with` decoded into its type's struct, missing fields named against the type.
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
        self.check_with(kind, &with, node);
        Some(with)
    }

    /// The type's own rules (beside its struct in [`crate::catalog`]), each problem reported
    /// at its place in `node`, the `with` mapping.
    fn check_with(&mut self, kind: StepKind, with: &TypedWith, node: &Node) {
        for problem in with.check(kind) {
            let at = match problem.at {
                WithPlace::Whole => None,
                WithPlace::Field(field) => node.get(field),
                WithPlace::Item(field, i) => node
                    .get(field)
                    .and_then(Node::as_seq)
                    .and_then(|items| items.get(i)),
            };
            self.push(
                Diagnostic::error(
                    problem.code,
                    at.map_or(node.span, |n| n.span),
                    problem.message,
                )
                .label(problem.label)
                .help(problem.help),
            );
        }
    }
}

/// The span of the node at `path` under `node`, or `node`'s own when it is not there.
fn at_path(node: &Node, path: &[&str]) -> crate::source::Span {
    path.iter()
        .try_fold(node, |n, key| n.get(key))
        .map_or(node.span, |n| n.span)
}
