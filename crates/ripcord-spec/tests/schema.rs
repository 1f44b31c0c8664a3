//! The committed JSON Schema is the generated one, and it agrees with the example runbooks.

use std::path::{Path, PathBuf};

use ripcord_spec::SourceFile;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    serde_json::from_str(&ripcord_spec::schema::runbook_schema_json()).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("the schema is a valid JSON Schema")
}

/// A runbook file as plain JSON, through the same YAML loader `validate` uses.
fn yaml_as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let source = SourceFile::new(path.display().to_string(), text);
    ripcord_spec::node::parse(&source)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.message))
        .to_json()
}

fn runbooks() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("runbooks"))
        .expect("runbooks/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = root().join("schemas/runbook.schema.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = ripcord_spec::schema::runbook_schema_json();
    assert!(
        committed == generated,
        "schemas/runbook.schema.json is out of date with the Rust types; regenerate it with\n\n    \
         cargo run -p ripcord-cli -- schema > schemas/runbook.schema.json\n"
    );
}

#[test]
fn schema_is_draft_2020_12_and_knows_every_step_type() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let types = &schema["$defs"]["Step"]["properties"]["type"]["enum"];
    for kind in ripcord_spec::StepKind::ALL {
        assert!(
            types.as_array().unwrap().iter().any(|t| t == kind.name()),
            "step type `{}` missing from the schema's enum",
            kind.name()
        );
    }
}

#[test]
fn every_example_runbook_matches_the_schema() {
    let validator = validator();
    let files = runbooks();
    assert_eq!(
        files.len(),
        6,
        "expected the six example runbooks: {files:?}"
    );
    for path in files {
        let instance = yaml_as_json(&path);
        let errors = errors(&validator, &instance);
        assert!(
            errors.is_empty(),
            "{} does not match the schema:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn unknown_field_in_s3_sync_with_is_rejected() {
    let path = root().join("tests/fixtures/invalid/unknown-key-in-with.yaml");
    let instance = yaml_as_json(&path);
    assert_eq!(
        instance["steps"][0]["type"], "s3.sync",
        "the fixture is an s3.sync step"
    );
    let validator = validator();
    let errors = errors(&validator, &instance);
    assert!(
        !errors.is_empty(),
        "`concurrrency` in an s3.sync `with` must be rejected"
    );
    assert!(
        errors.iter().any(|e| e.contains("concurrrency")),
        "the error names the unknown field: {errors:?}"
    );
}

/// Mutations of a valid runbook that the schema must refuse, one per rule it carries.
#[test]
fn schema_rejects_what_validate_rejects() {
    let validator = validator();
    let base = yaml_as_json(&root().join("runbooks/pod-recovery.yaml"));
    assert!(validator.is_valid(&base));
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "unknown top-level key",
            Box::new(|v| v["stesp"] = Value::Array(vec![])),
        ),
        (
            "wrong apiVersion",
            Box::new(|v| v["apiVersion"] = "ripcord/v2".into()),
        ),
        (
            "unknown step type",
            Box::new(|v| v["steps"][0]["type"] = "kube.pods.wait".into()),
        ),
        (
            "invalid step id",
            Box::new(|v| v["steps"][0]["id"] = "check-pods".into()),
        ),
        (
            "bad runbook name",
            Box::new(|v| v["metadata"]["name"] = "Pod Recovery".into()),
        ),
        (
            "bad version",
            Box::new(|v| v["metadata"]["version"] = "1.0".into()),
        ),
        (
            "bad duration",
            Box::new(|v| v["steps"][0]["timeout"] = "soon".into()),
        ),
        (
            "missing with field",
            Box::new(|v| {
                v["steps"][0]["with"]
                    .as_object_mut()
                    .unwrap()
                    .remove("selector");
            }),
        ),
        (
            "unknown step key",
            Box::new(|v| v["steps"][0]["neds"] = Value::Array(vec![])),
        ),
    ];
    for (what, mutate) in cases {
        let mut instance = base.clone();
        mutate(&mut instance);
        assert!(
            !validator.is_valid(&instance),
            "the schema accepts a runbook with {what}"
        );
    }
}
