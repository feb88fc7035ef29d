//! Proximity graph: build (Vamana), prune (LEANN high-degree-preserving, with connectivity repair),
//! reorder for locality, and compress (two-sided gap lists in nibble varints, read through a
//! validating zero-copy view).
//!
//! Pipeline: [`build`] → [`locality_order`] + [`permute`] → [`encode`] → store the
//! [`EncodedGraph`] arrays → read them back with [`GraphView::new`]. Distances are `1 - dot` between
//! unit vectors. [`greedy_search`] is the exact-distance search used to build and to evaluate.
//!
//! Measured with `examples/graph_eval.rs` (paraphrase-MiniLM-L3 vectors, every BEIR query of each
//! corpus, recall@10 of an exact-distance beam search against brute force, bytes per node of the
//! reordered encoding, 2 threads):
//!
//! | (M, m)         | manpages, 2,353: r@128 | B/node | pydocs, 6,132: r@128 | B/node |
//! |----------------|------------------------|--------|----------------------|--------|
//! | (16, 8)        | 0.967                  | 9.4    | 0.956                | 10.9   |
//! | **(20, 9)**    | 0.975                  | 10.5   | 0.973                | 12.2   |
//! | (24, 10)       | 0.981                  | 11.5   | 0.980                | 13.4   |
//! | (32, 12)       | 0.982                  | 13.4   | 0.987                | 15.7   |
//! | native (8, 8)  | 0.969                  | 9.2    | 0.945                | 10.6   |
//! | native (10,10) | 0.980                  | 11.2   | 0.971                | 12.9   |
//!
//! What mattered, in order: cutting to m with RobustPrune at progressive levels 1 → α (a single
//! level-α round keeps about the m nearest and gave 0.926 on pydocs for (24, 10)); the encoding
//! (two-sided nibble varints: 1.7 bytes per node less than sorted LEB128 deltas); recursive graph
//! bisection (0.9 bytes per node less than the insertion order; BFS order was worse than insertion
//! order on both corpora). α of 1.1–1.3, L = 64 or 128, 0–10% hubs, and preferring hubs as
//! neighbours all moved along the same recall-per-byte curve or below it.

mod build;
mod csr;
mod prune;
mod reorder;
mod rows;
mod search;
mod types;

pub(crate) use build::build_rows;
pub use build::{build, build_unpruned};
pub use csr::{encode, DegreeStats, EncodedGraph, GraphView, BLOCK};
pub(crate) use prune::robust_prune_by;
pub use prune::{hubs, in_degrees, prune, reachable, repair_connectivity};
pub(crate) use reorder::permute_owned;
pub use reorder::{bfs_order, bisection_order, locality_order, permute};
pub(crate) use rows::{quantize_i8, Rows};
pub use search::{greedy_search, Neighbor, SearchScratch};
pub use types::{Graph, GraphParams, MAX_DEGREE};
