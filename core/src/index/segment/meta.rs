//! The segment's meta section (what a segment records about itself) and its per-passage flags.

use serde::{Deserialize, Serialize};

use crate::index::effort::Calibration;
use crate::index::options::TextStorage;

/// Flag bit of a deleted passage in the flags section (the version map).
pub(crate) const DELETED: u8 = 1;

/// What the segment's meta section records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub format: String,
    pub model: String,
    pub dim: usize,
    pub passages: usize,
    pub text_bytes: u64,
    pub generation: u64,
    pub code_dims: usize,
    pub code_bits: u8,
    pub graph_max_degree: usize,
    pub graph_degree: usize,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// The embedder's query prefix (`Embedder::prefix`). Absent in indexes written before
    /// prefixes were recorded, which read as empty (they applied none); left out when empty so a
    /// segment of a symmetric model is byte for byte what it was.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query_prefix: String,
    /// The embedder's passage prefix, as above.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub passage_prefix: String,
    /// Where the text is: in the segment (absent, in segments written before app-held text), or
    /// with the app (a fingerprints section instead of the text section).
    #[serde(default, skip_serializing_if = "TextStorage::is_store")]
    pub text: TextStorage,
    /// The search effort measured at build (absent when never measured: an index created empty,
    /// or written before calibration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Calibration>,
    pub created_by: String,
}
