//! Measuring a new index's search defaults. Sample queries are made the way an app's queries
//! look: a few consecutive words from sampled passages, embedded as queries by the index's model.
//! Their exact top 10 comes from brute force over the build's vectors; then the graph walk runs
//! over a ladder of beams and reranks, and the least effort whose recall@3 reaches
//! [`TARGET_RECALL`] and recall@10 [`TARGET_RECALL_AT_10`] becomes the default (one for stored and
//! codes-only searches, one for recompute); where none reaches them, the least effort within
//! [`KNEE`] of the best measured.
//!
//! Why such pseudo-queries: on debian-10k (multilingual-e5-small) their recall over the grid
//! follows that of 300 real heading queries within about 0.01-0.03, below it, while passage
//! vectors as queries (with or without noise) reach 0.95 at a quarter of the beam real queries
//! need, and a passage's first words (often its title) are easier still (docs/BENCHMARKS.md,
//! "Defaults that scale").

use crate::graph::{Graph, Rows};
use crate::index::effort::{Calibration, Effort, MAX_BEAM, TARGET_RECALL, TARGET_RECALL_AT_10};
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
/// Reranks tried: from the default k to four times the old fixed default. Past 100 only stored
/// searches take them (a sidecar row costs little; where 1-bit codes plateau, the rerank is what
/// lifts recall, measured at 111k in docs/BENCHMARKS.md).
const RERANKS: [usize; 13] = [10, 15, 20, 25, 30, 40, 50, 64, 80, 100, 128, 160, 200];
/// Most candidates a recompute default re-embeds: each is a model run (about 35 ms with e5).
const RECOMPUTE_MAX_RERANK: usize = 100;
/// Where no point reaches the target, the points this close to the best measured count as
/// reaching it: the cheapest of them, not the costliest corner of the grid.
const KNEE: f32 = 0.01;
/// The recall depths measured: the targets' recall@3 and recall@10 (a search's default k).
const DEPTHS: [usize; 2] = [3, 10];
/// In a stored search a reranked candidate (a sidecar row, maybe a flash page) is counted as this
/// many beam slots (a neighbour list and its codes).
const STORED_ROW_COST: usize = 2;

/// What the calibration searches: the new segment's graph, codes and exact vectors (row-major,
/// `dim` wide) and texts, all in segment order.
pub(crate) struct Sample<'a> {
    pub graph: &'a Graph,
    pub quantizer: &'a Quantizer,
    pub codes: &'a [u8],
    pub vectors: Rows<'a>,
    pub dim: usize,
    pub texts: &'a [&'a str],
}

/// The least efforts reaching the target, measured with `embedder`'s queries; `None` for an index
/// with nothing to measure (empty, or no passage with words).
pub(crate) fn calibrate(s: &Sample, embedder: &dyn Embedder, seed: u64) -> Result<Option<Calibration>> {
    let (n, dim) = (s.graph.len(), s.dim);
    if n == 0 || dim == 0 || s.vectors.values() != n * dim || s.texts.len() != n {
        return Ok(None);
    }
    let dot = |q: &[f32], i: usize| s.vectors.dot(dim, q, i as u32);
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
    let truths: Vec<Vec<u32>> = queries.iter().map(|q| exact_top(n, |j| dot(q, j))).collect();
    let seeds = seed_count(n);
    let cb = s.quantizer.code_bytes();
    let mut scratch = Scratch::default();
    // grid[b][r]: recall@3 and recall@10 at BEAMS[b], RERANKS[r].
    let mut grid: Vec<[Recall; RERANKS.len()]> = Vec::new();
    for &beam in &BEAMS {
        let mut found = [[0usize; 2]; RERANKS.len()];
        let mut wanted = [0usize; 2];
        for (q, truth) in queries.iter().zip(&truths) {
            let lut = s.quantizer.prepare(q)?;
            let score = |i: u32| {
                let at = i as usize * cb;
                s.codes.get(at..at + cb).map_or(f32::MIN, |c| s.quantizer.estimate(&lut, c))
            };
            // (A search widens a beam narrower than its rerank: such points are measured on the
            // narrower walk here, so they err low.)
            let walked = walk(s.graph, s.graph.entry, seeds, beam, beam, score, None, &mut scratch);
            for (depth, &k) in DEPTHS.iter().enumerate() {
                wanted[depth] += truth.len().min(k);
            }
            // Exact scores of the widest rerank's pool, once; each rerank ranks a prefix of it.
            let widest = walked.found.len().min(RERANKS[RERANKS.len() - 1]);
            let exact: Vec<Scored> =
                walked.found[..widest].iter().map(|c| Scored(dot(q, c.1 as usize), c.1)).collect();
            for (r, &rerank) in RERANKS.iter().enumerate() {
                let mut ranked = exact[..exact.len().min(rerank)].to_vec();
                ranked.sort_by(|a, b| b.cmp(a));
                for (depth, &k) in DEPTHS.iter().enumerate() {
                    let top = &truth[..truth.len().min(k)];
                    found[r][depth] += ranked.iter().take(k).filter(|c| top.contains(&c.1)).count();
                }
            }
        }
        let share = |depth: usize, f: &[usize; 2]| f[depth] as f32 / wanted[depth].max(1) as f32;
        let recall = found.map(|f| Recall { at3: share(0, &f), at10: share(1, &f) });
        let flat = grid.last().is_some_and(|last| {
            last.iter()
                .zip(&recall)
                .all(|(a, b)| (a.at3 - b.at3).abs() < 0.002 && (a.at10 - b.at10).abs() < 0.002)
        });
        grid.push(recall);
        // Done once the narrowest rerank reaches the target (every wider beam costs more), once
        // the walk covers the whole graph, or once widening stops helping.
        if recall[0].margin() >= 0.0 || beam >= n || flat {
            break;
        }
    }
    let (stored, recompute) = choose(&grid);
    Ok(Some(Calibration {
        stored: effort(stored),
        recompute: effort(recompute),
        passages: n,
        queries: queries.len(),
        recall: grid[stored.0][stored.1].at3,
    }))
}

/// Recall of the sample queries at one grid point: the share of their exact top 3 in the top 3
/// found, and of their exact top 10 in the top 10.
#[derive(Debug, Clone, Copy)]
struct Recall {
    at3: f32,
    at10: f32,
}

impl Recall {
    /// How far above both targets (negative: below one).
    fn margin(&self) -> f32 {
        (self.at3 - TARGET_RECALL).min(self.at10 - TARGET_RECALL_AT_10)
    }
}

/// The effort of grid point (beam index, rerank index).
fn effort((b, r): (usize, usize)) -> Effort {
    Effort { beam: BEAMS[b].max(RERANKS[r]), rerank: RERANKS[r] }
}

/// The stored and recompute grid points chosen from `grid[beam][rerank]`: among the points
/// reaching both targets (or, where none does, those within [`KNEE`] of the best margin
/// measured), stored takes the cheapest walk and recompute the least rerank, then the least beam,
/// with at most [`RECOMPUTE_MAX_RERANK`] candidates re-embedded.
fn choose(grid: &[[Recall; RERANKS.len()]]) -> ((usize, usize), (usize, usize)) {
    let points: Vec<(usize, usize)> =
        (0..grid.len()).flat_map(|b| (0..RERANKS.len()).map(move |r| (b, r))).collect();
    let pick = |points: &[(usize, usize)], cost: &dyn Fn(Effort) -> (usize, usize)| {
        let best = points.iter().map(|&(b, r)| grid[b][r].margin()).fold(f32::MIN, f32::max);
        let bar = if best >= 0.0 { 0.0 } else { best - KNEE };
        points
            .iter()
            .copied()
            .filter(|&(b, r)| grid[b][r].margin() >= bar)
            .min_by_key(|&p| cost(effort(p)))
            .unwrap_or((0, 0))
    };
    let stored = pick(&points, &|e| (e.beam + STORED_ROW_COST * e.rerank, e.rerank));
    let affordable: Vec<(usize, usize)> =
        points.iter().copied().filter(|&(_, r)| RERANKS[r] <= RECOMPUTE_MAX_RERANK).collect();
    let recompute = pick(&affordable, &|e| (e.rerank, e.beam));
    (stored, recompute)
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

/// The nodes of highest `score` (a query's exact inner product), highest first: as many as the deepest of
/// [`DEPTHS`] (all of a smaller index).
fn exact_top(n: usize, score: impl Fn(usize) -> f32) -> Vec<u32> {
    let scored = (0..n).map(|j| kw::Scored { node: j as u32, score: score(j) });
    kw::top_k(scored, DEPTHS[DEPTHS.len() - 1]).iter().map(|s| s.node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid over the first `beams` beams where recall@3 is `f(beam, rerank)` and recall@10
    /// a little lower.
    fn grid(beams: usize, f: impl Fn(usize, usize) -> f32) -> Vec<[Recall; RERANKS.len()]> {
        let at = |b, r| {
            let at3 = f(b, r);
            Recall { at3, at10: at3 - (TARGET_RECALL - TARGET_RECALL_AT_10) }
        };
        (0..beams).map(|b| std::array::from_fn(|r| at(BEAMS[b], RERANKS[r]))).collect()
    }

    #[test]
    fn both_depths_must_reach_their_targets() {
        // Recall@3 is met everywhere from beam 64; recall@10 only from rerank 50.
        let g: Vec<[Recall; RERANKS.len()]> = (0..8)
            .map(|b| {
                std::array::from_fn(|r| Recall {
                    at3: if BEAMS[b] >= 64 { 0.99 } else { 0.5 },
                    at10: if RERANKS[r] >= 50 { 0.94 } else { 0.90 },
                })
            })
            .collect();
        let (stored, recompute) = choose(&g);
        assert_eq!(effort(stored), Effort { beam: 64, rerank: 50 });
        assert_eq!(effort(recompute), Effort { beam: 64, rerank: 50 });
    }

    #[test]
    fn the_cheapest_point_reaching_the_target_is_chosen_per_mode() {
        // Recall grows with the beam and the rerank; 0.95 needs beam ≥ 512 and rerank ≥ 50, or
        // beam ≥ 256 and rerank ≥ 160.
        let g = grid(14, |b, r| match (b, r) {
            (b, r) if b >= 512 && r >= 50 => 0.96,
            (b, r) if b >= 256 && r >= 160 => 0.955,
            _ => 0.90,
        });
        let (stored, recompute) = choose(&g);
        // 256 + 2·160 = 576 < 512 + 2·50 = 612.
        assert_eq!(effort(stored), Effort { beam: 256, rerank: 160 });
        // Recompute spends the least rerank within its cap, then the least beam.
        assert_eq!(effort(recompute), Effort { beam: 512, rerank: 50 });
    }

    #[test]
    fn out_of_reach_takes_the_cheapest_point_near_the_best_not_the_corner() {
        // Plateaus at 0.94 from beam 1024; the widest beam gains a hair.
        let g = grid(BEAMS.len(), |b, r| match (b, r) {
            (8192, 200) => 0.941,
            (b, r) if b >= 1024 && r >= 100 => 0.935,
            _ => 0.80,
        });
        let (stored, recompute) = choose(&g);
        assert_eq!(effort(stored), Effort { beam: 1024, rerank: 100 });
        assert_eq!(effort(recompute), Effort { beam: 1024, rerank: 100 });
        // Not reaching the target by more than the knee: nothing else near.
        let g = grid(BEAMS.len(), |b, r| if b == 8192 && r == 200 { 0.9 } else { 0.5 });
        assert_eq!(effort(choose(&g).0), Effort { beam: 8192, rerank: 200 });
        // Recompute never goes past its cap, even when only more candidates would do.
        let g = grid(4, |_, r| if r > RECOMPUTE_MAX_RERANK { 0.99 } else { 0.5 });
        let (stored, recompute) = choose(&g);
        assert_eq!(effort(stored).rerank, 128);
        assert_eq!(effort(recompute).rerank, 10, "{:?}", effort(recompute));
    }

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
