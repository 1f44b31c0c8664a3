//! The CLI's modules form layers (see the crate docs): each module uses only modules listed
//! before it in [`ORDER`], so the module graph has no cycle. This test reads the sources.

/// Low to high.
const ORDER: &[&str] = &[
    "cli", "exit", "error", "output", "store", "setup", "metrics", "progress", "commands",
];

fn sources(module: &str) -> Vec<(std::path::PathBuf, String)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let file = src.join(format!("{module}.rs"));
    let mut found = Vec::new();
    if file.exists() {
        found.push(file);
    }
    if let Ok(dir) = std::fs::read_dir(src.join(module)) {
        found.extend(dir.map(|e| e.expect("a directory entry").path()));
    }
    assert!(!found.is_empty(), "module `{module}` has no source file");
    found
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a readable source file");
            (p, text)
        })
        .collect()
}

/// `crate::NAME` paths in `text`.
fn uses(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("crate::").map(move |(at, m)| {
        let rest = &text[at + m.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

#[test]
fn every_module_uses_only_lower_layers() {
    for (level, module) in ORDER.iter().enumerate() {
        for (path, text) in sources(module) {
            for used in uses(&text) {
                let Some(at) = ORDER.iter().position(|m| *m == used) else {
                    panic!(
                        "{}: `crate::{used}` is not in the layer list",
                        path.display()
                    );
                };
                assert!(
                    at < level || used == *module,
                    "{}: `{module}` uses `crate::{used}`, a module at or above its layer",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_layer_list_names_every_module() {
    let main = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs"))
        .expect("main.rs");
    for line in main.lines() {
        if let Some(name) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(';'))
            && name != "layers"
        {
            assert!(
                ORDER.contains(&name),
                "module `{name}` is missing from ORDER"
            );
        }
    }
}
