//! Ember core: on-device text embeddings and a lean semantic index. No FFI, no network.
#![warn(missing_docs)]
pub mod embed;
pub mod error;
pub mod text;

pub use embed::{Embedder, EmbedderConfig, OnnxEmbedder};
pub use error::{Error, Result};
