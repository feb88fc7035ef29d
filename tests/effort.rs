//! Defaults that scale: a build measures the beam and rerank its searches use when the app sets
//! none (per mode), records them in the segment, and widens the beam as the index grows; an
//! explicit beam or rerank still wins. Model-free (a hashing embedder), fixed seeds.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::{
    Effort, Embedder, Index, IndexConfig, Mode, Prefixes, SearchOptions, Task, TextKind, VectorStorage,
};
use ember_tests::{synthetic_passages, temp_dir, HashEmbedder};

fn config() -> IndexConfig {
    IndexConfig { vectors: VectorStorage::F16, ..IndexConfig::default() }
}

fn opts(mode: Mode) -> SearchOptions {
    SearchOptions { k: 10, mode, ..SearchOptions::default() }
}

/// Short queries over the synthetic vocabulary (two to five of its words), as an app would type.
fn queries(n: usize) -> Vec<String> {
    let words =
        ["battery", "flash", "graph", "vector", "phone", "offline", "recall", "cache", "linux", "swift"];
    let mut x = 0x9E37_79B9u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 2 + (x % 4) as usize;
            (0..len)
                .map(|j| words[((x >> (8 * j)) % words.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn a_build_measures_its_defaults_and_searches_use_them() {
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(3000);
    let dir = temp_dir("effort-build");
    let index = Index::build(&dir, &e, &passages, &config(), &Task::none()).unwrap();
    let d = index.search_defaults().unwrap();
    assert_eq!(d.calibrated_at, Some(3000));
    for effort in [d.stored, d.recompute] {
        assert!(effort.rerank >= 10 && effort.beam >= effort.rerank, "{effort:?}");
    }
    assert!(d.recompute.rerank <= d.stored.rerank, "recompute spends the least rerank: {d:?}");

    let q = e.embed(&["battery flash cache"], TextKind::Query).unwrap().pop().unwrap();
    let ran = |o: &SearchOptions| {
        let r = index.search(&q, Some(&e as &dyn Embedder), o).unwrap();
        Effort { beam: r.beam, rerank: r.rerank }
    };
    assert_eq!(ran(&opts(Mode::StoredRerank)), d.stored);
    assert_eq!(ran(&opts(Mode::Recompute)), d.recompute);
    assert_eq!(ran(&opts(Mode::CodesOnly)), Effort { beam: d.stored.beam, rerank: 0 });
    // An explicit beam or rerank wins (the other stays the mode's default).
    let asked = SearchOptions { beam: Some(777), ..opts(Mode::StoredRerank) };
    assert_eq!(ran(&asked), Effort { beam: 777, rerank: d.stored.rerank });
    // (A beam narrower than the rerank is widened to it.)
    let asked = SearchOptions { rerank: Some(33), ..opts(Mode::Recompute) };
    assert_eq!(ran(&asked), Effort { beam: d.recompute.beam.max(33), rerank: 33 });

    // Recorded in the segment: the same after reopening and after a commit.
    drop(index);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.search_defaults().unwrap(), d);
    index.commit().unwrap();
    assert_eq!(index.search_defaults().unwrap(), d);
}

#[test]
fn the_measured_defaults_reach_their_recall() {
    // Recall@3 against brute force of the searches an app makes with no beam or rerank set; the
    // calibration asks 0.95 of its own sample queries. Ties count (the vocabulary is small).
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(4000);
    let dir = temp_dir("effort-recall");
    let index = Index::build(&dir, &e, &passages, &config(), &Task::none()).unwrap();
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let corpus = e.embed(&texts, TextKind::Passage).unwrap();
    let position: std::collections::HashMap<&str, usize> =
        passages.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();
    let qs = queries(200);
    for mode in [Mode::StoredRerank, Mode::Recompute] {
        let mut recall = 0.0;
        for text in &qs {
            let q = e.embed(&[text.as_str()], TextKind::Query).unwrap().pop().unwrap();
            let mut exact: Vec<f32> = corpus.iter().map(|v| ember_core::distance::dot(v, &q)).collect();
            exact.sort_by(|a, b| b.total_cmp(a));
            let third = exact[2] - 1e-5;
            let report = index.search(&q, Some(&e as &dyn Embedder), &opts(mode)).unwrap();
            let got = report.hits.iter().take(3);
            recall += got
                .filter(|h| ember_core::distance::dot(&corpus[position[h.id.as_str()]], &q) >= third)
                .count() as f64
                / 3.0;
        }
        let recall = recall / qs.len() as f64;
        println!("{mode:?}: recall@3 {recall:.3} with {:?}", index.search_defaults().unwrap());
        assert!(recall >= 0.93, "{mode:?}: recall@3 {recall:.3} < 0.93 at the measured defaults");
    }
}

#[test]
fn defaults_widen_as_the_index_grows_and_fall_back_without_a_model() {
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(2000);
    let dir = temp_dir("effort-grow");
    let index = Index::build(&dir, &e, &passages[..500], &config(), &Task::none()).unwrap();
    let at_build = index.search_defaults().unwrap();
    assert_eq!(at_build.calibrated_at, Some(500));
    index.add(&passages[500..], &e, &Task::none()).unwrap();
    // Four times the passages: the beam doubles (√4), the rerank stays; recorded at the commit.
    let grown = index.search_defaults().unwrap();
    assert_eq!(grown.stored, Effort { beam: at_build.stored.beam * 2, rerank: at_build.stored.rerank });
    assert_eq!(grown.recompute.beam, at_build.recompute.beam * 2);
    assert_eq!(grown.calibrated_at, Some(500));
    index.commit().unwrap();
    assert_eq!(index.search_defaults().unwrap(), grown);

    // Built from vectors without the model: nothing measured, the fixed effort (measured on 10k
    // Debian passages) applies.
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let vectors = e.embed(&texts, TextKind::Passage).unwrap();
    let dir = temp_dir("effort-fixed");
    let index = Index::build_with_vectors(
        &dir,
        e.model_id(),
        &Prefixes::default(),
        &passages,
        &vectors,
        &config(),
        None,
    )
    .unwrap();
    let d = index.search_defaults().unwrap();
    assert_eq!((d.stored, d.recompute, d.calibrated_at), (Effort { beam: 512, rerank: 50 }, d.stored, None));
    let empty =
        Index::create(&temp_dir("effort-empty"), e.model_id(), &Prefixes::default(), 64, &config()).unwrap();
    assert_eq!(empty.search_defaults().unwrap().calibrated_at, None);
}
