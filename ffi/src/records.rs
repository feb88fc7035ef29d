//! Plain records that cross the boundary, mirrored from `ember-core` with lossless conversions.
//!
//! They mirror rather than derive on core's types because core stays free of `uniffi`; when core
//! grows a `uniffi` feature these become `#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]`.

use std::collections::HashMap;

use crate::{EmberError, VectorAction};

/// How a search gets exact scores for its best candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Mode {
    /// Stored vectors if the index has them, else recompute when an embedder is given, else codes.
    Auto,
    /// Re-embed the candidates' text (storage-lean).
    Recompute,
    /// Read the candidates' vectors from the index's vector sidecar (compute-lean).
    StoredRerank,
    /// Rank by the compact codes alone (lowest power, lower recall).
    CodesOnly,
}

impl From<Mode> for ember_core::Mode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Auto => ember_core::Mode::Auto,
            Mode::Recompute => ember_core::Mode::Recompute,
            Mode::StoredRerank => ember_core::Mode::StoredRerank,
            Mode::CodesOnly => ember_core::Mode::CodesOnly,
        }
    }
}

impl From<ember_core::Mode> for Mode {
    fn from(m: ember_core::Mode) -> Self {
        match m {
            ember_core::Mode::Auto => Mode::Auto,
            ember_core::Mode::Recompute => Mode::Recompute,
            ember_core::Mode::StoredRerank => Mode::StoredRerank,
            ember_core::Mode::CodesOnly => Mode::CodesOnly,
        }
    }
}

/// Search knobs. The defaults (k 10, beam 512, rerank 50) are core's measured defaults.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SearchOptions {
    /// How exact scores are obtained.
    pub mode: Mode,
    /// Hits returned (at least 1).
    #[uniffi(default = 10)]
    pub k: u32,
    /// Beam width of the graph search (at least 1).
    #[uniffi(default = 512)]
    pub beam: u32,
    /// Candidates given an exact score (raised to `k` if smaller).
    #[uniffi(default = 50)]
    pub rerank: u32,
    /// Only passages whose metadata matches: `key = v`, `!=`, `<`, `<=`, `>`, `>=`,
    /// `key in (v1, v2)`, `and`, `or`, `not`, parentheses; `"strings"`, numbers, `true`/`false`.
    #[uniffi(default = None)]
    pub filter: Option<String>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        ember_core::SearchOptions::default().into()
    }
}

impl From<ember_core::SearchOptions> for SearchOptions {
    fn from(o: ember_core::SearchOptions) -> Self {
        SearchOptions {
            mode: o.mode.into(),
            k: clamp_u32(o.k),
            beam: clamp_u32(o.beam),
            rerank: clamp_u32(o.rerank),
            // Core's default has no filter; a parsed filter has no text form to go back to.
            filter: None,
        }
    }
}

impl SearchOptions {
    /// Core's options, with the filter parsed (a syntax error is `InvalidArgument`).
    pub(crate) fn to_core(&self) -> Result<ember_core::SearchOptions, EmberError> {
        Ok(ember_core::SearchOptions {
            k: self.k as usize,
            mode: self.mode.into(),
            beam: self.beam as usize,
            rerank: self.rerank as usize,
            filter: self.filter.as_deref().map(ember_core::Filter::parse).transpose()?,
        })
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SearchHit {
    /// The app's passage id.
    pub id: String,
    /// Cosine similarity with the query: exact, or estimated in `CodesOnly` mode.
    pub score: f32,
}

/// Search results and what they cost.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SearchReport {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// The mode that ran (never `Auto`).
    pub mode: Mode,
    /// Why that mode was chosen.
    pub reason: String,
    /// Passages whose embeddings were recomputed.
    pub reembedded: u64,
    /// Candidates whose embeddings came from the cache.
    pub cache_hits: u64,
    /// Bytes of codes, vectors and text read.
    pub bytes_read: u64,
    /// Graph nodes scored.
    pub scored: u64,
    /// Whether a selective filter made the search scan every code (so `k` hits come back whenever
    /// `k` passages match).
    pub scanned: bool,
    /// The device policy's advice for the stored-vector sidecar (`None` until a device state is
    /// set).
    pub vectors_advice: Option<VectorAction>,
    /// Time embedding the query, milliseconds (0 for a vector query).
    pub embed_ms: f64,
    /// Time searching, re-embedding included, milliseconds.
    pub search_ms: f64,
}

impl SearchReport {
    pub(crate) fn from_core(
        r: ember_core::SearchReport,
        embed_ms: f64,
        vectors_advice: Option<VectorAction>,
    ) -> Self {
        SearchReport {
            hits: r.hits.into_iter().map(|h| SearchHit { id: h.id, score: h.score }).collect(),
            mode: r.mode.into(),
            reason: r.reason,
            reembedded: r.reembedded as u64,
            cache_hits: r.cache_hits as u64,
            bytes_read: r.bytes_read,
            scored: r.scored as u64,
            scanned: r.scanned,
            vectors_advice,
            embed_ms,
            search_ms: r.search_ms,
        }
    }
}

/// Sizes and counts of an index.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IndexStats {
    /// Number of live passages.
    pub passages: u64,
    /// Deleted passages whose space `compact` would reclaim.
    pub deleted: u64,
    /// Changes logged but not yet folded into a segment by `commit`.
    pub pending_ops: u64,
    /// The current segment's generation (grows with every commit and compaction).
    pub generation: u64,
    /// Embedding dimension.
    pub dim: u64,
    /// Raw UTF-8 bytes of all passage texts.
    pub text_bytes: u64,
    /// Graph, codes, ids and metadata: everything but the text store and the sidecar.
    pub index_bytes: u64,
    /// The vector sidecar's size (0 without one).
    pub sidecar_bytes: u64,
    /// The compressed text store's size.
    pub text_store_bytes: u64,
    /// Bytes per section, by name.
    pub sections: HashMap<String, u64>,
    /// The embedding model the index was built with.
    pub model: String,
}

impl From<ember_core::IndexStats> for IndexStats {
    fn from(s: ember_core::IndexStats) -> Self {
        IndexStats {
            passages: s.passages,
            deleted: s.deleted,
            pending_ops: s.pending_ops,
            generation: s.generation,
            dim: s.dim,
            text_bytes: s.text_bytes,
            index_bytes: s.index_bytes,
            sidecar_bytes: s.sidecar_bytes,
            text_store_bytes: s.text_store_bytes,
            sections: s.sections.into_iter().collect(),
            model: s.model,
        }
    }
}

/// Whether full-precision vectors are kept beside the index (for `StoredRerank`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VectorStorage {
    /// No sidecar: exact scores come from recomputing embeddings (smallest).
    None,
    /// 2 bytes per dimension.
    F16,
    /// 4 bytes per dimension.
    F32,
}

/// How an index is built. Everything else keeps core's measured defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct IndexConfig {
    /// Vector sidecar written at build time.
    pub vectors: VectorStorage,
    /// Passages embedded per embedder call; progress is reported between calls.
    #[uniffi(default = 256)]
    pub embed_chunk: u32,
    /// The token limit the embedder used, recorded so searches can use the same (`None`: the
    /// model's default).
    #[uniffi(default = None)]
    pub max_tokens: Option<u32>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig { vectors: VectorStorage::None, embed_chunk: 256, max_tokens: None }
    }
}

impl IndexConfig {
    pub(crate) fn to_core(self) -> Result<ember_core::IndexConfig, EmberError> {
        if self.embed_chunk == 0 {
            return Err(EmberError::invalid("embed_chunk must be at least 1"));
        }
        Ok(ember_core::IndexConfig {
            vectors: match self.vectors {
                VectorStorage::None => ember_core::VectorStorage::None,
                VectorStorage::F16 => ember_core::VectorStorage::F16,
                VectorStorage::F32 => ember_core::VectorStorage::F32,
            },
            embed_chunk: self.embed_chunk as usize,
            max_tokens: self.max_tokens.map(|t| t as usize),
            ..ember_core::IndexConfig::default()
        })
    }
}

/// When an acknowledged write (`add`, `update`, `delete`) is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Durability {
    /// Logged and fsynced before the call returns: survives a process kill and a power loss.
    Sync,
    /// Logged, not fsynced: survives a process kill, not a power loss or OS crash. Faster on slow
    /// flash.
    Buffered,
}

/// How an index is opened. The defaults suit an app that owns its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct OpenOptions {
    /// Search only, without taking the writer lock (to search beside another process's writer).
    #[uniffi(default = false)]
    pub read_only: bool,
    /// When writes are acknowledged (`None`: `Sync`; UniFFI cannot default a record field to an
    /// enum case).
    #[uniffi(default = None)]
    pub durability: Option<Durability>,
    /// Byte budget of the cache of recomputed embeddings (0 disables it).
    #[uniffi(default = 4194304)]
    pub cache_bytes: u64,
    /// Fold the log into a new segment once it passes this many bytes (0: only on `commit`).
    #[uniffi(default = 16777216)]
    pub auto_commit_bytes: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        let d = ember_core::OpenOptions::default();
        OpenOptions {
            read_only: d.read_only,
            durability: None,
            cache_bytes: d.cache_bytes as u64,
            auto_commit_bytes: d.auto_commit_bytes,
        }
    }
}

impl OpenOptions {
    pub(crate) fn to_core(self) -> Result<ember_core::OpenOptions, EmberError> {
        Ok(ember_core::OpenOptions {
            read_only: self.read_only,
            durability: match self.durability {
                None | Some(Durability::Sync) => ember_core::Durability::Sync,
                Some(Durability::Buffered) => ember_core::Durability::Buffered,
            },
            cache_bytes: usize::try_from(self.cache_bytes)
                .map_err(|_| EmberError::invalid("cache_bytes too large"))?,
            auto_commit_bytes: self.auto_commit_bytes,
            ..ember_core::OpenOptions::default()
        })
    }
}

/// How the built-in ONNX embedder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct EmbedderConfig {
    /// Token limit per text, 3 to 512 (`None`: the model manifest's, else 128).
    #[uniffi(default = None)]
    pub max_tokens: Option<u32>,
    /// Threads inside each model call (1: the calling thread only).
    #[uniffi(default = 1)]
    pub threads: u32,
    /// Most texts per model call.
    #[uniffi(default = 1)]
    pub batch_size: u32,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        let d = ember_core::EmbedderConfig::default();
        EmbedderConfig {
            max_tokens: d.max_tokens.map(clamp_u32),
            threads: clamp_u32(d.threads),
            batch_size: clamp_u32(d.batch_size),
        }
    }
}

impl From<EmbedderConfig> for ember_core::EmbedderConfig {
    fn from(c: EmbedderConfig) -> Self {
        ember_core::EmbedderConfig {
            max_tokens: c.max_tokens.map(|t| t as usize),
            threads: c.threads as usize,
            batch_size: c.batch_size as usize,
        }
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
