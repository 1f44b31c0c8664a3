//! A YAML document as a tree of nodes that each remember where they came from.
//!
//! granit-parser (the parser under serde-saphyr) emits events; we keep every scalar, sequence, mapping and key with its span so that
//! any later check (a wrong field deep inside `with`, an unknown `needs` target, a bad template)
//! can point at the exact text.

use crate::source::{SourceFile, Span};

/// One YAML node and its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; duplicate keys are kept so validation can report both places.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What a user would call this kind of value, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value of `key` in a mapping node (the first one when a key is duplicated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node of `key` in a mapping node.
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// A plain JSON copy of this node (spans dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A node tree from JSON (no source: every span is empty). Lets run-time values be
    /// decoded exactly as the YAML was.
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let value = match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Seq(items.iter().map(Node::from_json).collect()),
            J::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| {
                        let key = Node {
                            span: Span::default(),
                            value: Value::Str(k.clone()),
                        };
                        (key, Node::from_json(v))
                    })
                    .collect(),
            ),
        };
        Node {
            span: Span::default(),
            value,
        }
    }

    /// A scalar's text as a map key would see it.
    pub fn scalar_text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Seq(_) | Value::Map(_) => String::new(),
        }
    }
}

/// Why a document could not be parsed as YAML at all.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}

/// Deeper nesting than this is refused (later passes recurse over the tree).
pub const MAX_DEPTH: usize = 128;
/// More nodes than this (e.g. an alias bomb) is refused.
pub const MAX_NODES: usize = 2_000_000;

/// Parse `source` into a node tree: YAML 1.2 core schema, one document, anchors and aliases
/// expanded, `<<` merge keys applied, duplicate keys kept. Syntax errors, alias bombs, deep
/// nesting and multiple documents are refused with a location; nothing here panics on any input.
pub fn parse(source: &SourceFile) -> Result<Node, YamlError> {
    Loader::new(source).load()
}

struct Loader<'s> {
    source: &'s SourceFile,
    /// Collections being built, innermost last.
    stack: Vec<Open>,
    anchors: std::collections::HashMap<usize, Node>,
    nodes: usize,
    root: Option<Node>,
}

struct Open {
    node: Node,
    anchor: usize,
    /// A mapping's key waiting for its value.
    key: Option<Node>,
}

impl<'s> Loader<'s> {
    fn new(source: &'s SourceFile) -> Self {
        Self {
            source,
            stack: Vec::new(),
            anchors: std::collections::HashMap::new(),
            nodes: 0,
            root: None,
        }
    }

    fn error(&self, message: impl Into<String>, span: Span) -> YamlError {
        YamlError {
            message: message.into(),
            span,
        }
    }

    fn span_of(&self, span: &granit_parser::Span) -> Span {
        let start = self.offset(&span.start);
        let end = self.offset(&span.end).max(start);
        Span::new(start, end - start)
    }

    fn offset(&self, marker: &granit_parser::Marker) -> usize {
        marker
            .byte_offset()
            .unwrap_or_else(|| self.source.offset_of(marker.line(), marker.col() + 1))
            .min(self.source.text().len())
    }

    fn load(mut self) -> Result<Node, YamlError> {
        let text = self.source.text();
        if text.trim().is_empty() {
            return Err(self.error("the file is empty", Span::new(0, 0)));
        }
        let mut parser = granit_parser::Parser::new_from_str(text);
        let mut documents = 0;
        // Every event consumes input or closes a structure, so this loop is bounded by the
        // input size; the node budget bounds alias expansion.
        while let Some(event) = parser.next_event() {
            let (event, span) = event.map_err(|e| {
                let at = self.offset(e.marker());
                self.error(e.info(), Span::new(at, 0))
            })?;
            let at = self.span_of(&span);
            use granit_parser::Event;
            match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(self.error("more than one YAML document in the file", at));
                    }
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let value = resolve_scalar(&value, style, tag.as_deref());
                    let node = Node { span: at, value };
                    self.finish(node, anchor)?;
                }
                Event::SequenceStart(_, anchor, _) => {
                    self.open(Value::Seq(Vec::new()), at, anchor)?
                }
                Event::MappingStart(_, anchor, _) => {
                    self.open(Value::Map(Vec::new()), at, anchor)?
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(open) = self.stack.pop() else {
                        return Err(self.error("unbalanced YAML structure", at));
                    };
                    let mut node = open.node;
                    // A collection on one line is shown whole; a block one by its first char.
                    let end = at.end();
                    let one_line = !self
                        .source
                        .text()
                        .get(node.span.start..end)
                        .unwrap_or("\n")
                        .contains('\n');
                    node.span.len = if one_line {
                        end.saturating_sub(node.span.start).max(1)
                    } else {
                        1
                    };
                    if let Value::Map(entries) = &mut node.value {
                        apply_merge_keys(entries);
                    }
                    self.finish(node, open.anchor)?;
                }
                Event::Alias(id) => {
                    let Some(target) = self.anchors.get(&id) else {
                        return Err(self.error("unknown alias", at));
                    };
                    let mut node = target.clone();
                    node.span = at;
                    self.count(&node, at)?;
                    self.finish(node, 0)?;
                }
                _ => {}
            }
        }
        self.root.ok_or_else(|| YamlError {
            message: "the file has no YAML document".into(),
            span: Span::new(0, 0),
        })
    }

    fn count(&mut self, node: &Node, at: Span) -> Result<(), YamlError> {
        fn size(n: &Node, budget: usize) -> usize {
            match &n.value {
                Value::Seq(items) => {
                    items
                        .iter()
                        .take(budget)
                        .map(|i| size(i, budget))
                        .sum::<usize>()
                        + 1
                }
                Value::Map(entries) => {
                    entries
                        .iter()
                        .take(budget)
                        .map(|(k, v)| size(k, budget) + size(v, budget))
                        .sum::<usize>()
                        + 1
                }
                _ => 1,
            }
        }
        self.nodes += size(node, MAX_NODES);
        if self.nodes > MAX_NODES {
            return Err(self.error("the document expands to too many nodes (alias bomb?)", at));
        }
        Ok(())
    }

    fn open(&mut self, value: Value, at: Span, anchor: usize) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels"), at));
        }
        self.nodes += 1;
        self.stack.push(Open {
            node: Node {
                span: Span::new(at.start, 1),
                value,
            },
            anchor,
            key: None,
        });
        Ok(())
    }

    /// A complete node: remember its anchor, then attach it to its parent.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error("the document has too many nodes", node.span));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(open) => match &mut open.node.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match open.key.take() {
                    None => open.key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => unreachable!("only collections are opened"),
            },
        }
        Ok(())
    }
}

/// `<<: *base` (or a list of them): copy entries the mapping does not set itself.
fn apply_merge_keys(entries: &mut Vec<(Node, Node)>) {
    let is_merge = |k: &Node| k.as_str() == Some("<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = std::mem::take(entries)
        .into_iter()
        .partition(|(k, _)| is_merge(k));
    for (_, source) in merges {
        let sources: Vec<Node> = match source.value {
            Value::Seq(items) => items,
            _ => vec![source],
        };
        for src in sources {
            if let Value::Map(src_entries) = src.value {
                for (k, v) in src_entries {
                    if !own.iter().any(|(o, _)| o.value == k.value) {
                        own.push((k, v));
                    }
                }
            }
        }
    }
    *entries = own;
}

/// YAML 1.2 core schema: plain scalars may be null, booleans, integers or floats; quoted and
/// block scalars are strings; `!!str` forces a string.
fn resolve_scalar(
    text: &str,
    style: granit_parser::ScalarStyle,
    tag: Option<&granit_parser::Tag>,
) -> Value {
    if let Some(tag) = tag {
        match tag.core_suffix() {
            Some("str") => return Value::Str(text.to_owned()),
            Some("null") => return Value::Null,
            _ => {}
        }
    }
    if style != granit_parser::ScalarStyle::Plain {
        return Value::Str(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::Str(text.to_owned());
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    } else if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    } else if is_decimal_int(text) {
        return text.parse::<i64>().map_or_else(
            |_| Value::Float(text.parse().unwrap_or(f64::NAN)),
            Value::Int,
        );
    } else if is_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_owned())
}

fn is_decimal_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (SourceFile, Node) {
        let src = SourceFile::new("t.yaml", text);
        let node = parse(&src).expect("parses");
        (src, node)
    }

    #[test]
    fn every_node_knows_its_place() {
        let text = "a: 1\nb:\n  - x\n  - \"y z\"\nc: {d: true}\n";
        let (src, root) = load(text);
        let b = root.get("b").unwrap().as_seq().unwrap();
        assert_eq!(src.slice(b[0].span), "x");
        assert_eq!(src.line_col(b[1].span.start).to_string(), "4:5");
        let d_key = root.get("c").unwrap().key("d").unwrap();
        assert_eq!(src.line_col(d_key.span.start).to_string(), "5:5");
        assert_eq!(root.get("a").unwrap().value, Value::Int(1));
    }

    #[test]
    fn duplicate_keys_are_kept_for_validation() {
        let (_, root) = load("a: 1\na: 2\n");
        assert_eq!(root.as_map().unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let src = SourceFile::new("t.yaml", "a: [1, 2\nb: 3\n");
        let err = parse(&src).unwrap_err();
        assert!(!err.message.is_empty());
        assert!(src.line_col(err.span.start).line >= 1);
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    fn load(text: &str) -> Node {
        parse(&SourceFile::new("t.yaml", text)).expect("parses")
    }

    #[test]
    fn core_schema_scalars() {
        let root = load("a: 1\nb: 1.5\nc: \"1\"\nd: yes\ne: ~\nf: true\ng: 0x1f\nh: 1.0.0\n");
        assert_eq!(root.get("a").unwrap().value, Value::Int(1));
        assert_eq!(root.get("b").unwrap().value, Value::Float(1.5));
        assert_eq!(root.get("c").unwrap().value, Value::Str("1".into()));
        assert_eq!(root.get("d").unwrap().value, Value::Str("yes".into()));
        assert_eq!(root.get("e").unwrap().value, Value::Null);
        assert_eq!(root.get("f").unwrap().value, Value::Bool(true));
        assert_eq!(root.get("g").unwrap().value, Value::Int(31));
        assert_eq!(root.get("h").unwrap().value, Value::Str("1.0.0".into()));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let root = load("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\ncopy: *b\n");
        let merged = root.get("use").unwrap();
        assert_eq!(merged.get("x").unwrap().value, Value::Int(1));
        assert_eq!(merged.get("y").unwrap().value, Value::Int(3));
        assert_eq!(
            root.get("copy").unwrap().get("y").unwrap().value,
            Value::Int(2)
        );
    }

    #[test]
    fn hostile_documents_are_refused() {
        let deep = "[".repeat(10_000);
        assert!(parse(&SourceFile::new("t", deep)).is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse(&SourceFile::new("t", bomb)).is_err());
        assert!(parse(&SourceFile::new("t", "a: 1\n---\nb: 2\n")).is_err());
    }
}
