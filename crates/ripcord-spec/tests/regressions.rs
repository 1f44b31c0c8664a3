//! Bugs found while writing the test suite, each pinned by the smallest input that shows it.
//! Every test here states what should happen; they fail until the bug is fixed.

use std::collections::HashSet;

use ripcord_spec::{SourceFile, validate};

fn minimal(steps: &str) -> String {
    format!("apiVersion: ripcord/v1\nkind: Runbook\nmetadata: {{name: r, version: 1.0.0}}\n{steps}")
}

fn check(text: &str) -> ripcord_spec::Validation {
    validate(SourceFile::new("r.yaml", text))
}

/// `type: 5` is decoded as the string "5" by serde, but the step-type check (validate/steps.rs
/// `step_kind`) skips nodes that are not strings: no diagnostic at all, yet no validated
/// runbook. `ripcord validate` says "valid" and `ripcord plan` panics.
#[test]
fn numeric_step_type_is_an_error() {
    let outcome = check(&minimal("steps:\n  - {id: a, type: 5, with: {url: x}}\n"));
    assert!(
        outcome.has_errors(),
        "`type: 5` produced no error (validated: {})",
        outcome.validated.is_some()
    );
}

/// No error must mean a validated runbook: callers (`ripcord plan`) rely on it.
#[test]
fn no_errors_means_validated_for_numeric_types() {
    for ty in ["5", "1.5", "-3", "0x10"] {
        let outcome = check(&minimal(&format!(
            "steps:\n  - {{id: a, type: {ty}, with: {{url: x}}}}\n"
        )));
        assert_eq!(
            outcome.validated.is_some(),
            !outcome.has_errors(),
            "`type: {ty}`: {:?}",
            outcome.diagnostics
        );
    }
}

/// A compensation with a numeric type is silently dropped instead of reported.
#[test]
fn numeric_compensation_type_is_an_error() {
    let outcome = check(&minimal(
        "steps:\n  - {id: a, type: http, with: {url: x}, compensate: {type: 5}}\n",
    ));
    assert!(
        outcome.has_errors(),
        "`compensate: {{type: 5}}` produced no error"
    );
}

/// Two steps with `id: 5`: not an identifier, and a duplicate; neither is reported (the id
/// checks only look at string nodes), and `needs: ["5"]` then names an "unknown" step.
#[test]
fn numeric_step_ids_are_checked() {
    let outcome = check(&minimal(
        "steps:\n  - {id: 5, type: http, with: {url: x}}\n  - {id: 5, type: http, with: {url: z}}\n",
    ));
    assert!(
        outcome.has_errors(),
        "numeric, duplicated step ids produced no error"
    );
}

/// "Did you mean" among equally close candidates is chosen by HashMap iteration order
/// (validate/needs.rs passes `ids.keys()` of a HashMap to `suggest::closest`, which keeps the
/// last maximum): the help text changes from run to run.
#[test]
fn suggestions_are_deterministic() {
    let text = minimal(
        "steps:\n  - {id: restore_a, type: http, with: {url: x}}\n  - {id: restore_b, type: http, with: {url: x}}\n  - {id: restore_c, type: http, with: {url: x}}\n  - {id: check, type: http, needs: [restore_], with: {url: x}}\n",
    );
    let helps: HashSet<Option<String>> = (0..32)
        .map(|_| {
            check(&text)
                .diagnostics
                .first()
                .and_then(|d| d.help.clone())
        })
        .collect();
    assert_eq!(
        helps.len(),
        1,
        "the suggestion changes from run to run: {helps:?}"
    );
}

/// A reference is located by searching its text in the string (validate/references.rs `find_in`), so an
/// unknown `params.hos` is reported at the valid `params.host` before it.
#[test]
fn reference_location_is_not_a_prefix_match() {
    let url = "http://{{ params.host }}/{{ params.hos }}";
    let text = minimal(&format!(
        "params:\n  host: {{type: string, default: h}}\nsteps:\n  - id: a\n    type: http\n    with:\n      url: \"{url}\"\n"
    ));
    let outcome = check(&text);
    let d = outcome
        .diagnostics
        .iter()
        .find(|d| d.message.contains("unknown param `hos`"))
        .expect("the unknown param is reported");
    let want = text.find("params.hos }}").unwrap();
    assert_eq!(
        outcome.source.line_col(d.span.start),
        outcome.source.line_col(want),
        "`params.hos` is reported inside `params.host`"
    );
}

/// A `finally` step that needs a main step once kept its wave number from the whole DAG, so the
/// plan got empty `finally` waves before it. Either such a need is refused, or the plan has no
/// empty wave.
#[test]
fn finally_needing_a_main_step_has_no_empty_waves() {
    let text = minimal(
        "steps:\n  - {id: a, type: http, with: {url: x}}\n  - {id: b, type: http, needs: [a], with: {url: x}}\nfinally:\n  - {id: report, type: http, needs: [b], with: {url: x}}\n",
    );
    let outcome = check(&text);
    let Some(v) = outcome.validated else {
        let d = outcome
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .expect("an error");
        assert_eq!(
            outcome.source.slice(d.span),
            "b",
            "the refused need is pointed at: {d:?}"
        );
        return;
    };
    let params = ripcord_spec::params::resolve(&v.runbook.params, &[], |_| None).unwrap();
    let plan = ripcord_spec::plan::plan(&v, &params);
    let shape: Vec<(usize, usize)> = plan
        .waves
        .iter()
        .map(|w| (w.index, w.steps.len()))
        .collect();
    assert!(
        plan.waves.iter().all(|w| !w.steps.is_empty()),
        "empty waves (index, steps): {shape:?}"
    );
}

/// `Code` serializes with serde's kebab-case names (used by `validate --format json`) but
/// renders with `Code::as_str` (human and short formats): the two must be the same code.
/// `Code::Irreversible` is `irreversible` in JSON but `irreversible-unguarded` elsewhere.
#[test]
fn diagnostic_codes_are_the_same_in_json() {
    use ripcord_spec::diagnostic::Code;
    let all = [
        Code::Yaml,
        Code::UnknownKey,
        Code::DuplicateKey,
        Code::WrongType,
        Code::MissingField,
        Code::BadValue,
        Code::UnknownStepType,
        Code::DuplicateStepId,
        Code::UnknownNeeds,
        Code::Cycle,
        Code::NotAncestor,
        Code::UnknownParam,
        Code::UnknownStep,
        Code::Template,
        Code::UnusedOutput,
        Code::Irreversible,
        Code::BadParam,
    ];
    let mismatched: Vec<String> = all
        .iter()
        .filter(|c| serde_json::to_value(c).unwrap() != c.as_str())
        .map(|c| {
            format!(
                "{c:?}: json {} vs {}",
                serde_json::to_value(c).unwrap(),
                c.as_str()
            )
        })
        .collect();
    assert!(mismatched.is_empty(), "{mismatched:#?}");
}
