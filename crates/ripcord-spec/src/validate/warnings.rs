//! Pass 6, warnings: declared outputs that nothing reads, and irreversible steps with no
//! approval or restore point before them.
//!
//! Runs last and only with a DAG: "before" means an ancestor, and which outputs are read is
//! what the references pass collected. Warnings do not stop a runbook from validating.

use super::references::UsedOutputs;
use super::{Decoded, Phase, Validator};
use crate::catalog::{Effect, Family, NamespaceDeleteWith, NamespaceWith, StepKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::Dag;
use crate::node::Node;

impl Validator {
    /// Declared outputs that no template reads.
    pub(super) fn warn_unused_outputs(&mut self, decoded: &[Decoded<'_>], used: &UsedOutputs) {
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

    /// Irreversible steps with nothing before them that makes them acceptable (see [`guards`]).
    pub(super) fn warn_unguarded_irreversible(&mut self, decoded: &[Decoded<'_>], dag: &Dag) {
        let main = decoded
            .iter()
            .take_while(|d| d.phase == Phase::Main)
            .count();
        for (i, d) in decoded.iter().enumerate() {
            let (Some(kind), Some(with)) = (d.kind, &d.with) else {
                continue;
            };
            if kind.effect(Some(with)) != Effect::Irreversible {
                continue;
            }
            // Finally steps run after every main step, so all of those count as before them.
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

/// Whether `guard` (a step before `step`) makes the irreversible `step` acceptable: an approval
/// always does; a copy that keeps the old state (a restore point) does for S3 steps; creating
/// the namespace a step deletes makes it the run's own resource.
fn guards(guard: &Decoded<'_>, step: &Decoded<'_>) -> bool {
    let s3 = |k: Option<StepKind>| k.is_some_and(|k| k.info().family == Family::S3);
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
