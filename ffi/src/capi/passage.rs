//! Passages in C: the caller's arrays read into `Passage`s, and stored passages handed back.

use std::collections::HashMap;
use std::ffi::{c_char, CString};

use super::handles::Registry;
use super::{guard, guard_void, out_arg, slice_arg, str_arg, EmberResult};
use crate::{EmberError, MetadataValue, Passage};

/// The kind of an `EmberValue` (values of `EmberValue::kind`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberValueKind {
    /// `int_value` holds 0 (false) or 1 (true); any nonzero value reads as true.
    Bool = 0,
    /// `int_value`.
    Int = 1,
    /// `float_value` (NaN is refused).
    Float = 2,
    /// `str_value`, NUL-terminated UTF-8.
    Str = 3,
}

/// A metadata value: `kind` says which field holds it (the others are ignored). Booleans live in
/// `int_value` so that no byte of this struct can be an invalid value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EmberValue {
    /// An `EmberValueKind` value.
    pub kind: u32,
    /// The value of a `BOOL` or `INT`.
    pub int_value: i64,
    /// The value of a `FLOAT`.
    pub float_value: f64,
    /// The value of a `STR`.
    pub str_value: *const c_char,
}

/// One metadata entry: a key (NUL-terminated UTF-8, 1 byte to 4 KiB) and its value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EmberMetadataEntry {
    /// The key.
    pub key: *const c_char,
    /// The value.
    pub value: EmberValue,
}

/// One passage: the app's id (unique, at most 1 KiB), its text, both NUL-terminated UTF-8, and
/// `metadata_len` metadata entries (`metadata` may be NULL when `metadata_len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EmberPassage {
    /// The app's identifier, returned in hits.
    pub id: *const c_char,
    /// The text that is embedded, stored and searched.
    pub text: *const c_char,
    /// Metadata entries for filters.
    pub metadata: *const EmberMetadataEntry,
    /// Number of entries in `metadata`.
    pub metadata_len: usize,
}

/// Read one value.
///
/// # Safety
/// A `STR` value's `str_value` is NULL or NUL-terminated.
unsafe fn value_arg(v: &EmberValue, name: &str) -> Result<MetadataValue, EmberError> {
    Ok(match v.kind {
        k if k == EmberValueKind::Bool as u32 => MetadataValue::Bool(v.int_value != 0),
        k if k == EmberValueKind::Int as u32 => MetadataValue::Int(v.int_value),
        k if k == EmberValueKind::Float as u32 => MetadataValue::Float(v.float_value),
        k if k == EmberValueKind::Str as u32 => {
            // SAFETY: forwarded from this function's contract.
            MetadataValue::Str(unsafe { str_arg(v.str_value, name) }?.to_owned())
        }
        k => return Err(EmberError::invalid(format!("{name}: unknown value kind {k}"))),
    })
}

/// Read `len` passages.
///
/// # Safety
/// `passages` is NULL or valid for `len` reads, each passage's strings NUL-terminated and its
/// metadata valid for `metadata_len` reads.
pub(crate) unsafe fn passages_arg(
    passages: *const EmberPassage,
    len: usize,
) -> Result<Vec<Passage>, EmberError> {
    // SAFETY: forwarded from this function's contract.
    let raw = unsafe { slice_arg(passages, len, "passages") }?;
    raw.iter()
        .enumerate()
        .map(|(i, p)| {
            // SAFETY: each field is a NUL-terminated string, per the contract.
            let id = unsafe { str_arg(p.id, &format!("passages[{i}].id")) }?;
            // SAFETY: as above.
            let text = unsafe { str_arg(p.text, &format!("passages[{i}].text")) }?;
            // SAFETY: valid for `metadata_len` reads, per the contract.
            let entries =
                unsafe { slice_arg(p.metadata, p.metadata_len, &format!("passages[{i}].metadata")) }?;
            let mut metadata = HashMap::with_capacity(entries.len());
            for (j, e) in entries.iter().enumerate() {
                let name = format!("passages[{i}].metadata[{j}]");
                // SAFETY: NUL-terminated, per the contract.
                let key = unsafe { str_arg(e.key, &format!("{name}.key")) }?;
                // SAFETY: as above.
                let value = unsafe { value_arg(&e.value, &name) }?;
                if metadata.insert(key.to_owned(), value).is_some() {
                    return Err(EmberError::invalid(format!("{name}: key {key:?} given twice")));
                }
            }
            Ok(Passage { id: id.to_owned(), text: text.to_owned(), metadata })
        })
        .collect()
}

/// Read `len` ids.
///
/// # Safety
/// `ids` is NULL or valid for `len` reads of NUL-terminated strings.
pub(crate) unsafe fn ids_arg(ids: *const *const c_char, len: usize) -> Result<Vec<String>, EmberError> {
    // SAFETY: forwarded from this function's contract.
    let raw = unsafe { slice_arg(ids, len, "ids") }?;
    raw.iter()
        .enumerate()
        // SAFETY: NUL-terminated, per the contract.
        .map(|(i, &p)| unsafe { str_arg(p, &format!("ids[{i}]")) }.map(str::to_owned))
        .collect()
}

/// A passage read back from an index (opaque). Look at it with `ember_stored_passage_view`; free it
/// with `ember_stored_passage_free`.
#[derive(Debug)]
pub struct CStoredPassage {
    _opaque: [u8; 0],
}

/// What a stored-passage handle holds: C strings and the entry array pointing into them.
pub(crate) struct StoredPassage {
    id: CString,
    text: CString,
    _strings: Vec<CString>,
    entries: Vec<EmberMetadataEntry>,
}

// SAFETY: the raw pointers in `entries` point into the `CString`s this struct owns, which are
// never changed or moved (their heap buffers stay put) until the struct is dropped.
unsafe impl Send for StoredPassage {}
// SAFETY: as above; the struct is immutable after construction.
unsafe impl Sync for StoredPassage {}

pub(crate) static PASSAGES: Registry<StoredPassage, CStoredPassage> = Registry::new(4);

fn c_string(s: String, what: &str) -> Result<CString, EmberError> {
    CString::new(s).map_err(|_| EmberError::internal(format!("{what} holds a NUL byte")))
}

impl StoredPassage {
    pub(crate) fn new(p: Passage) -> Result<Self, EmberError> {
        let mut strings = Vec::new();
        let mut entries = Vec::with_capacity(p.metadata.len());
        let mut metadata: Vec<(String, MetadataValue)> = p.metadata.into_iter().collect();
        metadata.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in metadata {
            let key = c_string(key, "a metadata key")?;
            let mut v = EmberValue { kind: 0, int_value: 0, float_value: 0.0, str_value: std::ptr::null() };
            match value {
                MetadataValue::Bool(b) => (v.kind, v.int_value) = (EmberValueKind::Bool as u32, i64::from(b)),
                MetadataValue::Int(i) => (v.kind, v.int_value) = (EmberValueKind::Int as u32, i),
                MetadataValue::Float(f) => (v.kind, v.float_value) = (EmberValueKind::Float as u32, f),
                MetadataValue::Str(s) => {
                    let s = c_string(s, "a metadata value")?;
                    (v.kind, v.str_value) = (EmberValueKind::Str as u32, s.as_ptr());
                    strings.push(s);
                }
            }
            entries.push(EmberMetadataEntry { key: key.as_ptr(), value: v });
            strings.push(key);
        }
        Ok(StoredPassage {
            id: c_string(p.id, "the id")?,
            text: c_string(p.text, "the text")?,
            _strings: strings,
            entries,
        })
    }
}

/// Fill `out_view` with the stored passage: id, text and metadata (sorted by key), all valid until
/// the handle is freed.
///
/// # Safety
/// `out_view` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_stored_passage_view(
    passage: *const CStoredPassage,
    out_view: *mut EmberPassage,
) -> EmberResult {
    guard(|| {
        let empty = EmberPassage {
            id: std::ptr::null(),
            text: std::ptr::null(),
            metadata: std::ptr::null(),
            metadata_len: 0,
        };
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_view, "out_view", empty) }?;
        let p = PASSAGES.get(passage, "passage", || EmberError::invalid("passage was freed"))?;
        // The pointers stay valid after `p` is dropped here: the registry holds the entry until the
        // handle is freed.
        *out = EmberPassage {
            id: p.id.as_ptr(),
            text: p.text.as_ptr(),
            metadata: if p.entries.is_empty() { std::ptr::null() } else { p.entries.as_ptr() },
            metadata_len: p.entries.len(),
        };
        Ok(())
    })
}

/// Free a stored passage. NULL, and a handle freed before, are ignored.
#[no_mangle]
pub extern "C" fn ember_stored_passage_free(passage: *mut CStoredPassage) {
    guard_void(|| drop(PASSAGES.remove(passage)))
}
