//! The lean index: a pruned graph and compact codes on flash, exact distances on demand.

mod build;
mod cache;
mod open;
pub(crate) mod search;
mod sidecar;

pub use build::{IndexConfig, Passage, VectorStorage};
pub use open::{Index, IndexStats, DEFAULT_CACHE_BYTES};
pub use search::{Mode, SearchHit, SearchOptions, SearchReport};

/// File naming inside an index directory.
pub(crate) mod files {
    /// Names the current segment; replaced atomically to publish a new one.
    pub const CURRENT: &str = "CURRENT";
    /// The vector sidecar (optional).
    pub const VECTORS: &str = "vectors.ember";

    /// The segment file of a generation.
    pub fn segment(generation: u64) -> String {
        format!("segment-{generation:06}.ember")
    }
}
