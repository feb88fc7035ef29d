//! The lean, living index: a pruned graph and compact codes on flash, exact distances on demand,
//! updates through a write-ahead log folded into immutable segments.
//!
//! ```text
//!  build ──▶ segment N ──load──▶ Base ─┐
//!                                      ├─▶ Snapshot (base + overlay: added passages, rewired
//!  add/update/delete ──▶ log N ─apply─▶┘    lists, tombstones, id map) ──publish──▶ readers
//!                          │                      ▲ swapped whole; never changed in place
//!  commit / compact ───────┴─▶ segment N+1 ──▶ CURRENT ──▶ log N+1 starts empty
//! ```
//!
//! - [`options`] and [`passage`]: what an app hands in. [`handle`]: the [`Index`] an app holds.
//! - [`segment`]: one immutable file per generation (meta, write, publish, load).
//! - [`snapshot`]: one consistent state; everything a reader needs, the id map included.
//! - [`log`]: the write-ahead log (format, append, cut, replay).
//! - [`read`]: search, graph walk, BM25, lookups, on one snapshot; imports nothing of `write`.
//! - [`write`]: open, apply, the writer, insert, commit, compact, build, vectors.
//! - [`keyword`]: the keyword index of a generation, the terms of passages added since, and BM25
//!   over both.
//! - [`source`]: app-held text (an index that keeps only fingerprints asks the app's source).
//! - [`sidecar`] (stored vectors), [`files`] (names in the directory), [`cache`] (recomputed
//!   embeddings), [`filter`], [`metadata`], [`policy`] (device policy), [`task`] (progress, cancel).

mod cache;
mod cow;
mod effort;
mod files;
mod filter;
mod handle;
mod keyword;
pub mod log;
mod metadata;
mod options;
mod passage;
mod policy;
mod read;
mod segment;
mod sidecar;
mod snapshot;
mod source;
mod task;
mod write;

pub use effort::{Effort, SearchDefaults};
pub use filter::Filter;
pub use handle::Index;
pub use log as wal;
pub use metadata::{Metadata, Value};
pub use options::{
    Durability, Fusion, IndexConfig, Mode, OpenOptions, Policy, Precision, Retrieval, SearchOptions,
    TextStorage, VectorStorage, DEFAULT_CACHE_BYTES,
};
pub use passage::Passage;
pub use policy::{CostSource, DeviceState, ModeCost, ModeCosts, Unmeasured, VectorAction};
pub use read::lookup::IndexStats;
pub use read::search::{SearchHit, SearchReport};
pub use source::TextSource;
pub use task::Task;
