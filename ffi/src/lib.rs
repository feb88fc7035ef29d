//! Ember's only foreign-function adapter: UniFFI objects for Kotlin and Swift, and a C ABI.
//!
//! Stays thin: every call converts arguments, calls `ember-core`, and maps its error to the short
//! public [`EmberError`]. Nothing here panics on caller data; UniFFI turns any panic into an
//! `Internal` error (we never build with `panic = "abort"`), and the C ABI catches them itself.
#![warn(missing_docs)]

pub mod capi;
mod device;
mod embedder;
mod error;
mod index;
mod logging;
mod passage;
mod progress;
mod records;
mod source;

pub use device::{DeviceState, Precision, VectorAction};
pub use embedder::{onnx_embedder, Embedder, TextKind};
pub use error::EmberError;
pub use index::EmberIndex;
pub use logging::{init_logging, LogLevel};
pub use passage::{MetadataValue, Passage};
pub use progress::{CancellationToken, ProgressListener};
pub use records::{
    Cost, Durability, Effort, EmbedderConfig, EnergyProfile, IndexConfig, IndexStats, Mode, ModeCost,
    ModeCosts, OpenOptions, Retrieval, SearchDefaults, SearchHit, SearchOptions, SearchReport, Sections,
    VectorStorage,
};
pub use source::{TextSource, TextStorage};

uniffi::setup_scaffolding!("ember");

/// The Ember version this library was built from.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
