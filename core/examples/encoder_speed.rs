//! Passages per second at 128 tokens, one thread: tract against the built-in encoder.
#![allow(clippy::unwrap_used)]
use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder};
fn main() {
    let dir = std::path::Path::new("models/paraphrase-MiniLM-L3-v2");
    let c = EmbedderConfig::default();
    let tract = OnnxEmbedder::load(dir, &c).unwrap();
    let native = OnnxEmbedder::load_native(dir, &c).unwrap();
    let long = "the shell expands each glob pattern before the command runs; ".repeat(30);
    let texts: Vec<&str> = vec![long.as_str(); 40];
    for round in 0..3 {
        for (name, e) in [("tract", &tract), ("built-in", &native)] {
            let t = std::time::Instant::now();
            e.embed(&texts).unwrap();
            println!(
                "round {round} {name}: {:.1} passages/s",
                texts.len() as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
}
