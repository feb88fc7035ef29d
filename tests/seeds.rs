//! Search walks on large indexes start from evenly spaced seed nodes as well as the entry point
//! (`index/walk.rs`, `seed_count`): on clustered data a walk from a single entry point stays in
//! the clusters it reaches first and misses the query's own. Synthetic vectors, fixed seeds.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::rng::SplitMix64;
use ember_core::Prefixes;
use ember_core::{Index, IndexConfig, Mode, Passage, SearchOptions, VectorStorage};
use ember_tests::temp_dir;

const DIM: usize = 64;
const CLUSTERS: usize = 500;
const PER_CLUSTER: usize = 40; // 20,000 passages: above the 16,384 where seeding starts
const QUERIES: usize = 1000;

/// A unit vector near `centre`: each coordinate moved by a normal of deviation `spread`.
fn near(rng: &mut SplitMix64, centre: &[f32], spread: f32) -> Vec<f32> {
    let mut v: Vec<f32> = centre.iter().map(|c| c + spread * rng.normal() as f32).collect();
    ember_core::embed::l2_normalize(&mut v);
    v
}

#[test]
fn seeded_walks_find_the_querys_cluster() {
    let mut rng = SplitMix64::new(0x5eed);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS).map(|_| near(&mut rng, &[0.0; DIM], 1.0)).collect();
    let spread = 0.25 / (DIM as f32).sqrt();
    let vectors: Vec<Vec<f32>> =
        (0..CLUSTERS * PER_CLUSTER).map(|i| near(&mut rng, &centres[i % CLUSTERS], spread)).collect();
    let passages: Vec<Passage> =
        (0..vectors.len()).map(|i| Passage::new(format!("p{i}"), format!("passage {i}"))).collect();
    let config = IndexConfig { vectors: VectorStorage::F32, ..IndexConfig::default() };
    let dir = temp_dir("seeds");
    let index = Index::build_with_vectors(
        &dir,
        "synthetic",
        &Prefixes::default(),
        &passages,
        &vectors,
        &config,
        None,
    )
    .unwrap();

    // Measured: 0.970 of the hits in the query's cluster with seeds, 0.904 from the entry alone.
    let opts = SearchOptions {
        k: 10,
        mode: Mode::StoredRerank,
        beam: Some(16),
        rerank: Some(16),
        ..SearchOptions::default()
    };
    let mut found = 0;
    for q in 0..QUERIES {
        let cluster = (q * 7) % CLUSTERS;
        let query = near(&mut rng, &centres[cluster], spread);
        let hits = index.search(&query, None, &opts).unwrap().hits;
        assert_eq!(hits.len(), 10);
        found += hits.iter().filter(|h| h.id[1..].parse::<usize>().unwrap() % CLUSTERS == cluster).count();
    }
    let share = found as f64 / (QUERIES * 10) as f64;
    println!("beam 16: {share:.3} of the hits are in the query's cluster");
    assert!(share >= 0.95, "only {share:.3} of the hits are in the query's cluster");
}
