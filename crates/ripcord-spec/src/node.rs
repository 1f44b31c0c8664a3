//! A YAML document as a tree of nodes that each remember where they came from.
//!
//! serde-saphyr parses; we keep every scalar, sequence, mapping and key with its span so that
//! any later check (a wrong field deep inside `with`, an unknown `needs` target, a bad template)
//! can point at the exact text.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

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

/// Parse `source` into a node tree. YAML syntax errors, alias bombs and oversized documents are
/// refused here with a location; nothing in here panics on any input.
pub fn parse(source: &SourceFile) -> Result<Node, YamlError> {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    let text = source.text();
    if text.trim().is_empty() {
        return Err(YamlError {
            message: "the file is empty".into(),
            span: Span::new(0, 0),
        });
    }
    match serde_saphyr::from_str_with_options::<Spanned<RawValue>>(text, options) {
        Ok(root) => Ok(into_node(source, root)),
        Err(err) => {
            let span = err
                .location()
                .map(|loc| location_span(source, &loc))
                .unwrap_or_default();
            let message = err.without_snippet().to_string();
            // saphyr appends " at line L column C"; we render our own location.
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            Err(YamlError { message, span })
        }
    }
}

fn location_span(source: &SourceFile, loc: &serde_saphyr::Location) -> Span {
    let span = loc.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(start), Some(len)) => Span::new(start as usize, len as usize),
        _ => Span::new(
            source.offset_of(loc.line() as usize, loc.column() as usize),
            0,
        ),
    }
}

/// The shape serde-saphyr hands us: values with spans, converted to [`Node`] afterwards.
enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<RawValue>, Spanned<RawValue>)>),
}

fn into_node(source: &SourceFile, raw: Spanned<RawValue>) -> Node {
    let mut span = location_span(source, &raw.referenced);
    let value = match raw.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(items) => Value::Seq(items.into_iter().map(|i| into_node(source, i)).collect()),
        RawValue::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (into_node(source, k), into_node(source, v)))
                .collect(),
        ),
    };
    if span.len == 0 {
        // Collections and empty scalars come without a length: point at one character.
        span.len = usize::from(span.start < source.text().len());
    }
    Node { span, value }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        Ok(i64::try_from(v).map_or(RawValue::Float(v as f64), RawValue::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        Ok(i64::try_from(v).map_or(RawValue::Float(v as f64), RawValue::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        Ok(i64::try_from(v).map_or(RawValue::Float(v as f64), RawValue::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawValue, E> {
        Ok(RawValue::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawValue>>()? {
            let value = map.next_value::<Spanned<RawValue>>()?;
            entries.push((key, value));
        }
        Ok(RawValue::Map(entries))
    }
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
