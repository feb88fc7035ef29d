//! Vamana graph construction (DiskANN): greedy search from the medoid plus RobustPrune with α, two
//! passes, parallel in prefix-doubling batches (ParlayANN) yet deterministic for a fixed seed.
//!
//! Within a batch every node searches the graph as it stood at the batch start (read-only, in
//! parallel) and prunes its candidates (in parallel); the new lists are then installed and the
//! back-edges applied, grouped by target and in batch order, with a re-prune of any list that
//! overflows. Nothing depends on which thread ran what, so the graph is a pure function of the
//! vectors and the [`GraphParams`].

use rayon::prelude::*;

use super::prune::{prune, robust_prune};
use super::search::{distance, row, search_from, Neighbor, SearchScratch};
use crate::rng::SplitMix64;
use crate::{Error, Result};

/// The largest `max_degree` accepted: a node may end up one edge above it after connectivity repair,
/// and any list of up to 45 ids fits the 255-byte per-node length of [`EncodedGraph`](super::EncodedGraph).
pub const MAX_DEGREE: usize = 44;

/// Graph construction knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphParams {
    /// M: the degree bound while building, kept by hub nodes after pruning (at most [`MAX_DEGREE`]).
    pub max_degree: usize,
    /// m ≤ M: the degree bound of every non-hub node after pruning. `degree == max_degree` gives a
    /// natively built graph of that degree with no hub pruning.
    pub degree: usize,
    /// The fraction of nodes, by highest in-degree, that keep `max_degree` neighbours (e.g. 0.02).
    pub hub_fraction: f32,
    /// L: the beam (candidate list) size of the searches that find each node's candidates.
    pub build_beam: usize,
    /// α ≥ 1: the largest occlusion level of RobustPrune in the second pass and in the cut to
    /// `degree` (the first pass uses 1); larger keeps more edges where the level-1 rule keeps few.
    pub alpha: f32,
    /// Seed of the insertion order.
    pub seed: u64,
}

impl Default for GraphParams {
    /// M = 20, m = 9, 2% hubs, L = 64, α = 1.2, seed 0: chosen with `examples/graph_eval.rs` on
    /// paraphrase-MiniLM-L3 vectors of the manpages (2,353) and pydocs (6,132) corpora, all their
    /// queries, exact distances, three seeds. It is the smallest setting with recall@10 ≥ 0.97 at
    /// beam 128 on both (0.975–0.986 and 0.971–0.973) at 10.6 and 12.2 encoded bytes per node; a
    /// native degree-10 graph needs 11.3 and 12.9 bytes for 0.970–0.980 and 0.968–0.971, (16, 8)
    /// misses on pydocs (0.956), (32, 10) buys 0.98 for 1.2–1.4 bytes more. α 1.1 or 1.3, L = 128
    /// and 0–5% hubs all landed on the same recall-per-byte curve within noise.
    fn default() -> Self {
        Self { max_degree: 20, degree: 9, hub_fraction: 0.02, build_beam: 64, alpha: 1.2, seed: 0 }
    }
}

impl GraphParams {
    /// Checks the knobs against each other.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.degree == 0 {
            return bad("graph degree must be at least 1".into());
        }
        if self.degree > self.max_degree {
            return bad(format!("graph degree {} exceeds max_degree {}", self.degree, self.max_degree));
        }
        if self.max_degree > MAX_DEGREE {
            return bad(format!("max_degree {} exceeds the limit {MAX_DEGREE}", self.max_degree));
        }
        if self.build_beam < self.max_degree {
            return bad(format!("build_beam {} is below max_degree {}", self.build_beam, self.max_degree));
        }
        if !(0.0..=1.0).contains(&self.hub_fraction) {
            return bad(format!("hub_fraction {} is not in [0, 1]", self.hub_fraction));
        }
        if !(self.alpha.is_finite() && self.alpha >= 1.0) {
            return bad(format!("alpha {} must be a finite number >= 1", self.alpha));
        }
        Ok(())
    }
}

/// An uncompressed graph: adjacency lists and the entry node.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The node every search starts from (0 for an empty graph).
    pub entry: u32,
    /// `neighbors[i]`: the out-neighbours of node `i`.
    pub neighbors: Vec<Vec<u32>>,
}

impl Graph {
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.neighbors.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.neighbors.is_empty()
    }

    /// Total number of edges.
    pub fn edges(&self) -> usize {
        self.neighbors.iter().map(Vec::len).sum()
    }
}

/// Builds the pruned graph: [`build_unpruned`] with degree bound `max_degree`, then
/// [`prune`](super::prune) (hubs keep `max_degree`, others are cut to `degree`, then every node
/// is made reachable from the entry).
pub fn build(vectors: &[f32], dim: usize, params: &GraphParams) -> Result<Graph> {
    let full = build_unpruned(vectors, dim, params)?;
    prune(&full, vectors, dim, params)
}

/// Checks `vectors` (row-major, `dim` columns, finite) and returns the number of rows.
pub(crate) fn check_vectors(vectors: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(Error::InvalidArgument("vector dimension must be at least 1".into()));
    }
    if !vectors.len().is_multiple_of(dim) {
        return Err(Error::InvalidArgument(format!(
            "{} floats is not a whole number of {dim}-dimensional vectors",
            vectors.len()
        )));
    }
    let n = vectors.len() / dim;
    if n >= u32::MAX as usize {
        return Err(Error::InvalidArgument(format!("{n} vectors exceed the u32 id space")));
    }
    if vectors.iter().any(|x| !x.is_finite()) {
        return Err(Error::InvalidArgument("vectors contain NaN or infinity".into()));
    }
    Ok(n)
}

/// The Vamana graph with degree bound `params.max_degree` and no hub pruning or connectivity repair:
/// pass 1 with α = 1, pass 2 with α = `params.alpha`, each over a seeded random order.
pub fn build_unpruned(vectors: &[f32], dim: usize, params: &GraphParams) -> Result<Graph> {
    params.validate()?;
    let n = check_vectors(vectors, dim)?;
    if n == 0 {
        return Ok(Graph { entry: 0, neighbors: Vec::new() });
    }
    let entry = medoid(vectors, dim, n);
    let mut b = Builder {
        vectors,
        dim,
        entry,
        bound: params.max_degree,
        beam: params.build_beam,
        lists: vec![Vec::new(); n],
    };
    let mut rng = SplitMix64::new(params.seed);
    let cap = batch_cap(n);
    // Pass 1 starts from the entry alone, so batches grow 1, 2, 4, ...; the entry goes first.
    let mut order = shuffled(n, &mut rng);
    if let Some(pos) = order.iter().position(|&x| x == entry) {
        order.swap(0, pos);
    }
    b.pass(&order, 1.0, 1, cap);
    // Pass 2 refines a complete graph: full-size batches from the start.
    let order = shuffled(n, &mut rng);
    b.pass(&order, params.alpha, cap, cap);
    Ok(Graph { entry, neighbors: b.lists })
}

/// The largest batch: 2% of the nodes (as in ParlayANN), at least 1, at most 1024. It depends on `n`
/// only, never on the thread count.
fn batch_cap(n: usize) -> usize {
    n.div_ceil(50).clamp(1, 1024)
}

/// The node closest to the centroid (ties: lowest id); summed sequentially in f64 for determinism.
fn medoid(vectors: &[f32], dim: usize, n: usize) -> u32 {
    let mut centroid = vec![0f64; dim];
    for v in vectors.chunks_exact(dim) {
        for (c, &x) in centroid.iter_mut().zip(v) {
            *c += f64::from(x);
        }
    }
    let centroid: Vec<f32> = centroid.iter().map(|&c| (c / n as f64) as f32).collect();
    let mut best = (f32::NEG_INFINITY, 0u32);
    for (i, v) in vectors.chunks_exact(dim).enumerate() {
        let s = crate::distance::dot(v, &centroid);
        if s > best.0 {
            best = (s, i as u32);
        }
    }
    best.1
}

/// A seeded Fisher–Yates permutation of `0..n`.
pub(crate) fn shuffled(n: usize, rng: &mut SplitMix64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    order
}

struct Builder<'a> {
    vectors: &'a [f32],
    dim: usize,
    entry: u32,
    bound: usize,
    beam: usize,
    lists: Vec<Vec<u32>>,
}

impl Builder<'_> {
    /// One insertion pass over `order` in batches growing from `first` by doubling up to `cap`.
    fn pass(&mut self, order: &[u32], alpha: f32, first: usize, cap: usize) {
        let mut start = 0;
        let mut size = first.max(1);
        while start < order.len() {
            let end = (start + size).min(order.len());
            self.batch(&order[start..end], alpha);
            start = end;
            size = (size * 2).min(cap);
        }
    }

    fn batch(&mut self, batch: &[u32], alpha: f32) {
        let (vectors, dim, entry, beam, bound) = (self.vectors, self.dim, self.entry, self.beam, self.bound);
        let lists = &self.lists;
        // 1. Candidates from a search of the graph as it stood at the batch start, pruned: in parallel.
        let new_lists: Vec<Vec<u32>> = batch
            .par_iter()
            .map_init(
                || (SearchScratch::new(), Vec::new()),
                |(scratch, cands), &p| {
                    let q = row(vectors, dim, p);
                    search_from(lists, vectors, dim, q, entry, beam, scratch);
                    cands.clear();
                    cands.extend_from_slice(scratch.expanded());
                    for &o in &lists[p as usize] {
                        cands.push(Neighbor { id: o, dist: distance(q, row(vectors, dim, o)) });
                    }
                    let mut out = Vec::with_capacity(bound);
                    robust_prune(p, cands, vectors, dim, alpha, bound, &mut out);
                    out
                },
            )
            .collect();
        for (&p, list) in batch.iter().zip(new_lists) {
            self.lists[p as usize] = list;
        }
        // 2. Back-edges q -> p, grouped by q (stable sort keeps batch order within a group).
        let mut back: Vec<(u32, u32)> =
            batch.iter().flat_map(|&p| self.lists[p as usize].iter().map(move |&q| (q, p))).collect();
        back.sort_by_key(|&(q, _)| q);
        let groups: Vec<&[(u32, u32)]> = back.chunk_by(|a, b| a.0 == b.0).collect();
        let lists = &self.lists;
        let updated: Vec<(u32, Vec<u32>)> = groups
            .par_iter()
            .map_init(Vec::new, |cands, group| {
                let q = group[0].0;
                let mut list = lists[q as usize].clone();
                for &(_, p) in group.iter() {
                    if p != q && !list.contains(&p) {
                        list.push(p);
                    }
                }
                if list.len() > bound {
                    let v = row(vectors, dim, q);
                    cands.clear();
                    cands.extend(
                        list.iter().map(|&o| Neighbor { id: o, dist: distance(v, row(vectors, dim, o)) }),
                    );
                    robust_prune(q, cands, vectors, dim, alpha, bound, &mut list);
                }
                (q, list)
            })
            .collect();
        for (q, list) in updated {
            self.lists[q as usize] = list;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::graph::prune::reachable;

    pub(crate) fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let mut v = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let x: Vec<f32> = (0..dim).map(|_| rng.normal() as f32).collect();
            let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.extend(x.iter().map(|a| a / norm));
        }
        v
    }

    fn small() -> GraphParams {
        GraphParams { max_degree: 12, degree: 6, hub_fraction: 0.05, build_beam: 24, alpha: 1.2, seed: 7 }
    }

    #[test]
    fn validates_params() {
        let v = random_unit(4, 3, 1);
        let p = small();
        for bad in [
            GraphParams { degree: 0, ..p.clone() },
            GraphParams { degree: 13, ..p.clone() },
            GraphParams { build_beam: 5, ..p.clone() },
            GraphParams { max_degree: MAX_DEGREE + 1, degree: 6, build_beam: 64, ..p.clone() },
            GraphParams { alpha: 0.9, ..p.clone() },
            GraphParams { alpha: f32::NAN, ..p.clone() },
            GraphParams { hub_fraction: 1.5, ..p.clone() },
        ] {
            assert!(matches!(build(&v, 3, &bad), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
        assert!(build(&v[..11], 3, &p).is_err());
        assert!(build(&v, 0, &p).is_err());
        let mut nan = v.clone();
        nan[4] = f32::NAN;
        assert!(build(&nan, 3, &p).is_err());
    }

    #[test]
    fn tiny_graphs() {
        let p = small();
        let g = build(&[], 3, &p).unwrap();
        assert_eq!(g, Graph { entry: 0, neighbors: vec![] });
        let g = build(&[1.0, 0.0, 0.0], 3, &p).unwrap();
        assert_eq!(g, Graph { entry: 0, neighbors: vec![vec![]] });
        let g = build(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 3, &p).unwrap();
        assert_eq!(g.len(), 2);
        assert!(reachable(&g).iter().all(|&r| r));
    }

    #[test]
    fn degrees_and_no_self_loops() {
        let v = random_unit(500, 16, 3);
        let p = small();
        let full = build_unpruned(&v, 16, &p).unwrap();
        for (i, l) in full.neighbors.iter().enumerate() {
            assert!(l.len() <= p.max_degree);
            assert!(!l.contains(&(i as u32)));
            let mut s = l.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), l.len());
        }
        let g = build(&v, 16, &p).unwrap();
        assert!(reachable(&g).iter().all(|&r| r));
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let v = random_unit(700, 12, 5);
        let p = small();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| build(&v, 12, &p))
        };
        let a = run(1).unwrap();
        let b = run(3).unwrap();
        assert_eq!(a, b);
        let c = build(&v, 12, &GraphParams { seed: 8, ..p }).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn recall_on_random_data() {
        let (n, dim) = (1000, 16);
        let v = random_unit(n + 50, dim, 11);
        let (base, queries) = v.split_at(n * dim);
        let p = GraphParams {
            max_degree: 24,
            degree: 12,
            hub_fraction: 0.02,
            build_beam: 48,
            alpha: 1.2,
            seed: 1,
        };
        let g = build(base, dim, &p).unwrap();
        let mut s = SearchScratch::new();
        let mut hits = 0;
        for q in queries.chunks_exact(dim) {
            let mut exact: Vec<(f32, u32)> =
                (0..n as u32).map(|i| (distance(q, row(base, dim, i)), i)).collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let found = crate::graph::greedy_search(&g, base, dim, q, 64, &mut s).unwrap();
            let top: Vec<u32> = found.iter().take(10).map(|x| x.id).collect();
            hits += exact.iter().take(10).filter(|e| top.contains(&e.1)).count();
        }
        let recall = hits as f64 / (50.0 * 10.0);
        assert!(recall > 0.9, "recall {recall}");
    }
}
