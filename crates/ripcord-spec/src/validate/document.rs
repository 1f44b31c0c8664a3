//! Pass 1, the document: YAML syntax, duplicate keys, the top-level shape and the header
//! (`apiVersion`, `kind`, `metadata`, `objectives`).
//!
//! Duplicate keys come first and are dropped from the tree, so that every later pass sees one
//! value per key. A document that is not YAML or not a mapping stops validation here: there is
//! nothing for the other passes to read.

use super::{Header, Validator};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{API_VERSION, KIND, Metadata};
use crate::node::{Node, Value};

/// Top-level keys of a runbook.
const TOP_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "objectives",
    "params",
    "steps",
    "finally",
];

impl Validator {
    /// The YAML tree with repeated keys reported and dropped; `None` when the text is no YAML.
    pub(super) fn parse(&mut self) -> Option<Node> {
        match crate::node::parse(&self.source) {
            Ok(root) => Some(self.report_duplicate_keys(root)),
            Err(e) => {
                self.push(
                    Diagnostic::error(Code::Yaml, e.span, format!("invalid YAML: {}", e.message))
                        .label("here")
                        .help(if self.source.text().trim().is_empty() {
                            "start from an example in runbooks/ (apiVersion, kind, metadata, steps)"
                        } else {
                            "check indentation, quoting and brackets around this place"
                        }),
                );
                None
            }
        }
    }

    /// The root must be a mapping of known keys; `None` when it is no mapping at all.
    pub(super) fn check_top_level(&mut self, root: &Node) -> Option<()> {
        let Some(entries) = root.as_map() else {
            self.push(
                Diagnostic::error(
                    Code::WrongType,
                    root.span,
                    format!("a runbook is a mapping, found {}", root.value.kind()),
                )
                .label("expected `apiVersion`, `kind`, `metadata`, `steps`")
                .help("start from an example in runbooks/ or `ripcord schema`"),
            );
            return None;
        };
        for (key, _) in entries {
            let name = key.scalar_text();
            if !TOP_KEYS.contains(&name.as_str()) {
                self.unknown_key(key, &name, TOP_KEYS);
            }
        }
        Some(())
    }

    /// `apiVersion`, `kind`, `metadata` (with its name's shape) and `objectives`.
    pub(super) fn header(&mut self, root: &Node) -> Header {
        let api_version = self.fixed_string(root, "apiVersion", API_VERSION);
        let kind = self.fixed_string(root, "kind", KIND);
        let metadata = self.required(root, "metadata").and_then(|n| {
            if let Some(name) = n.get("name")
                && let Some(text) = name.as_str()
            {
                self.check_runbook_name(text, name);
            }
            self.decode::<Metadata>(n)
        });
        let objectives = root.get("objectives").and_then(|n| self.decode(n));
        Header {
            api_version,
            kind,
            metadata,
            objectives,
        }
    }

    /// Report every repeated key (pointing at both places) and drop the repeats so later passes
    /// see one value per key. Walks in place: most maps are small and have no repeats.
    fn report_duplicate_keys(&mut self, mut node: Node) -> Node {
        self.dedupe_keys(&mut node);
        node
    }

    fn dedupe_keys(&mut self, node: &mut Node) {
        match &mut node.value {
            Value::Map(entries) => {
                let mut i = 1;
                while i < entries.len() {
                    let earlier = entries[..i]
                        .iter()
                        .find(|(k, _)| same_key(k, &entries[i].0))
                        .map(|(k, _)| k.span);
                    match earlier {
                        Some(first) => {
                            let (key, _) = entries.remove(i);
                            let name = key.scalar_text();
                            self.push(
                                Diagnostic::error(
                                    Code::DuplicateKey,
                                    key.span,
                                    format!("duplicate key `{name}`"),
                                )
                                .label("defined again here")
                                .related(first, "first defined here")
                                .help("remove one of them; YAML keeps only one value per key"),
                            );
                        }
                        None => i += 1,
                    }
                }
                for (_, value) in entries.iter_mut() {
                    self.dedupe_keys(value);
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(|i| self.dedupe_keys(i)),
            _ => {}
        }
    }

    fn fixed_string(&mut self, root: &Node, key: &str, want: &str) -> Option<String> {
        let node = self.required(root, key)?;
        if node.as_str() == Some(want) {
            return Some(want.to_owned());
        }
        self.push(
            Diagnostic::error(
                Code::BadValue,
                node.span,
                format!("`{key}` must be `{want}`, found `{}`", node.scalar_text()),
            )
            .label("unsupported")
            .help(format!("write `{key}: {want}`")),
        );
        None
    }

    fn check_runbook_name(&mut self, name: &str, node: &Node) {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-');
        if !ok {
            self.push(
                Diagnostic::error(
                    Code::BadValue,
                    node.span,
                    format!("invalid runbook name `{name}`"),
                )
                .label("names are used in run ids and lock names")
                .help("use lower-case letters, digits and `-`, e.g. `data-recovery`"),
            );
        }
    }
}

/// Keys are the same when their scalar text is (`1` and `"1"` collide, as in YAML tools).
fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => a.scalar_text() == b.scalar_text(),
    }
}
