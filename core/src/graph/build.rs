//! Vamana graph construction (DiskANN): greedy search from the medoid plus RobustPrune with α, two
//! passes, parallel in prefix-doubling batches (ParlayANN) yet deterministic for a fixed seed.
//!
//! Within a batch every node searches the graph as it stood at the batch start (read-only, in
//! parallel) and prunes its candidates (in parallel); the new lists are then installed and the
//! back-edges applied, grouped by target and in batch order, with a re-prune of any list that
//! overflows. Nothing depends on which thread ran what, so the graph is a pure function of the
//! vectors and the [`GraphParams`].

use rayon::prelude::*;

use super::prune::{prune_rows, robust_prune};
use super::rows::Rows;
use super::search::{search_from, Neighbor, SearchScratch};
use super::types::{check_rows, Graph, GraphParams};
use crate::rng::SplitMix64;
use crate::Result;

/// Builds the pruned graph: [`build_unpruned`] with degree bound `max_degree`, then
/// [`prune`](super::prune) (hubs keep `max_degree`, others are cut to `degree`, then every node
/// is made reachable from the entry).
pub fn build(vectors: &[f32], dim: usize, params: &GraphParams) -> Result<Graph> {
    build_rows(Rows::F32(vectors), dim, params)
}

/// [`build`] over f32 or i8 rows.
pub(crate) fn build_rows(rows: Rows, dim: usize, params: &GraphParams) -> Result<Graph> {
    let full = build_unpruned_rows(rows, dim, params)?;
    prune_rows(full, rows, dim, params)
}

/// The Vamana graph with degree bound `params.max_degree` and no hub pruning or connectivity repair:
/// pass 1 with α = 1, pass 2 with α = `params.alpha`, each over a seeded random order.
pub fn build_unpruned(vectors: &[f32], dim: usize, params: &GraphParams) -> Result<Graph> {
    build_unpruned_rows(Rows::F32(vectors), dim, params)
}

fn build_unpruned_rows(rows: Rows, dim: usize, params: &GraphParams) -> Result<Graph> {
    params.validate()?;
    let n = check_rows(rows, dim)?;
    if n == 0 {
        return Ok(Graph { entry: 0, neighbors: Vec::new() });
    }
    let entry = medoid(rows, dim, n);
    let mut b = Builder {
        rows,
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
fn medoid(rows: Rows, dim: usize, n: usize) -> u32 {
    let mut centroid = vec![0f64; dim];
    let mut buf = Vec::new();
    for i in 0..n as u32 {
        for (c, &x) in centroid.iter_mut().zip(rows.row(dim, i, &mut buf)) {
            *c += f64::from(x);
        }
    }
    let centroid: Vec<f32> = centroid.iter().map(|&c| (c / n as f64) as f32).collect();
    let mut best = (f32::NEG_INFINITY, 0u32);
    for i in 0..n as u32 {
        let s = rows.dot(dim, &centroid, i);
        if s > best.0 {
            best = (s, i);
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
    rows: Rows<'a>,
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
        let (rows, dim, entry, beam, bound) = (self.rows, self.dim, self.entry, self.beam, self.bound);
        let lists = &self.lists;
        // 1. Candidates from a search of the graph as it stood at the batch start, pruned: in parallel.
        let new_lists: Vec<Vec<u32>> = batch
            .par_iter()
            .map_init(
                || (SearchScratch::new(), Vec::new(), Vec::new()),
                |(scratch, cands, buf), &p| {
                    let q = rows.row(dim, p, buf);
                    search_from(lists, rows, dim, q, entry, beam, scratch);
                    cands.clear();
                    cands.extend_from_slice(scratch.expanded());
                    for &o in &lists[p as usize] {
                        cands.push(Neighbor { id: o, dist: rows.distance(dim, q, o) });
                    }
                    let mut out = Vec::with_capacity(bound);
                    robust_prune(p, cands, rows, dim, alpha, bound, &mut out);
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
            .map_init(
                || (Vec::new(), Vec::new()),
                |(cands, buf), group| {
                    let q = group[0].0;
                    let mut list = lists[q as usize].clone();
                    for &(_, p) in group.iter() {
                        if p != q && !list.contains(&p) {
                            list.push(p);
                        }
                    }
                    if list.len() > bound {
                        let v = rows.row(dim, q, buf);
                        cands.clear();
                        cands
                            .extend(list.iter().map(|&o| Neighbor { id: o, dist: rows.distance(dim, v, o) }));
                        robust_prune(q, cands, rows, dim, alpha, bound, &mut list);
                    }
                    // A push past the clone's exact capacity doubled it: at a million nodes the
                    // slack would be about 60 MB of the build's peak.
                    list.shrink_to_fit();
                    (q, list)
                },
            )
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
    use crate::graph::types::MAX_DEGREE;
    use crate::Error;

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
                (0..n as u32).map(|i| (Rows::F32(base).distance(dim, q, i), i)).collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let found = crate::graph::greedy_search(&g, base, dim, q, 64, &mut s).unwrap();
            let top: Vec<u32> = found.iter().take(10).map(|x| x.id).collect();
            hits += exact.iter().take(10).filter(|e| top.contains(&e.1)).count();
        }
        let recall = hits as f64 / (50.0 * 10.0);
        assert!(recall > 0.9, "recall {recall}");
    }
}
