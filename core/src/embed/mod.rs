//! Text → L2-normalized embedding vectors, on the device.

#[cfg(feature = "tract")]
mod batch;
mod bert;
mod config;
mod e5;
mod manifest;
mod onnx;
mod onnx_pb;
mod ops;
mod pool;
mod qgemm;

pub use config::EmbedderConfig;
pub use e5::{E5Embedder, E5_MODEL_FILE, PASSAGE_PREFIX, QUERY_PREFIX};
pub use manifest::{Manifest, Weights, MANIFEST_FILE};
pub use onnx::OnnxEmbedder;

use crate::Result;

/// What a text is to the model: a search query or a passage to index. Asymmetric models such as
/// multilingual-e5 are trained with a different prefix on each (`query: `, `passage: `), and a
/// query embedded as a passage ranks worse; symmetric models ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TextKind {
    /// A search query.
    Query,
    /// A passage that is (or will be) in an index; what `Default` gives, since most text
    /// embedded is indexed.
    #[default]
    Passage,
}

impl TextKind {
    /// `"query"` or `"passage"`, as the CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Query => "query",
            TextKind::Passage => "passage",
        }
    }
}

impl std::str::FromStr for TextKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "query" => Ok(TextKind::Query),
            "passage" => Ok(TextKind::Passage),
            other => Err(crate::Error::InvalidArgument(format!(
                "text kind must be query or passage, not {other:?}"
            ))),
        }
    }
}

/// Anything that turns texts into L2-normalized vectors of a fixed dimension.
///
/// Implemented by [`OnnxEmbedder`] on the CPU; apps may implement it to run the same model on an
/// accelerator. An index records [`Embedder::model_id`] and both [`Embedder::prefix`]es, and
/// refuses a different model, or the same model with other prefixes, later.
pub trait Embedder: Send + Sync {
    /// One vector of length [`Embedder::dim`] per text, in order, each embedded as `kind`: the
    /// embedder puts its own [`Embedder::prefix`] for `kind` before each text.
    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>>;
    /// The dimension of every vector this embedder returns.
    fn dim(&self) -> usize;
    /// A stable identifier of the model and its weights.
    fn model_id(&self) -> &str;
    /// The text this embedder puts before each text of `kind` (empty for symmetric models).
    /// Declared so an index can record it: vectors made with other prefixes do not compare.
    fn prefix(&self, _kind: TextKind) -> &str {
        ""
    }
}

/// The prefixes an index was built with, or an embedder uses: empty for symmetric models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes {
    /// Put before each query.
    pub query: String,
    /// Put before each passage.
    pub passage: String,
}

impl Prefixes {
    /// The prefixes `embedder` declares.
    pub fn of(embedder: &dyn Embedder) -> Self {
        Prefixes {
            query: embedder.prefix(TextKind::Query).to_owned(),
            passage: embedder.prefix(TextKind::Passage).to_owned(),
        }
    }

    /// The prefix for `kind`.
    pub fn get(&self, kind: TextKind) -> &str {
        match kind {
            TextKind::Query => &self.query,
            TextKind::Passage => &self.passage,
        }
    }
}

/// Scale `v` to unit length in place (zero vectors stay zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
