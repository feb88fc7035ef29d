//! Compact codes for graph traversal: a few bytes per passage that estimate inner products.

mod linalg;
mod rabitq;

pub use rabitq::{Decoded, QuantParams, QuantShape, Quantizer, QueryLut, MAX_CODE_DIMS, MAX_DIM};
