//! Every knob an app sets, in one place: how an index is built ([`IndexConfig`]), opened
//! ([`OpenOptions`]) and searched ([`SearchOptions`], [`Mode`]), how vectors are stored
//! ([`VectorStorage`], [`Precision`]), and the device policy's thresholds ([`Policy`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::filter::Filter;
use crate::graph::GraphParams;
use crate::store::{RealStorage, Storage};

/// Whether and how full-precision vectors are kept beside the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum VectorStorage {
    /// No sidecar: exact distances come from recomputing embeddings.
    None,
    /// 2 bytes per dimension.
    F16,
    /// 4 bytes per dimension.
    F32,
}

impl VectorStorage {
    pub(crate) fn precision(self) -> Option<Precision> {
        match self {
            VectorStorage::None => None,
            VectorStorage::F16 => Some(Precision::F16),
            VectorStorage::F32 => Some(Precision::F32),
        }
    }
}

/// How an index is built.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Graph construction and pruning.
    pub graph: GraphParams,
    /// Code dimensions: 0 for the model's full dimension (rotation only; at most
    /// [`crate::quant::MAX_CODE_DIMS`]), or fewer (a multiple of 8) for a PCA projection whose
    /// basis is stored with the index (required for models wider than that).
    pub code_dims: usize,
    /// Bits per code dimension, 1 to 4.
    pub code_bits: u8,
    /// Seed of the code rotation.
    pub seed: u64,
    /// Vector sidecar written at build time.
    pub vectors: VectorStorage,
    /// Passages embedded per call (progress is reported between calls).
    pub embed_chunk: usize,
    /// The token limit passages were embedded with, recorded so searches can use the same.
    pub max_tokens: Option<usize>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        // Chosen on 10k Debian-doc passages and the man pages (docs/BENCHMARKS.md): 1-bit codes over
        // the full rotated dimension (no PCA basis to store, nothing truncated) with m=12, M=32 give
        // 7.6% of the text and recall@3 0.96 at beam 512, rerank 50. PCA-96 × 3 bits was smaller
        // but lost 5% of true top-1s on the man pages (their residual outside the PCA subspace).
        IndexConfig {
            graph: GraphParams {
                degree: 12,
                max_degree: 32,
                // `--build-beam 128` lifts stored recall@3 at search beam 256 from 0.927 to 0.954 on
                // debian-10k, but on 1,000 man pages it lowers recall at beam 64 and after compaction
                // (tests/churn.rs fails): 64 stays the default (docs/BENCHMARKS.md).
                ..GraphParams::default()
            },
            code_dims: 0,
            code_bits: 1,
            seed: 0x0045_4d42_4552, // "EMBER"
            vectors: VectorStorage::None,
            embed_chunk: 256,
            max_tokens: None,
        }
    }
}

/// Element type of stored vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// Half precision: 2 bytes per dimension.
    F16,
    /// Single precision: 4 bytes per dimension.
    F32,
}

impl Precision {
    /// Bytes per stored dimension.
    pub fn width(self) -> usize {
        match self {
            Precision::F16 => 2,
            Precision::F32 => 4,
        }
    }
}

/// Default byte budget of the recomputed-embedding cache.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

/// When an acknowledged write is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The log is fsynced before `add`, `update` and `delete` return: acknowledged writes survive
    /// a process kill and a power loss.
    #[default]
    Sync,
    /// The log is written but not fsynced: acknowledged writes survive a process kill (the OS
    /// holds them), not a power loss or OS crash. Much faster on slow flash.
    Buffered,
}

/// How an index is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// When writes are acknowledged.
    pub durability: Durability,
    /// Open without the writer lock: searches only, the log is replayed but never changed. Several
    /// processes may open an index read-only while one writes.
    pub read_only: bool,
    /// Byte budget of the recomputed-embedding cache.
    pub cache_bytes: usize,
    /// The device policy behind `Mode::Auto`.
    pub policy: Policy,
    /// Fold the log into a new segment once it grows past this many bytes (0: only on `commit`).
    pub auto_commit_bytes: u64,
    /// Where writes go (the real file system; a fault-injecting layer in tests).
    pub storage: Arc<dyn Storage>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::Sync,
            read_only: false,
            cache_bytes: DEFAULT_CACHE_BYTES,
            policy: Policy::default(),
            auto_commit_bytes: 16 << 20,
            storage: Arc::new(RealStorage),
        }
    }
}

/// How exact distances are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Mode {
    /// Stored vectors if present, else recompute if an embedder is given, else codes only.
    Auto,
    /// Re-embed the candidates' text (storage-lean).
    Recompute,
    /// Read the candidates' vectors from the sidecar (compute-lean).
    #[cfg_attr(feature = "clap", value(name = "stored"))]
    StoredRerank,
    /// Rank by code estimates alone (lowest power, lower recall).
    #[cfg_attr(feature = "clap", value(name = "codes"))]
    CodesOnly,
}

impl Mode {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Recompute => "recompute",
            Mode::StoredRerank => "stored",
            Mode::CodesOnly => "codes",
        }
    }
}

/// Search knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Hits returned.
    pub k: usize,
    /// How exact distances are obtained.
    pub mode: Mode,
    /// Beam width of the graph search (candidates kept while traversing).
    pub beam: usize,
    /// Candidates given an exact score (by recompute or sidecar); at least `k`.
    pub rerank: usize,
    /// Only passages whose metadata matches are returned (applied during traversal).
    pub filter: Option<Filter>,
}

impl SearchOptions {
    /// Hits returned by default.
    pub const DEFAULT_K: usize = 10;
    /// Default beam width. Measured on 10k Debian-doc passages: beam 512 + rerank 50 reach
    /// recall@3 0.958; beam 256 gives 0.933 in about 60% of the time (docs/BENCHMARKS.md).
    pub const DEFAULT_BEAM: usize = 512;
    /// Default number of candidates given an exact score.
    pub const DEFAULT_RERANK: usize = 50;
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: Self::DEFAULT_K,
            mode: Mode::Auto,
            beam: Self::DEFAULT_BEAM,
            rerank: Self::DEFAULT_RERANK,
            filter: None,
        }
    }
}

/// Thresholds of the device policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Below this battery level (and not charging), searches avoid running the model.
    pub recompute_min_battery: u8,
    /// Materialize only if this much flash stays free after writing the sidecar.
    pub materialize_min_free_bytes: u64,
    /// Evict the sidecar when free flash falls below this.
    pub evict_below_free_bytes: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            recompute_min_battery: 20,
            materialize_min_free_bytes: 2 << 30,
            evict_below_free_bytes: 512 << 20,
        }
    }
}
