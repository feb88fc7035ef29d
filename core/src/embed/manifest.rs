//! `ember-model.json`: what a model directory holds, so a model loads without guessing.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The manifest's file name inside a model directory.
pub const MANIFEST_FILE: &str = "ember-model.json";

/// Which file holds the weights, and in what form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Weights {
    /// `model.onnx`: run by tract, or by the built-in encoder for f32 BERT-family exports.
    #[default]
    #[serde(rename = "onnx")]
    Onnx,
    /// `model.safetensors` (+ optional `config.json`): a BERT-family checkpoint, built-in encoder.
    #[serde(rename = "safetensors")]
    Safetensors,
    /// Reserved for the 4-bit multilingual-e5 weights.
    #[serde(rename = "e5-q4")]
    E5Q4,
}

/// How to run one model directory (weights + `tokenizer.json` + this manifest).
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
    /// Which weights file the directory holds (`"onnx"` when absent).
    #[serde(default)]
    pub weights: Weights,
    /// Text put before each query, e.g. `"query: "` for e5 models.
    #[serde(default)]
    pub query_prefix: String,
    /// Text put before each indexed passage, e.g. `"passage: "` for e5 models.
    #[serde(default)]
    pub passage_prefix: String,
    /// sha256 of the weights file as fetched (checked by scripts/fetch/fetch-models.sh, not at load).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> serde_json::Result<Manifest> {
        serde_json::from_str(json)
    }

    #[test]
    fn old_manifests_load_with_onnx_weights_and_no_prefixes() {
        let m = parse(r#"{"id":"m","dim":384,"max_tokens":128,"pooling":"mean","normalize":true}"#).unwrap();
        assert_eq!((m.weights, m.query_prefix.as_str(), m.passage_prefix.as_str()), (Weights::Onnx, "", ""));
    }

    #[test]
    fn weights_and_prefixes_parse() {
        for (name, want) in
            [("onnx", Weights::Onnx), ("safetensors", Weights::Safetensors), ("e5-q4", Weights::E5Q4)]
        {
            let m = parse(&format!(
                r#"{{"id":"m","dim":8,"weights":"{name}","query_prefix":"query: ","passage_prefix":"passage: "}}"#
            ))
            .unwrap();
            assert_eq!(
                (m.weights, m.query_prefix.as_str(), m.passage_prefix.as_str()),
                (want, "query: ", "passage: ")
            );
        }
        assert!(parse(r#"{"id":"m","dim":8,"weights":"gguf"}"#).is_err());
        assert!(parse(r#"{"id":"m","dim":8,"query_prefx":"q: "}"#).is_err(), "unknown fields stay denied");
    }
}
