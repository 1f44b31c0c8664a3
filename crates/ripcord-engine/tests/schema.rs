//! The committed journal schema is the one generated from the types.

#[test]
fn committed_journal_schema_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/journal-event.schema.json"
    );
    let committed =
        std::fs::read_to_string(path).expect("schemas/journal-event.schema.json exists");
    assert!(
        committed == ripcord_engine::journal::journal_schema_json(),
        "schemas/journal-event.schema.json is stale: run \
         `cargo run -p ripcord-cli -- schema --journal > schemas/journal-event.schema.json`"
    );
}
