//! In-process snapshots of the language crate: the diagnostics of every malformed fixture in
//! `tests/fixtures/invalid/`, of the rules serde cannot express (per-type `with` checks, step
//! values, params), and the plan of every example runbook in `runbooks/`.
//!
//! The binary's snapshots (`tests/snapshots/validate__*`, `plan__*`) pin what a user sees; these
//! pin what the crate returns (codes, exact spans, labels, related places, help) without a
//! build of the CLI, so a change in validation shows up in `cargo test -p ripcord-spec`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ripcord_spec::diagnostic::{Diagnostic, Severity};
use ripcord_spec::{SourceFile, Validated, validate};

/// The workspace root (fixtures and runbooks live there, not in this crate).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.yaml` files of a workspace directory, sorted by name.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .yaml files in {dir}");
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// One diagnostic per block: `line:col severity[code]: message`, then its label (with the
/// span's text), related places and help, so a snapshot shows exactly what each one points at.
fn describe(source: &SourceFile, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            out,
            "{} {severity}[{}]: {}",
            source.line_col(d.span.start),
            d.code.as_str(),
            d.message
        );
        let _ = writeln!(
            out,
            "    label {:?} at {:?}",
            d.label,
            excerpt(source, d.span)
        );
        for (span, label) in &d.related {
            let _ = writeln!(
                out,
                "    related {} {label:?} at {:?}",
                source.line_col(span.start),
                excerpt(source, *span)
            );
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "    help: {help}");
        }
    }
    if diagnostics.is_empty() {
        out.push_str("(no diagnostics)\n");
    }
    out
}

/// The text a span covers, cut to one line of at most 40 characters.
fn excerpt(source: &SourceFile, span: ripcord_spec::source::Span) -> String {
    let text = source.slice(span);
    let first = text.lines().next().unwrap_or("");
    let mut cut: String = first.chars().take(40).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[test]
fn invalid_fixtures() {
    for path in yaml_files("tests/fixtures/invalid") {
        let name = stem(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let outcome = validate(SourceFile::new(format!("{name}.yaml"), text));
        assert!(
            !outcome.diagnostics.is_empty(),
            "{name}.yaml is in invalid/ but has no diagnostic"
        );
        insta::assert_snapshot!(
            format!("invalid__{name}"),
            describe(&outcome.source, &outcome.diagnostics)
        );
    }
}

fn runbook(steps: &str) -> String {
    format!("apiVersion: ripcord/v1\nkind: Runbook\nmetadata: {{name: r, version: 1.0.0}}\n{steps}")
}

/// Small runbooks for the rules serde cannot express, one per rule; all in one snapshot.
const RULES: &[(&str, &str)] = &[
    (
        "pods.delete with name and selector",
        "steps:\n  - id: a\n    type: kube.pods.delete\n    with: {namespace: n, name: p, selector: app=x}\n",
    ),
    (
        "pods.delete with neither",
        "steps:\n  - id: a\n    type: kube.pods.delete\n    with: {namespace: n}\n",
    ),
    (
        "exec with pod and selector",
        "steps:\n  - id: a\n    type: kube.exec\n    with: {namespace: n, pod: p, selector: s, command: [ls]}\n",
    ),
    (
        "apply with neither manifests nor file",
        "steps:\n  - id: a\n    type: kube.apply\n    with: {namespace: n}\n",
    ),
    (
        "apply without with",
        "steps:\n  - id: a\n    type: kube.apply\n",
    ),
    (
        "shell with empty argv",
        "steps:\n  - id: a\n    type: shell\n    with:\n      argv: []\n",
    ),
    (
        "s3.sync with plain paths",
        "steps:\n  - id: a\n    type: s3.sync\n    with: {source: /bucket/a/, dest: \"bucket/b/\"}\n",
    ),
    (
        "s3.copy with a templated source and a bad dest",
        "params: {src: {type: string, default: \"s3://a/b\"}}\nsteps:\n  - id: a\n    type: s3.copy\n    with: {source: \"{{ params.src }}\", dest: 'c/d'}\n",
    ),
    (
        // The URL rule reads the typed value: a number decodes as its text and is no URL.
        "s3.copy with a number for dest",
        "steps:\n  - id: a\n    type: s3.copy\n    with: {source: \"s3://a/b\", dest: 5}\n",
    ),
    (
        "route53 failover without set_identifier",
        "steps:\n  - id: ok\n    type: approval\n    with: {prompt: go}\n  - id: a\n    type: route53.change_records\n    needs: [ok]\n    with:\n      zone_id: Z1\n      changes:\n        - {action: UPSERT, name: a.example.com., type: A, values: [1.2.3.4], set_identifier: p, failover: PRIMARY}\n        - {action: UPSERT, name: b.example.com., type: A, values: [1.2.3.4], failover: SECONDARY}\n",
    ),
    (
        "compensate with both pod and selector",
        "steps:\n  - id: a\n    type: http\n    with: {url: http://x}\n    compensate:\n      type: kube.pods.delete\n      with: {namespace: n, name: p, selector: s}\n",
    ),
    (
        "retry values out of range",
        "steps:\n  - id: a\n    type: http\n    with: {url: http://x}\n    retry: {attempts: 0, jitter: 1.5, initial: 10s, max: 1s}\n",
    ),
    (
        "zero timeout",
        "steps:\n  - id: a\n    type: http\n    with: {url: http://x}\n    timeout: 0s\n",
    ),
    (
        "until interval longer than its timeout, step timeout shorter",
        "steps:\n  - id: a\n    type: http\n    with: {url: http://x}\n    timeout: 5s\n    until: {expr: result.status == 200, interval: 1m, timeout: 30s}\n",
    ),
    (
        "param default of the wrong type and outside enum",
        "params:\n  n: {type: int, default: many}\n  e: {type: string, enum: [a, b], default: c}\n  bad-name: {type: string}\nsteps:\n  - {id: a, type: http, with: {url: \"http://x/{{ params.n }}{{ params.e }}\"}}\n",
    ),
    (
        "bad runbook name, wrong apiVersion and kind",
        "apiVersion: ripcord/v2\nkind: Playbook\nmetadata: {name: Data_Recovery, version: 1.0.0}\nsteps:\n  - {id: a, type: http, with: {url: http://x}}\n",
    ),
    (
        "steps is not a list, and finally is empty",
        "steps: {id: a}\nfinally:\n",
    ),
    (
        "needs across phases",
        "steps:\n  - {id: a, type: http, with: {url: http://x}, needs: [f]}\nfinally:\n  - {id: f, type: http, with: {url: http://x}, needs: [a]}\n",
    ),
    (
        "references: run, result, steps fields and unknown roots",
        "steps:\n  - id: a\n    type: http\n    with: {url: \"http://x/{{ run.nope }}/{{ result.status }}/{{ steps.b.status }}/{{ stepz.a }}\"}\n    outputs: {code: \"{{ result.statuz }}\", bad-name: \"{{ result.status }}\"}\n  - id: b\n    type: http\n    needs: [a]\n    with: {url: \"http://x/{{ steps.a.outputs.code }}{{ steps.a.outputz }}{{ steps.b.outputs.x }}\"}\n",
    ),
    (
        "irreversible guarded by a namespace the run created",
        "steps:\n  - {id: mk, type: kube.namespace.create, with: {name: scratch}}\n  - {id: rm, type: kube.namespace.delete, needs: [mk], with: {name: scratch}}\n  - {id: rm_other, type: kube.namespace.delete, needs: [mk], with: {name: other}}\n",
    ),
    (
        "finally reads a main step; compensate reads its own outputs",
        "steps:\n  - id: a\n    type: http\n    with: {url: http://x}\n    outputs: {s: \"{{ result.status }}\"}\n    compensate: {type: http, with: {url: \"http://x/{{ steps.a.outputs.s }}\"}}\nfinally:\n  - {id: f, type: http, with: {url: \"http://x/{{ steps.a.outputs.s }}\"}}\n",
    ),
];

#[test]
fn rules_serde_cannot_express() {
    let mut out = String::new();
    for (title, body) in RULES {
        let text = if body.starts_with("apiVersion") {
            (*body).to_owned()
        } else {
            runbook(body)
        };
        let outcome = validate(SourceFile::new("r.yaml", text));
        let _ = writeln!(
            out,
            "== {title} ({})",
            if outcome.validated.is_some() {
                "valid"
            } else {
                "invalid"
            }
        );
        out.push_str(&describe(&outcome.source, &outcome.diagnostics));
        out.push('\n');
    }
    insta::assert_snapshot!("rules", out);
}

/// Parameters a runbook needs to plan (required ones without a default), as `ripcord plan -p`.
fn required_params(name: &str) -> Vec<(String, String)> {
    match name {
        "node-recovery" => vec![("node".into(), "worker-7".into())],
        _ => Vec::new(),
    }
}

/// A plan in a few lines: the estimate, then each wave's steps with their facts.
fn compact_plan(v: &Validated, given: &[(String, String)]) -> String {
    let params = ripcord_spec::params::resolve(&v.runbook.params, given, |_| None)
        .unwrap_or_else(|e| panic!("params of {}: {e:?}", v.runbook.metadata.name));
    let plan = ripcord_spec::plan::plan(v, &params);
    let e = &plan.estimate;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}@{} · {} steps · {} waves",
        plan.runbook.name,
        plan.runbook.version,
        plan.steps.len(),
        plan.waves.len()
    );
    let _ = writeln!(
        out,
        "expected {} via {}",
        e.expected,
        e.critical_path.join(" -> ")
    );
    let _ = writeln!(
        out,
        "worst {} via {}",
        e.worst_case,
        e.worst_case_path.join(" -> ")
    );
    let _ = writeln!(out, "verdict {}: {}", json_name(&e.verdict), e.message);
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for wave in &plan.waves {
        let _ = writeln!(out, "wave {} ({})", wave.index, json_name(&wave.phase));
        for id in &wave.steps {
            let s = plan.steps.iter().find(|s| &s.id == id).unwrap();
            let _ = write!(
                out,
                "  {} {} {}{} timeout {}{} ×{} exp {}{} worst {} on-failure {}",
                s.id,
                s.step_type,
                s.effect,
                if s.idempotent { "" } else { " not-idempotent" },
                s.timeout.value,
                if s.timeout.default { "*" } else { "" },
                s.attempts,
                s.expected.value,
                if s.expected.default { "*" } else { "" },
                s.worst_case,
                json_name(&s.on_failure)
            );
            if !s.needs.is_empty() {
                let _ = write!(out, " needs [{}]", s.needs.join(", "));
            }
            if let Some(when) = &s.when {
                let _ = write!(out, " when `{}` = {:?}", when.expr, when.value);
            }
            if s.gates > 0 {
                let _ = write!(out, " gates {}", s.gates);
            }
            if let Some(c) = s.compensate {
                let _ = write!(out, " compensate {c}");
            }
            if s.skipped {
                out.push_str(" SKIPPED");
            }
            out.push('\n');
        }
    }
    out
}

/// A unit enum's serde name (`"abort"`), as the JSON plan spells it.
fn json_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value).unwrap() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

#[test]
fn runbook_plans() {
    for path in yaml_files("runbooks") {
        let name = stem(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let outcome = validate(SourceFile::new(format!("{name}.yaml"), text));
        let validated = outcome.validated.as_ref().unwrap_or_else(|| {
            panic!(
                "{name}.yaml does not validate:\n{}",
                describe(&outcome.source, &outcome.diagnostics)
            )
        });
        let mut snapshot = compact_plan(validated, &required_params(&name));
        if !outcome.diagnostics.is_empty() {
            snapshot.push_str("\nwarnings:\n");
            snapshot.push_str(&describe(&outcome.source, &outcome.diagnostics));
        }
        insta::assert_snapshot!(format!("plan__{name}"), snapshot);
    }
}
