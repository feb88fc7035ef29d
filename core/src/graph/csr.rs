//! Compressed adjacency: two-sided gap lists in nibble varints, a one-byte length per node and a u32
//! offset per block of 32 nodes, read zero-copy (e.g. from an mmap) through a validating view.
//!
//! Node `i`'s list (no self-loop, no repeats) is split into the `b` neighbours below `i` and those
//! above. It is written as the values `b`, then the gaps walking *down* from `i` (`i - x1 - 1`,
//! `x1 - x2 - 1`, ... for `i > x1 > x2 ...`), then the gaps walking *up* from `i` (`y1 - i - 1`,
//! `y2 - y1 - 1`, ... for `i < y1 < y2 ...`). An empty list is zero bytes. After a locality
//! renumbering ([`locality_order`](super::locality_order)) a node sits among its neighbours, so every value is small; there
//! is no large "first id" to pay for.
//!
//! Each value is a *nibble varint*: 4-bit groups, low bits first, each holding 3 value bits plus a
//! continuation bit (`0x8`); at most 11 nibbles (33 bits), and a value must fit in a u32. Nibbles fill
//! a byte low half first. A list of an odd number of nibbles is padded with the nibble `0x8`, which
//! cannot be mistaken for data (a varint cannot start in a list's last nibble and continue). Gaps of
//! graph ids are spread roughly log-uniformly, and nibbles spend about 1.3 bits per edge less on them
//! than LEB128 bytes (measured: 1.7 bytes per node less on the pydocs graph).
//!
//! `lengths[i]` is node `i`'s byte count, so a list holds at most 255 bytes: 45 neighbours always fit
//! (46 values × 11 nibbles + pad ≤ 510 nibbles); [`MAX_DEGREE`](super::MAX_DEGREE) keeps built graphs
//! within it, and [`encode`] rejects anything larger. `block_offsets[b]` is the byte offset of node
//! `32 b`: finding node `i` sums at most 31 lengths. Cost per node: 1 + 4/32 bytes of index plus the
//! list.

use super::types::Graph;
use crate::{Error, Result};

/// Nodes per block: one u32 offset is stored per block.
pub const BLOCK: usize = 32;

/// Decode failures of untrusted bytes: the arrays come from a file, so a bad one is corruption.
fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(format!("graph: {}", msg.into()))
}

/// A graph in compressed form, owning its bytes (see the module docs for the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedGraph {
    /// The entry node.
    pub entry: u32,
    /// Number of nodes.
    pub n: u32,
    /// Byte offset into `edges` of the first node of each block of [`BLOCK`] nodes.
    pub block_offsets: Vec<u32>,
    /// Encoded byte length of each node's list.
    pub lengths: Vec<u8>,
    /// All lists, concatenated in node order.
    pub edges: Vec<u8>,
}

impl EncodedGraph {
    /// A validated view of these bytes.
    pub fn view(&self) -> Result<GraphView<'_>> {
        GraphView::new(self.n, self.entry, &self.block_offsets, &self.lengths, &self.edges)
    }

    /// Total encoded size in bytes (the three arrays; `entry` and `n` not counted).
    pub fn bytes(&self) -> usize {
        self.block_offsets.len() * 4 + self.lengths.len() + self.edges.len()
    }
}

/// Writes nibbles, low half of each byte first.
struct NibbleWriter<'a> {
    out: &'a mut Vec<u8>,
    half: bool,
}

impl NibbleWriter<'_> {
    fn push(&mut self, nibble: u8) {
        if self.half {
            if let Some(last) = self.out.last_mut() {
                *last |= nibble << 4;
            }
        } else {
            self.out.push(nibble);
        }
        self.half = !self.half;
    }

    fn varint(&mut self, mut x: u32) {
        loop {
            let data = (x & 7) as u8;
            x >>= 3;
            if x == 0 {
                self.push(data);
                return;
            }
            self.push(data | 8);
        }
    }

    /// Pads to a whole byte with the nibble `0x8`.
    fn finish(mut self) {
        if self.half {
            self.push(8);
        }
    }
}

/// Reads nibbles of one list, never past its end.
struct NibbleReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl NibbleReader<'_> {
    #[inline]
    fn nibble(&self, at: usize) -> Option<u8> {
        let b = *self.bytes.get(at / 2)?;
        Some(if at.is_multiple_of(2) { b & 15 } else { b >> 4 })
    }

    /// Whether only padding (or nothing) is left.
    #[inline]
    fn at_end(&self) -> bool {
        let end = self.bytes.len() * 2;
        self.pos >= end || (self.pos + 1 == end && self.nibble(self.pos) == Some(8))
    }

    /// One varint of at most 11 nibbles whose value fits a u32.
    #[inline]
    fn varint(&mut self) -> Option<u32> {
        let mut x = 0u64;
        for k in 0..11 {
            let nib = self.nibble(self.pos)?;
            self.pos += 1;
            x |= u64::from(nib & 7) << (3 * k);
            if nib & 8 == 0 {
                return u32::try_from(x).ok();
            }
        }
        None
    }
}

/// Compresses `g`. Lists are sorted (the order within a list is not kept). Fails if an id is out of
/// range, a list repeats an id, the entry is out of range, or a list needs more than 255 bytes.
pub fn encode(g: &Graph) -> Result<EncodedGraph> {
    let n = g.len();
    if n >= u32::MAX as usize {
        return Err(Error::InvalidArgument(format!("{n} nodes exceed the u32 id space")));
    }
    if n > 0 && g.entry as usize >= n {
        return Err(Error::InvalidArgument(format!("entry {} out of range (n = {n})", g.entry)));
    }
    let mut block_offsets = Vec::with_capacity(n.div_ceil(BLOCK));
    let mut lengths = Vec::with_capacity(n);
    let mut edges = Vec::new();
    let mut sorted = Vec::new();
    for (i, list) in g.neighbors.iter().enumerate() {
        if i % BLOCK == 0 {
            block_offsets.push(
                u32::try_from(edges.len())
                    .map_err(|_| Error::InvalidArgument("encoded graph exceeds 4 GiB".into()))?,
            );
        }
        sorted.clear();
        sorted.extend_from_slice(list);
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::InvalidArgument(format!("node {i} lists a neighbour twice")));
        }
        if sorted.last().is_some_and(|&j| j as usize >= n) {
            return Err(Error::InvalidArgument(format!("node {i} has a neighbour out of range")));
        }
        if sorted.binary_search(&(i as u32)).is_ok() {
            return Err(Error::InvalidArgument(format!("node {i} lists itself")));
        }
        let start = edges.len();
        if !sorted.is_empty() {
            let below = sorted.partition_point(|&j| (j as usize) < i);
            let mut w = NibbleWriter { out: &mut edges, half: false };
            w.varint(below as u32);
            let mut prev = i as u32;
            for &j in sorted[..below].iter().rev() {
                w.varint(prev - j - 1);
                prev = j;
            }
            let mut prev = i as u32;
            for &j in &sorted[below..] {
                w.varint(j - prev - 1);
                prev = j;
            }
            w.finish();
        }
        let len = u8::try_from(edges.len() - start).map_err(|_| {
            Error::InvalidArgument(format!("node {i}: {} neighbours need more than 255 bytes", sorted.len()))
        })?;
        lengths.push(len);
    }
    if u32::try_from(edges.len()).is_err() {
        return Err(Error::InvalidArgument("encoded graph exceeds 4 GiB".into()));
    }
    Ok(EncodedGraph { entry: if n == 0 { 0 } else { g.entry }, n: n as u32, block_offsets, lengths, edges })
}

/// Summary of the degrees of a graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DegreeStats {
    /// Smallest out-degree (0 for an empty graph).
    pub min: u32,
    /// Largest out-degree.
    pub max: u32,
    /// Mean out-degree (0 for an empty graph).
    pub mean: f64,
    /// Total number of edges.
    pub edges: u64,
}

/// The degree of a validated list: its number of values (final nibbles, i.e. without the
/// continuation bit; the pad nibble has it) minus the leading count.
fn list_degree(list: &[u8]) -> u32 {
    let ends: u32 = list.iter().map(|&b| u32::from(b & 0x08 == 0) + u32::from(b & 0x80 == 0)).sum();
    ends.saturating_sub(1)
}

/// A zero-copy, validated view of an encoded graph. All checks happen in [`GraphView::new`]; after
/// that, reads cannot fail or go out of bounds.
#[derive(Debug, Clone, Copy)]
pub struct GraphView<'a> {
    n: u32,
    entry: u32,
    block_offsets: &'a [u32],
    lengths: &'a [u8],
    edges: &'a [u8],
}

impl<'a> GraphView<'a> {
    /// Checks untrusted parts: `lengths.len() == n`, one offset per block, offsets equal to the running
    /// sums of the lengths with the last block ending exactly at `edges.len()`, `entry < n` (or 0 when
    /// `n == 0`), and, decoding every list, that each varint ends inside its node's bytes, the last
    /// ends exactly at the list's end, and every id is `< n`.
    pub fn new(
        n: u32,
        entry: u32,
        block_offsets: &'a [u32],
        lengths: &'a [u8],
        edges: &'a [u8],
    ) -> Result<Self> {
        let nu = n as usize;
        if n == u32::MAX {
            return Err(corrupt("node count out of range"));
        }
        if lengths.len() != nu {
            return Err(corrupt(format!("{} lengths for {n} nodes", lengths.len())));
        }
        if block_offsets.len() != nu.div_ceil(BLOCK) {
            return Err(corrupt(format!("{} block offsets for {n} nodes", block_offsets.len())));
        }
        if (n == 0 && entry != 0) || (n > 0 && entry >= n) {
            return Err(corrupt(format!("entry {entry} out of range (n = {n})")));
        }
        // u64: 255 bytes times 2^32 nodes overflows a 32-bit usize.
        let mut total = 0u64;
        for (b, (&off, lens)) in block_offsets.iter().zip(lengths.chunks(BLOCK)).enumerate() {
            if u64::from(off) != total {
                return Err(corrupt(format!("block {b} offset {off}, expected {total}")));
            }
            total += lens.iter().map(|&l| u64::from(l)).sum::<u64>();
        }
        if total != edges.len() as u64 {
            return Err(corrupt(format!("lists need {total} bytes, {} present", edges.len())));
        }
        let view = GraphView { n, entry, block_offsets, lengths, edges };
        let mut pos = 0usize;
        for (i, &len) in lengths.iter().enumerate() {
            let end = pos + usize::from(len);
            let list = edges.get(pos..end).ok_or_else(|| corrupt("list past the end"))?;
            decode_list(list, i as u32, n, |_| ()).ok_or_else(|| corrupt(format!("node {i}: bad list")))?;
            pos = end;
        }
        Ok(view)
    }

    /// Re-wrap arrays that [`GraphView::new`] already validated (e.g. at index open), skipping the
    /// full pass. Reads stay bounds-checked, so wrong arrays give wrong lists, never a fault.
    pub fn prevalidated(
        n: u32,
        entry: u32,
        block_offsets: &'a [u32],
        lengths: &'a [u8],
        edges: &'a [u8],
    ) -> Self {
        GraphView { n, entry, block_offsets, lengths, edges }
    }

    /// Number of nodes.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The entry node.
    pub fn entry(&self) -> u32 {
        self.entry
    }

    /// Total encoded size in bytes (the three arrays).
    pub fn bytes(&self) -> usize {
        self.block_offsets.len() * 4 + self.lengths.len() + self.edges.len()
    }

    /// The encoded bytes of node `i` (empty if `i >= n`).
    #[inline]
    fn list(&self, i: u32) -> &'a [u8] {
        let i = i as usize;
        let b = i / BLOCK;
        let Some(&off) = self.block_offsets.get(b) else { return &[] };
        let first = b * BLOCK;
        let before: usize =
            self.lengths.get(first..i).unwrap_or_default().iter().map(|&l| usize::from(l)).sum();
        let start = (off as usize).saturating_add(before);
        let len = self.lengths.get(i).map_or(0, |&l| usize::from(l));
        self.edges.get(start..start.saturating_add(len)).unwrap_or_default()
    }

    /// Replaces `out` with the neighbours of node `i`, ascending (left empty if `i >= n`).
    #[inline]
    pub fn neighbors(&self, i: u32, out: &mut Vec<u32>) {
        out.clear();
        if i >= self.n {
            return;
        }
        // Validated in `new`, so this cannot fail (a failure would just leave a partial list).
        let below = decode_list(self.list(i), i, self.n, |j| out.push(j)).unwrap_or(0);
        if let Some(head) = out.get_mut(..below) {
            head.reverse();
        }
    }

    /// Out-degree of node `i` (0 if `i >= n`).
    pub fn degree(&self, i: u32) -> u32 {
        list_degree(self.list(i))
    }

    /// Min / max / mean out-degree and the edge count.
    pub fn degree_stats(&self) -> DegreeStats {
        let mut s = DegreeStats { min: u32::MAX, max: 0, mean: 0.0, edges: 0 };
        let mut pos = 0usize;
        for &len in self.lengths {
            let end = pos.saturating_add(usize::from(len));
            let d = list_degree(self.edges.get(pos..end).unwrap_or_default());
            s.min = s.min.min(d);
            s.max = s.max.max(d);
            s.edges += u64::from(d);
            pos = end;
        }
        if self.n == 0 {
            s.min = 0;
        } else {
            s.mean = s.edges as f64 / f64::from(self.n);
        }
        s
    }

    /// Decodes everything back into an uncompressed [`Graph`] (lists ascending).
    pub fn to_graph(&self) -> Graph {
        let mut neighbors = Vec::with_capacity(self.n as usize);
        for i in 0..self.n {
            let mut l = Vec::new();
            self.neighbors(i, &mut l);
            neighbors.push(l);
        }
        Graph { entry: self.entry, neighbors }
    }
}

/// Decodes node `i`'s list, calling `emit` per id: first the neighbours below `i` in descending
/// order, then those above in ascending order; returns how many were below. `None` if a varint
/// overruns the list or exceeds a u32, a walk leaves `0..n`, or fewer values follow than announced.
#[inline]
fn decode_list(list: &[u8], i: u32, n: u32, mut emit: impl FnMut(u32)) -> Option<usize> {
    let mut r = NibbleReader { bytes: list, pos: 0 };
    if r.at_end() {
        return Some(0);
    }
    let below = r.varint()?;
    let mut prev = i;
    for _ in 0..below {
        prev = prev.checked_sub(r.varint()?)?.checked_sub(1)?;
        emit(prev);
    }
    let mut prev = i;
    while !r.at_end() {
        prev = prev.checked_add(r.varint()?)?.checked_add(1)?;
        if prev >= n {
            return None;
        }
        emit(prev);
    }
    Some(below as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_graph() -> impl Strategy<Value = Graph> {
        (0usize..200).prop_flat_map(|n| {
            let lists = proptest::collection::vec(
                proptest::collection::btree_set(0..(n.max(1) as u32), 0..20.min(n + 1)),
                n,
            );
            (lists, 0..(n.max(1) as u32)).prop_map(move |(lists, entry)| Graph {
                entry: if n == 0 { 0 } else { entry },
                neighbors: lists
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| s.into_iter().rev().filter(|&j| j as usize != i).collect())
                    .collect(),
            })
        })
    }

    fn sorted(g: &Graph) -> Graph {
        let mut g = g.clone();
        g.neighbors.iter_mut().for_each(|l| l.sort_unstable());
        g
    }

    proptest! {
        #[test]
        fn round_trip(g in arb_graph()) {
            let e = encode(&g).unwrap();
            let v = e.view().unwrap();
            prop_assert_eq!(v.to_graph(), sorted(&g));
            prop_assert_eq!(v.bytes(), e.bytes());
            let s = v.degree_stats();
            prop_assert_eq!(s.edges as usize, g.edges());
            for i in 0..g.len() {
                prop_assert_eq!(v.degree(i as u32) as usize, g.neighbors[i].len());
            }
            let mut out = vec![1, 2];
            v.neighbors(g.len() as u32, &mut out);
            prop_assert!(out.is_empty());
        }

        #[test]
        fn corrupted_bytes_never_panic(
            g in arb_graph(),
            flips in proptest::collection::vec((0u8..4, any::<usize>(), any::<u32>()), 1..4),
            cut in any::<usize>(),
        ) {
            let mut e = encode(&g).unwrap();
            for (part, at, val) in flips {
                match part {
                    0 if !e.edges.is_empty() => { let k = at % e.edges.len(); e.edges[k] = val as u8 }
                    1 if !e.lengths.is_empty() => { let k = at % e.lengths.len(); e.lengths[k] = val as u8 }
                    2 if !e.block_offsets.is_empty() => {
                        let k = at % e.block_offsets.len();
                        e.block_offsets[k] = val % (e.edges.len() as u32 + 2);
                    }
                    3 => e.entry = val % (e.n + 2),
                    _ => {}
                }
            }
            if cut % 4 == 0 {
                e.edges.truncate(cut % (e.edges.len() + 1));
            }
            if let Ok(v) = e.view() {
                let mut out = Vec::new();
                for i in 0..=v.len() {
                    v.neighbors(i, &mut out);
                    prop_assert!(out.iter().all(|&j| j < v.len()));
                    prop_assert_eq!(out.len() as u32, v.degree(i));
                }
                let _ = v.degree_stats();
            }
            // The unvalidated wrapper must not fault either.
            let p = GraphView::prevalidated(e.n, e.entry, &e.block_offsets, &e.lengths, &e.edges);
            let mut out = Vec::new();
            for i in 0..=e.n {
                p.neighbors(i, &mut out);
                let _ = p.degree(i);
            }
            let _ = p.degree_stats();
        }
    }

    fn sample() -> EncodedGraph {
        let n = 70u32;
        let g = Graph {
            entry: 3,
            neighbors: (0..n).map(|i| vec![(i + 1) % n, (i + 7) % n, (i * 11 + 2) % n]).collect(),
        };
        encode(&g).unwrap()
    }

    #[test]
    fn layout_and_wide_ids() {
        let e = sample();
        assert_eq!(e.block_offsets.len(), 3);
        assert_eq!(e.lengths.len(), 70);
        assert_eq!(e.bytes(), 12 + 70 + e.edges.len());
        // Ids far apart need wide varints and still round-trip.
        let g = Graph { entry: 0, neighbors: vec![vec![1_000_000, 5], vec![]] };
        assert!(encode(&g).is_err()); // out of range
        let mut big = Graph { entry: 0, neighbors: vec![Vec::new(); 300_000] };
        big.neighbors[0] = vec![299_999, 150_000, 1];
        big.neighbors[299_999] = vec![0, 299_998];
        let e = encode(&big).unwrap();
        assert_eq!(e.view().unwrap().to_graph(), sorted(&big));
    }

    #[test]
    fn encode_rejects_bad_graphs() {
        assert!(encode(&Graph { entry: 2, neighbors: vec![vec![], vec![]] }).is_err());
        assert!(encode(&Graph { entry: 0, neighbors: vec![vec![1, 1], vec![]] }).is_err());
        // 200 ids with gaps of 600 need four nibbles each: more than 255 bytes.
        let mut g = Graph { entry: 0, neighbors: vec![Vec::new(); 200_000] };
        g.neighbors[0] = (0..200).map(|k| 199_999 - k * 600).collect();
        assert!(encode(&g).is_err());
        let e = encode(&Graph { entry: 5, neighbors: vec![] }).unwrap();
        assert_eq!(e.entry, 0);
        assert_eq!(e.view().unwrap().degree_stats(), DegreeStats { min: 0, max: 0, mean: 0.0, edges: 0 });
    }

    #[test]
    fn rejects_corrupt_parts() {
        let e = sample();
        let ok =
            |n: u32, entry: u32, b: &[u32], l: &[u8], ed: &[u8]| GraphView::new(n, entry, b, l, ed).is_ok();
        assert!(ok(e.n, e.entry, &e.block_offsets, &e.lengths, &e.edges));
        // Truncated edges.
        assert!(!ok(e.n, e.entry, &e.block_offsets, &e.lengths, &e.edges[..e.edges.len() - 1]));
        // Wrong counts.
        assert!(!ok(e.n + 1, e.entry, &e.block_offsets, &e.lengths, &e.edges));
        assert!(!ok(e.n, e.entry, &e.block_offsets[..2], &e.lengths, &e.edges));
        assert!(!ok(e.n, e.n, &e.block_offsets, &e.lengths, &e.edges));
        assert!(!ok(0, 1, &[], &[], &[]));
        assert!(ok(0, 0, &[], &[], &[]));
        // Offsets inconsistent with the lengths, or overflowing.
        let mut b = e.block_offsets.clone();
        b[1] += 1;
        assert!(!ok(e.n, e.entry, &b, &e.lengths, &e.edges));
        b[1] = u32::MAX;
        assert!(!ok(e.n, e.entry, &b, &e.lengths, &e.edges));
        // Lengths that overflow the edges, or move bytes between nodes.
        let mut l = e.lengths.clone();
        l[5] = 255;
        assert!(!ok(e.n, e.entry, &e.block_offsets, &l, &e.edges));
        let mut l = e.lengths.clone();
        l[5] -= 1;
        l[6] += 1;
        // Node 5 now ends inside a varint or node 6 starts mid-list: either is caught, or it decodes to
        // in-range ids (both are acceptable outcomes: no panic, no out-of-range id).
        if let Ok(v) = GraphView::new(e.n, e.entry, &e.block_offsets, &l, &e.edges) {
            let mut out = Vec::new();
            v.neighbors(5, &mut out);
            assert!(out.iter().all(|&j| j < e.n));
        }
        // A varint that never ends (both nibbles of the last byte continue), and one of 12 nibbles.
        let mut ed = e.edges.clone();
        let last = ed.len() - 1;
        ed[last] |= 0x88;
        assert!(!ok(e.n, e.entry, &e.block_offsets, &e.lengths, &ed));
        let mut long = vec![0x88u8; 6];
        long.push(0x00);
        assert!(GraphView::new(1, 0, &[0], &[7], &long).is_err());
        // Nibbles [0 below, gap 0] from node 0: id 1, fine in 2 nodes, out of range in 1.
        assert!(GraphView::new(1, 0, &[0], &[1], &[0x00]).is_err());
        assert!(GraphView::new(2, 0, &[0], &[1, 0], &[0x00]).is_ok());
        // [0 below, gap 1] from node 0: id 2 >= 2.
        assert!(GraphView::new(2, 0, &[0], &[1, 0], &[0x10]).is_err());
        // [1 below, gap 0] from node 0: below zero.
        assert!(GraphView::new(2, 0, &[0], &[1, 0], &[0x01]).is_err());
        // [2 below, gap 0] from node 1: id 0, then the second announced value is missing.
        assert!(GraphView::new(2, 0, &[0], &[0, 1], &[0x02]).is_err());
        assert!(GraphView::new(2, 0, &[0], &[0, 1], &[0x81]).is_err()); // [1 below, pad]: value missing
        assert!(GraphView::new(2, 0, &[0], &[0, 1], &[0x01]).is_ok());
        // A value above u32::MAX: 11 nibbles of 7s.
        let big = [0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]; // [0 below, then a gap of 33 one-bits]
        assert!(GraphView::new(1, 0, &[0], &[6], &big).is_err());
    }

    #[test]
    fn encode_rejects_self_loops_and_pads_odd_lists() {
        assert!(encode(&Graph { entry: 0, neighbors: vec![vec![0, 1], vec![]] }).is_err());
        // Node 0 -> 1: nibbles [0 below, gap 0] = one byte; node 1 -> 0: [1 below, gap 0] = one byte.
        let e = encode(&Graph { entry: 0, neighbors: vec![vec![1], vec![0]] }).unwrap();
        assert_eq!(e.edges, vec![0x00, 0x01]);
        // Node 2 -> 0, 1, 3 in 4 nodes: [2 below, gap 0 (to 1), gap 0 (to 0), gap 0 (to 3)] = 2 bytes;
        // node 0 -> 1, 2: [0, 0, 0] = 3 nibbles + pad.
        let g = Graph { entry: 0, neighbors: vec![vec![1, 2], vec![], vec![3, 0, 1], vec![]] };
        let e = encode(&g).unwrap();
        assert_eq!(e.lengths, vec![2, 0, 2, 0]);
        assert_eq!(e.edges, vec![0x00, 0x80, 0x02, 0x00]);
        let v = e.view().unwrap();
        assert_eq!(v.degree(0), 2);
        assert_eq!(v.degree(2), 3);
        assert_eq!(v.to_graph(), sorted(&g));
    }
}
