//! Measuring a new index's search defaults. Sample queries are made the way an app's queries
//! look: a few consecutive words from sampled passages, embedded as queries by the index's model.
//! Their exact top 3 comes from brute force over the build's vectors; then the graph walk runs
//! over a ladder of beams and reranks, and the least effort whose recall@3 reaches
//! [`TARGET_RECALL`] becomes the default (one for stored and codes-only searches, one for
//! recompute).
//!
//! Why such pseudo-queries: on debian-10k (multilingual-e5-small) their recall over the grid
//! follows that of 300 real heading queries within about 0.01-0.03, below it, while passage
//! vectors as queries (with or without noise) reach 0.95 at a quarter of the beam real queries
//! need, and a passage's first words (often its title) are easier still (docs/BENCHMARKS.md,
//! "Defaults that scale").

use crate::graph::Graph;
use crate::index::effort::{Calibration, Effort, MAX_BEAM, TARGET_RECALL};
use crate::index::read::walk::{seed_count, walk, Scored, Scratch};
use crate::keywords as kw;
use crate::quant::Quantizer;
use crate::rng::SplitMix64;
use crate::{Embedder, Error, Result, TextKind};

/// Sample queries: recall is measured in steps of 1/900.
const QUERIES: usize = 300;
/// Words of a pseudo-query, and at most this many characters.
const QUERY_WORDS: usize = 8;
const QUERY_CHARS: usize = 48;
/// Characters of a pseudo-query cut from text without spaces (Chinese, Japanese).
const QUERY_CHARS_UNSPACED: usize = 16;
/// Beams tried, in order (about 1.5× a step).
const BEAMS: [usize; 18] =
    [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, MAX_BEAM];
/// Reranks tried: from the default k to twice the old fixed default.
const RERANKS: [usize; 10] = [10, 15, 20, 25, 30, 40, 50, 64, 80, 100];
/// In a stored search a reranked candidate (a sidecar row, maybe a flash page) is counted as this
/// many beam slots (a neighbour list and its codes).
const STORED_ROW_COST: usize = 2;

/// What the calibration searches: the new segment's graph, codes and exact vectors (row-major,
/// `dim` wide) and texts, all in segment order.
pub(crate) struct Sample<'a> {
    pub graph: &'a Graph,
    pub quantizer: &'a Quantizer,
    pub codes: &'a [u8],
    pub vectors: &'a [f32],
    pub dim: usize,
    pub texts: &'a [&'a str],
}

/// The least efforts reaching the target, measured with `embedder`'s queries; `None` for an index
/// with nothing to measure (empty, or no passage with words).
pub(crate) fn calibrate(s: &Sample, embedder: &dyn Embedder, seed: u64) -> Result<Option<Calibration>> {
    let (n, dim) = (s.graph.len(), s.dim);
    if n == 0 || dim == 0 || s.vectors.len() != n * dim || s.texts.len() != n {
        return Ok(None);
    }
    let row = |i: usize| &s.vectors[i * dim..(i + 1) * dim];
    let mut rng = SplitMix64::new(seed ^ 0xCA11_B8A7E);
    let picks: Vec<usize> = match n <= QUERIES {
        true => (0..n).collect(),
        false => (0..QUERIES).map(|_| rng.below(n)).collect(),
    };
    let texts: Vec<String> = picks.iter().filter_map(|&i| pseudo_query(s.texts[i], &mut rng)).collect();
    if texts.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let queries = embedder.embed(&refs, TextKind::Query)?;
    if queries.len() != refs.len() || queries.iter().any(|q| q.len() != dim) {
        return Err(Error::Inference(format!(
            "{} query vectors of {dim} for {} texts",
            queries.len(),
            refs.len()
        )));
    }
    let truths: Vec<Vec<u32>> = queries.iter().map(|q| exact_top3(q, n, row)).collect();
    let seeds = seed_count(n);
    let cb = s.quantizer.code_bytes();
    let mut scratch = Scratch::default();
    // grid[b][r]: mean share of each query's exact top 3 found at BEAMS[b], RERANKS[r].
    let mut grid: Vec<[f32; RERANKS.len()]> = Vec::new();
    for &beam in &BEAMS {
        let mut found = [0usize; RERANKS.len()];
        let mut wanted = 0usize;
        for (q, truth) in queries.iter().zip(&truths) {
            let lut = s.quantizer.prepare(q)?;
            let score = |i: u32| {
                let at = i as usize * cb;
                s.codes.get(at..at + cb).map_or(f32::MIN, |c| s.quantizer.estimate(&lut, c))
            };
            // (A search widens a beam narrower than its rerank: such points are measured on the
            // narrower walk here, so they err low.)
            let walked = walk(s.graph, s.graph.entry, seeds, beam, beam, score, None, &mut scratch);
            wanted += truth.len();
            for (r, &rerank) in RERANKS.iter().enumerate() {
                let pool = &walked.found[..walked.found.len().min(rerank)];
                let mut exact: Vec<Scored> =
                    pool.iter().map(|c| Scored(crate::distance::dot(q, row(c.1 as usize)), c.1)).collect();
                exact.sort_by(|a, b| b.cmp(a));
                found[r] += exact.iter().take(truth.len()).filter(|c| truth.contains(&c.1)).count();
            }
        }
        let recall = found.map(|f| f as f32 / wanted.max(1) as f32);
        let flat =
            grid.last().is_some_and(|last| last.iter().zip(&recall).all(|(a, b)| (a - b).abs() < 0.002));
        grid.push(recall);
        // Done once the narrowest rerank reaches the target (every wider beam costs more), once
        // the walk covers the whole graph, or once widening stops helping.
        if recall[0] >= TARGET_RECALL || beam >= n || flat {
            break;
        }
    }
    let points: Vec<(usize, usize)> =
        (0..grid.len()).flat_map(|b| (0..RERANKS.len()).map(move |r| (b, r))).collect();
    let reached: Vec<(usize, usize)> =
        points.iter().copied().filter(|&(b, r)| grid[b][r] >= TARGET_RECALL).collect();
    let effort = |(b, r): (usize, usize)| Effort { beam: BEAMS[b].max(RERANKS[r]), rerank: RERANKS[r] };
    // Where the target is out of reach: the best recall measured, at the least beam.
    let best = points
        .iter()
        .copied()
        .max_by(|&(b1, r1), &(b2, r2)| grid[b1][r1].total_cmp(&grid[b2][r2]).then((b2, r2).cmp(&(b1, r1))))
        .unwrap_or((0, 0));
    let stored = reached
        .iter()
        .copied()
        .min_by_key(|&p| {
            let e = effort(p);
            (e.beam + STORED_ROW_COST * e.rerank, e.rerank)
        })
        .unwrap_or(best);
    let recompute = reached
        .iter()
        .copied()
        .min_by_key(|&p| {
            let e = effort(p);
            (e.rerank, e.beam)
        })
        .unwrap_or(best);
    Ok(Some(Calibration {
        stored: effort(stored),
        recompute: effort(recompute),
        passages: n,
        queries: queries.len(),
        recall: grid[stored.0][stored.1],
    }))
}

/// A short query about a passage: [`QUERY_WORDS`] consecutive words from a random place (at most
/// [`QUERY_CHARS`] characters), or [`QUERY_CHARS_UNSPACED`] characters of a text without spaces;
/// `None` when it has no words.
fn pseudo_query(text: &str, rng: &mut SplitMix64) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let q: String = match words.len() {
        0 => return None,
        1 => {
            let chars: Vec<char> = words[0].chars().collect();
            let start = rng.below(chars.len().saturating_sub(QUERY_CHARS_UNSPACED) + 1);
            chars[start..].iter().take(QUERY_CHARS_UNSPACED).collect()
        }
        n => {
            let start = rng.below(n.saturating_sub(QUERY_WORDS) + 1);
            words[start..]
                .iter()
                .take(QUERY_WORDS)
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(QUERY_CHARS)
                .collect()
        }
    };
    Some(q)
}

/// The (up to) three nodes nearest `q` by exact inner product.
fn exact_top3<'a>(q: &[f32], n: usize, row: impl Fn(usize) -> &'a [f32]) -> Vec<u32> {
    let scored = (0..n).map(|j| kw::Scored { node: j as u32, score: crate::distance::dot(q, row(j)) });
    kw::top_k(scored, 3).iter().map(|s| s.node).collect()
}

#[cfg(test)]
mod tests {
    use super::pseudo_query;
    use crate::rng::SplitMix64;

    #[test]
    fn pseudo_queries_are_a_few_consecutive_words() {
        let mut rng = SplitMix64::new(1);
        assert_eq!(pseudo_query("  one two three  ", &mut rng).as_deref(), Some("one two three"));
        let long = "a b c d e f g h i j k";
        for _ in 0..20 {
            let q = pseudo_query(long, &mut rng).unwrap();
            assert_eq!(q.split(' ').count(), 8);
            assert!(long.contains(&q), "{q}");
        }
        let zh = "显示磁盘剩余空间".repeat(10);
        let q = pseudo_query(&zh, &mut rng).unwrap();
        assert!(q.chars().count() == 16 && zh.contains(&q));
        assert_eq!(pseudo_query("短", &mut rng).as_deref(), Some("短"));
        assert_eq!(pseudo_query(" \n ", &mut rng), None);
    }
}
