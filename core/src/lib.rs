//! Ember core: on-device text embeddings and a lean semantic index. No FFI, no network.
#![warn(missing_docs)]
pub mod cpu;
pub mod distance;
pub mod embed;
pub mod error;
pub mod graph;
pub mod index;
pub mod keywords;
pub mod quant;
pub mod rng;
pub mod store;
pub mod text;

pub use cpu::{Cost, EnergyProfile, Meter};
pub use embed::{Embedder, EmbedderConfig, OnnxEmbedder, Prefixes, TextKind};
pub use error::{Error, Result};
pub use index::{
    CostSource, DeviceState, Durability, Effort, Filter, Fusion, Index, IndexConfig, IndexStats, Metadata,
    Mode, ModeCost, ModeCosts, OpenOptions, Passage, Policy, Precision, Retrieval, SearchDefaults, SearchHit,
    SearchOptions, SearchReport, Task, TextSource, TextStorage, Value, VectorAction, VectorStorage,
};
