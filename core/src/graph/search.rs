//! Exact-distance beam search (DiskANN's GreedySearch) over an uncompressed [`Graph`], with a reusable
//! scratch so that repeated searches allocate nothing; used to build graphs and to evaluate them.

use super::rows::Rows;
use super::types::Graph;
use crate::{Error, Result};

/// One search result: a node and its distance (`1 - dot`) to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Node id.
    pub id: u32,
    /// `1 - dot(query, vector)`: smaller is closer.
    pub dist: f32,
}

impl Neighbor {
    /// Total order: by distance, ties by id (so results never depend on evaluation order).
    #[inline]
    pub(crate) fn cmp_key(&self, other: &Neighbor) -> std::cmp::Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}

/// Reusable buffers for [`greedy_search`]: a generation-stamped visited set, the beam, and the list of
/// expanded nodes. One per thread; it resizes itself to the graph it is used on.
#[derive(Debug, Clone, Default)]
pub struct SearchScratch {
    stamp: Vec<u32>,
    generation: u32,
    beam: Vec<Neighbor>,
    expanded_flag: Vec<bool>,
    expanded: Vec<Neighbor>,
    /// Number of distance evaluations in the last search.
    evaluations: usize,
}

impl SearchScratch {
    /// An empty scratch; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new search over `n` nodes: clears the visited set in O(1) (amortized).
    fn reset(&mut self, n: usize) {
        if self.stamp.len() != n {
            self.stamp.clear();
            self.stamp.resize(n, 0);
            self.generation = 0;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.beam.clear();
        self.expanded_flag.clear();
        self.expanded.clear();
        self.evaluations = 0;
    }

    /// Marks `i` visited; returns whether it was already visited (or out of range, which is skipped).
    #[inline]
    fn visit(&mut self, i: u32) -> bool {
        match self.stamp.get_mut(i as usize) {
            Some(s) if *s == self.generation => true,
            Some(s) => {
                *s = self.generation;
                false
            }
            None => true,
        }
    }

    /// The nodes expanded by the last search, with their distances to the query, in expansion order.
    pub fn expanded(&self) -> &[Neighbor] {
        &self.expanded
    }

    /// The number of exact distances computed by the last search.
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// Inserts `c` into the sorted beam of capacity `cap`; returns its position if it was kept.
    #[inline]
    fn insert(&mut self, c: Neighbor, cap: usize) -> Option<usize> {
        if self.beam.len() >= cap {
            let worst = self.beam.last()?;
            if c.cmp_key(worst).is_ge() {
                return None;
            }
        }
        let pos = self.beam.partition_point(|x| x.cmp_key(&c).is_lt());
        self.beam.insert(pos, c);
        self.expanded_flag.insert(pos, false);
        if self.beam.len() > cap {
            self.beam.truncate(cap);
            self.expanded_flag.truncate(cap);
        }
        Some(pos)
    }
}

/// Beam search from the graph's entry with exact f32 distances (DiskANN GreedySearch with list size
/// `beam`): returns the `beam` closest nodes found, closest first. `vectors` is row-major with `dim`
/// columns, one row per node. Neighbour ids out of range are skipped. The expanded nodes are left in
/// [`SearchScratch::expanded`].
pub fn greedy_search<'s>(
    g: &Graph,
    vectors: &[f32],
    dim: usize,
    query: &[f32],
    beam: usize,
    scratch: &'s mut SearchScratch,
) -> Result<&'s [Neighbor]> {
    let n = g.neighbors.len();
    if dim == 0 || query.len() != dim {
        return Err(Error::DimensionMismatch { expected: dim, found: query.len() });
    }
    if vectors.len() != n.saturating_mul(dim) {
        return Err(Error::InvalidArgument(format!(
            "graph has {n} nodes but {} floats were given for dimension {dim}",
            vectors.len()
        )));
    }
    if beam == 0 {
        return Err(Error::InvalidArgument("beam must be at least 1".into()));
    }
    if n == 0 {
        scratch.reset(0);
        return Ok(&scratch.beam);
    }
    if g.entry as usize >= n {
        return Err(Error::InvalidArgument(format!("entry {} out of range (n = {n})", g.entry)));
    }
    search_from(&g.neighbors, Rows::F32(vectors), dim, query, g.entry, beam, scratch);
    Ok(&scratch.beam)
}

/// The search proper over trusted inputs (`entry < n`, `rows` holding `n * dim` values). Neighbour
/// ids `>= n` are skipped rather than trusted.
pub(crate) fn search_from(
    adjacency: &[Vec<u32>],
    rows: Rows,
    dim: usize,
    query: &[f32],
    entry: u32,
    beam: usize,
    s: &mut SearchScratch,
) {
    let n = adjacency.len();
    s.reset(n);
    if n == 0 || entry as usize >= n {
        return;
    }
    let cap = beam.max(1);
    s.visit(entry);
    let d = rows.distance(dim, query, entry);
    s.evaluations += 1;
    s.insert(Neighbor { id: entry, dist: d }, cap);
    let mut cursor = 0;
    loop {
        while cursor < s.beam.len() && s.expanded_flag[cursor] {
            cursor += 1;
        }
        if cursor >= s.beam.len() {
            break;
        }
        s.expanded_flag[cursor] = true;
        let current = s.beam[cursor];
        s.expanded.push(current);
        let mut next = cursor + 1;
        for &nb in &adjacency[current.id as usize] {
            if s.visit(nb) {
                continue;
            }
            let d = rows.distance(dim, query, nb);
            s.evaluations += 1;
            if let Some(pos) = s.insert(Neighbor { id: nb, dist: d }, cap) {
                next = next.min(pos);
            }
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_on_a_path() {
        // Four points on a circle arc, chained 0-1-2-3; query next to 3.
        let v: Vec<f32> = (0..4)
            .flat_map(|i| {
                let t = i as f32 * 0.3;
                [t.cos(), t.sin()]
            })
            .collect();
        let g = Graph { entry: 0, neighbors: vec![vec![1], vec![0, 2], vec![1, 3], vec![2]] };
        let mut s = SearchScratch::new();
        let q = [0.9f32.cos(), 0.9f32.sin()];
        let r = greedy_search(&g, &v, 2, &q, 2, &mut s).unwrap();
        assert_eq!(r.iter().map(|x| x.id).collect::<Vec<_>>(), vec![3, 2]);
        // Reuse the scratch: same answer.
        let r2 = greedy_search(&g, &v, 2, &q, 2, &mut s).unwrap().to_vec();
        assert_eq!(r2.iter().map(|x| x.id).collect::<Vec<_>>(), vec![3, 2]);
    }

    #[test]
    fn rejects_bad_inputs_and_skips_bad_ids() {
        let g = Graph { entry: 0, neighbors: vec![vec![7, 1], vec![0]] };
        let v = [1.0f32, 0.0, 0.0, 1.0];
        let mut s = SearchScratch::new();
        assert!(greedy_search(&g, &v, 2, &[1.0], 4, &mut s).is_err());
        assert!(greedy_search(&g, &v[..3], 2, &[1.0, 0.0], 4, &mut s).is_err());
        assert!(greedy_search(&g, &v, 2, &[1.0, 0.0], 0, &mut s).is_err());
        let r = greedy_search(&g, &v, 2, &[0.0, 1.0], 4, &mut s).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, 1);
    }
}
