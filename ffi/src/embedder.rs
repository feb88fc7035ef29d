//! The `Embedder` trait apps can implement (Core ML, NNAPI, a server they trust), the built-in
//! ONNX embedder, and the bridge that hands either to `ember-core`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{EmbedderConfig, EmberError};

pub use ember_core::TextKind;

/// What a text is to the model: a search query, or a passage to index. Declared here rather than
/// in records.rs so the embedder's whole contract sits in one file.
#[uniffi::remote(Enum)]
pub enum TextKind {
    /// A search query (Ember embeds the search text as one).
    Query,
    /// A passage: what build, add, update, stored vectors and recompute embed.
    Passage,
}

/// Turns texts into vectors of a fixed dimension, one per text, in order.
///
/// Implement it in Kotlin or Swift to embed on an accelerator; use [`onnx_embedder`] for the
/// built-in CPU model. Returned vectors are L2-normalized by Ember; every call must return the
/// same dimension, and an index refuses an embedder whose `model_id` or prefixes differ from
/// its own.
#[uniffi::export(rust, foreign)]
pub trait Embedder: Send + Sync {
    /// One vector of length `dim()` per text, in order, each embedded as `kind`: put your model's
    /// prefix for `kind` (`prefix(kind)`) before each text. Throw `EmberError` to fail the call.
    fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, EmberError>;
    /// The dimension of every vector.
    fn dim(&self) -> u32;
    /// A stable identifier of the model and its weights (recorded in an index).
    fn model_id(&self) -> String;
    /// The text `embed` puts before each text of `kind`: `"query: "` and `"passage: "` for
    /// multilingual-e5, empty for symmetric models. Recorded in an index, which refuses an
    /// embedder with other prefixes later.
    fn prefix(&self, kind: TextKind) -> String;
}

/// Load the built-in ONNX embedder from a model directory (`model.onnx`, `tokenizer.json`,
/// optional `ember-model.json`), run by tract on the CPU (the built-in encoder on Android and
/// iOS). A multilingual-e5 directory (`model.q4.bin`, manifest `"weights": "e5-q4"`) loads too,
/// with its `query: ` and `passage: ` prefixes.
#[uniffi::export(default(config = None))]
pub fn onnx_embedder(
    model_dir: String,
    config: Option<EmbedderConfig>,
) -> Result<Arc<dyn Embedder>, EmberError> {
    let config = config.unwrap_or_default();
    let inner = ember_core::OnnxEmbedder::load(Path::new(&model_dir), &config.into())?;
    log::debug!(
        "loaded {} ({}-d) from {model_dir}",
        ember_core::Embedder::model_id(&inner),
        ember_core::Embedder::dim(&inner)
    );
    Ok(Arc::new(OnnxEmbedder(inner)))
}

/// The built-in embedder seen through the [`Embedder`] trait.
#[derive(Debug)]
struct OnnxEmbedder(ember_core::OnnxEmbedder);

impl Embedder for OnnxEmbedder {
    fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, EmberError> {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(ember_core::Embedder::embed(&self.0, &texts, kind)?)
    }

    fn prefix(&self, kind: TextKind) -> String {
        ember_core::Embedder::prefix(&self.0, kind).to_owned()
    }

    fn dim(&self) -> u32 {
        u32::try_from(ember_core::Embedder::dim(&self.0)).unwrap_or(u32::MAX)
    }

    fn model_id(&self) -> String {
        ember_core::Embedder::model_id(&self.0).to_owned()
    }
}

/// An embedder with its dimension, model id and prefixes read once (they would cross the FFI on
/// every call).
#[derive(Clone)]
pub(crate) struct Model {
    pub(crate) embedder: Arc<dyn Embedder>,
    pub(crate) dim: usize,
    pub(crate) id: String,
    prefixes: ember_core::Prefixes,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("dim", &self.dim).field("id", &self.id).finish_non_exhaustive()
    }
}

impl Model {
    pub(crate) fn new(embedder: Arc<dyn Embedder>) -> Result<Self, EmberError> {
        let dim = embedder.dim() as usize;
        if dim == 0 {
            return Err(EmberError::invalid("embedder dimension is 0"));
        }
        let id = embedder.model_id();
        if id.is_empty() {
            return Err(EmberError::invalid("embedder model id is empty"));
        }
        let prefixes = ember_core::Prefixes {
            query: embedder.prefix(TextKind::Query),
            passage: embedder.prefix(TextKind::Passage),
        };
        Ok(Model { embedder, dim, id, prefixes })
    }

    /// A bridge for one call into core.
    pub(crate) fn bridge(&self) -> Bridge<'_> {
        Bridge { model: self, failure: Mutex::new(None) }
    }
}

/// One call's view of an app embedder as `ember_core::Embedder`. It checks what the embedder
/// returns (count, dimension, finite values), normalizes it, and keeps the embedder's own error so
/// the caller gets back exactly what its embedder threw rather than a generic failure.
pub(crate) struct Bridge<'a> {
    model: &'a Model,
    failure: Mutex<Option<EmberError>>,
}

impl Bridge<'_> {
    /// Core's result, with a failure of the app's embedder restored to the app's own error.
    pub(crate) fn finish<T>(&self, result: ember_core::Result<T>) -> Result<T, EmberError> {
        result.map_err(|e| {
            self.failure.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_else(|| e.into())
        })
    }

    fn checked(&self, n: usize, vectors: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, EmberError> {
        if vectors.len() != n {
            return Err(EmberError::invalid(format!(
                "embedder returned {} vectors for {n} texts",
                vectors.len()
            )));
        }
        let mut vectors = vectors;
        for v in &mut vectors {
            if v.len() != self.model.dim {
                return Err(EmberError::DimensionMismatch {
                    expected: self.model.dim as u64,
                    found: v.len() as u64,
                });
            }
            if !v.iter().all(|x| x.is_finite()) {
                return Err(EmberError::invalid("embedder returned a vector with NaN or infinity"));
            }
            ember_core::embed::l2_normalize(v);
        }
        Ok(vectors)
    }
}

impl ember_core::Embedder for Bridge<'_> {
    fn embed(&self, texts: &[&str], kind: TextKind) -> ember_core::Result<Vec<Vec<f32>>> {
        let owned = texts.iter().map(|t| (*t).to_owned()).collect();
        match self.model.embedder.embed(owned, kind).and_then(|v| self.checked(texts.len(), v)) {
            Ok(v) => Ok(v),
            Err(e) => {
                let detail = e.to_string();
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                Err(ember_core::Error::Inference(detail))
            }
        }
    }

    fn dim(&self) -> usize {
        self.model.dim
    }

    fn model_id(&self) -> &str {
        &self.model.id
    }

    fn prefix(&self, kind: TextKind) -> &str {
        self.model.prefixes.get(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_core::Embedder as _;

    struct Fixed(Result<Vec<Vec<f32>>, EmberError>);
    impl Embedder for Fixed {
        fn embed(&self, _texts: Vec<String>, _kind: TextKind) -> Result<Vec<Vec<f32>>, EmberError> {
            self.0.clone()
        }
        fn prefix(&self, _kind: TextKind) -> String {
            String::new()
        }
        fn dim(&self) -> u32 {
            2
        }
        fn model_id(&self) -> String {
            "fixed".into()
        }
    }

    fn bridge_result(answer: Result<Vec<Vec<f32>>, EmberError>) -> Result<Vec<Vec<f32>>, EmberError> {
        let model = Model::new(Arc::new(Fixed(answer))).unwrap();
        let bridge = model.bridge();
        bridge.finish(bridge.embed(&["a"], TextKind::Passage))
    }

    #[test]
    fn the_bridge_normalizes_and_checks_what_an_app_embedder_returns() {
        assert_eq!(bridge_result(Ok(vec![vec![3.0, 4.0]])).unwrap(), vec![vec![0.6, 0.8]]);
        assert!(matches!(bridge_result(Ok(vec![])), Err(EmberError::InvalidArgument { .. })));
        assert_eq!(
            bridge_result(Ok(vec![vec![1.0]])),
            Err(EmberError::DimensionMismatch { expected: 2, found: 1 })
        );
        assert!(matches!(
            bridge_result(Ok(vec![vec![f32::NAN, 0.0]])),
            Err(EmberError::InvalidArgument { .. })
        ));
        // The app's own error comes back as it was thrown.
        assert_eq!(bridge_result(Err(EmberError::Cancelled)), Err(EmberError::Cancelled));
    }
}
