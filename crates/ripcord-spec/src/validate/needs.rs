//! Pass 4, ids and needs: step ids (valid, unique), `needs` resolved to step indices (known,
//! same phase), and the DAG built from them, with each cycle reported once.
//!
//! Runs after every step is decoded (a step may need one defined later) and before the
//! references pass, which asks the DAG whether a step it reads from is an ancestor.

use std::collections::HashMap;

use super::{Decoded, Phase, Validator, scalar};
use crate::diagnostic::{Code, Diagnostic};
use crate::graph::Dag;
use crate::node::Node;
use crate::suggest::closest;
use crate::template;

impl Validator {
    /// Step ids: usable in templates and unique across `steps` and `finally`; id -> index.
    pub(super) fn check_ids(&mut self, decoded: &[Decoded<'_>]) -> HashMap<String, usize> {
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

    /// Each step's `needs` as indices, without repeats; unknown and cross-phase needs reported.
    pub(super) fn resolve_needs(
        &mut self,
        decoded: &[Decoded<'_>],
        ids: &HashMap<String, usize>,
    ) -> Vec<Vec<usize>> {
        let mut all = Vec::with_capacity(decoded.len());
        for d in decoded {
            let mut needs = Vec::new();
            let items = d.node.get("needs").and_then(Node::as_seq).unwrap_or(&[]);
            for item in items {
                if let Some(t) = self.resolve_need(decoded, d.phase, item, ids)
                    && !needs.contains(&t)
                {
                    needs.push(t);
                }
            }
            all.push(needs);
        }
        all
    }

    /// One `needs` entry of a step in `phase`: the index it names, if that is a step it may need.
    fn resolve_need(
        &mut self,
        decoded: &[Decoded<'_>],
        phase: Phase,
        item: &Node,
        ids: &HashMap<String, usize>,
    ) -> Option<usize> {
        let target = scalar(item)?;
        let target = target.as_str();
        let Some(&t) = ids.get(target) else {
            let d = Diagnostic::error(
                Code::UnknownNeeds,
                item.span,
                format!("`needs` names unknown step `{target}`"),
            )
            .label("no step has this id");
            let d = match closest(target, ids.keys().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("list the ids of steps defined in this runbook"),
            };
            self.push(d);
            return None;
        };
        match (phase, decoded[t].phase) {
            (Phase::Finally, Phase::Main) => self.push(
                Diagnostic::error(
                    Code::UnknownNeeds,
                    item.span,
                    format!("finally step needs main step `{target}`"),
                )
                .label("finally steps already run after every main step")
                .help("drop this need; `needs` in `finally` may only name other finally steps"),
            ),
            (Phase::Main, Phase::Finally) => self.push(
                Diagnostic::error(
                    Code::UnknownNeeds,
                    item.span,
                    format!("step `{target}` is a `finally` step"),
                )
                .label("main steps cannot need finally steps")
                .help("move the step out of `finally`, or drop this need"),
            ),
            _ => return Some(t),
        }
        None
    }

    /// The DAG of the resolved needs; `None` (each cycle reported) when there is none.
    pub(super) fn build_dag(
        &mut self,
        decoded: &[Decoded<'_>],
        needs: &[Vec<usize>],
    ) -> Option<Dag> {
        match Dag::build(needs) {
            Ok(dag) => Some(dag),
            Err(cycles) => {
                for cycle in cycles {
                    self.report_cycle(decoded, &cycle);
                }
                None
            }
        }
    }

    /// One diagnostic per cycle: at the `needs` entry that closes it, each other edge related.
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
}
