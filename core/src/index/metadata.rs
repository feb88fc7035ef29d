//! Per-passage metadata (key → string, i64, f64 or bool) and its segment section.
//!
//! Section layout: varint key count, the keys (length-prefixed UTF-8), then per passage a varint
//! entry count and entries `(varint key index, tag byte, value)`.

use std::collections::BTreeMap;

use crate::store::codec::{Dec, Enc};
use crate::{Error, Result};

/// A metadata value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A float (never NaN: refused on input).
    Float(f64),
    /// A string.
    Str(String),
}

/// A passage's metadata.
pub type Metadata = BTreeMap<String, Value>;

/// Longest metadata key and string value accepted, in bytes.
pub const MAX_META_BYTES: usize = 4096;

/// Refuse NaN floats and over-long keys or strings.
pub(crate) fn validate(meta: &Metadata) -> Result<()> {
    for (k, v) in meta {
        if k.is_empty() || k.len() > MAX_META_BYTES {
            return Err(Error::InvalidArgument(format!("metadata key of {} bytes", k.len())));
        }
        match v {
            Value::Float(f) if f.is_nan() => {
                return Err(Error::InvalidArgument(format!("metadata {k:?} is NaN")));
            }
            Value::Str(s) if s.len() > MAX_META_BYTES => {
                return Err(Error::InvalidArgument(format!("metadata {k:?} longer than 4 KiB")));
            }
            _ => {}
        }
    }
    Ok(())
}

const TAG_BOOL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_FLOAT: u8 = 2;
const TAG_STR: u8 = 3;

pub(crate) fn encode_value(e: &mut Enc, v: &Value) {
    match v {
        Value::Bool(b) => {
            e.u8(TAG_BOOL);
            e.u8(u8::from(*b));
        }
        Value::Int(i) => {
            e.u8(TAG_INT);
            e.ivar(*i);
        }
        Value::Float(f) => {
            e.u8(TAG_FLOAT);
            e.f64(*f);
        }
        Value::Str(s) => {
            e.u8(TAG_STR);
            e.str(s);
        }
    }
}

pub(crate) fn decode_value(d: &mut Dec) -> Option<Value> {
    Some(match d.u8()? {
        TAG_BOOL => Value::Bool(d.u8()? != 0),
        TAG_INT => Value::Int(d.ivar()?),
        TAG_FLOAT => Value::Float(d.f64()?),
        TAG_STR => Value::Str(d.str()?.to_owned()),
        _ => return None,
    })
}

/// Encode one metadata map with inline keys (for the write-ahead log).
pub(crate) fn encode_map(e: &mut Enc, m: &Metadata) {
    e.uvar(m.len() as u64);
    for (k, v) in m {
        e.str(k);
        encode_value(e, v);
    }
}

pub(crate) fn decode_map(d: &mut Dec) -> Option<Metadata> {
    let n = d.count(3)?;
    let mut m = Metadata::new();
    for _ in 0..n {
        let k = d.str()?.to_owned();
        m.insert(k, decode_value(d)?);
    }
    Some(m)
}

/// Encode the section for `all` (one map per passage), or `None` when no passage has metadata.
pub(crate) fn encode_section<'a>(all: impl Iterator<Item = &'a Metadata> + Clone) -> Option<Vec<u8>> {
    let mut keys: BTreeMap<&str, u64> = BTreeMap::new();
    for m in all.clone() {
        for k in m.keys() {
            keys.insert(k, 0);
        }
    }
    if keys.is_empty() {
        return None;
    }
    for (i, v) in keys.values_mut().enumerate() {
        *v = i as u64;
    }
    let mut e = Enc::default();
    e.uvar(keys.len() as u64);
    for k in keys.keys() {
        e.str(k);
    }
    for m in all {
        e.uvar(m.len() as u64);
        for (k, v) in m {
            e.uvar(keys.get(k.as_str()).copied().unwrap_or(0));
            encode_value(&mut e, v);
        }
    }
    Some(e.buf)
}

/// Decode the section for `n` passages, validating everything.
pub(crate) fn decode_section(bytes: &[u8], n: usize) -> Result<Vec<Metadata>> {
    let corrupt = || Error::Corrupt("metadata section undecodable".into());
    let mut d = Dec::new(bytes);
    let nkeys = d.count(1).ok_or_else(corrupt)?;
    let keys: Vec<String> =
        (0..nkeys).map(|_| d.str().map(str::to_owned)).collect::<Option<_>>().ok_or_else(corrupt)?;
    if n > bytes.len() {
        return Err(corrupt());
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let count = d.count(2).ok_or_else(corrupt)?;
        let mut m = Metadata::new();
        for _ in 0..count {
            let k = d.uvar().and_then(|k| keys.get(usize::try_from(k).ok()?)).ok_or_else(corrupt)?;
            m.insert(k.clone(), decode_value(&mut d).ok_or_else(corrupt)?);
        }
        out.push(m);
    }
    if !d.done() {
        return Err(corrupt());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_round_trip() {
        let mut a = Metadata::new();
        a.insert("lang".into(), Value::Str("en".into()));
        a.insert("year".into(), Value::Int(-2024));
        let mut b = Metadata::new();
        b.insert("score".into(), Value::Float(0.5));
        b.insert("starred".into(), Value::Bool(true));
        let all = vec![a, Metadata::new(), b];
        let bytes = encode_section(all.iter()).unwrap();
        assert_eq!(decode_section(&bytes, 3).unwrap(), all);
        assert!(decode_section(&bytes, 4).is_err());
        for cut in 0..bytes.len() {
            assert!(decode_section(&bytes[..cut], 3).is_err());
        }
        assert_eq!(encode_section([Metadata::new()].iter()), None);
    }
}
