//! Every knob an app sets, in one place: how an index is built ([`IndexConfig`]), opened
//! ([`OpenOptions`]) and searched ([`SearchOptions`], [`Mode`]), how vectors are stored
//! ([`VectorStorage`], [`Precision`]), and the device policy's thresholds ([`Policy`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::filter::Filter;
use crate::cpu::EnergyProfile;
use crate::graph::GraphParams;
use crate::keywords::{AnalyzerConfig, Bm25Params};
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

/// Whether the index keeps the passages' text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TextStorage {
    /// In the index, compressed: `get` returns it and recompute reads it.
    #[default]
    Store,
    /// Not at all: the app keeps its texts and hands them over through a [`crate::TextSource`]
    /// (`Index::set_text_source`); the index keeps a 4-byte fingerprint per passage to detect a
    /// text that changed. Texts added since the last commit stay in the log until it.
    None,
}

impl TextStorage {
    pub(crate) fn is_store(&self) -> bool {
        *self == TextStorage::Store
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
    /// A keyword (BM25) index built with the passages and kept in step with them, with these
    /// analysis settings; `None` for none (one can be built later, `Index::build_keywords`).
    pub keywords: Option<AnalyzerConfig>,
    /// Whether the index keeps the text or the app does.
    pub text: TextStorage,
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
            keywords: None,
            text: TextStorage::Store,
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

/// Which retrieval runs: the vector search, the keyword index, or both fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Retrieval {
    /// Hybrid when the index has a keyword index (and the search has both a query text and a
    /// query vector), else dense; keywords alone when there is no query vector.
    #[default]
    Auto,
    /// The vector search alone.
    Dense,
    /// BM25 over the keyword index alone (no query embedding, no model run).
    Keywords,
    /// Both, fused ([`Fusion`]).
    Hybrid,
}

impl Retrieval {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Retrieval::Auto => "auto",
            Retrieval::Dense => "dense",
            Retrieval::Keywords => "keywords",
            Retrieval::Hybrid => "hybrid",
        }
    }
}

/// How a hybrid search merges the dense and the keyword ranked lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal-rank fusion, `Σ 1/(k + rank)`: needs no score calibration.
    Rrf {
        /// Rank offset (usually 60).
        k: f32,
    },
    /// `alpha · minmax(dense) + (1 − alpha) · minmax(bm25)`.
    Blend {
        /// Weight of the dense side, 0 to 1.
        alpha: f32,
    },
    /// A blend whose `alpha` is set per query: the `rank`-th BM25 score over the first (0 when
    /// fewer passages match), kept within [0.2, 0.8] (`keywords::adaptive_alpha`). Peaked keyword
    /// scores (an exact name or identifier matched) weigh more, flat ones less.
    Adaptive {
        /// Rank of the BM25 score compared with the best (1 to [`Fusion::MAX_ADAPTIVE_RANK`]).
        rank: usize,
    },
}

impl Default for Fusion {
    /// The adaptive blend comparing the 40th BM25 score with the first. Measured with the default
    /// model (multilingual-e5-small) on pydocs (FAQ, headings), man pages, debian-10k and the
    /// Chinese set (docs/BENCHMARKS.md, "Hybrid search"), it has the best mean nDCG@10 of RRF
    /// (k 20, 60), blends (alpha 0.3 to 0.8) and adaptive blends (rank 10 to 40), in stored and in
    /// codes-only mode: no fixed alpha suits both the FAQ (prose questions, where the vectors
    /// lead) and the heading sets (where keywords lead).
    fn default() -> Self {
        Fusion::Adaptive { rank: Fusion::DEFAULT_ADAPTIVE_RANK }
    }
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k } => write!(f, "rrf:{k}"),
            Fusion::Blend { alpha } => write!(f, "blend:{alpha}"),
            Fusion::Adaptive { rank } => write!(f, "adaptive:{rank}"),
        }
    }
}

impl std::str::FromStr for Fusion {
    type Err = crate::Error;

    /// `adaptive` (rank 40), `adaptive:RANK`, `rrf`, `rrf:K`, `blend` (alpha 0.5) or
    /// `blend:ALPHA`.
    fn from_str(s: &str) -> crate::Result<Fusion> {
        let bad = || {
            crate::Error::InvalidArgument(format!(
                "fusion {s:?}: expected adaptive[:RANK], rrf[:K] or blend[:ALPHA]"
            ))
        };
        let (name, value) = match s.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let number = |default: f32| value.map_or(Ok(default), |v| v.parse::<f32>().map_err(|_| bad()));
        let fusion = match name {
            "rrf" => Fusion::Rrf { k: number(60.0)? },
            "blend" => Fusion::Blend { alpha: number(0.5)? },
            "adaptive" => Fusion::Adaptive {
                rank: value.map_or(Ok(Fusion::DEFAULT_ADAPTIVE_RANK), |v| v.parse().map_err(|_| bad()))?,
            },
            _ => return Err(bad()),
        };
        fusion.check()?;
        Ok(fusion)
    }
}

impl Fusion {
    /// The default fusion's rank: the 40th BM25 score is compared with the first.
    pub const DEFAULT_ADAPTIVE_RANK: usize = 40;
    /// Largest adaptive rank (the keyword side fetches that many hits).
    pub const MAX_ADAPTIVE_RANK: usize = 1000;

    /// Refuse a negative or non-finite RRF k, an alpha outside [0, 1], or an adaptive rank outside
    /// 1 to [`Fusion::MAX_ADAPTIVE_RANK`].
    pub fn check(&self) -> crate::Result<()> {
        let ok = match *self {
            Fusion::Rrf { k } => k.is_finite() && k >= 0.0,
            Fusion::Blend { alpha } => (0.0..=1.0).contains(&alpha),
            Fusion::Adaptive { rank } => (1..=Self::MAX_ADAPTIVE_RANK).contains(&rank),
        };
        match ok {
            true => Ok(()),
            false => Err(crate::Error::InvalidArgument(format!("fusion {self} is out of range"))),
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
    /// Beam width of the graph search (candidates kept while traversing); `None`: the index's
    /// default for the mode that runs ([`crate::Index::search_defaults`]).
    pub beam: Option<usize>,
    /// Candidates given an exact score (by recompute or sidecar; at least `k`); `None`: the
    /// index's default for the mode that runs.
    pub rerank: Option<usize>,
    /// Only passages whose metadata matches are returned (applied during traversal, and to the
    /// keyword side).
    pub filter: Option<Filter>,
    /// Dense, keywords or both.
    pub retrieval: Retrieval,
    /// How a hybrid search fuses its two lists.
    pub fusion: Fusion,
    /// BM25's parameters for the keyword side.
    pub bm25: Bm25Params,
}

impl SearchOptions {
    /// Hits returned by default.
    pub const DEFAULT_K: usize = 10;
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: Self::DEFAULT_K,
            mode: Mode::Auto,
            beam: None,
            rerank: None,
            filter: None,
            retrieval: Retrieval::Auto,
            fusion: Fusion::default(),
            bm25: Bm25Params::default(),
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
    /// On battery (not charging), `Mode::Auto` picks no mode whose measured mean energy per query
    /// on this index exceeds this many millijoules (estimated, [`EnergyProfile`]); `None`: no
    /// budget.
    pub battery_query_budget_mj: Option<f64>,
    /// Threads to embed with on battery (advice for the app's `EmbedderConfig::threads`,
    /// [`Policy::threads`]).
    pub threads_on_battery: usize,
    /// Threads to embed with while charging; 0 for every core.
    pub threads_charging: usize,
    /// Joules per CPU-second of this device, behind every `energy_mj` estimate.
    pub energy: EnergyProfile,
}

impl Policy {
    /// The default per-query budget on battery, millijoules. At 10k passages with the default
    /// model (docs/BENCHMARKS.md, "Energy"), a cold-cache recompute search costs about 1,000-1,060
    /// CPU-ms, 1.1-1.2 J at the phone profile, and a stored or codes search about 6 CPU-ms. 2 J
    /// keeps such recompute searches, with room for longer passages, and stops `Auto` from running
    /// a mode whose searches cost more on this index (a wider rerank, a slower CPU): it falls to
    /// codes until the device charges.
    pub const DEFAULT_BATTERY_QUERY_BUDGET_MJ: f64 = 2000.0;
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            recompute_min_battery: 20,
            materialize_min_free_bytes: 2 << 30,
            evict_below_free_bytes: 512 << 20,
            battery_query_budget_mj: Some(Policy::DEFAULT_BATTERY_QUERY_BUDGET_MJ),
            threads_on_battery: 1,
            threads_charging: 0,
            energy: EnergyProfile::platform_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_spellings_round_trip() {
        let f = |s: &str| s.parse::<Fusion>().unwrap();
        assert_eq!(Fusion::default(), Fusion::Adaptive { rank: 40 });
        assert_eq!(Fusion::default().to_string(), "adaptive:40");
        assert_eq!(f("adaptive"), Fusion::default());
        assert_eq!(f("adaptive:10"), Fusion::Adaptive { rank: 10 });
        assert_eq!(f("rrf"), Fusion::Rrf { k: 60.0 });
        assert_eq!(f("rrf:20"), Fusion::Rrf { k: 20.0 });
        assert_eq!(f("blend"), Fusion::Blend { alpha: 0.5 });
        assert_eq!(f("blend:0.3"), Fusion::Blend { alpha: 0.3 });
        for s in ["adaptive:40", "adaptive:1", "rrf:60", "rrf:20.5", "blend:0.5", "blend:0", "blend:1"] {
            assert_eq!(f(s).to_string(), s);
        }
        for s in [
            "adaptive:0",
            "adaptive:1001",
            "adaptive:2.5",
            "adaptive:-1",
            "blend:2",
            "rrf:-1",
            "rrf:x",
            "mean",
            "",
        ] {
            assert!(matches!(s.parse::<Fusion>(), Err(crate::Error::InvalidArgument(_))), "{s}");
        }
    }
}
