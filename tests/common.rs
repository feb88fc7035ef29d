//! Shared helpers for Ember's integration tests: where the fetched models and bundled data live.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding `models/`, `tests/`, `scripts/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The model directory `models/NAME`, or a failing test that says how to fetch it.
pub fn model_dir(name: &str) -> PathBuf {
    let dir = workspace().join("models").join(name);
    assert!(
        dir.join("model.onnx").is_file() && dir.join("tokenizer.json").is_file(),
        "model {name} is missing at {}: run `bash scripts/fetch-models.sh` first",
        dir.display()
    );
    dir
}

/// The default tiny model used by most tests.
pub fn l3() -> PathBuf {
    model_dir("paraphrase-MiniLM-L3-v2")
}

/// A BEIR dataset folder from `../shared/data`, or a failing test that says where it should be.
pub fn shared_data(name: &str) -> PathBuf {
    let dir = workspace().join("..").join("shared").join("data").join(name);
    assert!(dir.join("corpus.jsonl").is_file(), "dataset {name} is missing at {}", dir.display());
    dir
}

/// Largest absolute component difference between two equally shaped sets of vectors.
pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector counts differ");
    a.iter()
        .zip(b)
        .flat_map(|(u, v)| {
            assert_eq!(u.len(), v.len(), "dimensions differ");
            u.iter().zip(v).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f32::max)
}
