//! End-to-end tests of `ripcord validate`: one malformed fixture per diagnostic, each checked for
//! its exit code, the exact `file:line:col` of the offending token, its code and a helpful
//! message, and snapshotted; plus the example runbooks, the output formats and I/O errors.

mod common;

use common::{Run, root, run, runbooks, yaml_files_in};
use serde_json::Value;

/// Expectations for one fixture in `tests/fixtures/invalid/`.
struct Case {
    /// File stem, also the snapshot name.
    name: &'static str,
    /// 1 for errors, 0 for warning-only fixtures.
    exit: i32,
    /// `line:col` of the offending token.
    at: &'static str,
    /// `error` or `warning`.
    severity: &'static str,
    /// The diagnostic code, as in `error[code]`.
    code: &'static str,
    /// Text the rendering must contain: the message, the help (did you mean ...), labels.
    expect: &'static [&'static str],
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/invalid/{name}.yaml")
}

fn check(case: Case) {
    let path = fixture(case.name);
    let human = run(&["validate", "--color", "never", &path]);
    assert_eq!(
        human.code, case.exit,
        "exit code of `ripcord validate {path}`\nstderr:\n{}",
        human.stderr
    );
    let location = format!("{}.yaml:{}", case.name, case.at);
    assert!(
        human.stderr.contains(&location),
        "expected the diagnostic at `{location}`, got:\n{}",
        human.stderr
    );
    let header = format!("{}[{}]", case.severity, case.code);
    assert!(
        human.stderr.contains(&header),
        "expected `{header}`, got:\n{}",
        human.stderr
    );
    for text in case.expect {
        assert!(
            human.stderr.contains(text),
            "expected {text:?} in:\n{}",
            human.stderr
        );
    }
    let verdict = if case.exit == 0 { "valid" } else { "invalid" };
    assert!(
        human.stderr.contains(&format!("{path}: {verdict} (")),
        "expected the summary line `{path}: {verdict} (...)`, got:\n{}",
        human.stderr
    );
    assert!(
        human.stdout.is_empty(),
        "human diagnostics go to stderr:\n{}",
        human.stdout
    );
    insta::assert_snapshot!(case.name, human.stderr);

    // Each fixture is otherwise valid: exactly this one diagnostic, at the same place in JSON.
    let json = run(&["validate", "--format", "json", &path]);
    assert_eq!(json.code, case.exit, "exit code with --format json");
    let items = parse_json_array(&json);
    assert_eq!(
        items.len(),
        1,
        "the fixture should produce exactly one diagnostic, got:\n{}",
        json.stdout
    );
    let d = &items[0];
    let (line, col) = case.at.split_once(':').expect("`at` is line:col");
    assert_eq!(d["file"], path.as_str());
    assert_eq!(d["line"].as_u64(), Some(line.parse().unwrap()), "{d}");
    assert_eq!(d["column"].as_u64(), Some(col.parse().unwrap()), "{d}");
    assert_eq!(d["severity"], case.severity, "{d}");
    assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
    // The code itself is compared in `json_codes_are_the_human_codes`.
}

/// Parse `--format json` output: one JSON array on stdout, nothing on stderr.
fn parse_json_array(run: &Run) -> Vec<Value> {
    let value: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "--format json output is not one JSON document ({e}):\n{}",
            run.stdout
        )
    });
    match value {
        Value::Array(items) => items,
        other => panic!("expected a JSON array, got {other}"),
    }
}

macro_rules! fixtures {
    ($(
        $test:ident: $name:literal => exit $exit:literal at $at:literal,
            $severity:ident[$code:literal] $expect:expr;
    )*) => {$(
        #[test]
        fn $test() {
            check(Case {
                name: $name,
                exit: $exit,
                at: $at,
                severity: stringify!($severity),
                code: $code,
                expect: &$expect,
            });
        }
    )*};
}

fixtures! {
    unknown_key: "unknown-key" => exit 1 at "13:5",
        error["unknown-key"] ["unknown key `neds`", "did you mean `needs`?"];
    unknown_key_in_with: "unknown-key-in-with" => exit 1 at "12:7",
        error["unknown-key"] ["unknown key `concurrrency`", "did you mean `concurrency`?"];
    unknown_step_type: "unknown-step-type" => exit 1 at "8:11",
        error["unknown-step-type"] ["unknown step type `kube.nodes.drian`", "did you mean `kube.nodes.drain`?"];
    wrong_value_type: "wrong-value-type" => exit 1 at "11:23",
        error["wrong-type"] ["expected a whole number", "found the string \"three\""];
    missing_field: "missing-field" => exit 1 at "11:5",
        error["missing-field"] ["missing field `id`", "add `id: ...`"];
    duplicate_step_id: "duplicate-step-id" => exit 1 at "11:9",
        error["duplicate-step-id"] ["duplicate step id `check`", "first used here", "used again here"];
    duplicate_key: "duplicate-key" => exit 1 at "12:5",
        error["duplicate-key"] ["duplicate key `timeout`", "first defined here", "defined again here"];
    unknown_needs: "unknown-needs" => exit 1 at "13:13",
        error["unknown-needs"] ["`needs` names unknown step `fecth`", "did you mean `fetch`?"];
    dependency_cycle: "dependency-cycle" => exit 1 at "14:13",
        error["cycle"] [
            "dependency cycle: second -> third -> first -> second",
            "`first` needs `third`",
            "`second` needs `first`",
            "`third` needs `second`",
            "remove one of these `needs`",
        ];
    not_ancestor: "not-ancestor" => exit 1 at "23:50",
        error["not-ancestor"] [
            "step `fetch` reads outputs of `find`, which it does not need",
            "help: add `find` to `needs` of `fetch`",
        ];
    unknown_param: "unknown-param" => exit 1 at "14:38",
        error["unknown-param"] ["unknown param `namepsace`", "did you mean `params.namespace`?"];
    unknown_output: "unknown-output" => exit 1 at "24:50",
        error["unknown-step"] [
            "step `find` has no output `lastest`",
            "did you mean `steps.find.outputs.latest`?",
        ];
    bad_duration: "bad-duration" => exit 1 at "11:14",
        error["bad-value"] ["invalid duration `5 minutes and a bit`", "e.g. `30s`, `5m`"];
    bad_semver: "bad-semver" => exit 1 at "5:12",
        error["bad-value"] ["invalid version `1.0.beta`", "e.g. `1.0.0`"];
    template_syntax: "template-syntax" => exit 1 at "14:60",
        error["template"] ["template error:", "templates are minijinja"];
    expression_syntax: "expression-syntax" => exit 1 at "13:32",
        error["template"] ["expression error: unexpected `==`"];
    result_outside_gate: "result-outside-gate" => exit 1 at "9:11",
        error["template"] [
            "`result` is only known after the step ran",
            "use `result` in this step's `outputs`, `verify` or `until`",
        ];
    unused_output: "unused-output" => exit 0 at "13:7",
        warning["unused-output"] [
            "output `latest` of step `find` is never used",
            "{{ steps.find.outputs.latest }}",
        ];
    irreversible_unguarded: "irreversible-unguarded" => exit 0 at "8:11",
        warning["irreversible-unguarded"] [
            "irreversible step `wipe` has no approval or restore point before it",
            "add an `approval` step",
        ];
    yaml_syntax: "yaml-syntax" => exit 1 at "11:24",
        error["yaml"] ["invalid YAML", "bracket"];
    secret_default: "secret-default" => exit 1 at "9:14",
        error["bad-param"] ["secret param `token` has a default", "RIPCORD_PARAM_<NAME>"];
    invalid_step_id: "invalid-step-id" => exit 1 at "7:9",
        error["bad-value"] ["invalid step id `check-health`", "e.g. `check_health`"];
    not_a_mapping: "not-a-mapping" => exit 1 at "1:1",
        error["wrong-type"] ["a runbook is a mapping, found a list"];
    empty_file: "empty-file" => exit 1 at "1:1",
        error["yaml"] ["the file is empty"];
}

/// Every fixture in the folder has a test above (a new fixture without one fails here).
#[test]
fn every_invalid_fixture_is_covered() {
    let source = std::fs::read_to_string(root().join("tests/validate.rs")).unwrap();
    for path in yaml_files_in("tests/fixtures/invalid") {
        let stem = common::stem(&path);
        assert!(
            source.contains(&format!("\"{stem}\" =>")),
            "{path} has no case in tests/validate.rs"
        );
    }
}

/// Template errors point inside the string, not at its start.
#[test]
fn template_error_points_inside_the_string() {
    let text = std::fs::read_to_string(root().join(fixture("template-syntax"))).unwrap();
    let (line, string_start) = common::locate(&text, "url:", "\"");
    let r = run(&["validate", "--format", "short", &fixture("template-syntax")]);
    let at = format!("template-syntax.yaml:{line}:");
    let rest = r
        .stderr
        .split(&at)
        .nth(1)
        .expect("a diagnostic on the url line");
    let col: usize = rest.split(':').next().unwrap().parse().unwrap();
    assert!(
        col > string_start + 1,
        "column {col} is not inside the string:\n{}",
        r.stderr
    );
}

#[test]
fn every_example_runbook_is_valid() {
    let files = runbooks();
    assert_eq!(
        files.len(),
        6,
        "expected the six example runbooks, found {files:?}"
    );
    for path in &files {
        let r = run(&["validate", "--color", "never", path]);
        assert_eq!(r.code, 0, "{path} should validate:\n{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{path}: valid (0 error(s)")),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn all_example_runbooks_at_once() {
    let files = runbooks();
    let mut args = vec!["validate", "--color", "never"];
    args.extend(files.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for path in &files {
        assert!(
            r.stderr.contains(&format!("{path}: valid")),
            "{path} missing:\n{}",
            r.stderr
        );
    }
}

#[test]
fn json_format_has_line_and_column() {
    let path = fixture("unknown-key");
    let r = run(&["validate", "--format", "json", &path]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.is_empty(),
        "JSON mode prints nothing else:\n{}",
        r.stderr
    );
    let items = parse_json_array(&r);
    assert_eq!(items.len(), 1);
    let d = &items[0];
    assert_eq!(d["file"], path.as_str());
    assert_eq!(d["line"], 13);
    assert_eq!(d["column"], 5);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "unknown-key");
    assert_eq!(d["message"], "unknown key `neds`");
    assert_eq!(d["help"], "did you mean `needs`?");
}

#[test]
fn json_format_of_a_valid_runbook_is_an_empty_array() {
    let r = run(&[
        "validate",
        "--format",
        "json",
        "runbooks/data-recovery.yaml",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(parse_json_array(&r).is_empty());
}

#[test]
fn json_format_of_every_fixture_parses_with_positions() {
    for path in yaml_files_in("tests/fixtures/invalid") {
        let r = run(&["validate", "--format", "json", &path]);
        for d in parse_json_array(&r) {
            let line = d["line"]
                .as_u64()
                .unwrap_or_else(|| panic!("{path}: no line in {d}"));
            let column = d["column"]
                .as_u64()
                .unwrap_or_else(|| panic!("{path}: no column in {d}"));
            assert!(line >= 1 && column >= 1, "{path}: {d}");
            assert_eq!(d["file"], path.as_str());
        }
    }
}

/// `--format json` is for tools: its `code` must be the one the human and short forms show.
#[test]
fn json_codes_are_the_human_codes() {
    let mut mismatched = Vec::new();
    for path in yaml_files_in("tests/fixtures/invalid") {
        let short = run(&["validate", "--format", "short", &path]);
        let json = run(&["validate", "--format", "json", &path]);
        let items = parse_json_array(&json);
        let lines: Vec<&str> = short.stderr.lines().filter(|l| l.contains("]: ")).collect();
        assert_eq!(
            lines.len(),
            items.len(),
            "{path}: short and json disagree on the count"
        );
        for (line, d) in lines.iter().zip(&items) {
            let code = line
                .split('[')
                .nth(1)
                .and_then(|r| r.split(']').next())
                .unwrap();
            if d["code"] != code {
                mismatched.push(format!("{path}: short `{code}`, json {}", d["code"]));
            }
        }
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}

/// Several files with `--format json` must still be one JSON document (one array of
/// diagnostics, each naming its file), not one array per file printed back to back.
#[test]
fn json_format_with_several_files_is_one_document() {
    let a = fixture("unknown-key");
    let b = fixture("unknown-needs");
    let r = run(&["validate", "--format", "json", &a, &b]);
    assert_eq!(r.code, 1);
    let items = parse_json_array(&r);
    let files: Vec<&str> = items.iter().filter_map(|d| d["file"].as_str()).collect();
    assert_eq!(files, [a.as_str(), b.as_str()]);
}

#[test]
fn short_format_is_one_line_per_problem() {
    let path = fixture("unknown-step-type");
    let r = run(&["validate", "--format", "short", &path]);
    assert_eq!(r.code, 1);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("{path}:8:11: error[unknown-step-type]: unknown step type `kube.nodes.drian`")
    );
}

#[test]
fn several_files_report_all_of_them() {
    let files = [
        fixture("unknown-key"),
        fixture("duplicate-step-id"),
        "runbooks/pod-recovery.yaml".to_string(),
        fixture("unused-output"),
        fixture("bad-semver"),
    ];
    let mut args = vec!["validate", "--color", "never"];
    args.extend(files.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(
        r.code, 1,
        "any invalid file makes the run invalid:\n{}",
        r.stderr
    );
    for located in [
        "unknown-key.yaml:13:5",
        "duplicate-step-id.yaml:11:9",
        "unused-output.yaml:13:7",
        "bad-semver.yaml:5:12",
    ] {
        assert!(
            r.stderr.contains(located),
            "missing {located}:\n{}",
            r.stderr
        );
    }
    for (path, verdict) in [
        (&files[0], "invalid"),
        (&files[1], "invalid"),
        (&files[2], "valid"),
        (&files[3], "valid"),
        (&files[4], "invalid"),
    ] {
        assert!(
            r.stderr.contains(&format!("{path}: {verdict} (")),
            "missing summary for {path}:\n{}",
            r.stderr
        );
    }
    // Reported in the order given.
    let pos = |p: &str| r.stderr.find(&format!("{p}: ")).unwrap();
    assert!(pos(&files[0]) < pos(&files[1]) && pos(&files[1]) < pos(&files[4]));
}

#[test]
fn missing_file_is_a_usage_error() {
    let r = run(&["validate", "tests/fixtures/does-not-exist.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot read tests/fixtures/does-not-exist.yaml"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_file_among_others_still_reports_the_others() {
    let r = run(&[
        "validate",
        "--color",
        "never",
        &fixture("unknown-key"),
        "tests/fixtures/does-not-exist.yaml",
        "runbooks/data-recovery.yaml",
    ]);
    assert_eq!(
        r.code, 2,
        "I/O errors outrank invalid runbooks:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("unknown-key.yaml:13:5"), "{}", r.stderr);
    assert!(
        r.stderr.contains("runbooks/data-recovery.yaml: valid"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_file_is_a_usage_error() {
    let r = run(&["validate"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn non_utf8_file_is_reported() {
    let dir = std::env::temp_dir().join(format!("ripcord-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.yaml");
    std::fs::write(&path, b"apiVersion: ripcord/v1\nkind: Runbook # caf\xe9\n").unwrap();
    let r = run(&["validate", path.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not UTF-8"), "{}", r.stderr);
}

#[test]
fn deny_warnings_turns_warnings_into_failure() {
    let r = run(&["validate", "--deny-warnings", &fixture("unused-output")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid (0 error(s), 1 warning(s))"),
        "{}",
        r.stderr
    );
}

#[test]
fn color_always_uses_ansi_escapes() {
    let r = run(&["validate", "--color", "always", &fixture("unknown-key")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\u{1b}["), "{}", r.stderr);
    let r = run(&["validate", "--color", "never", &fixture("unknown-key")]);
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);
}

// ---- regressions: src bugs found while writing this suite --------------------------------------

fn bug_fixture(name: &str) -> String {
    format!("tests/fixtures/bugs/{name}.yaml")
}

/// `type: 5` decodes (numbers coerce to strings) but the type check only looks at string nodes:
/// no diagnostic at all, "valid", yet no validated runbook (and `plan` panics).
#[test]
fn numeric_step_type_is_reported() {
    let path = bug_fixture("numeric-step-type");
    let r = run(&["validate", "--format", "short", &path]);
    assert_eq!(r.code, 1, "`type: 5` must be invalid:\n{}", r.stderr);
    assert!(
        r.stderr.contains("numeric-step-type.yaml:8:11: error"),
        "{}",
        r.stderr
    );
}

/// `id: 5` twice: neither reported as an invalid id nor as a duplicate.
#[test]
fn numeric_step_ids_are_checked() {
    let path = bug_fixture("numeric-step-id");
    let r = run(&["validate", "--format", "short", &path]);
    assert_eq!(r.code, 1, "`id: 5` is not an identifier:\n{}", r.stderr);
    assert!(
        r.stderr.contains("numeric-step-id.yaml:7:9: error"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("numeric-step-id.yaml:11:9: error"),
        "{}",
        r.stderr
    );
}

/// `{{ params.host }}/{{ params.hos }}`: the unknown `params.hos` is located at the first text
/// that starts with it, which is the valid `params.host`.
#[test]
fn reference_location_is_not_a_prefix_of_another() {
    let path = bug_fixture("reference-prefix");
    let text = std::fs::read_to_string(root().join(&path)).unwrap();
    let (line, col) = common::locate(&text, "url:", "params.hos }}");
    let r = run(&["validate", "--format", "short", &path]);
    assert_eq!(r.code, 1);
    let want = format!("reference-prefix.yaml:{line}:{col}: error[unknown-param]");
    assert!(
        r.stderr.contains(&want),
        "expected `{want}`, got:\n{}",
        r.stderr
    );
}
