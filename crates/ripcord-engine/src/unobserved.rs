//! In a dry run: which values were never observed, so that nothing reads them as if they were.
//!
//! A step its executor did not simulate has no real result; its outputs derived from that
//! result are unknown, and so is everything that reads them: a gate is then *unknown* (neither
//! passed nor failed), a step whose input or `when` reads them is *not simulated* itself.
//! Dependence is found statically, from the dotted references a template or expression reads
//! (`steps.restore.outputs.count`, `result.exit_code`).

use std::collections::{BTreeMap, HashMap, HashSet};

use minijinja::Environment;
use ripcord_spec::StepKind;
use ripcord_spec::catalog::expression_fields;
use ripcord_spec::template::{
    References, expression_references, split_reference, template_references,
};
use serde_json::Value as Json;

/// The unobserved values of a dry run so far.
#[derive(Default, Debug)]
pub(crate) struct Unobserved {
    /// Steps whose result was not observed.
    results: HashSet<String>,
    /// Outputs derived from an unobserved value: step id -> output name -> the step that was
    /// not simulated, where the unknown came from.
    outputs: HashMap<String, BTreeMap<String, String>>,
}

/// A reference to an unobserved value: where the unknown comes from, and why for people.
pub(crate) struct Unknown {
    /// The step that was not simulated.
    pub(crate) origin: String,
    /// `reads `steps.x.outputs.y`, which the dry run did not observe (...)`.
    pub(crate) why: String,
}

impl Unobserved {
    /// Step `id`'s result was not observed.
    pub(crate) fn result(&mut self, id: &str) {
        self.results.insert(id.to_owned());
    }

    /// Output `name` of step `id` is unknown, because step `origin` was not simulated.
    pub(crate) fn output(&mut self, id: &str, name: &str, origin: &str) {
        self.outputs
            .entry(id.to_owned())
            .or_default()
            .insert(name.to_owned(), origin.to_owned());
    }

    /// Why a value reading `refs` is unknown, if it is. `own` is the step whose `result` the
    /// references may read (gates, outputs, `until`).
    pub(crate) fn why(&self, refs: &References, own: Option<&str>) -> Option<String> {
        self.unknown(refs, own).map(|u| u.why)
    }

    /// The first reference of `refs` to an unobserved value.
    pub(crate) fn unknown(&self, refs: &References, own: Option<&str>) -> Option<Unknown> {
        refs.iter().find_map(|r| self.unknown_one(r, own))
    }

    fn unknown_one(&self, reference: &str, own: Option<&str>) -> Option<Unknown> {
        let (root, rest) = split_reference(reference);
        match root {
            "result" => {
                let id = own.filter(|id| self.results.contains(*id))?;
                Some(Unknown {
                    origin: id.to_owned(),
                    why: format!("reads `{reference}` of `{id}`, which was not simulated"),
                })
            }
            "steps" => {
                let id = rest.first()?;
                let unknown = self.outputs.get(*id)?;
                // `steps.x.status` is always known; `steps.x`, `steps.x.outputs` and
                // `steps.x.outputs.<unknown>` are not.
                let (name, origin) = match (rest.get(1), rest.get(2)) {
                    (Some(&"outputs"), Some(name)) => (*name, unknown.get(*name)?),
                    (Some(&"outputs") | None, None) => {
                        let (name, origin) = unknown.iter().next()?;
                        (name.as_str(), origin)
                    }
                    _ => return None,
                };
                Some(Unknown {
                    origin: origin.clone(),
                    why: format!(
                        "reads `steps.{id}.outputs.{name}`, which the dry run did not observe \
                         (`{origin}` was not simulated)"
                    ),
                })
            }
            _ => None,
        }
    }
}

/// What a step's input reads: templates in its fields, expressions in its expression fields
/// (an `assert`'s `expr`, evaluated by its executor).
pub(crate) fn input_references(env: &Environment<'_>, kind: StepKind, with: &Json) -> References {
    let mut refs = References::new();
    let keep = expression_fields(kind);
    if let Json::Object(map) = with {
        for (k, v) in map {
            match v {
                Json::String(expr) if keep.contains(&k.as_str()) => {
                    refs.extend(expression_references(env, expr).unwrap_or_default());
                }
                other => collect_template_references(env, other, &mut refs),
            }
        }
    }
    refs
}

/// What the templates in a JSON value read.
fn collect_template_references(env: &Environment<'_>, value: &Json, refs: &mut References) {
    match value {
        Json::String(s) => refs.extend(template_references(env, s).unwrap_or_default()),
        Json::Array(items) => items
            .iter()
            .for_each(|i| collect_template_references(env, i, refs)),
        Json::Object(map) => map
            .values()
            .for_each(|v| collect_template_references(env, v, refs)),
        _ => {}
    }
}

/// What a template string reads (empty when it does not parse: rendering it will say why).
pub(crate) fn template(env: &Environment<'_>, text: &str) -> References {
    template_references(env, text).unwrap_or_default()
}

/// What an expression reads (empty when it does not parse: evaluating it will say why).
pub(crate) fn expression(env: &Environment<'_>, expr: &str) -> References {
    expression_references(env, expr).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(list: &[&str]) -> References {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unknown_outputs_and_results_make_readers_unknown() {
        let mut u = Unobserved::default();
        u.result("restart");
        u.output("restart", "pod", "restart");
        assert!(
            u.why(&refs(&["result.exit_code"]), Some("restart"))
                .is_some()
        );
        assert!(u.why(&refs(&["result.exit_code"]), Some("other")).is_none());
        assert!(u.why(&refs(&["steps.restart.outputs.pod"]), None).is_some());
        assert!(u.why(&refs(&["steps.restart.outputs"]), None).is_some());
        assert!(u.why(&refs(&["steps.restart"]), None).is_some());
        assert!(u.why(&refs(&["steps.restart.status"]), None).is_none());
        assert!(
            u.why(&refs(&["steps.restart.outputs.other"]), None)
                .is_none()
        );
        assert!(u.why(&refs(&["params.x", "run.id"]), None).is_none());
    }

    #[test]
    fn input_references_cover_templates_and_expression_fields() {
        let env = ripcord_spec::template::environment();
        let with = serde_json::json!({"expr": "steps.a.outputs.n > 1", "message": "{{ steps.b.outputs.m }}"});
        let r = input_references(&env, StepKind::Assert, &with);
        assert!(r.contains("steps.a.outputs.n"), "{r:?}");
        assert!(r.contains("steps.b.outputs.m"), "{r:?}");
    }
}
