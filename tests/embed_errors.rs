//! A broken model directory gives a typed error, never a panic.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use ember_core::TextKind;
use ember_core::{Embedder, EmbedderConfig, Error, OnnxEmbedder};
use ember_tests::{l3, l3_copy};

/// A scratch copy of the L3 model directory that a test may break.
fn scratch_copy(name: &str) -> std::path::PathBuf {
    l3_copy(&format!("embed-errors-{name}"), &["model.onnx", "tokenizer.json", "ember-model.json"])
}

fn load(dir: &Path) -> Result<OnnxEmbedder, Error> {
    OnnxEmbedder::load(dir, &EmbedderConfig::default())
}

#[test]
fn missing_directory() {
    let err = load(Path::new("/nonexistent/ember-model")).unwrap_err();
    assert!(matches!(err, Error::Missing { what: "model directory", .. }), "{err}");
}

#[test]
fn empty_directory() {
    let dir = scratch_copy("empty");
    for f in ["model.onnx", "tokenizer.json", "ember-model.json"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err}");
}

#[test]
fn missing_tokenizer() {
    let dir = scratch_copy("notok");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, Error::Missing { what: "tokenizer file", .. }), "{err}");
}

#[test]
fn truncated_model() {
    let dir = scratch_copy("trunc");
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    for keep in [bytes.len() / 2, 1000, 17] {
        std::fs::write(dir.join("model.onnx"), &bytes[..keep]).unwrap();
        let err = load(&dir).unwrap_err();
        assert!(matches!(err, Error::InvalidModel { .. }), "truncated at {keep}: {err}");
    }
}

#[test]
fn empty_and_garbage_model() {
    let dir = scratch_copy("garbage");
    std::fs::write(dir.join("model.onnx"), b"").unwrap();
    assert!(matches!(load(&dir).unwrap_err(), Error::InvalidModel { .. }));
    std::fs::write(dir.join("model.onnx"), b"this is not a protobuf at all \xff\xfe").unwrap();
    assert!(matches!(load(&dir).unwrap_err(), Error::InvalidModel { .. }));
}

#[test]
fn garbage_tokenizer() {
    let dir = scratch_copy("badtok");
    std::fs::write(dir.join("tokenizer.json"), b"{\"not\": \"a tokenizer\"}").unwrap();
    assert!(matches!(load(&dir).unwrap_err(), Error::Tokenizer { .. }));
}

#[test]
fn manifest_dimension_mismatch() {
    let dir = scratch_copy("dim");
    let manifest = std::fs::read_to_string(dir.join("ember-model.json")).unwrap();
    std::fs::write(dir.join("ember-model.json"), manifest.replace("\"dim\":384", "\"dim\":768")).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch { expected: 768, found: 384 }), "{err}");
}

/// tract reads the output the manifest names (the built-in encoder, which `load` prefers, computes
/// the hidden state itself and has no outputs to choose from).
#[test]
fn manifest_names_a_missing_output() {
    let dir = scratch_copy("output");
    let manifest = std::fs::read_to_string(dir.join("ember-model.json")).unwrap();
    std::fs::write(dir.join("ember-model.json"), manifest.replace("onnx::Shape_422", "nope")).unwrap();
    let err = OnnxEmbedder::load_tract(&dir, &EmbedderConfig::default()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedModel(_)), "{err}");
}

#[test]
fn malformed_manifest() {
    let dir = scratch_copy("manifest");
    std::fs::write(dir.join("ember-model.json"), b"{ not json").unwrap();
    assert!(matches!(load(&dir).unwrap_err(), Error::Manifest { .. }));
}

/// Without a manifest the token-embedding output is found by shape: the L3 file has 4 outputs.
#[test]
fn output_found_by_shape_without_manifest() {
    let dir = scratch_copy("noman");
    std::fs::remove_file(dir.join("ember-model.json")).unwrap();
    let with = load(&l3()).unwrap();
    let without = load(&dir).unwrap();
    let texts = ["the output is chosen by shape, not position"];
    assert_eq!(
        with.embed(&texts, TextKind::Passage).unwrap(),
        without.embed(&texts, TextKind::Passage).unwrap()
    );
}

#[test]
fn out_of_range_settings() {
    for config in [
        EmbedderConfig { max_tokens: Some(2), ..Default::default() },
        EmbedderConfig { max_tokens: Some(100_000), ..Default::default() },
        EmbedderConfig { threads: 0, ..Default::default() },
        EmbedderConfig { batch_size: 0, ..Default::default() },
    ] {
        let err = OnnxEmbedder::load(l3(), &config).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{config:?}: {err}");
    }
}

#[test]
fn empty_and_odd_inputs_embed() {
    let e = load(&l3()).unwrap();
    assert!(e.embed(&[], TextKind::Passage).unwrap().is_empty());
    let long = "word ".repeat(5000);
    let vs = e.embed(&["", " ", "\u{0}", &long, "🙂"], TextKind::Passage).unwrap();
    assert_eq!(vs.len(), 5);
    assert!(vs.iter().all(|v| v.len() == 384 && v.iter().all(|x| x.is_finite())));
}

/// `max_tokens` really overrides the tokenizer.json's hard-coded 128.
#[test]
fn max_tokens_overrides_tokenizer_file() {
    let long = "semantic search on the device ".repeat(100);
    for n in [32, 128, 256] {
        let e =
            OnnxEmbedder::load(l3(), &EmbedderConfig { max_tokens: Some(n), ..Default::default() }).unwrap();
        assert_eq!(e.token_counts(&[&long]).unwrap(), vec![n]);
        assert_eq!(e.token_counts(&["short"]).unwrap(), vec![3], "no fixed padding");
    }
}
