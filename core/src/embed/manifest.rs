//! `ember-model.json`: what a model directory holds, so a model loads without guessing.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The manifest's file name inside a model directory.
pub const MANIFEST_FILE: &str = "ember-model.json";

/// How to run one model directory (`model.onnx` + `tokenizer.json` + this manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Human-readable model name; the embedder's id adds a fingerprint of the weights.
    pub id: String,
    /// Output dimension.
    pub dim: usize,
    /// Default token limit (the CLI's `--max-tokens` overrides it).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Pooling over token embeddings; only `"mean"` is supported.
    #[serde(default = "default_pooling")]
    pub pooling: String,
    /// Whether to L2-normalize after pooling.
    #[serde(default = "default_true")]
    pub normalize: bool,
    /// Name of the output that holds token embeddings `[batch, seq, dim]`; found by shape if absent.
    #[serde(default)]
    pub token_embeddings_output: Option<String>,
    /// The model's input names, for documentation; inputs are matched by name at load.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// sha256 of model.onnx as fetched (checked by scripts/fetch/fetch-models.sh, not at load).
    #[serde(default)]
    pub model_sha256: Option<String>,
}

fn default_max_tokens() -> usize {
    128
}
fn default_pooling() -> String {
    "mean".into()
}
fn default_true() -> bool {
    true
}

impl Manifest {
    /// Read `dir/ember-model.json`; `Ok(None)` when the directory has none.
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Manifest { path: path.clone(), detail: e.to_string() })?;
        if m.pooling != "mean" {
            return Err(Error::Manifest {
                path,
                detail: format!("pooling {:?} is not supported (only \"mean\")", m.pooling),
            });
        }
        if m.dim == 0 || m.max_tokens < 2 {
            return Err(Error::Manifest { path, detail: "dim and max_tokens must be positive".into() });
        }
        Ok(Some(m))
    }
}
