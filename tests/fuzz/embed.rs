//! Target `embed`: arbitrary text (valid UTF-8, or bytes decoded lossily) through the real
//! tokenizer and model (`OnnxEmbedder`, paraphrase-MiniLM-L3-v2). Every text must give a finite,
//! unit-length vector of the model's dimension, and token counts must respect the limit.

use std::sync::OnceLock;

use ember_core::TextKind;
use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder};

use super::Input;

/// Token limit used while fuzzing: short sequences keep the model fast (about 2 ms a text) while
/// the tokenizer still sees the whole input before truncating.
const MAX_TOKENS: usize = 32;

fn embedder() -> &'static OnnxEmbedder {
    static E: OnceLock<OnnxEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        // `l3()` fails with a message naming scripts/fetch/fetch-models.sh when the model is missing.
        let dir = crate::l3();
        let config = EmbedderConfig { max_tokens: Some(MAX_TOKENS), ..EmbedderConfig::default() };
        OnnxEmbedder::load(&dir, &config).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
    })
}

/// First byte: bit 0 = decode lossily even when valid, bit 1 = split into several texts at `\n`
/// (a batch). The rest is the text.
pub fn embed(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let rest = input.rest();
    let text = match std::str::from_utf8(rest) {
        Ok(s) if flags & 1 == 0 => s.to_string(),
        _ => String::from_utf8_lossy(rest).into_owned(),
    };
    let texts: Vec<&str> = if flags & 2 != 0 { text.split('\n').take(8).collect() } else { vec![&text] };
    let e = embedder();
    let counts = e.token_counts(&texts).unwrap_or_else(|err| panic!("tokenizing failed: {err}"));
    assert!(counts.iter().all(|&c| (2..=MAX_TOKENS).contains(&c)), "token counts {counts:?}");
    let vectors = e.embed(&texts, TextKind::Passage).unwrap_or_else(|err| panic!("embedding failed: {err}"));
    assert_eq!(vectors.len(), texts.len());
    for v in &vectors {
        assert_eq!(v.len(), e.dim());
        assert!(v.iter().all(|x| x.is_finite()), "non-finite embedding");
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "embedding norm {norm}");
    }
}
