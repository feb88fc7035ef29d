//! Passages and their metadata as they cross the boundary, converted losslessly to and from core.

use std::collections::HashMap;

/// One metadata value. Filters compare ints and floats numerically with each other; other kinds
/// only with their own kind.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum MetadataValue {
    /// `true` or `false`.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A float (NaN is refused when a passage is added).
    Float(f64),
    /// A string (at most 4 KiB).
    Str(String),
}

impl From<MetadataValue> for ember_core::Value {
    fn from(v: MetadataValue) -> Self {
        match v {
            MetadataValue::Bool(b) => ember_core::Value::Bool(b),
            MetadataValue::Int(i) => ember_core::Value::Int(i),
            MetadataValue::Float(f) => ember_core::Value::Float(f),
            MetadataValue::Str(s) => ember_core::Value::Str(s),
        }
    }
}

impl From<ember_core::Value> for MetadataValue {
    fn from(v: ember_core::Value) -> Self {
        match v {
            ember_core::Value::Bool(b) => MetadataValue::Bool(b),
            ember_core::Value::Int(i) => MetadataValue::Int(i),
            ember_core::Value::Float(f) => MetadataValue::Float(f),
            ember_core::Value::Str(s) => MetadataValue::Str(s),
        }
    }
}

/// One passage: the app's id (unique, at most 1 KiB of UTF-8), its text, and optional metadata
/// (key → value, keys of 1 byte to 4 KiB) that search filters test.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Passage {
    /// The app's identifier, returned in search hits.
    pub id: String,
    /// The text that is embedded, stored and searched.
    pub text: String,
    /// Key → value pairs for filters (`folder = "travel" and year >= 2024`).
    #[uniffi(default)]
    pub metadata: HashMap<String, MetadataValue>,
}

impl Passage {
    /// A passage without metadata.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Passage { id: id.into(), text: text.into(), metadata: HashMap::new() }
    }
}

impl From<Passage> for ember_core::Passage {
    fn from(p: Passage) -> Self {
        ember_core::Passage {
            id: p.id,
            text: p.text,
            metadata: p.metadata.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

impl From<ember_core::Passage> for Passage {
    fn from(p: ember_core::Passage) -> Self {
        Passage {
            id: p.id,
            text: p.text,
            metadata: p.metadata.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_round_trip_through_core() {
        let mut p = Passage::new("n1", "text");
        p.metadata.insert("b".into(), MetadataValue::Bool(true));
        p.metadata.insert("i".into(), MetadataValue::Int(-3));
        p.metadata.insert("f".into(), MetadataValue::Float(0.5));
        p.metadata.insert("s".into(), MetadataValue::Str("x".into()));
        let core: ember_core::Passage = p.clone().into();
        assert_eq!(core.metadata.get("i"), Some(&ember_core::Value::Int(-3)));
        assert_eq!(Passage::from(core), p);
    }
}
