//! Pass 5, templates and expressions: their syntax, then every reference in them: `params.*`
//! against the declared params, `run.*` against the run's fields, `result.*` only in a step's
//! own gates and against its type's result fields, `steps.<id>.*` against the step's ids, its
//! declared outputs and its ancestors in the DAG. Output names are checked here too, since
//! they are what `steps.<id>.outputs.<name>` reads.
//!
//! Runs after the needs pass: whether a step may read another's outputs depends on the DAG.
//! With a cycle there is no DAG; then only ancestry goes unchecked. It collects the outputs
//! that are read, for the unused-output warning.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use super::{Decoded, Phase, Validator};
use crate::decode;
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::Dag;
use crate::model::Param;
use crate::node::{Node, Value};
use crate::source::Span;
use crate::suggest::closest;
use crate::template::{self, SyntaxError};

/// Outputs read somewhere: (index of the producing step, output name).
pub(super) type UsedOutputs = HashSet<(usize, String)>;

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

/// One string of a step to check as a template, or (`expression`) as an expression.
struct Checked<'n> {
    node: &'n Node,
    site: Site,
    expression: bool,
}

/// What references are checked against: the steps, their ids, the DAG and the params.
struct Scope<'a, 'n> {
    decoded: &'a [Decoded<'n>],
    ids: &'a HashMap<String, usize>,
    /// `None` with a cycle: ancestry is then unknown and not checked.
    dag: Option<&'a Dag>,
    /// `None` when `params` was unusable: uses of params are then not checked.
    params: Option<&'a IndexMap<String, Param>>,
    main_count: usize,
}

/// A reference found in step `step`, in a string at `site`, at `span` in the source.
#[derive(Clone, Copy)]
struct At {
    step: usize,
    site: Site,
    span: Span,
}

impl Validator {
    /// Check every template and expression of every step; the outputs they read.
    pub(super) fn check_references(
        &mut self,
        decoded: &[Decoded<'_>],
        ids: &HashMap<String, usize>,
        dag: Option<&Dag>,
        params: Option<&IndexMap<String, Param>>,
    ) -> UsedOutputs {
        let scope = Scope {
            decoded,
            ids,
            dag,
            params,
            main_count: decoded.iter().filter(|d| d.phase == Phase::Main).count(),
        };
        let mut used = UsedOutputs::new();
        for (i, d) in decoded.iter().enumerate() {
            self.check_output_names(d);
            for checked in checked_strings(d) {
                self.check_string(&scope, i, &checked, &mut used);
            }
        }
        used
    }

    fn check_output_names(&mut self, d: &Decoded<'_>) {
        for (key, _) in d.node.get("outputs").and_then(Node::as_map).unwrap_or(&[]) {
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
        }
    }

    /// One string of step `step`: its syntax, then each reference in it.
    fn check_string(
        &mut self,
        scope: &Scope<'_, '_>,
        step: usize,
        checked: &Checked<'_>,
        used: &mut UsedOutputs,
    ) {
        let node = checked.node;
        let Some(text) = node.as_str() else { return };
        let parsed = if checked.expression {
            template::expression_references(&self.env, text)
        } else {
            template::template_references(&self.env, text)
        };
        let refs = match parsed {
            Ok(refs) => refs,
            Err(e) => return self.syntax_error(node, text, checked.expression, &e),
        };
        for reference in &refs {
            let (root, rest) = template::split_reference(reference);
            let at = At {
                step,
                site: checked.site,
                span: self.find_in(node, reference),
            };
            match root {
                "params" => self.check_param_ref(scope, &rest, at),
                "run" => self.check_run_ref(&rest, at),
                "result" => self.check_result_ref(scope, &rest, at),
                "steps" => self.check_step_ref(scope, &rest, at, used),
                other if template::FUNCTIONS.contains(&other) => {}
                other => self.unknown_root(other, at),
            }
        }
    }

    fn syntax_error(&mut self, node: &Node, text: &str, expression: bool, e: &SyntaxError) {
        let span = e
            .range
            .clone()
            .map_or(node.span, |r| self.inner_span(node, text, r));
        let what = if expression { "expression" } else { "template" };
        let help = if expression {
            "expressions are minijinja without braces, e.g. `result.count > 0`"
        } else {
            "templates are minijinja: `{{ params.name }}`, `{{ steps.id.outputs.x }}`"
        };
        self.push(
            Diagnostic::error(Code::Template, span, format!("{what} error: {}", e.message))
                .label("here")
                .help(help),
        );
    }

    fn check_param_ref(&mut self, scope: &Scope<'_, '_>, rest: &[&str], at: At) {
        let Some(params) = scope.params else { return };
        let Some(&name) = rest.first() else { return };
        if params.contains_key(name) {
            return;
        }
        let d = Diagnostic::error(
            Code::UnknownParam,
            at.span,
            format!("unknown param `{name}`"),
        )
        .label("not declared under `params`");
        let d = match closest(name, params.keys().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `params.{s}`?")),
            None => d.help(format!(
                "declare it: `params: {{{name}: {{type: string}}}}`"
            )),
        };
        self.push(d);
    }

    fn check_run_ref(&mut self, rest: &[&str], at: At) {
        let Some(&field) = rest.first() else { return };
        if template::RUN_FIELDS.contains(&field) {
            return;
        }
        self.push(
            Diagnostic::error(
                Code::Template,
                at.span,
                format!("`run` has no field `{field}`"),
            )
            .label("unknown field")
            .help(format!(
                "`run` has {}",
                decode::one_of(template::RUN_FIELDS)
            )),
        );
    }

    /// `result` exists only in the step's own gates, with its type's result fields.
    fn check_result_ref(&mut self, scope: &Scope<'_, '_>, rest: &[&str], at: At) {
        if at.site != Site::Gate {
            self.push(
                Diagnostic::error(
                    Code::Template,
                    at.span,
                    "`result` is only known after the step ran",
                )
                .label("used before the step has a result")
                .help("use `result` in this step's `outputs`, `verify` or `until`"),
            );
            return;
        }
        let (Some(&field), Some(kind)) = (rest.first(), scope.decoded[at.step].kind) else {
            return;
        };
        let fields = kind.info().result_fields;
        if fields.contains(&field) {
            return;
        }
        let d = Diagnostic::error(
            Code::Template,
            at.span,
            format!("`{}` returns no field `{field}`", kind.name()),
        )
        .label("unknown result field");
        let d = match closest(field, fields.iter().copied()) {
            Some(s) => d.help(format!("did you mean `result.{s}`?")),
            None => d.help(format!("`result` has {}", decode::one_of(fields))),
        };
        self.push(d);
    }

    fn unknown_root(&mut self, root: &str, at: At) {
        let d = Diagnostic::error(
            Code::Template,
            at.span,
            format!("unknown variable `{root}`"),
        )
        .label("not defined in templates");
        let d = match closest(root, template::ROOTS.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("templates can read `params`, `steps`, `run` and `result`"),
        };
        self.push(d);
    }

    /// `steps.<id>...`: a known step, one that has run by then, and a field or output it has.
    fn check_step_ref(
        &mut self,
        scope: &Scope<'_, '_>,
        rest: &[&str],
        at: At,
        used: &mut UsedOutputs,
    ) {
        let Some(&target_id) = rest.first() else {
            return;
        };
        let Some(&target) = scope.ids.get(target_id) else {
            return self.unknown_step(scope, target_id, at);
        };
        // A read of an output counts as a use even when it is misplaced (that has its own error).
        if rest.get(1) == Some(&"outputs")
            && let Some(&output) = rest.get(2)
        {
            used.insert((target, output.to_owned()));
        }
        let Some(dag) = scope.dag else { return };
        if !visible(scope, dag, target, at) {
            return self.not_ancestor(scope, target, target_id, at);
        }
        match rest.get(1).copied() {
            Some("outputs") => {
                if let Some(&output) = rest.get(2) {
                    self.check_output_ref(scope, target, target_id, output, at);
                }
            }
            Some(field) if !template::STEP_FIELDS.contains(&field) => self.push(
                Diagnostic::error(
                    Code::Template,
                    at.span,
                    format!("`steps.{target_id}` has no field `{field}`"),
                )
                .label("unknown field")
                .help(format!(
                    "a step has {}",
                    decode::one_of(template::STEP_FIELDS)
                )),
            ),
            _ => {}
        }
    }

    fn unknown_step(&mut self, scope: &Scope<'_, '_>, target_id: &str, at: At) {
        let d = Diagnostic::error(
            Code::UnknownStep,
            at.span,
            format!("unknown step `{target_id}`"),
        )
        .label("no step has this id");
        let d = match closest(target_id, scope.ids.keys().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `steps.{s}`?")),
            None => d.help("reference an earlier step's outputs as `steps.<id>.outputs.<name>`"),
        };
        self.push(d);
    }

    fn not_ancestor(&mut self, scope: &Scope<'_, '_>, target: usize, target_id: &str, at: At) {
        let here_id = step_id(&scope.decoded[at.step]);
        let d = if target == at.step {
            Diagnostic::error(
                Code::NotAncestor,
                at.span,
                format!("step `{here_id}` reads its own outputs"),
            )
            .label("not known yet")
            .help("use `result` inside this step's `outputs`, `verify` or `until`")
        } else {
            Diagnostic::error(
                Code::NotAncestor,
                at.span,
                format!("step `{here_id}` reads outputs of `{target_id}`, which it does not need"),
            )
            .label(format!("`{target_id}` may not have run yet"))
            .help(format!("add `{target_id}` to `needs` of `{here_id}`"))
        };
        self.push(d);
    }

    /// `steps.<target>.outputs.<output>`: the target declares that output.
    fn check_output_ref(
        &mut self,
        scope: &Scope<'_, '_>,
        target: usize,
        target_id: &str,
        output: &str,
        at: At,
    ) {
        let declared: Vec<String> = scope.decoded[target]
            .node
            .get("outputs")
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, _)| k.scalar_text()).collect())
            .unwrap_or_default();
        if declared.iter().any(|o| o == output) {
            return;
        }
        let d = Diagnostic::error(
            Code::UnknownStep,
            at.span,
            format!("step `{target_id}` has no output `{output}`"),
        )
        .label("not declared under its `outputs`");
        let d = match closest(output, declared.iter().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `steps.{target_id}.outputs.{s}`?")),
            None => d.help(format!(
                "declare it on `{target_id}`: `outputs: {{{output}: \"{{{{ result.... }}}}\"}}`"
            )),
        };
        self.push(d);
    }

    /// The span of `reference` inside a string node: the reference as written, else its first
    /// two parts, else its root; the node's span when none is found.
    fn find_in(&self, node: &Node, reference: &str) -> Span {
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
}

/// Whether the step at `at` may read `target`'s outputs. Finally steps may read any main step;
/// compensations their own step; the rest need the producer as an ancestor.
fn visible(scope: &Scope<'_, '_>, dag: &Dag, target: usize, at: At) -> bool {
    let here = &scope.decoded[at.step];
    if target == at.step {
        return at.site == Site::Compensate;
    }
    dag.is_ancestor(target, at.step) || (here.phase == Phase::Finally && target < scope.main_count)
}

fn step_id(d: &Decoded<'_>) -> String {
    d.node.get("id").map(Node::scalar_text).unwrap_or_default()
}

/// The strings of a step that hold templates or expressions, in document order of the keys
/// that hold them: `with`, `when`, `outputs`, `verify`, `until`, `compensate.with`.
fn checked_strings<'n>(d: &Decoded<'n>) -> Vec<Checked<'n>> {
    let mut out = Vec::new();
    let mut add = |node, site, expression| {
        out.push(Checked {
            node,
            site,
            expression,
        })
    };
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
            add(n, Site::Input, is_expr);
        });
    }
    if let Some(when) = d.node.get("when") {
        add(when, Site::Input, true);
    }
    for (_, value) in d.node.get("outputs").and_then(Node::as_map).unwrap_or(&[]) {
        add(value, Site::Gate, false);
    }
    for check in d.node.get("verify").and_then(Node::as_seq).unwrap_or(&[]) {
        if let Some(expr) = check.get("expr") {
            add(expr, Site::Gate, true);
        }
        if let Some(msg) = check.get("message") {
            add(msg, Site::Gate, false);
        }
    }
    if let Some(expr) = d.node.get("until").and_then(|u| u.get("expr")) {
        add(expr, Site::Gate, true);
    }
    if let Some(with) = d.node.get("compensate").and_then(|c| c.get("with")) {
        collect_strings(with, &mut |n| add(n, Site::Compensate, false));
    }
    out
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
