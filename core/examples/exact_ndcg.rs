//! nDCG@10 of exact (brute-force cosine) search on a BEIR folder, every passage embedded once on
//! one thread: a model's retrieval quality without building an index.
//!
//! `cargo run --release -p ember-core --no-default-features --example exact_ndcg -- MODEL_DIR
//! DATASET_DIR [QRELS_FILE] [MAX_TOKENS]` (qrels default `qrels/test.tsv`, 128 tokens). Passages are
//! embedded as `title\ntext` (as `ember index` does), queries only where the qrels judge them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder, TextKind};

fn records(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
            let (title, text) = (field("title"), field("text"));
            (field("_id"), if title.is_empty() { text } else { format!("{title}\n{text}") })
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, data) = (Path::new(&args[0]), Path::new(&args[1]));
    let qrels_file = args.get(2).map_or("qrels/test.tsv", String::as_str);
    let max_tokens = args.get(3).map_or(128, |s| s.parse().unwrap());
    let config = EmbedderConfig { max_tokens: Some(max_tokens), threads: 1, batch_size: 1 };
    let embedder = OnnxEmbedder::load(model, &config).unwrap();

    let mut qrels: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for line in std::fs::read_to_string(data.join(qrels_file)).unwrap().lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if let [q, d, s] = cols[..] {
            qrels.entry(q.into()).or_default().insert(d.into(), s.trim().parse().unwrap());
        }
    }
    let corpus = records(&data.join("corpus.jsonl"));
    let queries: Vec<(String, String)> =
        records(&data.join("queries.jsonl")).into_iter().filter(|(id, _)| qrels.contains_key(id)).collect();

    let t = Instant::now();
    let mut vectors = Vec::with_capacity(corpus.len());
    for chunk in corpus.chunks(64) {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        vectors.extend(embedder.embed(&texts, TextKind::Passage).unwrap());
    }
    let embed_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut total = 0f64;
    for (qid, text) in &queries {
        let q = embedder.embed(&[text.as_str()], TextKind::Query).unwrap().pop().unwrap();
        let mut scored: Vec<(f32, usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.iter().zip(&q).map(|(a, b)| a * b).sum(), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let rel = &qrels[qid];
        let dcg: f64 = scored
            .iter()
            .take(10)
            .enumerate()
            .map(|(r, &(_, i))| rel.get(&corpus[i].0).copied().unwrap_or(0.0) / ((r + 2) as f64).log2())
            .sum();
        let mut ideal: Vec<f64> = rel.values().copied().collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg: f64 = ideal.iter().take(10).enumerate().map(|(r, g)| g / ((r + 2) as f64).log2()).sum();
        total += if idcg > 0.0 { dcg / idcg } else { 0.0 };
    }
    println!(
        "{} on {}: nDCG@10 {:.4} over {} queries; {} passages embedded in {:.1} s ({:.1}/s, {max_tokens} tokens, 1 thread); queries {:.1} s",
        embedder.model_id(),
        data.display(),
        total / queries.len().max(1) as f64,
        queries.len(),
        corpus.len(),
        embed_s,
        corpus.len() as f64 / embed_s,
        t.elapsed().as_secs_f64()
    );
}
