//! End-to-end tests of `ripcord plan`: text snapshots of the example runbooks, the JSON form,
//! the 100-column limit, secret redaction, the graph formats and parameter errors.

mod common;

use std::collections::HashMap;

use common::{Run, root, run, run_cmd, runbooks, stem};
use serde_json::Value;

/// The parameters a runbook needs to plan (required ones without a default).
fn required_params(path: &str) -> &'static [&'static str] {
    match stem(path) {
        "node-recovery" => &["-p", "node=worker-7"],
        _ => &[],
    }
}

fn plan(path: &str, format: &str) -> Run {
    let mut args = vec!["plan", path, "--format", format];
    args.extend_from_slice(required_params(path));
    let r = run(&args);
    assert_eq!(
        r.code,
        0,
        "`ripcord {}` failed:\n{}",
        args.join(" "),
        r.stderr
    );
    r
}

fn plan_json(path: &str) -> Value {
    let r = plan(path, "json");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "plan --format json of {path} is not JSON ({e}):\n{}",
            r.stdout
        )
    })
}

/// The text plan with the content hash masked: the hash is checked on its own (below), and
/// masking it keeps the snapshots stable when a comment in a runbook changes.
fn text_for_snapshot(path: &str, text: &str) -> String {
    let bytes = std::fs::read(root().join(path)).unwrap();
    let short = &ripcord_spec::sha256_hex(&bytes)[..12];
    let marker = format!("sha256 {short}");
    assert!(
        text.contains(&marker),
        "the header shows `{marker}`:\n{text}"
    );
    text.replacen(&marker, "sha256 [content-hash]", 1)
}

macro_rules! plan_snapshots {
    ($($test:ident: $name:literal;)*) => {$(
        #[test]
        fn $test() {
            let path = concat!("runbooks/", $name, ".yaml");
            let r = plan(path, "text");
            assert!(r.stderr.is_empty(), "plan printed to stderr:\n{}", r.stderr);
            insta::assert_snapshot!($name, text_for_snapshot(path, &r.stdout));
        }
    )*};
}

plan_snapshots! {
    plan_data_recovery: "data-recovery";
    plan_node_recovery: "node-recovery";
    plan_pod_recovery: "pod-recovery";
    plan_region_failover: "region-failover";
    plan_backup_verification: "backup-verification";
    plan_dr_drill: "dr-drill";
}

#[test]
fn every_runbook_has_a_plan_snapshot() {
    let source = std::fs::read_to_string(root().join("tests/plan.rs")).unwrap();
    for path in runbooks() {
        assert!(
            source.contains(&format!(": \"{}\";", stem(&path))),
            "{path} has no plan snapshot test in tests/plan.rs"
        );
    }
}

#[test]
fn plans_are_deterministic() {
    for path in runbooks() {
        for format in ["text", "json", "mermaid", "dot"] {
            let first = plan(&path, format).stdout;
            let second = plan(&path, format).stdout;
            assert_eq!(
                first, second,
                "{path} --format {format} differs between runs"
            );
        }
    }
}

// ---- JSON ------------------------------------------------------------------------------------

#[test]
fn json_plan_of_data_recovery() {
    let path = "runbooks/data-recovery.yaml";
    let plan = plan_json(path);
    let waves = plan["waves"].as_array().expect("`waves` is an array");
    assert!(!waves.is_empty());
    for wave in waves {
        assert!(wave["index"].is_u64(), "{wave}");
        assert!(
            matches!(wave["phase"].as_str(), Some("main" | "finally")),
            "{wave}"
        );
        assert!(
            !wave["steps"].as_array().unwrap().is_empty(),
            "empty wave: {wave}"
        );
    }
    let steps = plan["steps"].as_array().expect("`steps` is an array");
    assert!(!steps.is_empty());
    for step in steps {
        assert!(
            matches!(
                step["effect"].as_str(),
                Some("read" | "write" | "irreversible")
            ),
            "step without a valid effect: {step}"
        );
        assert!(step["id"].is_string() && step["type"].is_string(), "{step}");
    }
    assert!(
        steps.iter().any(|s| s["effect"] == "write"),
        "data-recovery restores a bucket: some step writes"
    );
    let verdict = plan["estimate"]["verdict"]
        .as_str()
        .expect("estimate.verdict is a string");
    assert!(
        [
            "fits",
            "worst_case_exceeds",
            "expected_exceeds",
            "no_objective"
        ]
        .contains(&verdict),
        "unknown verdict {verdict}"
    );
    assert_ne!(verdict, "no_objective", "data-recovery declares an RTO");
    assert!(
        plan["estimate"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let bytes = std::fs::read(root().join(path)).unwrap();
    assert_eq!(
        plan["runbook"]["content_sha256"],
        ripcord_spec::sha256_hex(&bytes)
    );
    assert_eq!(plan["runbook"]["name"], "data-recovery");
}

/// Every step is in exactly one wave, its `wave` field names that wave, and a step's wave comes
/// after the waves of everything it needs.
#[test]
fn every_step_is_in_exactly_one_wave() {
    for path in runbooks() {
        let plan = plan_json(&path);
        let mut wave_of: HashMap<String, u64> = HashMap::new();
        for wave in plan["waves"].as_array().unwrap() {
            for id in wave["steps"].as_array().unwrap() {
                let id = id.as_str().unwrap().to_owned();
                let previous = wave_of.insert(id.clone(), wave["index"].as_u64().unwrap());
                assert!(previous.is_none(), "{path}: `{id}` is in two waves");
            }
        }
        let steps = plan["steps"].as_array().unwrap();
        assert_eq!(
            wave_of.len(),
            steps.len(),
            "{path}: some step is in no wave"
        );
        for step in steps {
            let id = step["id"].as_str().unwrap();
            assert_eq!(
                step["wave"].as_u64(),
                wave_of.get(id).copied(),
                "{path}: {id}"
            );
            for need in step["needs"].as_array().unwrap() {
                let need = need.as_str().unwrap();
                assert!(
                    wave_of[need] < wave_of[id],
                    "{path}: `{id}` runs no later than `{need}`, which it needs"
                );
            }
        }
    }
}

// ---- width -----------------------------------------------------------------------------------

const WIDTH: usize = 100;

/// Lines of a text plan longer than the width (in characters, not bytes).
fn too_long(path: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.chars().count() > WIDTH)
        .map(|(i, l)| format!("{path}:{} ({} chars): {l}", i + 1, l.chars().count()))
        .collect()
}

fn assert_fits(long: &[String]) {
    assert!(
        long.is_empty(),
        "text plan lines over {WIDTH} characters:\n{}",
        long.join("\n")
    );
}

#[test]
fn text_plans_fit_in_100_columns() {
    let mut long = Vec::new();
    for path in runbooks() {
        long.extend(too_long(&path, &plan(&path, "text").stdout));
    }
    assert_fits(&long);
}

/// Long names, ids, values and unicode everywhere: still cut to the width, counted in chars.
#[test]
fn long_values_are_cut_to_100_columns() {
    let path = "tests/fixtures/plan/long-lines.yaml";
    let r = plan(path, "text");
    assert!(
        r.stdout.contains('…'),
        "long values are cut with an ellipsis"
    );
    assert_fits(&too_long(path, &r.stdout));
}

// ---- secrets ---------------------------------------------------------------------------------

const CANARY: &str = "CANARY-s3cr3t-42";
const SECRET_FIXTURE: &str = "tests/fixtures/plan/secret-token.yaml";

fn assert_no_canary(how: &str, format: &str, r: &Run) {
    assert_eq!(r.code, 0, "{how} --format {format}:\n{}", r.stderr);
    assert!(!r.stdout.is_empty(), "{how} --format {format}: empty plan");
    for (fragment, what) in [
        (CANARY, "the secret"),
        ("s3cr3t", "part of the secret"),
        ("CANARY-S3CR3T-42", "the secret upper-cased"),
        ("CANARYs3cr3t42", "the secret without dashes"),
    ] {
        assert!(
            !r.all_output().contains(fragment),
            "{how} --format {format} leaked {what}:\nstdout:\n{}\nstderr:\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn secret_given_with_p_never_appears() {
    for format in ["text", "json", "mermaid", "dot"] {
        let token = format!("token={CANARY}");
        let r = run(&["plan", SECRET_FIXTURE, "-p", &token, "--format", format]);
        assert_no_canary("-p token=...", format, &r);
        if format == "text" || format == "json" {
            assert!(
                r.stdout.contains("***"),
                "the secret shows as ***:\n{}",
                r.stdout
            );
        }
    }
}

#[test]
fn secret_from_the_environment_never_appears() {
    for format in ["text", "json", "mermaid", "dot"] {
        let r = run_cmd(
            common::ripcord()
                .args(["plan", SECRET_FIXTURE, "--format", format])
                .env("RIPCORD_PARAM_TOKEN", CANARY),
        );
        assert_no_canary("RIPCORD_PARAM_TOKEN", format, &r);
    }
}

#[test]
fn secret_source_is_shown_but_not_its_value() {
    let r = run_cmd(
        common::ripcord()
            .args(["plan", SECRET_FIXTURE, "--format", "json"])
            .env("RIPCORD_PARAM_TOKEN", CANARY),
    );
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let token = plan["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "token")
        .expect("the token param is listed");
    assert_eq!(token["value"], "***");
    assert_eq!(token["source"], "env");
    assert_eq!(token["type"], "secret");
}

/// Parameter errors next to a secret do not echo it.
#[test]
fn param_errors_do_not_echo_the_secret() {
    let token = format!("token={CANARY}");
    let r = run(&["plan", SECRET_FIXTURE, "-p", &token, "-p", "tokn=x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.all_output().contains(CANARY), "{}", r.all_output());
}

#[test]
fn missing_secret_points_at_the_environment_variable() {
    let r = run(&["plan", SECRET_FIXTURE]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("param `token` is required"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("RIPCORD_PARAM_TOKEN"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no plan without params:\n{}", r.stdout);
}

// ---- graph formats ---------------------------------------------------------------------------

#[test]
fn mermaid_is_a_flowchart_of_every_step() {
    for path in runbooks() {
        let r = plan(&path, "mermaid");
        assert!(r.stdout.starts_with("flowchart"), "{path}:\n{}", r.stdout);
        check_graph(&path, &r.stdout, " --> ");
    }
}

#[test]
fn dot_is_a_digraph_of_every_step() {
    for path in runbooks() {
        let r = plan(&path, "dot");
        assert!(r.stdout.starts_with("digraph"), "{path}:\n{}", r.stdout);
        assert!(r.stdout.trim_end().ends_with('}'), "{path}:\n{}", r.stdout);
        check_graph(&path, &r.stdout, " -> ");
    }
}

/// Every step id appears, and there is one edge per `needs` entry.
fn check_graph(path: &str, graph: &str, arrow: &str) {
    let plan = plan_json(path);
    let steps = plan["steps"].as_array().unwrap();
    let mut edges = 0;
    for step in steps {
        let id = step["id"].as_str().unwrap();
        assert!(graph.contains(id), "{path}: `{id}` missing from\n{graph}");
        edges += step["needs"].as_array().unwrap().len();
    }
    assert_eq!(
        graph.matches(arrow).count(),
        edges,
        "{path}: edges in\n{graph}"
    );
}

// ---- params and errors -----------------------------------------------------------------------

#[test]
fn unknown_param_suggests_the_closest() {
    let r = run(&[
        "plan",
        "runbooks/data-recovery.yaml",
        "-p",
        "bukcet=restore-me",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("unknown param `bukcet`"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `bucket`?"), "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "no plan with bad params:\n{}",
        r.stdout
    );
}

#[test]
fn given_params_show_in_the_plan() {
    let r = run(&[
        "plan",
        "runbooks/node-recovery.yaml",
        "-p",
        "node=worker-42",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let node = plan["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "node")
        .unwrap();
    assert_eq!(node["value"], "worker-42");
    assert_eq!(node["source"], "given");
}

#[test]
fn missing_required_param_is_reported() {
    let r = run(&["plan", "runbooks/node-recovery.yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("param `node` is required: pass `-p node=...`"),
        "{}",
        r.stderr
    );
}

#[test]
fn param_without_equals_sign_is_reported() {
    let r = run(&["plan", "runbooks/data-recovery.yaml", "-p", "bucket"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("`bucket` is not `name=value`"),
        "{}",
        r.stderr
    );
}

#[test]
fn invalid_runbook_has_no_plan() {
    let r = run(&["plan", "tests/fixtures/invalid/unknown-needs.yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown-needs.yaml:13:13"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("invalid, no plan"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn warnings_do_not_stop_the_plan() {
    let r = run(&["plan", "tests/fixtures/invalid/irreversible-unguarded.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Warnings"), "{}", r.stdout);
    assert!(
        r.stdout.contains("irreversible-unguarded.yaml:8:11"),
        "{}",
        r.stdout
    );
}

#[test]
fn missing_file_is_a_usage_error() {
    let r = run(&["plan", "runbooks/does-not-exist.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// Regression: `type: 5` passes validation without a diagnostic but yields no runbook, and
/// `plan` then panics on "no errors means validated" (crates/ripcord-cli/src/commands.rs).
#[test]
fn plan_of_numeric_step_type_does_not_panic() {
    let r = run(&["plan", "tests/fixtures/bugs/numeric-step-type.yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// A `finally` step that needs a main step once produced empty "Finally, wave 1..3" blocks
/// before "Finally, wave 4". Either such a need is refused (at the need), or the plan has no
/// empty wave.
#[test]
fn finally_step_needing_a_main_step_has_no_empty_waves() {
    let path = "tests/fixtures/bugs/finally-needs-main.yaml";
    let r = run(&["plan", path, "--format", "json"]);
    if r.code == 1 {
        assert!(
            r.stderr.contains("finally-needs-main.yaml:24:13"),
            "{}",
            r.stderr
        );
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let empty: Vec<&Value> = plan["waves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["steps"].as_array().is_some_and(Vec::is_empty))
        .collect();
    assert!(empty.is_empty(), "empty waves: {empty:?}");
}
