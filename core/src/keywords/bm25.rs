//! BM25 scoring over a [`KeywordView`], and top-k selection with a bounded heap.
//!
//! `score(q, d) = Σ_t idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))`, summed over the
//! query's terms (a term given twice counts twice, as in Lucene and FTS5). N and avgdl are the
//! index's as built: a passage deleted since (filtered out by `live`) still counts in them until
//! the index is rebuilt, as in Lucene until a merge.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::analyze::Analyzer;
use super::postings::{KeywordView, Postings};
use crate::{Error, Result};

/// How a term's rarity is weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Idf {
    /// Lucene's `ln(1 + (N − n + 0.5)/(n + 0.5))`: always positive.
    #[default]
    Lucene,
    /// SQLite FTS5's `ln((N − n + 0.5)/(n + 0.5))`, raised to 1e-6 where it would be ≤ 0 (terms in
    /// more than half the passages). For comparing with FTS5's `bm25()`.
    Fts5,
}

impl Idf {
    /// The weight of a term found in `n` of `docs` passages.
    pub fn weight(self, docs: u32, n: u32) -> f64 {
        let (docs, n) = (f64::from(docs), f64::from(n));
        let ratio = (docs - n + 0.5) / (n + 0.5);
        match self {
            Idf::Lucene => ratio.ln_1p(),
            Idf::Fts5 => ratio.ln().max(1e-6),
        }
    }
}

/// BM25's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalization, 0 (none) to 1 (full).
    pub b: f32,
    /// The idf formula.
    pub idf: Idf,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75, idf: Idf::Lucene }
    }
}

impl Bm25Params {
    /// Refuse k1 < 0, b outside [0, 1], or either not finite.
    pub fn check(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0 && self.b.is_finite() && (0.0..=1.0).contains(&self.b)) {
            return Err(Error::InvalidArgument(format!("BM25 needs k1 >= 0 and 0 <= b <= 1, not {self:?}")));
        }
        Ok(())
    }
}

/// A scored node; orders by score, then by lower node id first (so ties rank deterministically).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The node.
    pub node: u32,
    /// Its score (higher is better).
    pub score: f32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` of `items`, best first, using a heap of `k` entries.
pub fn top_k(items: impl IntoIterator<Item = Scored>, k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
    for s in items {
        if heap.len() < k {
            heap.push(Reverse(s));
        } else if heap.peek().is_some_and(|w| s > w.0) {
            heap.pop();
            heap.push(Reverse(s));
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|r| r.0).collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

/// The collection BM25's N and average length come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corpus {
    /// Passages (N).
    pub docs: u32,
    /// Sum of their term counts.
    pub total_len: u64,
}

impl Corpus {
    /// A term's weight, `idf · (k1 + 1)`, for a term in `df` passages.
    pub fn weight(&self, params: &Bm25Params, df: u32) -> f32 {
        params.idf.weight(self.docs, df.min(self.docs)) as f32 * (params.k1 + 1.0)
    }

    /// `contribution(weight, tf, len)`: one term's share of a passage's score.
    pub fn contribution(&self, params: &Bm25Params) -> impl Fn(f32, u32, u32) -> f32 + Copy {
        let avg = match self.docs {
            0 => 0.0,
            n => self.total_len as f64 / f64::from(n),
        };
        let inv_avg = (1.0 / avg.max(f64::MIN_POSITIVE)) as f32;
        let (k1, b) = (params.k1, params.b);
        move |w: f32, tf: u32, len: u32| {
            w * tf as f32 / (tf as f32 + k1 * (1.0 - b + b * len as f32 * inv_avg))
        }
    }
}

impl KeywordView<'_> {
    /// The `k` live passages scoring highest for `query`, best first; passages with no query term
    /// are never returned. `live(node)` false hides a node (deleted, or filtered out).
    pub fn search(
        &self,
        query: &str,
        k: usize,
        params: &Bm25Params,
        live: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Scored>> {
        params.check()?;
        let analyzer = Analyzer::new(self.analyzer_config());
        let terms = analyzer.terms(query);
        self.search_terms(&terms, k, params, live)
    }

    /// As [`KeywordView::search`], for terms already analyzed.
    ///
    /// Document-at-a-time with block-max MaxScore (Turtle and Flood 1995; Ding and Suel 2011):
    /// terms are ordered by their best possible contribution, and once the k-th best score is
    /// known, terms whose bounds together stay below it cannot lift a passage alone, so only the
    /// others ("essential") propose candidates; the rest are looked up per candidate, skipping
    /// whole blocks, and dropped as soon as the candidate's score plus their bounds falls short.
    /// Results are exactly an exhaustive scoring's: each passage's score is summed in query-term
    /// order, as a term-at-a-time pass would.
    pub fn search_terms(
        &self,
        terms: &[String],
        k: usize,
        params: &Bm25Params,
        live: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Scored>> {
        let corpus = Corpus { docs: self.doc_count(), total_len: self.total_len() };
        self.search_terms_in(terms, k, params, live, &corpus, &[])
    }

    /// As [`KeywordView::search_terms`], with N and the total length of a larger collection this
    /// file is part of (a living index: this file plus the passages added since), and `extra_df[i]`
    /// passages outside the file holding `terms[i]` (missing entries: 0).
    pub fn search_terms_in(
        &self,
        terms: &[String],
        k: usize,
        params: &Bm25Params,
        live: &dyn Fn(u32) -> bool,
        corpus: &Corpus,
        extra_df: &[u32],
    ) -> Result<Vec<Scored>> {
        params.check()?;
        if k == 0 || terms.is_empty() || self.doc_count() == 0 {
            return Ok(Vec::new());
        }
        let contribution = corpus.contribution(params);

        // One cursor per distinct term; a term given twice counts twice (its query positions).
        let mut cursors: Vec<Cursor<'_>> = Vec::new();
        for (at, term) in terms.iter().enumerate() {
            if let Some(c) = cursors.iter_mut().find(|c| terms[c.positions[0]] == *term) {
                c.positions.push(at);
                continue;
            }
            let Some(mut list) = self.postings(term)? else { continue };
            let df = list.doc_freq().saturating_add(extra_df.get(at).copied().unwrap_or(0));
            let w = corpus.weight(params, df);
            let best = list.block_bounds().map(|(tf, len)| contribution(w, tf, len)).fold(0.0f32, f32::max);
            let current = list.next_posting()?;
            cursors.push(Cursor { list, w, best, current, positions: vec![at] });
        }
        for c in &mut cursors {
            c.best *= c.positions.len() as f32;
        }
        // Ascending by bound; `below[i]` bounds what cursors 0..i can add together.
        cursors.sort_by(|a, b| a.best.total_cmp(&b.best));
        let mut below = vec![0f32; cursors.len() + 1];
        for (i, c) in cursors.iter().enumerate() {
            below[i + 1] = below[i] + c.best;
        }

        let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
        // The k-th best score so far (none until k passages are held).
        let mut threshold = f32::NEG_INFINITY;
        // Cursors before this one are non-essential.
        let mut first_essential = 0usize;
        let mut parts = vec![0f32; terms.len()];
        while let Some(node) = cursors[first_essential..].iter().filter_map(|c| c.current.map(|p| p.0)).min()
        {
            parts.fill(0.0);
            let mut partial = 0.0f32;
            for c in &mut cursors[first_essential..] {
                if let Some((n, tf, len)) = c.current.filter(|p| p.0 == node) {
                    partial += c.add(contribution(c.w, tf, len), &mut parts);
                    c.current = c.list.next_posting()?;
                    debug_assert!(n == node);
                }
            }
            if !live(node) {
                continue;
            }
            let mut pruned = false;
            for i in (0..first_essential).rev() {
                let c = &mut cursors[i];
                let m = c.positions.len() as f32;
                // What this term can still add: exact when its cursor is on the node, the block's
                // bound when the node may lie ahead in a block, nothing past it or at the end.
                let here = match c.current {
                    None => 0.0,
                    Some((n, _, _)) if n > node => 0.0,
                    Some((_, tf, len)) if c.current.is_some_and(|p| p.0 == node) => {
                        contribution(c.w, tf, len) * m
                    }
                    Some(_) if !c.list.skip_to_block(node) => {
                        c.current = None;
                        0.0
                    }
                    Some(_) => {
                        let (tf, len) = c.list.current_bounds();
                        contribution(c.w, tf, len) * m
                    }
                };
                if falls_short(partial + below[i] + here, threshold) {
                    pruned = true;
                    break;
                }
                if c.current.is_some_and(|p| p.0 < node) {
                    c.current = c.list.advance(node)?;
                }
                if let Some((_, tf, len)) = c.current.filter(|p| p.0 == node) {
                    partial += c.add(contribution(c.w, tf, len), &mut parts);
                }
            }
            if pruned {
                continue;
            }
            let hit = Scored { node, score: parts.iter().fold(0.0f32, |a, &p| a + p) };
            if heap.len() < k {
                heap.push(Reverse(hit));
            } else if heap.peek().is_some_and(|w| hit > w.0) {
                heap.pop();
                heap.push(Reverse(hit));
            }
            if heap.len() == k {
                threshold = heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score);
                while first_essential < cursors.len() && falls_short(below[first_essential + 1], threshold) {
                    first_essential += 1;
                }
                if first_essential == cursors.len() {
                    break;
                }
            }
        }
        let mut out: Vec<Scored> = heap.into_iter().map(|r| r.0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        Ok(out)
    }
}

/// One query term's postings as search reads them.
struct Cursor<'a> {
    list: Postings<'a>,
    /// idf · (k1 + 1).
    w: f32,
    /// The most this term can add to any passage (all its query positions).
    best: f32,
    /// The entry the cursor is on: (node, tf, length).
    current: Option<(u32, u32, u32)>,
    /// Where the term stands in the query (more than one if given twice).
    positions: Vec<usize>,
}

impl Cursor<'_> {
    /// Record the term's contribution at each of its positions; returns their sum.
    fn add(&self, c: f32, parts: &mut [f32]) -> f32 {
        for &p in &self.positions {
            parts[p] = c;
        }
        c * self.positions.len() as f32
    }
}

/// Whether a passage bounded by `bound` cannot beat `threshold`. A passage that only ties the
/// k-th best loses (it has the higher node id), so "not above" prunes; the slack covers rounding
/// between a bound and a score summed in another order.
fn falls_short(bound: f32, threshold: f32) -> bool {
    bound * (1.0 + 1e-5) + 1e-30 <= threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::KeywordIndex;

    #[test]
    fn top_k_orders_and_breaks_ties_by_node() {
        let items =
            [(3, 1.0), (1, 2.0), (2, 1.0), (7, 0.5), (0, 1.0)].map(|(node, score)| Scored { node, score });
        let got: Vec<u32> = top_k(items, 3).iter().map(|s| s.node).collect();
        assert_eq!(got, [1, 0, 2]);
        assert!(top_k(items, 0).is_empty());
        assert_eq!(top_k(items, 10).len(), 5);
    }

    #[test]
    fn idf_formulas() {
        let lucene = Idf::Lucene.weight(10, 2);
        assert!((lucene - (1.0f64 + 8.5 / 2.5).ln()).abs() < 1e-12);
        assert!((Idf::Fts5.weight(10, 2) - (8.5f64 / 2.5).ln()).abs() < 1e-12);
        assert_eq!(Idf::Fts5.weight(10, 9), 1e-6);
        assert!(Idf::Lucene.weight(10, 10) > 0.0);
    }

    #[test]
    fn scores_by_hand_and_live_filter() {
        let docs = [(0, "apple banana"), (1, "apple apple cherry cherry cherry"), (2, "banana")];
        let idx = KeywordIndex::build(&docs, &Analyzer::default()).unwrap();
        let view = idx.view();
        let p = Bm25Params::default();
        let hits = view.search("apple", 10, &p, &|_| true).unwrap();
        // The shorter passage wins despite the lower tf: 1.114 against 1.103.
        assert_eq!(hits.iter().map(|h| h.node).collect::<Vec<_>>(), [0, 1]);
        let avg = 8.0f32 / 3.0;
        let idf = (1.0f64 + 1.5 / 2.5).ln() as f32;
        let want = |tf: f32, len: f32| idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg));
        assert!((hits[0].score - want(1.0, 2.0)).abs() < 1e-6);
        assert!((hits[1].score - want(2.0, 5.0)).abs() < 1e-6);
        let hits = view.search("apple", 10, &p, &|n| n != 1).unwrap();
        assert_eq!(hits.iter().map(|h| h.node).collect::<Vec<_>>(), [0]);
        assert!(view.search("durian", 10, &p, &|_| true).unwrap().is_empty());
        assert!(view.search("", 10, &p, &|_| true).unwrap().is_empty());
        let bad = Bm25Params { b: 2.0, ..p };
        assert!(matches!(view.search("apple", 10, &bad, &|_| true), Err(Error::InvalidArgument(_))));
    }
}
