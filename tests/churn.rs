//! Recall after 50% churn: build on half the man pages, delete half of those, add the other half,
//! compact; recall must stay within one point of a fresh build of the same set (real L3 model,
//! fixed seeds, stored-vector rerank so only the graph and the codes differ).
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;

use ember_core::Prefixes;
use ember_core::TextKind;
use ember_core::{
    Embedder, EmbedderConfig, Index, IndexConfig, Mode, OnnxEmbedder, Passage, SearchOptions, VectorStorage,
};
use ember_tests::{l3, read_jsonl, shared_data, temp_dir};

const PASSAGES: usize = 1000;
const QUERIES: usize = 150;

/// Mean recall@10 (ties count) of `index` against exact search over `live`.
fn recall(index: &Index, live: &[usize], corpus: &[Vec<f32>], ids: &[String], queries: &[Vec<f32>]) -> f64 {
    let position: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let opts = SearchOptions {
        k: 10,
        mode: Mode::StoredRerank,
        beam: Some(64),
        rerank: Some(30),
        ..SearchOptions::default()
    };
    let mut sum = 0.0;
    for q in queries {
        let mut truth: Vec<f32> = live.iter().map(|&i| ember_core::distance::dot(&corpus[i], q)).collect();
        truth.sort_by(|a, b| b.total_cmp(a));
        let kth = truth[9] - 1e-5;
        let hits = index.search(q, None, &opts).unwrap().hits;
        let good = hits
            .iter()
            .filter(|h| ember_core::distance::dot(&corpus[position[h.id.as_str()]], q) >= kth)
            .count();
        sum += good as f64 / 10.0;
    }
    sum / queries.len() as f64
}

#[test]
fn recall_after_half_churn_matches_a_fresh_build() {
    let data = shared_data("manpages");
    let embedder = OnnxEmbedder::load(l3(), &EmbedderConfig { threads: 2, ..Default::default() }).unwrap();
    let passages: Vec<Passage> = read_jsonl(&data.join("corpus.jsonl"))
        .into_iter()
        .take(PASSAGES)
        .map(|r| {
            let title = r.get("title").cloned().unwrap_or_default();
            let text = r["text"].clone();
            Passage::new(r["_id"].clone(), if title.is_empty() { text } else { format!("{title}\n{text}") })
        })
        .collect();
    let queries: Vec<String> = read_jsonl(&data.join("queries.jsonl"))
        .into_iter()
        .take(QUERIES)
        .map(|r| r["text"].clone())
        .collect();
    let corpus = embedder
        .embed(&passages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), TextKind::Passage)
        .unwrap();
    let qvecs =
        embedder.embed(&queries.iter().map(String::as_str).collect::<Vec<_>>(), TextKind::Query).unwrap();
    let ids: Vec<String> = passages.iter().map(|p| p.id.clone()).collect();
    let config = IndexConfig { vectors: VectorStorage::F32, max_tokens: Some(128), ..IndexConfig::default() };
    let half = PASSAGES / 2;

    // Churned: build on the first half, delete every other one of those, add the second half.
    let dir = temp_dir("churn");
    let index = Index::build_with_vectors(
        &dir,
        embedder.model_id(),
        &Prefixes::default(),
        &passages[..half],
        &corpus[..half],
        &config,
        None,
    )
    .unwrap();
    let deleted: Vec<String> = (0..half).step_by(2).map(|i| ids[i].clone()).collect();
    index.delete(&deleted).unwrap();
    for start in (half..PASSAGES).step_by(50) {
        index.add_with_vectors(&passages[start..start + 50], &corpus[start..start + 50]).unwrap();
    }
    let live: Vec<usize> = (0..PASSAGES).filter(|&i| i >= half || i % 2 == 1).collect();
    assert_eq!(index.len(), live.len());
    let churned = recall(&index, &live, &corpus, &ids, &qvecs);
    index.compact(&ember_core::Task::none()).unwrap();
    assert_eq!(index.stats().unwrap().deleted, 0);
    let compacted = recall(&index, &live, &corpus, &ids, &qvecs);

    // Fresh: the same live set built from scratch.
    let fresh_dir = temp_dir("churn-fresh");
    let live_passages: Vec<Passage> = live.iter().map(|&i| passages[i].clone()).collect();
    let live_vectors: Vec<Vec<f32>> = live.iter().map(|&i| corpus[i].clone()).collect();
    let fresh_index = Index::build_with_vectors(
        &fresh_dir,
        embedder.model_id(),
        &Prefixes::default(),
        &live_passages,
        &live_vectors,
        &config,
        None,
    )
    .unwrap();
    let fresh = recall(&fresh_index, &live, &corpus, &ids, &qvecs);
    println!("recall@10 (beam 64): fresh {fresh:.3}, after 50% churn {churned:.3}, after compaction {compacted:.3}");
    assert!(
        compacted >= fresh - 0.01,
        "compacted recall {compacted:.3} more than 1 point below fresh {fresh:.3}"
    );
    // Before compaction, inserts linked by code distances and tombstones still in the lists cost
    // more (measured 0.938 vs 0.974 fresh): a regression guard, not the target.
    assert!(churned >= fresh - 0.05, "churned recall {churned:.3} more than 5 points below fresh {fresh:.3}");
}
