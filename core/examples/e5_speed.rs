//! multilingual-e5-small throughput at 128 tokens on one thread, wall and per CPU-second:
//! `cargo run --release -p ember-core --no-default-features --example e5_speed` (models fetched).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ember_core::embed::E5Embedder;
use ember_core::{Embedder, EmbedderConfig, TextKind};

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/multilingual-e5-small");
    let m = E5Embedder::load(dir, &EmbedderConfig::default())
        .expect("models/multilingual-e5-small (fetch it first)");

    let words: Vec<&str> =
        "semantic search finds passages by meaning rather than by exact words, on the device"
            .split(' ')
            .cycle()
            .take(400)
            .collect();
    let text = (1..words.len())
        .map(|k| words[..k].join(" "))
        .find(|t| m.content_ids(&format!("passage: {t}")).len() + 2 >= 128)
        .unwrap();
    assert_eq!(m.content_ids(&format!("passage: {text}")).len() + 2, 128);
    let batch: Vec<&str> = vec![text.as_str(); 20];
    m.embed(&batch[..2], TextKind::Passage).unwrap();
    // CPU time of this thread too: on a shared machine the wall clock counts other people's work.
    let cpu = || -> f64 {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
        s.split(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1e9
    };
    let (start, cpu0) = (std::time::Instant::now(), cpu());
    m.embed(&batch, TextKind::Passage).unwrap();
    let (secs, cpu_secs) = (start.elapsed().as_secs_f64(), cpu() - cpu0);
    let n = batch.len() as f64;
    println!(
        "{:.1} passages/s at 128 tokens, one thread (wall); {:.1} per CPU-second",
        n / secs,
        n / cpu_secs
    );
}
