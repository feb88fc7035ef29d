//! Target `keywords`: a keyword index file, fed directly: validation at open, every postings list,
//! and BM25 searches, which give a typed error or sane hits, never a panic, a hang or a NaN.
//! Framing: a flag byte, then the file. Flag bit 0 recomputes the checksums first (as a bug that
//! wrote bad data would), so mutations reach the decoders behind them.

use ember_core::keywords::{Bm25Params, Idf, KeywordView};
use ember_core::store::checksum;

use super::Input;

pub fn keywords(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let mut file = input.rest().to_vec();
    if flags & 1 == 1 {
        reseal(&mut file);
    }
    let Ok(view) = KeywordView::from_bytes(&file) else { return };
    let postings_ok = view.validate_postings().is_ok();
    let n = view.node_count();
    let fts5 = Bm25Params { idf: Idf::Fts5, ..Bm25Params::default() };
    for q in ["battery", "flash storage graph", "search search", "电池容量", "zzz"] {
        for params in [Bm25Params::default(), fts5] {
            match view.search(q, 10, &params, &|node| node % 3 != 1) {
                Ok(hits) => {
                    assert!(hits.len() <= 10, "{} hits for k 10", hits.len());
                    for h in &hits {
                        assert!(
                            h.node < n && h.node % 3 != 1,
                            "hit {} of {n} nodes, or a hidden one",
                            h.node
                        );
                        assert!(h.score.is_finite() && h.score >= 0.0, "score {} for {q:?}", h.score);
                    }
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "hits out of order: {hits:?}");
                }
                Err(e) => assert!(!postings_ok, "every list validated, yet {q:?} failed: {e}"),
            }
        }
    }
}

/// Recompute every section checksum the table points at (where it points inside the file), the
/// table's and the header's: the layout of `core/src/keywords/postings.rs` (64-byte header, four
/// 32-byte section entries).
fn reseal(bytes: &mut [u8]) {
    if bytes.len() < 192 {
        return;
    }
    let le = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    for s in 0..4 {
        let e = 64 + s * 32;
        let (off, len) = (le(bytes, e + 8) as usize, le(bytes, e + 16) as usize);
        if let Some(section) = off.checked_add(len).and_then(|end| bytes.get(off..end)) {
            let sum = checksum(section);
            bytes[e + 24..e + 32].copy_from_slice(&sum.to_le_bytes());
        }
    }
    let table = checksum(&bytes[64..192]);
    bytes[48..56].copy_from_slice(&table.to_le_bytes());
    bytes[56..64].fill(0);
    let head = checksum(&bytes[..64]);
    bytes[56..64].copy_from_slice(&head.to_le_bytes());
}
