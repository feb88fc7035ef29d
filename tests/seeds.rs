//! Search walks on large indexes start from evenly spaced seed nodes as well as the entry point
//! (`index/walk.rs`, `seed_count`): on clustered data a walk from a single entry point stays in
//! the clusters it reaches first and misses the query's own. Synthetic vectors, fixed seeds.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::{Index, IndexConfig, Mode, Passage, SearchOptions, VectorStorage};
use ember_tests::temp_dir;

const DIM: usize = 64;
const CLUSTERS: usize = 500;
const PER_CLUSTER: usize = 40; // 20,000 passages: above the 16,384 where seeding starts
const QUERIES: usize = 1000;

/// xorshift64* with Box–Muller normals: small, fixed, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.next().max(1e-12), self.next());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
    fn near(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        let mut v: Vec<f32> = centre.iter().map(|c| c + spread * self.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

#[test]
fn seeded_walks_find_the_querys_cluster() {
    let mut rng = Rng(0x5eed);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS).map(|_| rng.near(&[0.0; DIM], 1.0)).collect();
    let spread = 0.25 / (DIM as f32).sqrt();
    let vectors: Vec<Vec<f32>> =
        (0..CLUSTERS * PER_CLUSTER).map(|i| rng.near(&centres[i % CLUSTERS], spread)).collect();
    let passages: Vec<Passage> =
        (0..vectors.len()).map(|i| Passage::new(format!("p{i}"), format!("passage {i}"))).collect();
    let config = IndexConfig { vectors: VectorStorage::F32, ..IndexConfig::default() };
    let dir = temp_dir("seeds");
    let index = Index::build_with_vectors(&dir, "synthetic", &passages, &vectors, &config).unwrap();

    // Measured: 0.971 of the hits in the query's cluster with seeds, 0.888 from the entry alone.
    let opts = SearchOptions { k: 10, mode: Mode::StoredRerank, beam: 16, rerank: 16, filter: None };
    let mut found = 0;
    for q in 0..QUERIES {
        let cluster = (q * 7) % CLUSTERS;
        let query = rng.near(&centres[cluster], spread);
        let hits = index.search(&query, None, &opts).unwrap().hits;
        assert_eq!(hits.len(), 10);
        found += hits.iter().filter(|h| h.id[1..].parse::<usize>().unwrap() % CLUSTERS == cluster).count();
    }
    let share = found as f64 / (QUERIES * 10) as f64;
    println!("beam 16: {share:.3} of the hits are in the query's cluster");
    assert!(share >= 0.95, "only {share:.3} of the hits are in the query's cluster");
}
