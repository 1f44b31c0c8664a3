//! JSON Schema of the runbook language, generated from the types.
//!
//! schemars describes the structs; we add what the Rust types express only through dispatch:
//! the `with` of each step type, chosen by `type`, so editors complete and check it.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::catalog::StepKind;
use crate::model::Runbook;

const IDENTIFIER_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// The schema as pretty JSON with a trailing newline (the committed file's exact form).
pub fn runbook_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&runbook_schema()).expect("a schema is JSON");
    text.push('\n');
    text
}

pub fn runbook_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let with_schemas: Vec<(&str, Value)> = StepKind::ALL
        .iter()
        .map(|k| {
            let schema = k.with_schema(&mut generator);
            (
                k.name(),
                serde_json::to_value(schema).expect("a schema is JSON"),
            )
        })
        .collect();
    let root = generator.into_root_schema_for::<Runbook>();
    let mut root = serde_json::to_value(root).expect("a schema is JSON");
    root["$id"] = json!("https://ripcord.dev/schemas/runbook.schema.json");
    root["title"] = json!("ripcord runbook (ripcord/v1)");
    root["properties"]["apiVersion"]["const"] = json!(crate::model::API_VERSION);
    root["properties"]["kind"]["const"] = json!(crate::model::KIND);

    root["$defs"]["Step"]["properties"]["id"]["pattern"] = json!(IDENTIFIER_PATTERN);
    root["$defs"]["Metadata"]["properties"]["name"]["pattern"] = json!("^[a-z0-9][a-z0-9-]*$");
    let names: Vec<&str> = with_schemas.iter().map(|(n, _)| *n).collect();
    let dispatch: Vec<Value> = with_schemas
        .iter()
        .map(|(name, with)| {
            json!({
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"with": with}}
            })
        })
        .collect();
    for def in ["Step", "Compensation"] {
        if let Some(step) = root["$defs"].get_mut(def) {
            step["properties"]["type"]["enum"] = json!(names);
            step["allOf"] = Value::Array(dispatch.clone());
        }
    }
    root
}
