//! Profiling aid: embed queries once, then run only the search (no query embedding) in a loop.
//! Usage: cargo run --release -p ember-tests --example search_loop -- INDEX MODEL QUERIES MODE BEAM RERANK [ROUNDS]
use ember_core::TextKind;
use ember_core::{Embedder, EmbedderConfig, Index, Mode, OnnxEmbedder, SearchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        return Err("usage: INDEX MODEL QUERIES MODE BEAM RERANK [ROUNDS]".into());
    }
    let index = Index::open(std::path::Path::new(&a[1]))?;
    let embedder = OnnxEmbedder::load(&a[2], &EmbedderConfig::default())?;
    let texts: Vec<String> = std::fs::read_to_string(&a[3])?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let queries = embedder.embed(&refs, TextKind::Query)?;
    let mode = match a[4].as_str() {
        "stored" => Mode::StoredRerank,
        "codes" => Mode::CodesOnly,
        _ => Mode::Recompute,
    };
    let opts = SearchOptions {
        k: 10,
        mode,
        beam: Some(a[5].parse()?),
        rerank: Some(a[6].parse()?),
        ..SearchOptions::default()
    };
    let rounds: usize = a.get(7).map_or(Ok(20), |r| r.parse())?;
    let start = std::time::Instant::now();
    let mut scored = 0;
    for _ in 0..rounds {
        for q in &queries {
            scored += index.search(q, None, &opts)?.scored;
        }
    }
    let n = (rounds * queries.len()) as f64;
    println!(
        "{} searches, mean {:.4} ms, mean scored {:.0}",
        n,
        start.elapsed().as_secs_f64() * 1e3 / n,
        scored as f64 / n
    );
    Ok(())
}
