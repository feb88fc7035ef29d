//! The records and enums that cross the boundary. Core's plain types cross as they are, declared
//! here with `#[uniffi::remote]`; the few records whose shape differs across the boundary (a
//! filter as text, `u32` counts) are adapters with one conversion each.
//!
//! Remote rather than `#[derive]` in core behind a feature: UniFFI's library mode writes one
//! Kotlin file per crate, each with its own public `RustBuffer` and converters, so core's types
//! could not share the `org.example.ember` package with the rest. A remote declaration is checked
//! by the compiler against core's definition (every field and variant, by name and type), so it
//! cannot drift; it adds no Rust type and no conversion.

use std::collections::{BTreeMap, HashMap};

pub use ember_core::{
    Cost, EnergyProfile, IndexStats, Mode, ModeCost, ModeCosts, Retrieval, SearchHit, VectorStorage,
};

use crate::{EmberError, TextStorage, VectorAction};

/// How a search gets exact scores for its best candidates.
#[uniffi::remote(Enum)]
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

/// Which retrieval a search runs.
#[uniffi::remote(Enum)]
pub enum Retrieval {
    /// Hybrid when the index has a keyword index, else dense (keywords alone for a text search
    /// without a model).
    Auto,
    /// The vector search alone.
    Dense,
    /// BM25 over the keyword index alone: no model run.
    Keywords,
    /// Both, fused.
    Hybrid,
}

/// Search knobs. The defaults are core's (k 10; beam and rerank `None`: the index's measured
/// defaults for the mode that runs, `Index.searchDefaults()`; UniFFI takes literals only, a test
/// keeps them equal).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SearchOptions {
    /// How exact scores are obtained.
    pub mode: Mode,
    /// Hits returned (at least 1).
    #[uniffi(default = 10)]
    pub k: u32,
    /// Beam width of the graph search (at least 1; `None`: the index's default for the mode).
    #[uniffi(default = None)]
    pub beam: Option<u32>,
    /// Candidates given an exact score (raised to `k` if smaller; `None`: the index's default for
    /// the mode).
    #[uniffi(default = None)]
    pub rerank: Option<u32>,
    /// Only passages whose metadata matches: `key = v`, `!=`, `<`, `<=`, `>`, `>=`,
    /// `key in (v1, v2)`, `and`, `or`, `not`, parentheses; `"strings"`, numbers, `true`/`false`.
    #[uniffi(default = None)]
    pub filter: Option<String>,
    /// Dense, keywords or hybrid (`None`: `Auto`; UniFFI cannot default a record field to an
    /// enum case).
    #[uniffi(default = None)]
    pub retrieval: Option<Retrieval>,
    /// How a hybrid search fuses its lists: `adaptive[:RANK]`, `rrf[:K]` or `blend[:ALPHA]` (`None`:
    /// core's default, `adaptive:40`).
    #[uniffi(default = None)]
    pub fusion: Option<String>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        ember_core::SearchOptions::default().into()
    }
}

impl From<ember_core::SearchOptions> for SearchOptions {
    fn from(o: ember_core::SearchOptions) -> Self {
        SearchOptions {
            mode: o.mode,
            k: clamp_u32(o.k),
            beam: o.beam.map(clamp_u32),
            rerank: o.rerank.map(clamp_u32),
            // Core's default has no filter; a parsed filter has no text form to go back to.
            filter: None,
            retrieval: Some(o.retrieval),
            fusion: Some(o.fusion.to_string()),
        }
    }
}

impl SearchOptions {
    /// Core's options, with the filter parsed (a syntax error is `InvalidArgument`).
    pub(crate) fn to_core(&self) -> Result<ember_core::SearchOptions, EmberError> {
        Ok(ember_core::SearchOptions {
            k: self.k as usize,
            mode: self.mode,
            beam: self.beam.map(|b| b as usize),
            rerank: self.rerank.map(|r| r as usize),
            filter: self.filter.as_deref().map(ember_core::Filter::parse).transpose()?,
            retrieval: self.retrieval.unwrap_or_default(),
            fusion: self.fusion.as_deref().map(str::parse).transpose()?.unwrap_or_default(),
            ..ember_core::SearchOptions::default()
        })
    }
}

/// A dense search's work: the graph walk's beam and the candidates given an exact score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Effort {
    /// Beam width of the graph walk.
    pub beam: u32,
    /// Candidates given an exact score.
    pub rerank: u32,
}

/// The beam and rerank searches use where `SearchOptions` leaves them `None`: measured on the
/// index at build, the beam widened as the index grew since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SearchDefaults {
    /// Stored and codes-only searches (the cheapest walk reaching recall@3 0.95 and recall@10 0.93
    /// on sample queries).
    pub stored: Effort,
    /// Recompute searches (the least rerank: each reranked candidate is a model run).
    pub recompute: Effort,
    /// Live passages when measured; `None` when never measured (fixed defaults scaled by size).
    pub calibrated_at: Option<u64>,
}

impl From<ember_core::SearchDefaults> for SearchDefaults {
    fn from(d: ember_core::SearchDefaults) -> Self {
        let effort = |e: ember_core::Effort| Effort { beam: clamp_u32(e.beam), rerank: clamp_u32(e.rerank) };
        SearchDefaults {
            stored: effort(d.stored),
            recompute: effort(d.recompute),
            calibrated_at: d.calibrated_at.map(|n| n as u64),
        }
    }
}

/// One search result.
#[uniffi::remote(Record)]
pub struct SearchHit {
    /// The app's passage id.
    pub id: String,
    /// Dense: cosine similarity with the query, exact or estimated in `CodesOnly` mode.
    /// Keywords: the BM25 score. Hybrid: the fused score.
    pub score: f32,
}

/// Search results and what they cost.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SearchReport {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// The retrieval that ran (never `Auto`).
    pub retrieval: Retrieval,
    /// The mode of the dense side (never `Auto`; `CodesOnly` when only keywords ran).
    pub mode: Mode,
    /// Why that mode was chosen.
    pub reason: String,
    /// Passages whose embeddings were recomputed.
    pub reembedded: u64,
    /// Candidates whose embeddings came from the cache.
    pub cache_hits: u64,
    /// Bytes of codes, vectors and text read.
    pub bytes_read: u64,
    /// Beam width the graph walk used (asked, or the index's default; 0 when only keywords ran).
    pub beam: u64,
    /// Candidates given an exact score (0 in codes-only mode and when only keywords ran).
    pub rerank: u64,
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
    /// Passages the keyword side returned, before fusion.
    pub keyword_hits: u64,
    /// Time of the dense side, milliseconds (0 when it did not run).
    pub dense_ms: f64,
    /// Time of the keyword side, milliseconds (0 when it did not run).
    pub keyword_ms: f64,
    /// CPU time of every thread that worked for the search (query embedding, graph walk,
    /// re-embedding, reads), milliseconds, from per-thread CPU clocks; `None` where the platform
    /// has none. An app's own embedder is counted only for the time the calling thread spends in it.
    pub cpu_ms: Option<f64>,
    /// Estimated energy of the search, millijoules: `cpu_ms` priced by the open options'
    /// energy profile. An estimate, not a measurement.
    pub energy_mj: Option<f64>,
}

impl SearchReport {
    pub(crate) fn from_core(
        r: ember_core::SearchReport,
        embed_ms: f64,
        vectors_advice: Option<VectorAction>,
    ) -> Self {
        SearchReport {
            hits: r.hits,
            retrieval: r.retrieval,
            mode: r.mode,
            reason: r.reason,
            reembedded: r.reembedded as u64,
            cache_hits: r.cache_hits as u64,
            bytes_read: r.bytes_read,
            beam: r.beam as u64,
            rerank: r.rerank as u64,
            scored: r.scored as u64,
            scanned: r.scanned,
            vectors_advice,
            embed_ms,
            search_ms: r.search_ms,
            keyword_hits: r.keyword_hits as u64,
            dense_ms: r.dense_ms,
            keyword_ms: r.keyword_ms,
            cpu_ms: r.cpu_ms,
            energy_mj: r.energy_mj,
        }
    }
}

/// Bytes per section of an index, by name (a `Map` in Kotlin, a dictionary in Swift).
pub type Sections = BTreeMap<String, u64>;

// UniFFI maps are `HashMap`s; core keeps its sections sorted (for `ember info`).
uniffi::custom_type!(Sections, HashMap<String, u64>, {
    remote,
    lower: |s| s.into_iter().collect(),
    try_lift: |m| Ok(m.into_iter().collect()),
});

/// Sizes and counts of an index.
#[uniffi::remote(Record)]
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
    /// The compressed text store's size (0 when the app holds the text).
    pub text_store_bytes: u64,
    /// The keyword index's size (0 without one).
    pub keyword_bytes: u64,
    /// Bytes per section, by name.
    pub sections: Sections,
    /// The embedding model the index was built with.
    pub model: String,
    /// Whether the index keeps the text or the app does.
    pub text: TextStorage,
    /// Every file of the index directory: what the app's storage actually pays.
    pub dir_bytes: u64,
}

/// Whether full-precision vectors are kept beside the index (for `StoredRerank`).
#[uniffi::remote(Enum)]
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
    /// Build a keyword (BM25) index too, for keyword and hybrid search.
    #[uniffi(default = false)]
    pub keywords: bool,
    /// With `keywords`: reduce English words to their stem (`running` → `run`).
    #[uniffi(default = true)]
    pub keyword_stem: bool,
    /// Keep the passages' text in the index (`Store`, also when absent), or only fingerprints
    /// (`TextStorage.NONE`: the app keeps the texts and sets a `TextSource` after opening).
    #[uniffi(default = None)]
    pub text: Option<TextStorage>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        let d = ember_core::IndexConfig::default();
        IndexConfig {
            vectors: d.vectors,
            embed_chunk: clamp_u32(d.embed_chunk),
            max_tokens: d.max_tokens.map(clamp_u32),
            keywords: d.keywords.is_some(),
            keyword_stem: d.keywords.is_none_or(|k| k.stem),
            text: None,
        }
    }
}

impl IndexConfig {
    pub(crate) fn to_core(self) -> Result<ember_core::IndexConfig, EmberError> {
        if self.embed_chunk == 0 {
            return Err(EmberError::invalid("embed_chunk must be at least 1"));
        }
        Ok(ember_core::IndexConfig {
            vectors: self.vectors,
            embed_chunk: self.embed_chunk as usize,
            max_tokens: self.max_tokens.map(|t| t as usize),
            keywords: self
                .keywords
                .then_some(ember_core::keywords::AnalyzerConfig { stem: self.keyword_stem }),
            text: self.text.unwrap_or_default(),
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

/// Joules one CPU-second costs on the device: what `energy_mj` estimates are priced with. The
/// defaults are published measurements (docs/architecture.md, "Energy"); set your own from the
/// device's measurements.
#[uniffi::remote(Record)]
pub struct EnergyProfile {
    /// Joules per CPU-second on a big (performance) core.
    pub big_j_per_cpu_s: f64,
    /// Joules per CPU-second on a little (efficiency) core.
    pub little_j_per_cpu_s: f64,
    /// Share of CPU time priced as big-core time, 0 to 1.
    pub big_share: f64,
}

/// What a call cost: CPU time and the energy estimate from it.
#[uniffi::remote(Record)]
pub struct Cost {
    /// CPU time of every thread that worked for the call, milliseconds (`None`: no per-thread
    /// CPU clock on this platform).
    pub cpu_ms: Option<f64>,
    /// Estimated energy, millijoules.
    pub energy_mj: Option<f64>,
}

/// The running mean cost of one mode's searches on an index.
#[uniffi::remote(Record)]
pub struct ModeCost {
    /// Searches measured.
    pub searches: u64,
    /// Mean CPU time, milliseconds.
    pub cpu_ms: f64,
    /// Mean estimated energy, millijoules.
    pub energy_mj: f64,
}

/// The measured cost of each mode on an index: what `Mode.AUTO` weighs against the battery budget.
/// Save it (`modeCosts()`) and restore it after the next open (`setModeCosts`) so the policy need
/// not measure each mode again.
#[uniffi::remote(Record)]
pub struct ModeCosts {
    /// Recompute searches.
    pub recompute: ModeCost,
    /// Stored-vector searches.
    pub stored: ModeCost,
    /// Codes-only searches.
    pub codes: ModeCost,
}

/// How an index is opened. The defaults suit an app that owns its index.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
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
    /// The device's energy profile for `energy_mj` estimates (`None`: the platform's default).
    #[uniffi(default = None)]
    pub energy: Option<EnergyProfile>,
    /// On battery, `Auto` picks no mode whose measured mean energy per query exceeds this many
    /// millijoules (`None`: core's `Policy::DEFAULT_BATTERY_QUERY_BUDGET_MJ`; infinity: no budget).
    #[uniffi(default = None)]
    pub battery_query_budget_mj: Option<f64>,
    /// Embedding threads the policy advises on battery (`EmberIndex::embed_threads`).
    #[uniffi(default = 1)]
    pub threads_on_battery: u32,
    /// Embedding threads the policy advises while charging (0: every core).
    #[uniffi(default = 0)]
    pub threads_charging: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        let d = ember_core::OpenOptions::default();
        OpenOptions {
            read_only: d.read_only,
            durability: None,
            cache_bytes: d.cache_bytes as u64,
            auto_commit_bytes: d.auto_commit_bytes,
            energy: None,
            battery_query_budget_mj: None,
            threads_on_battery: d.policy.threads_on_battery as u32,
            threads_charging: d.policy.threads_charging as u32,
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
            policy: self.policy()?,
            ..ember_core::OpenOptions::default()
        })
    }

    /// Core's policy with these options' energy profile, budget and thread counts.
    fn policy(&self) -> Result<ember_core::Policy, EmberError> {
        let d = ember_core::Policy::default();
        let energy = self.energy.unwrap_or(d.energy);
        energy.check()?;
        let budget = self.battery_query_budget_mj.or(d.battery_query_budget_mj);
        if budget.is_some_and(|b| b.is_nan() || b < 0.0) {
            return Err(EmberError::invalid("battery_query_budget_mj must be at least 0"));
        }
        Ok(ember_core::Policy {
            energy,
            battery_query_budget_mj: budget.filter(|b| b.is_finite()),
            threads_on_battery: self.threads_on_battery as usize,
            threads_charging: self.threads_charging as usize,
            ..d
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal of `#[uniffi(default = ...)]` on `field` of `record` in this file's source.
    fn uniffi_default(record: &str, field: &str) -> String {
        let src = include_str!("records.rs");
        let body = &src[src.find(&format!("pub struct {record} {{")).unwrap()..];
        let body = &body[..body.find("\n}").unwrap()];
        let lines: Vec<&str> = body.lines().map(str::trim).collect();
        let at = lines.iter().position(|l| l.starts_with(&format!("pub {field}:"))).unwrap();
        let attr = lines[..at].iter().rev().find(|l| l.starts_with("#[uniffi(default")).unwrap();
        attr.trim_start_matches("#[uniffi(default = ").trim_end_matches(")]").to_owned()
    }

    // UniFFI's `default =` takes literals only: these keep the Kotlin and Swift defaults equal to
    // core's (the Rust and C defaults are core's by construction).
    #[test]
    fn uniffi_defaults_are_cores() {
        use ember_core::SearchOptions as Core;
        assert_eq!(uniffi_default("SearchOptions", "k"), Core::DEFAULT_K.to_string());
        assert_eq!(uniffi_default("SearchOptions", "beam"), "None");
        assert_eq!(uniffi_default("SearchOptions", "rerank"), "None");
        let s = Core::default();
        assert_eq!((s.k, s.beam, s.rerank), (Core::DEFAULT_K, None, None));
        assert_eq!(s.mode, Mode::Auto);
        assert!(s.filter.is_none());

        let i = ember_core::IndexConfig::default();
        assert_eq!(uniffi_default("IndexConfig", "embed_chunk"), i.embed_chunk.to_string());
        assert_eq!(uniffi_default("IndexConfig", "max_tokens"), "None");
        assert!(i.max_tokens.is_none());
        assert_eq!(uniffi_default("IndexConfig", "keywords"), i.keywords.is_some().to_string());
        assert_eq!(uniffi_default("IndexConfig", "text"), "None");
        assert_eq!(i.text, TextStorage::Store);
        assert_eq!(uniffi_default("SearchOptions", "retrieval"), "None");
        assert_eq!(s.retrieval, Retrieval::Auto);

        let o = ember_core::OpenOptions::default();
        assert_eq!(uniffi_default("OpenOptions", "read_only"), o.read_only.to_string());
        assert_eq!(uniffi_default("OpenOptions", "cache_bytes"), o.cache_bytes.to_string());
        assert_eq!(uniffi_default("OpenOptions", "auto_commit_bytes"), o.auto_commit_bytes.to_string());

        let e = ember_core::EmbedderConfig::default();
        assert_eq!(uniffi_default("EmbedderConfig", "threads"), e.threads.to_string());
        assert_eq!(uniffi_default("EmbedderConfig", "batch_size"), e.batch_size.to_string());
        assert_eq!(uniffi_default("EmbedderConfig", "max_tokens"), "None");
        assert!(e.max_tokens.is_none());
    }

    #[test]
    fn rust_defaults_are_cores() {
        let s = SearchOptions::default().to_core().unwrap();
        let c = ember_core::SearchOptions::default();
        assert_eq!(s, c);
        assert_eq!(IndexConfig::default().to_core().unwrap(), ember_core::IndexConfig::default());
        let o = OpenOptions::default().to_core().unwrap();
        let d = ember_core::OpenOptions::default();
        assert_eq!(
            (o.read_only, o.cache_bytes, o.auto_commit_bytes),
            (d.read_only, d.cache_bytes, d.auto_commit_bytes)
        );
        assert_eq!(o.durability, d.durability);
    }

    #[test]
    fn sections_cross_as_a_map_and_come_back_sorted() {
        use uniffi::{Lift, Lower};
        let mut m = Sections::new();
        m.insert("graph".into(), 3);
        m.insert("codes".into(), 7);
        let buf = <Sections as Lower<crate::UniFfiTag>>::lower(m.clone());
        let back = <Sections as Lift<crate::UniFfiTag>>::try_lift(buf).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.keys().collect::<Vec<_>>(), ["codes", "graph"]);
    }
}
