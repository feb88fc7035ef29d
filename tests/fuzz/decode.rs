//! Target `decode`: the two binary decoders below the segment, fed directly: `GraphView::new` on
//! arbitrary arrays (and the unvalidated `GraphView::prevalidated`) and `Quantizer::from_bytes`.

use ember_core::graph::{encode, GraphView, BLOCK};
use ember_core::quant::Quantizer;

use super::Input;

/// First byte even: graph; odd: quantizer.
pub fn decode(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8().is_multiple_of(2) {
        graph(input);
    } else {
        quantizer(input.rest());
    }
}

/// `n: u16`, `entry: u16`, a flags byte, `n` list lengths, then (unless flag bit 0 asks for
/// offsets computed from the lengths) one u32 offset per block of 32 nodes, then the edge bytes.
fn graph(mut input: Input) {
    let n = u32::from(input.u16());
    let entry = u32::from(input.u16());
    let flags = input.u8();
    let mut lengths = input.bytes(n as usize).to_vec();
    lengths.resize(n as usize, 0);
    let blocks = (n as usize).div_ceil(BLOCK);
    let offsets: Vec<u32> = if flags & 1 != 0 {
        let mut total = 0u32;
        lengths
            .chunks(BLOCK)
            .map(|c| {
                let at = total;
                total = total.wrapping_add(c.iter().map(|&l| u32::from(l)).sum::<u32>());
                at
            })
            .collect()
    } else {
        (0..blocks).map(|_| input.u32()).collect()
    };
    let edges = input.rest();

    // The unvalidated wrapper must never fault, whatever the arrays.
    let p = GraphView::prevalidated(n, entry, &offsets, &lengths, edges);
    let mut out = Vec::new();
    for i in 0..=n.min(4096) {
        p.neighbors(i, &mut out);
        let _ = p.degree(i);
    }
    let _ = p.degree_stats();

    let Ok(v) = GraphView::new(n, entry, &offsets, &lengths, edges) else { return };
    assert_eq!(v.len(), n);
    for i in 0..=n {
        v.neighbors(i, &mut out);
        assert!(out.windows(2).all(|w| w[0] < w[1]), "node {i}: list not strictly ascending: {out:?}");
        assert!(out.iter().all(|&j| j < n && j != i), "node {i}: bad id in {out:?}");
        assert_eq!(out.len() as u32, v.degree(i), "node {i}: degree disagrees with its list");
    }
    // What was accepted re-encodes and decodes to the same graph.
    let g = v.to_graph();
    let again = encode(&g).unwrap_or_else(|e| panic!("an accepted graph does not re-encode: {e}"));
    let back = again.view().unwrap_or_else(|e| panic!("a re-encoded graph is refused: {e}"));
    assert_eq!(back.to_graph(), g);
    let s = v.degree_stats();
    assert_eq!(s.edges, g.neighbors.iter().map(|l| l.len() as u64).sum::<u64>());
}

/// Quantizers claiming more dimensions are skipped: rebuilding their rotation costs O(dim³) time
/// (0.2–0.3 s at the 1,024 cap, `quant::MAX_CODE_DIMS`), which would cut the rate a hundredfold
/// for inputs that exercise nothing new.
const MAX_DIM: u32 = 256;

fn quantizer(bytes: &[u8]) {
    if Input::new(bytes).u32() > MAX_DIM {
        return;
    }
    let Ok(q) = Quantizer::from_bytes(bytes) else { return };
    let back = Quantizer::from_bytes(&q.to_bytes()).unwrap_or_else(|e| panic!("no round trip: {e}"));
    assert_eq!(back, q, "quantizer differs after a round trip");
    let mut v = vec![0f32; q.dim()];
    v[0] = 1.0;
    let mut code = vec![0u8; q.code_bytes()];
    q.encode(&v, &mut code).unwrap_or_else(|e| panic!("encode failed: {e}"));
    let lut = q.prepare(&v).unwrap_or_else(|e| panic!("prepare failed: {e}"));
    let _ = q.estimate(&lut, &code);
}
