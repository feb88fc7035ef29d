//! Fusion of a dense (vector) ranked list with a keyword (BM25) ranked list into one top-k.
//!
//! Three ways: reciprocal-rank fusion, which needs no score calibration; a blend of per-list
//! normalized scores with weight `alpha` on the dense side; and the adaptive blend, whose `alpha`
//! is set per query by how peaked the keyword scores are ([`adaptive_alpha`]). A node missing from
//! one list gets nothing from it (RRF) or that list's lowest normalized value, 0 (blends).

use std::collections::HashMap;

use super::bm25::{top_k, Scored};
use crate::{Error, Result};

/// How scores of one list are put on a common scale before blending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalize {
    /// `(s − min)/(max − min)`; a list whose scores are all equal maps to 1.
    #[default]
    MinMax,
    /// `(s − mean)/std`, then shifted so the list's lowest value is 0 (so a missing node, 0,
    /// never beats a listed one).
    ZScore,
}

/// Reciprocal-rank fusion: `Σ 1/(k + rank)` over the lists a node is in (rank from 1). Lists must
/// be best first. `k` is usually 60.
pub fn rrf(dense: &[Scored], keyword: &[Scored], k: f32, top: usize) -> Result<Vec<Scored>> {
    if !(k.is_finite() && k >= 0.0) {
        return Err(Error::InvalidArgument(format!("RRF k must be >= 0, not {k}")));
    }
    let mut acc: HashMap<u32, f32> = HashMap::with_capacity(dense.len() + keyword.len());
    for list in [dense, keyword] {
        for (rank, s) in list.iter().enumerate() {
            *acc.entry(s.node).or_insert(0.0) += 1.0 / (k + rank as f32 + 1.0);
        }
    }
    Ok(top_k(acc.into_iter().map(|(node, score)| Scored { node, score }), top))
}

/// `alpha · norm(dense) + (1 − alpha) · norm(keyword)`, top `top`.
pub fn blend(
    dense: &[Scored],
    keyword: &[Scored],
    alpha: f32,
    how: Normalize,
    top: usize,
) -> Result<Vec<Scored>> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::InvalidArgument(format!("blend alpha must be in [0, 1], not {alpha}")));
    }
    if dense.iter().chain(keyword).any(|s| !s.score.is_finite()) {
        return Err(Error::InvalidArgument("scores to fuse must be finite".into()));
    }
    let mut acc: HashMap<u32, f32> = HashMap::with_capacity(dense.len() + keyword.len());
    for (list, weight) in [(dense, alpha), (keyword, 1.0 - alpha)] {
        for (node, v) in normalized(list, how) {
            *acc.entry(node).or_insert(0.0) += weight * v;
        }
    }
    Ok(top_k(acc.into_iter().map(|(node, score)| Scored { node, score }), top))
}

/// Least weight either side gets in an adaptive blend: a list is never ignored.
pub const ADAPTIVE_MIN_WEIGHT: f32 = 0.2;

/// The dense side's weight for one query in an adaptive blend: the keyword list's `rank`-th best
/// score over its best (0 when fewer than `rank` passages matched), kept between
/// [`ADAPTIVE_MIN_WEIGHT`] and `1 − ADAPTIVE_MIN_WEIGHT`. A keyword list whose top stands far above
/// the rest (a rare name, an identifier, an error code matched) weighs more; a flat one (common
/// words, a question in prose) leaves the ranking to the vectors. `keyword` must be best first,
/// as BM25 returns it.
pub fn adaptive_alpha(keyword: &[Scored], rank: usize) -> f32 {
    let first = keyword.first().map_or(0.0, |s| s.score);
    let ratio = match keyword.get(rank.max(1) - 1) {
        Some(s) if first > 0.0 && first.is_finite() => s.score / first,
        Some(_) => 1.0,
        None => 0.0,
    };
    ratio.clamp(ADAPTIVE_MIN_WEIGHT, 1.0 - ADAPTIVE_MIN_WEIGHT)
}

/// A min-max blend with the dense weight [`adaptive_alpha`]`(keyword, rank)`, top `top`. The
/// keyword list may run deeper than the dense one (to reach `rank`); only its first `depth`
/// entries are fused.
pub fn adaptive(
    dense: &[Scored],
    keyword: &[Scored],
    rank: usize,
    depth: usize,
    top: usize,
) -> Result<Vec<Scored>> {
    let alpha = adaptive_alpha(keyword, rank);
    blend(dense, &keyword[..depth.min(keyword.len())], alpha, Normalize::MinMax, top)
}

fn normalized(list: &[Scored], how: Normalize) -> Vec<(u32, f32)> {
    if list.is_empty() {
        return Vec::new();
    }
    let scores = list.iter().map(|s| f64::from(s.score));
    let min = scores.clone().fold(f64::INFINITY, f64::min);
    let max = scores.clone().fold(f64::NEG_INFINITY, f64::max);
    let map = |s: f64| -> f64 {
        match how {
            Normalize::MinMax if max > min => (s - min) / (max - min),
            Normalize::MinMax => 1.0,
            Normalize::ZScore => {
                let n = list.len() as f64;
                let mean = scores.clone().sum::<f64>() / n;
                let std = (scores.clone().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
                match std > 0.0 {
                    true => (s - min) / std,
                    false => 1.0,
                }
            }
        }
    };
    list.iter().map(|s| (s.node, map(f64::from(s.score)) as f32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(u32, f32)]) -> Vec<Scored> {
        items.iter().map(|&(node, score)| Scored { node, score }).collect()
    }

    fn nodes(hits: &[Scored]) -> Vec<u32> {
        hits.iter().map(|h| h.node).collect()
    }

    #[test]
    fn rrf_rewards_agreement() {
        let dense = list(&[(1, 0.9), (2, 0.8), (3, 0.7)]);
        let kw = list(&[(3, 12.0), (4, 11.0), (2, 3.0)]);
        let hits = rrf(&dense, &kw, 60.0, 10).unwrap();
        // 2: 1/62 + 1/63; 3: 1/63 + 1/61 (larger); 1: 1/61; 4: 1/62.
        assert_eq!(nodes(&hits), [3, 2, 1, 4]);
        let want = 1.0 / 63.0 + 1.0 / 61.0;
        assert!((hits[0].score - want).abs() < 1e-7);
        assert_eq!(nodes(&rrf(&dense, &kw, 60.0, 2).unwrap()), [3, 2]);
        assert_eq!(nodes(&rrf(&dense, &[], 60.0, 10).unwrap()), [1, 2, 3]);
        assert!(rrf(&dense, &kw, -1.0, 10).is_err());
    }

    #[test]
    fn minmax_blend_weights_lists() {
        let dense = list(&[(1, 0.9), (2, 0.5), (3, 0.1)]);
        let kw = list(&[(3, 20.0), (2, 10.0), (5, 0.0)]);
        // alpha 1: dense alone; alpha 0: keyword alone.
        assert_eq!(nodes(&blend(&dense, &kw, 1.0, Normalize::MinMax, 3).unwrap()), [1, 2, 3]);
        assert_eq!(nodes(&blend(&dense, &kw, 0.0, Normalize::MinMax, 3).unwrap()), [3, 2, 1]);
        // alpha 0.5: 1 → 0.5, 2 → 0.25 + 0.25 = 0.5, 3 → 0.5; ties break by lower node.
        let hits = blend(&dense, &kw, 0.5, Normalize::MinMax, 4).unwrap();
        assert_eq!(nodes(&hits), [1, 2, 3, 5]);
        assert!((hits[1].score - 0.5).abs() < 1e-6);
        assert!(blend(&dense, &kw, 1.5, Normalize::MinMax, 3).is_err());
        assert!(blend(&list(&[(1, f32::NAN)]), &kw, 0.5, Normalize::MinMax, 3).is_err());
    }

    #[test]
    fn adaptive_weighs_keywords_by_their_peak() {
        // Flat keyword scores: the 3rd is 0.9 of the 1st, so the dense side gets 0.8 (the cap).
        let flat = list(&[(7, 10.0), (8, 9.5), (9, 9.0), (5, 8.0)]);
        assert!((adaptive_alpha(&flat, 3) - 0.8).abs() < 1e-6);
        // Peaked: the 3rd is 0.3 of the 1st.
        let peaked = list(&[(7, 10.0), (8, 4.0), (9, 3.0), (5, 1.0)]);
        assert!((adaptive_alpha(&peaked, 3) - 0.3).abs() < 1e-6);
        assert!((adaptive_alpha(&peaked, 4) - ADAPTIVE_MIN_WEIGHT).abs() < 1e-6);
        // Fewer matches than `rank` is as peaked as it gets; no matches leaves the dense side.
        assert_eq!(adaptive_alpha(&peaked, 5), ADAPTIVE_MIN_WEIGHT);
        assert_eq!(adaptive_alpha(&[], 40), ADAPTIVE_MIN_WEIGHT);
        assert_eq!(adaptive_alpha(&list(&[(1, 0.0), (2, 0.0)]), 2), 1.0 - ADAPTIVE_MIN_WEIGHT);
        // Rank 0 reads as rank 1 (the top over itself).
        assert_eq!(adaptive_alpha(&peaked, 0), 1.0 - ADAPTIVE_MIN_WEIGHT);

        let dense = list(&[(1, 0.9), (2, 0.8), (7, 0.1)]);
        // Peaked keywords (alpha 0.3): 7 (0.7 · 1) beats 1 (0.3 · 1).
        let hits = adaptive(&dense, &peaked, 3, 10, 3).unwrap();
        assert_eq!(nodes(&hits), nodes(&blend(&dense, &peaked, 0.3, Normalize::MinMax, 3).unwrap()));
        assert_eq!(hits[0].node, 7);
        // Flat keywords (alpha 0.8): the dense order leads.
        let hits = adaptive(&dense, &flat, 3, 10, 3).unwrap();
        assert_eq!(nodes(&hits), [1, 2, 7]);
        // The weight comes from the whole list, the fusion sees only `depth` entries of it.
        let hits = adaptive(&dense, &peaked, 4, 2, 10).unwrap();
        assert_eq!(nodes(&hits), nodes(&blend(&dense, &peaked[..2], 0.2, Normalize::MinMax, 10).unwrap()));
        assert!(!nodes(&hits).contains(&9));
    }

    #[test]
    fn zscore_blend() {
        let dense = list(&[(1, 0.9), (2, 0.8), (3, 0.1)]);
        let kw = list(&[(3, 30.0), (1, 1.0), (2, 0.0)]);
        let hits = blend(&dense, &kw, 0.5, Normalize::ZScore, 3).unwrap();
        // Dense (s - min)/std: 1 → 2.25, 2 → 1.97, 3 → 0; keyword: 3 → 2.16, 1 → 0.07, 2 → 0.
        assert_eq!(nodes(&hits), [1, 3, 2]);
        assert!((hits[0].score - (0.8 / 0.3559 + 1.0 / 13.914) / 2.0).abs() < 1e-3);
        // Equal scores give every node 1, so only the other list orders them.
        let flat = list(&[(1, 5.0), (2, 5.0)]);
        assert_eq!(nodes(&blend(&flat, &list(&[(2, 1.0)]), 0.5, Normalize::ZScore, 2).unwrap()), [2, 1]);
    }
}
