//! RobustPrune (the α rule of DiskANN) and LEANN's high-degree-preserving pruning, followed by a
//! connectivity repair that makes every node reachable from the entry.
//!
//! Pruning: the `hub_fraction` nodes with the highest in-degree in the M-graph (ties: lower id) keep
//! their lists of up to M; every other list longer than m is re-pruned to m with [`robust_prune`]
//! (occlusion level 1 first, then up to α), so the kept edges are the nearest *non-occluded* ones
//! (an RNG-style rule), not merely the m nearest. On the pydocs corpus, recall@10 at beam 128 with
//! (M, m) = (16, 8) is 0.953 at 12.7 bytes per node (LEB128 encoding), where a single level-α round
//! gave 0.926 for (24, 10) at 14.6 bytes.
//!
//! Repair: a breadth-first search from the entry finds the unreachable nodes; each, in id order, gets
//! one in-edge from the nearest reachable node that a greedy search from the entry finds, and
//! everything now reachable through it is marked. The node that receives the extra out-edge is the
//! nearest one found whose list is not yet above its bound, so **a node's degree may exceed its bound
//! (m, or M for hubs) by at most one**; no edge is removed (removing one could disconnect other
//! nodes, and checking that is a global question).

use rayon::prelude::*;

use super::rows::Rows;
use super::search::{search_from, Neighbor, SearchScratch};
use super::types::{check_rows, Graph, GraphParams};
use crate::{Error, Result};

/// RobustPrune as DiskANN implements it: from `cands` (distances to `p` already set; duplicates and
/// `p` itself allowed and dropped), nearest first, keep each candidate `c` that no nearer kept `k`
/// occludes, where `k` occludes `c` at level `a` when `a · d(k, c) <= d(p, c)`. The level starts at
/// 1 (the relative-neighbourhood-graph rule, which keeps the edges that lead somewhere new) and,
/// while fewer than `bound` are kept, grows by ×1.2 up to `alpha`, each round adding candidates that
/// are no longer occluded. At most `bound` ids go to `out` (cleared first).
///
/// Measured (see [`crate::graph`]): cutting an M-list to m with one round at `alpha` = 1.2 keeps about
/// its m nearest and cost 0.04–0.05 recall@10 at beam 128; one round at 1.0 left degree 3–5 on the
/// manpages corpus; the progressive rule gives degree ≈ `bound` and the best recall per byte on both
/// corpora.
pub(crate) fn robust_prune(
    p: u32,
    cands: &mut Vec<Neighbor>,
    rows: Rows,
    dim: usize,
    alpha: f32,
    bound: usize,
    out: &mut Vec<u32>,
) {
    robust_prune_by(p, cands, rows.pair_distance(dim), alpha, bound, out);
}

/// [`robust_prune`] with distances between candidates from `dist` (for graphs whose nodes have no
/// stored vectors: the living index compares code positions).
pub(crate) fn robust_prune_by(
    p: u32,
    cands: &mut Vec<Neighbor>,
    dist: impl Fn(u32, u32) -> f32,
    alpha: f32,
    bound: usize,
    out: &mut Vec<u32>,
) {
    cands.sort_unstable_by(|a, b| a.cmp_key(b));
    cands.dedup_by_key(|c| c.id);
    cands.retain(|c| c.id != p);
    out.clear();
    // occlusion[t]: the largest d(p, t) / d(k, t) over kept k nearer than t (infinite if some kept k
    // coincides with t); t is occluded at level a when occlusion[t] >= a.
    let mut occlusion = vec![0f32; cands.len()];
    let mut kept = vec![false; cands.len()];
    let mut level = 1.0f32.min(alpha);
    loop {
        for idx in 0..cands.len() {
            if out.len() >= bound {
                return;
            }
            if kept[idx] || occlusion[idx] >= level {
                continue;
            }
            kept[idx] = true;
            out.push(cands[idx].id);
            let k = cands[idx].id;
            for t in idx + 1..cands.len() {
                if !kept[t] {
                    let dkt = dist(k, cands[t].id);
                    let ratio = if dkt > 0.0 { cands[t].dist / dkt } else { f32::INFINITY };
                    occlusion[t] = occlusion[t].max(ratio);
                }
            }
        }
        if level >= alpha {
            return;
        }
        level = (level * 1.2).min(alpha);
    }
}

/// In-degree of every node (out-of-range ids ignored).
pub fn in_degrees(g: &Graph) -> Vec<u32> {
    let mut deg = vec![0u32; g.len()];
    for l in &g.neighbors {
        for &j in l {
            if let Some(d) = deg.get_mut(j as usize) {
                *d += 1;
            }
        }
    }
    deg
}

/// The hub mask: the `ceil(fraction * n)` nodes of highest in-degree (ties: lower id first).
pub fn hubs(g: &Graph, fraction: f32) -> Vec<bool> {
    let n = g.len();
    let count = ((f64::from(fraction) * n as f64).ceil() as usize).min(n);
    let deg = in_degrees(g);
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.sort_by(|&a, &b| deg[b as usize].cmp(&deg[a as usize]).then(a.cmp(&b)));
    let mut mask = vec![false; n];
    for &i in ids.iter().take(count) {
        mask[i as usize] = true;
    }
    mask
}

/// Which nodes a breadth-first search from the entry reaches (out-of-range ids ignored).
pub fn reachable(g: &Graph) -> Vec<bool> {
    let mut seen = vec![false; g.len()];
    if let Some(s) = seen.get_mut(g.entry as usize) {
        *s = true;
        mark_from(g, g.entry, &mut seen);
    }
    seen
}

/// Marks everything reachable from `start` (which must already be marked) without crossing marked
/// nodes.
fn mark_from(g: &Graph, start: u32, seen: &mut [bool]) {
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(i) = queue.pop_front() {
        for &j in g.neighbors.get(i as usize).map(Vec::as_slice).unwrap_or_default() {
            if let Some(s) = seen.get_mut(j as usize) {
                if !*s {
                    *s = true;
                    queue.push_back(j);
                }
            }
        }
    }
}

/// LEANN's high-degree-preserving pruning of a graph built with degree bound `params.max_degree`:
/// hubs keep their lists, others are cut to `params.degree` with RobustPrune (α = `params.alpha`),
/// then [`repair_connectivity`] runs. A list already within its bound is kept as is, so
/// `degree == max_degree` only repairs.
pub fn prune(g: &Graph, vectors: &[f32], dim: usize, params: &GraphParams) -> Result<Graph> {
    prune_rows(g.clone(), Rows::F32(vectors), dim, params)
}

/// [`prune`] over f32 or i8 rows, taking the graph and cutting each list in place: the unpruned
/// lists and the pruned ones never coexist (about 0.1 GB of a million-node build's peak).
pub(crate) fn prune_rows(mut g: Graph, rows: Rows, dim: usize, params: &GraphParams) -> Result<Graph> {
    params.validate()?;
    let n = check_rows(rows, dim)?;
    check_graph(&g, n)?;
    let hub = hubs(&g, params.hub_fraction);
    let m = params.degree;
    g.neighbors.par_iter_mut().enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(cands, buf), (i, list)| {
            if hub[i] || list.len() <= m {
                return;
            }
            let v = rows.row(dim, i as u32, buf);
            cands.clear();
            cands.extend(list.iter().map(|&o| Neighbor { id: o, dist: rows.distance(dim, v, o) }));
            let mut out = Vec::with_capacity(m);
            robust_prune(i as u32, cands, rows, dim, params.alpha, m, &mut out);
            *list = out;
        },
    );
    let bounds: Vec<usize> = hub.iter().map(|&h| if h { params.max_degree } else { m }).collect();
    repair_rows(&mut g, rows, dim, &bounds, params.build_beam)?;
    Ok(g)
}

/// Every id in range and the entry too (unless the graph is empty).
fn check_graph(g: &Graph, n: usize) -> Result<()> {
    if g.len() != n {
        return Err(Error::InvalidArgument(format!("graph has {} nodes, vectors {n}", g.len())));
    }
    if n > 0 && g.entry as usize >= n {
        return Err(Error::InvalidArgument(format!("entry {} out of range (n = {n})", g.entry)));
    }
    if g.neighbors.iter().flatten().any(|&j| j as usize >= n) {
        return Err(Error::InvalidArgument("neighbour id out of range".into()));
    }
    Ok(())
}

/// Makes every node reachable from the entry by adding, for each unreachable node (in id order), one
/// in-edge from the nearest reachable node found by a greedy search of beam `beam` from the entry
/// whose degree does not yet exceed `bounds[node]`. Each node's degree thus ends at most
/// `bounds[node] + 1` if it started within its bound (if no reachable node has room, which requires
/// lists that already exceed their bounds, the entry takes the edge). Returns the number of edges
/// added.
pub fn repair_connectivity(
    g: &mut Graph,
    vectors: &[f32],
    dim: usize,
    bounds: &[usize],
    beam: usize,
) -> Result<usize> {
    repair_rows(g, Rows::F32(vectors), dim, bounds, beam)
}

/// [`repair_connectivity`] over f32 or i8 rows.
fn repair_rows(g: &mut Graph, rows: Rows, dim: usize, bounds: &[usize], beam: usize) -> Result<usize> {
    let n = check_rows(rows, dim)?;
    check_graph(g, n)?;
    if bounds.len() != n {
        return Err(Error::InvalidArgument(format!("{} bounds for {n} nodes", bounds.len())));
    }
    let mut seen = reachable(g);
    let mut scratch = SearchScratch::new();
    let mut buf = Vec::new();
    let mut added = 0;
    for u in 0..n {
        if seen[u] {
            continue;
        }
        let q = rows.row(dim, u as u32, &mut buf);
        search_from(&g.neighbors, rows, dim, q, g.entry, beam.max(1), &mut scratch);
        let has_room = |r: u32| g.neighbors[r as usize].len() <= bounds[r as usize];
        // The search walks reachable nodes only. If every node it expanded is full, scan all reachable
        // nodes: one with room always exists, since each repair fills at most one node and makes at
        // least one more (untouched, hence within its bound) reachable.
        let nearest = |it: &mut dyn Iterator<Item = Neighbor>| it.min_by(|a, b| a.cmp_key(b)).map(|c| c.id);
        let from = nearest(&mut scratch.expanded().iter().copied().filter(|c| has_room(c.id)))
            .or_else(|| {
                nearest(
                    &mut (0..n as u32)
                        .filter(|&r| seen[r as usize] && has_room(r))
                        .map(|r| Neighbor { id: r, dist: rows.distance(dim, q, r) }),
                )
            })
            // Unreachable by the argument above; reachability matters more than the bound.
            .unwrap_or(g.entry);
        g.neighbors[from as usize].push(u as u32);
        added += 1;
        seen[u] = true;
        mark_from(g, u as u32, &mut seen);
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::build::{build, build_unpruned};
    use crate::rng::SplitMix64;

    fn unit(x: &[f32]) -> Vec<f32> {
        let n = x.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
        x.iter().map(|a| a / n).collect()
    }

    fn params(seed: u64) -> GraphParams {
        GraphParams { max_degree: 8, degree: 3, hub_fraction: 0.05, build_beam: 16, alpha: 1.2, seed }
    }

    fn check_all_reachable(v: &[f32], dim: usize, p: &GraphParams) {
        let full = build_unpruned(v, dim, p).unwrap();
        let hub = hubs(&full, p.hub_fraction);
        let g = prune(&full, v, dim, p).unwrap();
        assert_eq!(g, build(v, dim, p).unwrap());
        assert!(reachable(&g).iter().all(|&r| r), "unreachable nodes, n = {}", g.len());
        for (i, l) in g.neighbors.iter().enumerate() {
            assert!(!l.contains(&(i as u32)));
            let bound = if hub[i] { p.max_degree } else { p.degree };
            assert!(l.len() <= bound + 1, "node {i} degree {} bound {bound}", l.len());
        }
    }

    #[test]
    fn duplicates_are_all_reachable() {
        for n in 2..50 {
            let v: Vec<f32> = (0..n).flat_map(|_| unit(&[1.0, 2.0, 3.0])).collect();
            check_all_reachable(&v, 3, &params(n as u64));
            // Half duplicates of one point, half of another.
            let v: Vec<f32> = (0..n)
                .flat_map(|i| if i % 2 == 0 { unit(&[1.0, 0.0, 0.0]) } else { unit(&[0.0, 1.0, 0.0]) })
                .collect();
            check_all_reachable(&v, 3, &params(n as u64));
        }
    }

    #[test]
    fn far_clusters_are_all_reachable() {
        let dim = 8;
        for n in 2..50 {
            let mut rng = SplitMix64::new(n as u64);
            let v: Vec<f32> = (0..n)
                .flat_map(|i| {
                    let c = i % 4; // four clusters along orthogonal axes, tiny spread
                    let x: Vec<f32> = (0..dim)
                        .map(|d| if d == c { 1.0 } else { 0.0 } + 0.01 * rng.normal() as f32)
                        .collect();
                    unit(&x)
                })
                .collect();
            check_all_reachable(&v, dim, &params(n as u64));
            check_all_reachable(&v, dim, &GraphParams { degree: 1, max_degree: 1, ..params(1) });
        }
    }

    #[test]
    fn random_small_graphs_are_all_reachable() {
        for n in 2..50 {
            let v = crate::graph::build::tests::random_unit(n, 4, n as u64);
            check_all_reachable(&v, 4, &params(n as u64));
            check_all_reachable(&v, 4, &GraphParams { degree: 1, hub_fraction: 0.0, ..params(3) });
        }
    }

    #[test]
    fn repair_links_a_disconnected_graph() {
        let v: Vec<f32> = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]].concat();
        let mut g = Graph { entry: 0, neighbors: vec![vec![], vec![2], vec![1], vec![]] };
        let added = repair_connectivity(&mut g, &v, 2, &[1, 1, 1, 1], 4).unwrap();
        assert!(reachable(&g).iter().all(|&r| r));
        assert_eq!(added, 2); // node 1 (brings 2), then node 3
        assert!(g.neighbors.iter().all(|l| l.len() <= 2));
        assert!(repair_connectivity(&mut g, &v, 2, &[1, 1], 4).is_err());
    }

    #[test]
    fn robust_prune_occludes() {
        // p at angle 0; a at 0.1, b at 0.2 (occluded by a), c at -0.3 (other side: kept).
        let ang = [0.0f32, 0.1, 0.2, -0.3];
        let v: Vec<f32> = ang.iter().flat_map(|t| [t.cos(), t.sin()]).collect();
        let mut cands: Vec<Neighbor> =
            (1..4).map(|i| Neighbor { id: i, dist: Rows::F32(&v).distance(2, &v[0..2], i) }).collect();
        cands.push(Neighbor { id: 0, dist: 0.0 });
        cands.push(cands[0]);
        let mut out = Vec::new();
        robust_prune(0, &mut cands, Rows::F32(&v), 2, 1.2, 8, &mut out);
        assert_eq!(out, vec![1, 3]);
        robust_prune(0, &mut cands, Rows::F32(&v), 2, 1.2, 1, &mut out);
        assert_eq!(out, vec![1]);
    }
}
