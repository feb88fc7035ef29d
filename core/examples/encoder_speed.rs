//! Passages per second at 128 tokens, one thread: tract against the built-in encoder.
//!
//! `cargo run --release -p ember-core --example encoder_speed [MODEL_DIR...]` (default: the L3
//! model). Directories holding model.safetensors run the built-in encoder only.
#![allow(clippy::unwrap_used)]
use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder, TextKind};
fn main() {
    let mut dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        dirs.push("models/paraphrase-MiniLM-L3-v2".into());
    }
    let c = EmbedderConfig { max_tokens: Some(128), ..EmbedderConfig::default() };
    let mut engines = Vec::new();
    for dir in &dirs {
        let dir = std::path::Path::new(dir);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if cfg!(feature = "tract") && dir.join("model.onnx").is_file() {
            engines.push((format!("{name} tract"), OnnxEmbedder::load_tract(dir, &c).unwrap()));
        }
        engines.push((format!("{name} built-in"), OnnxEmbedder::load_native(dir, &c).unwrap()));
    }
    let long = "the shell expands each glob pattern before the command runs; ".repeat(30);
    let texts: Vec<&str> = vec![long.as_str(); 40];
    for round in 0..3 {
        for (name, e) in &engines {
            let t = std::time::Instant::now();
            e.embed(&texts, TextKind::Passage).unwrap();
            println!(
                "round {round} {name}: {:.1} passages/s",
                texts.len() as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
}
