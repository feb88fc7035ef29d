//! Relevance of exact (brute-force cosine) search with one model on BEIR folders: nDCG@10 and
//! recall@10 against each qrels file, every passage embedded once. A model's retrieval quality
//! without building an index; `scripts/bench/bench-relevance.sh` runs it for every model.
//!
//! `cargo run --release -p ember-core --example exact_ndcg -- MODEL_DIR MAX_TOKENS THREADS
//! DATASET_DIR:QRELS[,QRELS...]...` (QRELS relative to `DATASET_DIR/qrels/`). Passages are
//! embedded as `title\ntext` (as `ember index` does) on the passage side, queries on the query
//! side, only where the qrels judge them. One JSON object per qrels file on stdout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder, TextKind};

fn records(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

type Qrels = HashMap<String, HashMap<String, f64>>;

fn qrels(path: &Path) -> Qrels {
    let mut out: Qrels = HashMap::new();
    for line in
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).lines().skip(1)
    {
        if let [q, d, s] = line.split('\t').collect::<Vec<_>>()[..] {
            out.entry(q.into()).or_default().insert(d.into(), s.trim().parse().unwrap());
        }
    }
    out
}

/// nDCG@10 (graded gains, log2 discount, ideal from the qrels) and recall@10 over positive grades.
fn metrics(ranked: &[&str], rel: &HashMap<String, f64>) -> (f64, f64) {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(r, d)| rel.get(*d).copied().unwrap_or(0.0) / ((r + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = rel.values().copied().filter(|g| *g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(r, g)| g / ((r + 2) as f64).log2()).sum();
    let relevant = ideal.len();
    let found = ranked.iter().take(10).filter(|d| rel.get(**d).is_some_and(|g| *g > 0.0)).count();
    (
        if idcg > 0.0 { dcg / idcg } else { 0.0 },
        if relevant > 0 { found as f64 / relevant as f64 } else { 0.0 },
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(args.len() >= 4, "usage: exact_ndcg MODEL_DIR MAX_TOKENS THREADS DATASET_DIR:QRELS[,QRELS]...");
    let model = Path::new(&args[0]);
    let max_tokens: usize = args[1].parse().unwrap();
    let threads: usize = args[2].parse().unwrap();
    let config = EmbedderConfig { max_tokens: Some(max_tokens), threads, batch_size: 1 };
    let embedder = OnnxEmbedder::load(model, &config).unwrap();
    for set in &args[3..] {
        let (dir, files) = set.split_once(':').expect("DATASET_DIR:QRELS");
        let data = Path::new(dir);
        let corpus = records(&data.join("corpus.jsonl"));
        let all_queries: HashMap<String, String> = records(&data.join("queries.jsonl")).into_iter().collect();
        let t = Instant::now();
        let mut vectors = Vec::with_capacity(corpus.len());
        for chunk in corpus.chunks(256) {
            let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
            vectors.extend(embedder.embed(&texts, TextKind::Passage).unwrap());
        }
        let embed_s = t.elapsed().as_secs_f64();
        for file in files.split(',') {
            let rels = qrels(&data.join("qrels").join(file));
            let mut ids: Vec<&String> = rels.keys().filter(|q| all_queries.contains_key(*q)).collect();
            ids.sort();
            let texts: Vec<&str> = ids.iter().map(|q| all_queries[*q].as_str()).collect();
            let t = Instant::now();
            let qv = embedder.embed(&texts, TextKind::Query).unwrap();
            let query_ms = t.elapsed().as_secs_f64() * 1e3 / texts.len().max(1) as f64;
            let (mut ndcg, mut recall) = (0f64, 0f64);
            for (qid, q) in ids.iter().zip(&qv) {
                let mut scored: Vec<(f32, usize)> = vectors
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum(), i))
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                let ranked: Vec<&str> = scored.iter().take(10).map(|&(_, i)| corpus[i].0.as_str()).collect();
                let (n, r) = metrics(&ranked, &rels[*qid]);
                ndcg += n;
                recall += r;
            }
            let q = ids.len().max(1) as f64;
            println!(
                "{}",
                serde_json::json!({
                    "model": embedder.model_id(),
                    "set": format!("{}/{file}", data.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
                    "queries": ids.len(),
                    "ndcg@10": ndcg / q,
                    "recall@10": recall / q,
                    "passages": corpus.len(),
                    "max_tokens": max_tokens,
                    "threads": threads,
                    "embed_passages_per_s": corpus.len() as f64 / embed_s,
                    "query_embed_ms": query_ms,
                })
            );
        }
    }
}
