//! Text → L2-normalized embedding vectors, on the device.

#[cfg(feature = "tract")]
mod batch;
mod bert;
mod e5;
mod manifest;
mod onnx;
mod onnx_pb;
mod ops;
mod pool;
mod qgemm;

pub use e5::{E5Embedder, E5_MODEL_FILE, PASSAGE_PREFIX, QUERY_PREFIX};
pub use manifest::{Manifest, Weights, MANIFEST_FILE};
pub use onnx::{EmbedderConfig, OnnxEmbedder};

use crate::Result;

/// Anything that turns texts into L2-normalized vectors of a fixed dimension.
///
/// Implemented by [`OnnxEmbedder`] on the CPU; apps may implement it to run the same model on an
/// accelerator. An index records [`Embedder::model_id`] and refuses a different model later.
pub trait Embedder: Send + Sync {
    /// One vector of length [`Embedder::dim`] per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// The dimension of every vector this embedder returns.
    fn dim(&self) -> usize;
    /// A stable identifier of the model and its weights.
    fn model_id(&self) -> &str;
}

/// Scale `v` to unit length in place (zero vectors stay zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
