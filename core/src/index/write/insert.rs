//! Local graph updates without re-embedding anything: inserting a passage (neighbours found by a
//! walk on code estimates, RobustPrune on code positions, reverse edges re-pruned) and repairing
//! the lists around deleted passages before they are dropped (FreshDiskANN's rule: an in-neighbour
//! of a deleted node inherits that node's out-neighbours, then is pruned back to its bound).

use std::sync::Arc;

use rayon::prelude::*;

use crate::graph::{robust_prune_by, Neighbor};
use crate::index::read::walk::{walk, Scratch};
use crate::index::segment::meta::Meta;
use crate::index::snapshot::{NodeView, Snapshot};
use crate::quant::Decoded;
use crate::Result;

/// Degree bounds and search width for updates, from the parameters the index was built with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub degree: usize,
    pub max_degree: usize,
    pub beam: usize,
    pub alpha: f32,
}

impl Limits {
    pub fn of(meta: &Meta) -> Limits {
        let degree = meta.graph_degree.max(2);
        let max_degree = meta.graph_max_degree.max(degree);
        Limits { degree, max_degree, beam: (4 * max_degree).max(64), alpha: 1.2 }
    }

    /// How long `i`'s list may be: its current length (hubs keep theirs), at least `degree`.
    fn bound(&self, current: usize) -> usize {
        current.clamp(self.degree, self.max_degree)
    }
}

/// Link the already registered node `new` (an added passage with an empty list) into the graph.
pub(crate) fn insert(snap: &mut Snapshot, new: u32, limits: Limits, scratch: &mut Scratch) -> Result<()> {
    let Some(entry) = snap.entry.filter(|&e| e != new) else {
        snap.entry = Some(new);
        return Ok(());
    };
    let Some(added) = snap.added(new).cloned() else { return Ok(()) };
    let quantizer = &snap.base.quantizer;
    let lut = quantizer.prepare(&added.vector)?;
    let (chosen, reverse) = {
        let view = snap.view();
        let found = walk(
            &view,
            entry,
            0,
            limits.beam,
            limits.beam,
            |i| quantizer.estimate(&lut, view.code(i)),
            Some(&|i| i != new && !snap.is_deleted(i)),
            scratch,
        )
        .found;
        let mut positions: Vec<(u32, Decoded)> = found.iter().map(|c| (c.1, view.position(c.1))).collect();
        positions.push((new, added.position.clone()));
        let pos = |i: u32| positions.iter().find(|p| p.0 == i).map(|p| &p.1);
        let dist = |a: u32, b: u32| match (pos(a), pos(b)) {
            (Some(x), Some(y)) => 1.0 - quantizer.similarity(x, y),
            _ => f32::INFINITY,
        };
        let mut cands: Vec<Neighbor> = positions
            .iter()
            .filter(|p| p.0 != new)
            .map(|(c, p)| Neighbor { id: *c, dist: 1.0 - quantizer.similarity(&added.position, p) })
            .collect();
        let mut chosen = Vec::new();
        robust_prune_by(new, &mut cands, dist, limits.alpha, limits.degree, &mut chosen);
        let reverse: Vec<(u32, Vec<u32>)> =
            chosen.iter().map(|&j| (j, with_reverse_edge(&view, j, new, &added.position, limits))).collect();
        (chosen, reverse)
    };
    snap.adj.set(new as usize, Some(Arc::from(chosen)));
    for (j, list) in reverse {
        snap.adj.set(j as usize, Some(Arc::from(list)));
    }
    Ok(())
}

/// `j`'s list with an edge to `new` added, re-pruned if it outgrows its bound.
fn with_reverse_edge(view: &NodeView, j: u32, new: u32, new_pos: &Decoded, limits: Limits) -> Vec<u32> {
    let mut list = Vec::new();
    view.neighbors(j, &mut list);
    let bound = limits.bound(list.len());
    if list.contains(&new) {
        return list;
    }
    list.push(new);
    if list.len() <= bound {
        return list;
    }
    let quantizer = &view.snap.base.quantizer;
    let mut positions: Vec<(u32, Decoded)> =
        list.iter().filter(|&&c| c != new).map(|&c| (c, view.position(c))).collect();
    positions.push((new, new_pos.clone()));
    prune_list(view, j, &positions, bound, limits.alpha, quantizer)
}

/// RobustPrune `u`'s candidates (with their positions) down to `bound`.
fn prune_list(
    view: &NodeView,
    u: u32,
    positions: &[(u32, Decoded)],
    bound: usize,
    alpha: f32,
    quantizer: &crate::quant::Quantizer,
) -> Vec<u32> {
    let pu = view.position(u);
    let pos = |i: u32| positions.iter().find(|p| p.0 == i).map(|p| &p.1);
    let dist = |a: u32, b: u32| match (pos(a), pos(b)) {
        (Some(x), Some(y)) => 1.0 - quantizer.similarity(x, y),
        _ => f32::INFINITY,
    };
    let mut cands: Vec<Neighbor> = positions
        .iter()
        .map(|(c, p)| Neighbor { id: *c, dist: 1.0 - quantizer.similarity(&pu, p) })
        .collect();
    let mut out = Vec::new();
    robust_prune_by(u, &mut cands, dist, alpha, bound, &mut out);
    out
}

/// New neighbour lists for every node (old numbering) with deleted nodes cut out: each live node
/// that pointed at a deleted one inherits its live out-neighbours (through up to two deleted hops)
/// and is re-pruned. Deleted nodes get empty lists.
pub(crate) fn repair_deleted(snap: &Snapshot, limits: Limits) -> Vec<Vec<u32>> {
    let view = snap.view();
    let quantizer = &snap.base.quantizer;
    let one = |u: u32| -> Vec<u32> {
        if snap.is_deleted(u) {
            return Vec::new();
        }
        let mut list = Vec::new();
        view.neighbors(u, &mut list);
        if !list.iter().any(|&v| snap.is_deleted(v)) {
            return list;
        }
        let bound = limits.bound(list.len());
        let mut cands: Vec<u32> = Vec::new();
        let mut hop = Vec::new();
        let mut frontier: Vec<u32> = list.clone();
        for _ in 0..2 {
            let mut next = Vec::new();
            for &v in &frontier {
                if v == u {
                    continue;
                }
                if snap.is_deleted(v) {
                    view.neighbors(v, &mut hop);
                    next.extend_from_slice(&hop);
                } else {
                    cands.push(v);
                }
            }
            frontier = next;
        }
        cands.sort_unstable();
        cands.dedup();
        cands.retain(|&c| c != u && !snap.is_deleted(c));
        if cands.len() <= bound {
            return cands;
        }
        let positions: Vec<(u32, Decoded)> = cands.iter().map(|&c| (c, view.position(c))).collect();
        prune_list(&view, u, &positions, bound, limits.alpha, quantizer)
    };
    // Work items of 256 nodes, each metering its own thread's CPU time (a clock read costs a
    // system call: per node it would add a noticeable share).
    let helpers = crate::cpu::Helpers::new();
    let parts: Vec<Vec<Vec<u32>>> = (0..snap.len() as u32)
        .into_par_iter()
        .chunks(256)
        .map(|ids| helpers.item(|| ids.into_iter().map(one).collect()))
        .collect();
    parts.into_iter().flatten().collect()
}

/// Make every live node reachable from `entry` in `lists`: each unreachable node gets an edge from
/// the nearest reachable node (by code position) that a walk finds. Returns the edges added.
pub(crate) fn reconnect(snap: &Snapshot, lists: &mut [Vec<u32>], entry: u32) -> usize {
    let n = lists.len();
    let live = |i: usize| !snap.is_deleted(i as u32);
    let mut seen = vec![false; n];
    mark(lists, entry, &mut seen);
    let view = snap.view();
    let quantizer = &snap.base.quantizer;
    let mut added = 0;
    for u in 0..n {
        if seen[u] || !live(u) {
            continue;
        }
        let pu = view.position(u as u32);
        // Nearest reachable node, by a scan of positions: rare (only nodes cut off by deletions).
        let from = (0..n)
            .filter(|&r| seen[r] && live(r))
            .map(|r| (quantizer.similarity(&pu, &view.position(r as u32)), r))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(entry as usize, |(_, r)| r);
        if let Some(l) = lists.get_mut(from) {
            l.push(u as u32);
        }
        added += 1;
        mark(lists, u as u32, &mut seen);
    }
    added
}

fn mark(lists: &[Vec<u32>], start: u32, seen: &mut [bool]) {
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        match seen.get_mut(i as usize) {
            Some(s) if !*s => *s = true,
            _ => continue,
        }
        stack.extend(lists.get(i as usize).into_iter().flatten().copied());
    }
}

/// The live node to enter from after compaction: the old entry if live, else its nearest live
/// node by a breadth-first search.
pub(crate) fn live_entry(snap: &Snapshot, lists: &[Vec<u32>], old: u32) -> Option<u32> {
    let view = snap.view();
    let mut queue = std::collections::VecDeque::from([old]);
    let mut seen = vec![false; lists.len()];
    let mut nb = Vec::new();
    while let Some(i) = queue.pop_front() {
        match seen.get_mut(i as usize) {
            Some(s) if !*s => *s = true,
            _ => continue,
        }
        if !snap.is_deleted(i) {
            return Some(i);
        }
        view.neighbors(i, &mut nb);
        queue.extend(nb.iter().copied());
    }
    (0..lists.len() as u32).find(|&i| !snap.is_deleted(i))
}
