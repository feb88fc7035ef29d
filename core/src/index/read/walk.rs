//! Best-first beam search over a snapshot's graph, scored by any similarity (code estimates for
//! searches and inserts). Nodes that fail `accept` (deleted, filtered out) are walked through but
//! never returned, so a filter narrows the results without cutting the graph.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::graph::Graph;
use crate::index::snapshot::NodeView;

/// A node and its similarity (larger is closer); ordered by similarity, ties to the lower id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored(pub f32, pub u32);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// Reusable per-walk memory: a generation-stamped visited set and the heaps.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    visited: Vec<u32>,
    stamp: u32,
    frontier: BinaryHeap<Scored>,
    best: BinaryHeap<Reverse<Scored>>,
    results: BinaryHeap<Reverse<Scored>>,
    neighbors: Vec<u32>,
}

impl Scratch {
    fn reset(&mut self, n: usize) {
        if self.visited.len() != n || self.stamp == u32::MAX {
            self.visited = vec![0; n];
            self.stamp = 0;
        }
        self.stamp += 1;
        self.frontier.clear();
        self.best.clear();
        self.results.clear();
    }

    /// Mark `i` visited; false if it already was (or is out of range).
    fn visit(&mut self, i: u32) -> bool {
        match self.visited.get_mut(i as usize) {
            Some(v) if *v != self.stamp => {
                *v = self.stamp;
                true
            }
            _ => false,
        }
    }
}

/// What a walk needs of a graph: its size and each node's out-neighbours. A snapshot's view (for
/// searches and inserts) and a graph being built (for calibrating its search defaults) have them.
pub(crate) trait Nodes {
    /// Number of nodes (ids are below it).
    fn count(&self) -> usize;
    /// The out-neighbours of `i` into `out` (cleared first).
    fn neighbors(&self, i: u32, out: &mut Vec<u32>);
    /// Hint that node `i` is about to be scored.
    fn prefetch(&self, _i: u32) {}
}

impl Nodes for NodeView<'_> {
    fn count(&self) -> usize {
        self.snap.len()
    }
    fn neighbors(&self, i: u32, out: &mut Vec<u32>) {
        NodeView::neighbors(self, i, out)
    }
    fn prefetch(&self, i: u32) {
        self.prefetch_code(i)
    }
}

impl Nodes for Graph {
    fn count(&self) -> usize {
        self.len()
    }
    fn neighbors(&self, i: u32, out: &mut Vec<u32>) {
        out.clear();
        if let Some(list) = self.neighbors.get(i as usize) {
            out.extend_from_slice(list);
        }
    }
}

/// What a walk found.
#[derive(Debug)]
pub(crate) struct Walk {
    /// Accepted nodes, best first, at most `keep`.
    pub found: Vec<Scored>,
    /// Nodes scored.
    pub scored: usize,
}

/// Extra starting points of a search walk on a graph of `n` nodes: none below [`SEED_FROM_NODES`],
/// else one node in every [`SEED_EVERY`], at most [`MAX_SEEDS`]. Node order follows the graph's
/// locality order, so evenly spaced ids spread over the whole collection and the beam starts near
/// the query instead of walking there from one entry. On 111k Debian-doc passages (stored, rerank
/// 50) 2,048 seeds lift recall@3 from 0.857 to 0.912 at beam 512; at 10k they add 0–1 point
/// (docs/BENCHMARKS.md), so small indexes keep the single entry.
pub(crate) fn seed_count(n: usize) -> usize {
    if n < SEED_FROM_NODES {
        0
    } else {
        (n / SEED_EVERY).min(MAX_SEEDS)
    }
}

/// See [`seed_count`].
pub(crate) const SEED_FROM_NODES: usize = 16_384;
const SEED_EVERY: usize = 64;
const MAX_SEEDS: usize = 4096;

/// Walk from `entry` (and `seeds` evenly spaced nodes) keeping a beam of `beam` nodes; return the
/// best `keep` nodes that `accept` (`None`: every node is accepted, and the beam itself is the
/// result).
#[allow(clippy::too_many_arguments)]
pub(crate) fn walk(
    view: &impl Nodes,
    entry: u32,
    seeds: usize,
    beam: usize,
    keep: usize,
    score: impl Fn(u32) -> f32,
    accept: Option<&dyn Fn(u32) -> bool>,
    s: &mut Scratch,
) -> Walk {
    s.reset(view.count());
    let beam = beam.max(1);
    let mut scored = 0;
    let mut offer = |s: &mut Scratch, i: u32| {
        let sc = Scored(score(i), i);
        scored += 1;
        if s.best.len() < beam || s.best.peek().is_some_and(|w| sc.0 > w.0 .0) {
            s.frontier.push(sc);
            s.best.push(Reverse(sc));
            if s.best.len() > beam {
                s.best.pop();
            }
        }
        let Some(accept) = accept else { return };
        if accept(i) && (s.results.len() < keep || s.results.peek().is_some_and(|w| sc > w.0)) {
            s.results.push(Reverse(sc));
            if s.results.len() > keep {
                s.results.pop();
            }
        }
    };
    let n = view.count();
    // u64: `j · n` overflows a 32-bit usize (armv7) past a million nodes.
    let spread = (0..seeds).map(|j| (j as u64 * n as u64 / seeds as u64) as u32);
    for e in std::iter::once(entry).chain(spread) {
        if s.visit(e) {
            offer(s, e);
        }
    }
    while let Some(cur) = s.frontier.pop() {
        if s.best.len() >= beam && s.best.peek().is_some_and(|w| cur.0 < w.0 .0) {
            break;
        }
        let mut nb = std::mem::take(&mut s.neighbors);
        view.neighbors(cur.1, &mut nb);
        // Mark and prefetch first, then score: the codes' cache misses overlap.
        nb.retain(|&j| s.visit(j));
        for &j in &nb {
            view.prefetch(j);
        }
        for &j in &nb {
            offer(s, j);
        }
        s.neighbors = nb;
    }
    let mut found: Vec<Scored> = match accept {
        Some(_) => s.results.drain().map(|r| r.0).collect(),
        None => s.best.drain().map(|r| r.0).collect(),
    };
    found.sort_by(|a, b| b.cmp(a));
    found.truncate(keep);
    Walk { found, scored }
}
