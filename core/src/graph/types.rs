//! The graph's plain types, apart from the algorithms that build, prune and search it: the
//! uncompressed [`Graph`], the construction knobs [`GraphParams`], and the input check they share.

use super::rows::Rows;
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

/// Checks `rows` (row-major, `dim` columns, finite) and returns the number of rows.
pub(crate) fn check_rows(rows: Rows, dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(Error::InvalidArgument("vector dimension must be at least 1".into()));
    }
    if !rows.values().is_multiple_of(dim) {
        return Err(Error::InvalidArgument(format!(
            "{} floats is not a whole number of {dim}-dimensional vectors",
            rows.values()
        )));
    }
    let n = rows.values() / dim;
    if n >= u32::MAX as usize {
        return Err(Error::InvalidArgument(format!("{n} vectors exceed the u32 id space")));
    }
    if !rows.all_finite() {
        return Err(Error::InvalidArgument("vectors contain NaN or infinity".into()));
    }
    Ok(n)
}
