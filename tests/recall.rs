//! Recall of every search mode against exact brute force, with the real L3 model on real text
//! (the first 1,000 man-page passages; 150 of their NAME-line queries). Fixed seeds, asserted bars.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;

use ember_core::TextKind;
use ember_core::{Embedder, EmbedderConfig, Index, IndexConfig, Mode, OnnxEmbedder, Passage, SearchOptions};
use ember_tests::{l3, read_jsonl, shared_data, temp_dir};

const PASSAGES: usize = 1000;
const QUERIES: usize = 150;

/// Share of the top `k` hits whose exact score reaches the true k-th best score (ties count:
/// the man pages hold identical alias passages, and any of them is a correct answer).
fn recall_at(got: &[f32], truth: &[f32], k: usize) -> f64 {
    let kth = truth[k - 1] - 1e-5;
    got.iter().take(k).filter(|&&s| s >= kth).count() as f64 / k as f64
}

#[test]
fn recall_against_brute_force_in_every_mode() {
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

    let dir = temp_dir("recall");
    let config = IndexConfig {
        vectors: ember_core::VectorStorage::F16,
        max_tokens: Some(128),
        ..IndexConfig::default()
    };
    // The passages are embedded once, for the truth and for the build (what `Index::build` embeds;
    // tests/golden.rs and the CLI tests cover that path with the model).
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let corpus = embedder.embed(&texts, TextKind::Passage).unwrap();
    let prefixes = ember_core::Prefixes::of(&embedder);
    let index = Index::build_with_vectors(
        &dir,
        embedder.model_id(),
        &prefixes,
        &passages,
        &corpus,
        &config,
        Some(&embedder),
    )
    .unwrap();
    index.set_cache_bytes(0).unwrap(); // every recompute pays in full
    let qrefs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let qvecs = embedder.embed(&qrefs, TextKind::Query).unwrap();
    let position: HashMap<&str, usize> =
        passages.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();
    // Exact top-10 scores per query, from freshly embedded passages.
    let truth: Vec<Vec<f32>> = qvecs
        .iter()
        .map(|q| {
            let mut s: Vec<f32> = corpus.iter().map(|v| ember_core::distance::dot(v, q)).collect();
            s.sort_by(|a, b| b.total_cmp(a));
            s.truncate(10);
            s
        })
        .collect();

    // (mode, queries, minimum recall@3, minimum recall@10, most passages re-embedded per query on
    // average). Recompute pays full price per query (cache off), so it runs on fewer queries.
    let bars = [
        (Mode::StoredRerank, QUERIES, 0.95, 0.93, 0.0),
        (Mode::Recompute, 50, 0.95, 0.93, 50.0),
        (Mode::CodesOnly, QUERIES, 0.70, 0.65, 0.0),
    ];
    for (mode, queries, min3, min10, max_reembedded) in bars {
        let opts = SearchOptions { k: 10, mode, ..SearchOptions::default() };
        let (mut r3, mut r10, mut reembedded) = (0.0, 0.0, 0usize);
        for (q, t) in qvecs.iter().zip(&truth).take(queries) {
            let report = index.search(q, Some(&embedder as &dyn Embedder), &opts).unwrap();
            assert_eq!(report.mode, mode);
            // Exact scores of the returned passages (codes-only hits carry estimates).
            let got: Vec<f32> = report
                .hits
                .iter()
                .map(|h| ember_core::distance::dot(&corpus[position[h.id.as_str()]], q))
                .collect();
            r3 += recall_at(&got, t, 3);
            r10 += recall_at(&got, t, 10);
            reembedded += report.reembedded;
        }
        let n = queries as f64;
        let (r3, r10, re) = (r3 / n, r10 / n, reembedded as f64 / n);
        println!(
            "{mode:?}: recall@3 {r3:.3} recall@10 {r10:.3} re-embedded/query {re:.1} (seed {:#x})",
            config.seed
        );
        assert!(r3 >= min3, "{mode:?}: recall@3 {r3:.3} < {min3}");
        assert!(r10 >= min10, "{mode:?}: recall@10 {r10:.3} < {min10}");
        assert!(re <= max_reembedded, "{mode:?}: {re:.1} passages re-embedded per query > {max_reembedded}");
    }
}
