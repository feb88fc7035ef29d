//! The built-in encoder against tract on the same model: same vectors, same model id, typed errors
//! for what it cannot run.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::TextKind;
use ember_core::{Embedder, EmbedderConfig, Error, OnnxEmbedder};
use ember_tests::{l3, l3_copy, max_abs_diff, model_dir};

#[test]
fn built_in_encoder_matches_tract() {
    let config = EmbedderConfig::default();
    let tract = OnnxEmbedder::load_tract(l3(), &config).unwrap();
    let native = OnnxEmbedder::load_native(l3(), &config).unwrap();
    assert_eq!(tract.model_id(), native.model_id(), "one index must serve both engines");
    assert_eq!(tract.dim(), native.dim());
    let long = "the shell expands each glob pattern before the command runs; ".repeat(30);
    let texts = ["", " ", "?", "a", "🎉 ünïcödé", "how do I mount a usb drive", long.as_str()];
    let diff = max_abs_diff(
        &native.embed(&texts, TextKind::Passage).unwrap(),
        &tract.embed(&texts, TextKind::Passage).unwrap(),
    );
    println!("built-in encoder vs tract, L3: max abs diff {diff:e}");
    assert!(diff <= 1e-5, "max abs diff {diff}");
}

/// The int8 file runs on the built-in encoder too (int8 kernels), close to tract's f32 run of it.
#[test]
fn int8_model_runs_close_to_tract() {
    let config = EmbedderConfig::default();
    let dir = model_dir("all-MiniLM-L6-v2-int8");
    let tract = OnnxEmbedder::load_tract(&dir, &config).unwrap();
    let native = OnnxEmbedder::load_native(&dir, &config).unwrap();
    assert_eq!(tract.model_id(), native.model_id(), "one index must serve both engines");
    let long = "the shell expands each glob pattern before the command runs; ".repeat(30);
    let texts = ["", "?", "🎉 ünïcödé", "how do I mount a usb drive", long.as_str()];
    for (a, b) in native
        .embed(&texts, TextKind::Passage)
        .unwrap()
        .iter()
        .zip(tract.embed(&texts, TextKind::Passage).unwrap())
    {
        let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(cos >= 0.999, "cosine {cos}");
    }
}

#[test]
fn damaged_model_is_a_typed_error() {
    let dir = l3_copy("native-damaged", &["tokenizer.json", "ember-model.json"]);
    let bytes = std::fs::read(l3().join("model.onnx")).unwrap();
    for (what, content) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("garbage", b"this is not a protobuf at all \xff\xfe".to_vec()),
        ("empty", Vec::new()),
    ] {
        std::fs::write(dir.join("model.onnx"), &content).unwrap();
        let err = OnnxEmbedder::load_native(&dir, &EmbedderConfig::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidModel { .. } | Error::UnsupportedModel(_)), "{what}: {err:?}");
    }
}
