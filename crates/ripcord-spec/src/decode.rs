//! Typed decoding of a [`Node`] tree with serde, keeping the location of whatever went wrong.
//!
//! A serde `Deserializer` over our spanned nodes: an error is tagged with the span of the
//! innermost node that produced it, so "expected an integer" points at the value and an
//! unknown field points at its key. Unknown fields are recorded and skipped rather than fatal,
//! so one pass reports all of them.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::node::{Node, Value};
use crate::source::Span;

/// A decoding problem at a place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DecodeErrorKind {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    /// A required field of a step type's `with`.
    MissingWith {
        step_type: &'static str,
        field: &'static str,
    },
    InvalidType {
        found: String,
        expected: String,
    },
    Message(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::UnknownField { field, .. } => write!(f, "unknown field `{field}`"),
            DecodeErrorKind::UnknownVariant { variant, expected } => write!(
                f,
                "unknown value `{variant}`, expected {}",
                one_of(expected)
            ),
            DecodeErrorKind::MissingField(field) => write!(f, "missing field `{field}`"),
            DecodeErrorKind::MissingWith { step_type, field } => {
                write!(f, "`{step_type}` needs `with.{field}`")
            }
            DecodeErrorKind::InvalidType { found, expected } => {
                write!(f, "expected {expected}, found {found}")
            }
            DecodeErrorKind::Message(m) => f.write_str(m),
        }
    }
}

/// "`a`, `b` or `c`"
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => format!("`{one}`"),
        [init @ .., last] => format!(
            "{} or `{last}`",
            init.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl std::error::Error for DecodeError {}

/// serde's names for types, in the words of a YAML author.
fn plain_expected(serde_name: &str) -> String {
    match serde_name {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        "a boolean" => "`true` or `false`".into(),
        s if s.starts_with("struct ") => "a mapping".into(),
        s if s.starts_with("a map") => "a mapping".into(),
        s if s.starts_with("a sequence") => "a list".into(),
        s if s.starts_with("unit variant") || s.starts_with("variant identifier") => {
            "a name".into()
        }
        s => s.to_owned(),
    }
}

impl DecodeError {
    fn new(kind: DecodeErrorKind) -> Self {
        Self { kind, span: None }
    }

    fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(DecodeErrorKind::Message(msg.to_string()))
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Bool(b) => format!("the boolean `{b}`"),
            de::Unexpected::Unsigned(n) => format!("the integer `{n}`"),
            de::Unexpected::Signed(n) => format!("the integer `{n}`"),
            de::Unexpected::Float(n) => format!("the number `{n}`"),
            de::Unexpected::Str(s) => format!("the string \"{s}\""),
            de::Unexpected::Unit => "null".into(),
            de::Unexpected::Seq => "a list".into(),
            de::Unexpected::Map => "a mapping".into(),
            other => other.to_string(),
        };
        Self::new(DecodeErrorKind::InvalidType {
            found,
            expected: plain_expected(&exp.to_string()),
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(DecodeErrorKind::UnknownField {
            field: field.to_owned(),
            expected,
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(DecodeErrorKind::UnknownVariant {
            variant: variant.to_owned(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(DecodeErrorKind::MissingField(field))
    }
}

/// Decode `node` into `T`. Returns the value (when the structure allowed one) and every error
/// found: all unknown fields plus at most one other error.
pub fn decode<T: DeserializeOwned>(node: &Node) -> (Option<T>, Vec<DecodeError>) {
    decode_with(node, |d| T::deserialize(d))
}

/// Decode with a function of the deserializer (used to dispatch `with` on the step type).
///
/// serde stops at the first error. An unknown field is not worth stopping for: it is recorded,
/// removed from a copy of the tree and decoding runs again, so one pass reports all of them.
pub fn decode_with<T>(
    node: &Node,
    f: impl Fn(NodeDeserializer<'_>) -> Result<T, DecodeError>,
) -> (Option<T>, Vec<DecodeError>) {
    let mut errors = Vec::new();
    let mut pruned: Option<Node> = None;
    loop {
        let current = pruned.as_ref().unwrap_or(node);
        match f(NodeDeserializer { node: current }) {
            Ok(v) => return (Some(v), errors),
            Err(e) => {
                let e = e.at(node.span);
                let unknown_key = matches!(e.kind, DecodeErrorKind::UnknownField { .. });
                let span = e.span;
                errors.push(e);
                if !unknown_key {
                    return (None, errors);
                }
                let mut copy = current.clone();
                // Each round removes one key, so this ends; a key we cannot find ends it too.
                if !span.is_some_and(|s| remove_key(&mut copy, s)) {
                    return (None, errors);
                }
                pruned = Some(copy);
            }
        }
    }
}

/// Remove the mapping entry whose key sits at `span`, anywhere in the tree.
fn remove_key(node: &mut Node, span: Span) -> bool {
    match &mut node.value {
        Value::Map(entries) => {
            if let Some(i) = entries.iter().position(|(k, _)| k.span == span) {
                entries.remove(i);
                return true;
            }
            entries.iter_mut().any(|(_, v)| remove_key(v, span))
        }
        Value::Seq(items) => items.iter_mut().any(|i| remove_key(i, span)),
        _ => false,
    }
}

/// The serde `Deserializer` for one node.
#[derive(Clone, Copy)]
pub struct NodeDeserializer<'a> {
    node: &'a Node,
}

impl<'a> NodeDeserializer<'a> {
    fn child(&self, node: &'a Node) -> Self {
        Self { node }
    }

    fn locate<T>(&self, result: Result<T, DecodeError>) -> Result<T, DecodeError> {
        result.map_err(|e| e.at(self.node.span))
    }
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(NodeSeq {
                de: self,
                items: items.iter(),
            }),
            Value::Map(entries) => visitor.visit_map(NodeMap {
                de: self,
                entries: entries.iter(),
                pending: None,
            }),
        };
        self.locate(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        // Numbers where text is wanted (`PORT: 8080`) are taken as their text.
        let result = match &self.node.value {
            Value::Int(i) => visitor.visit_string(i.to_string()),
            Value::Float(f) => visitor.visit_string(format!("{f:?}")),
            Value::Bool(b) if self.node.span.len == 0 => visitor.visit_string(b.to_string()),
            _ => return self.deserialize_any(visitor),
        };
        self.locate(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        self.locate(result)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let result = visitor.visit_newtype_struct(self);
        self.locate(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let result = match &self.node.value {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(NodeEnum {
                de: self,
                key: &entries[0].0,
                value: &entries[0].1,
            }),
            other => Err(de::Error::invalid_type(unexpected(other), &"a name")),
        };
        self.locate(result)
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_any(visitor)
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Int(i) => de::Unexpected::Signed(*i),
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::Str(s) => de::Unexpected::Str(s),
        Value::Seq(_) => de::Unexpected::Seq,
        Value::Map(_) => de::Unexpected::Map,
    }
}

struct NodeSeq<'a> {
    de: NodeDeserializer<'a>,
    items: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for NodeSeq<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some(item) => {
                let child = self.de.child(item);
                child.locate(seed.deserialize(child)).map(Some)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct NodeMap<'a> {
    de: NodeDeserializer<'a>,
    entries: std::slice::Iter<'a, (Node, Node)>,
    pending: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for NodeMap<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(value);
        let child = self.de.child(key);
        child.locate(seed.deserialize(child)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let value = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("value requested before key"))?;
        let child = self.de.child(value);
        child.locate(seed.deserialize(child))
    }
}

struct NodeEnum<'a> {
    de: NodeDeserializer<'a>,
    key: &'a Node,
    value: &'a Node,
}

impl<'de, 'a> EnumAccess<'de> for NodeEnum<'a> {
    type Error = DecodeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DecodeError> {
        let key = self.de.child(self.key);
        let variant = key.locate(seed.deserialize(key))?;
        Ok((variant, self.de.child(self.value)))
    }
}

impl<'de> VariantAccess<'de> for NodeDeserializer<'_> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}
