//! The support library shared by Ember's integration tests (tests/*.rs, cli/tests/*.rs, the
//! examples): where the fetched models and bundled data live, a model-free embedder, synthetic
//! passages, scratch directories and small index helpers.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub mod damage;
pub mod fuzz;

/// The workspace root (the folder holding `models/`, `tests/`, `scripts/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The model directory `models/NAME`, or a failing test that says how to fetch it.
pub fn model_dir(name: &str) -> PathBuf {
    let dir = workspace().join("models").join(name);
    assert!(
        ((dir.join("model.onnx").is_file() || dir.join("model.safetensors").is_file())
            && dir.join("tokenizer.json").is_file())
            // multilingual-e5 brings its own tokenizer inside its 4-bit weights.
            || dir.join("model.q4.bin").is_file(),
        "model {name} is missing at {}: run `bash scripts/fetch/fetch-models.sh` first",
        dir.display()
    );
    dir
}

/// The default tiny model used by most tests.
pub fn l3() -> PathBuf {
    model_dir("paraphrase-MiniLM-L3-v2")
}

/// A fresh directory `name` holding copies of `files` from the L3 model, for a test to break.
pub fn l3_copy(name: &str, files: &[&str]) -> PathBuf {
    let dir = empty_temp_dir(name);
    for f in files {
        std::fs::copy(l3().join(f), dir.join(f)).unwrap();
    }
    dir
}

/// A BEIR dataset folder from `../shared/data`, or a failing test that says where it should be.
pub fn shared_data(name: &str) -> PathBuf {
    let dir = workspace().join("..").join("shared").join("data").join(name);
    assert!(dir.join("corpus.jsonl").is_file(), "dataset {name} is missing at {}", dir.display());
    dir
}

/// The records of a JSON-lines file (a BEIR corpus or query file), blank lines skipped.
pub fn read_jsonl(path: &Path) -> Vec<HashMap<String, String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
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

/// A deterministic bag-of-hashed-words embedder: fast, model-free, and similar texts get similar
/// vectors — enough to test storage and search mechanics without the ONNX model.
#[derive(Debug)]
pub struct HashEmbedder {
    pub dim: usize,
    pub id: String,
}

impl HashEmbedder {
    pub fn new(dim: usize) -> Self {
        HashEmbedder { dim, id: format!("hash-{dim}") }
    }
}

impl ember_core::Embedder for HashEmbedder {
    // Symmetric: the kind changes nothing, as for MiniLM.
    fn embed(&self, texts: &[&str], _kind: ember_core::TextKind) -> ember_core::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dim];
                v[0] = 0.05; // never the zero vector
                for w in t.split_whitespace() {
                    let h = w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                    });
                    v[(h % self.dim as u64) as usize] += 1.0;
                    v[((h >> 32) % self.dim as u64) as usize] -= 0.5;
                }
                ember_core::embed::l2_normalize(&mut v);
                v
            })
            .collect())
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn model_id(&self) -> &str {
        &self.id
    }
}

/// `n` synthetic passages over a small vocabulary (ids `p0`, `p1`, ...).
pub fn synthetic_passages(n: usize) -> Vec<ember_core::Passage> {
    let words = [
        "battery", "flash", "storage", "search", "graph", "vector", "phone", "offline", "private", "index",
        "passage", "model", "query", "device", "recall", "cache", "memory", "linux", "kotlin", "swift",
    ];
    (0..n)
        .map(|i| {
            let mut x = i as u64 * 2_654_435_761 + 17;
            let text: Vec<&str> = (0..12)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    words[(x % words.len() as u64) as usize]
                })
                .collect();
            ember_core::Passage::new(format!("p{i}"), text.join(" "))
        })
        .collect()
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A fresh, empty temporary directory for one test (created).
pub fn empty_temp_dir(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replace `to` with a flat copy of the files in `from` (an index directory has no subfolders).
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
}

/// What an index holds, as sorted (id, text) pairs: compared before and after an operation.
pub type State = Vec<(String, String)>;

/// The live passages of `index` as a [`State`].
pub fn live_state(index: &ember_core::Index) -> State {
    let mut s = index.live_texts().unwrap();
    s.sort();
    s
}

/// Options to open an index read-only (a test's builder may still hold the writer lock).
pub fn read_only() -> ember_core::OpenOptions {
    ember_core::OpenOptions { read_only: true, ..ember_core::OpenOptions::default() }
}

/// Open `dir` read-only.
pub fn open_read_only(dir: &Path) -> ember_core::Result<ember_core::Index> {
    ember_core::Index::open_with(dir, read_only())
}
