//! How hard a dense search works (beam and rerank) when the app does not say: the effort measured
//! on the index at build ([`Calibration`], recorded in the segment), scaled as the index grows.

use serde::{Deserialize, Serialize};

/// The work of one dense search: the beam of the graph walk and the candidates scored exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effort {
    /// Beam width of the graph walk.
    pub beam: usize,
    /// Candidates given an exact score (by recompute or sidecar).
    pub rerank: usize,
}

/// The effort searches use where [`crate::SearchOptions`] leaves `beam` or `rerank` unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchDefaults {
    /// Stored-vector and codes-only searches, where the walk costs most: the least beam that
    /// reached the target.
    pub stored: Effort,
    /// Recompute searches, where every reranked candidate is a model run: the least rerank.
    pub recompute: Effort,
    /// Live passages when the effort was measured (at build); `None` when it never was (an index
    /// created empty, or written before calibration), and the fixed defaults scaled by size apply.
    pub calibrated_at: Option<usize>,
}

/// What a build measured, recorded in the segment's meta and carried by commits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Calibration {
    pub stored: Effort,
    pub recompute: Effort,
    /// Passages the index had.
    pub passages: usize,
    /// Sample queries measured.
    pub queries: usize,
    /// Recall@3 against exact search at the stored effort, over those queries.
    pub recall: f32,
}

/// Recall@3 the calibration asks of its sample queries: the 0.95 real queries must reach. The
/// sample queries (word windows) score below real ones over the grid (by 0.01-0.03 at 10k, more at
/// 111k; docs/BENCHMARKS.md, "Defaults that scale"), so reaching it on them errs towards effort.
pub(crate) const TARGET_RECALL: f32 = 0.95;
/// Recall@10 asked at the same time (a search returns 10 hits by default; the bar the recall tests
/// have held since the first index).
pub(crate) const TARGET_RECALL_AT_10: f32 = 0.93;

/// The effort without a calibration: beam 512 and rerank 50 reached recall@3 0.958 on 10k
/// Debian-doc passages (docs/BENCHMARKS.md).
const FIXED: Effort = Effort { beam: 512, rerank: 50 };
/// Passages the fixed effort was measured at.
const FIXED_AT: usize = 10_000;
/// Widest default beam.
pub(crate) const MAX_BEAM: usize = 8192;

/// The effort for an index of `live` passages: calibrated if it was, with the beam widened by the
/// square root of the growth since (beam 512 → 2048 took recall@3 from 0.96 at 10k to 0.95 at
/// 111k, growth 11: about √growth), never narrowed.
pub(crate) fn defaults(calibration: Option<&Calibration>, live: usize) -> SearchDefaults {
    let (stored, recompute, at) = match calibration {
        Some(c) => (c.stored, c.recompute, Some(c.passages)),
        None => (FIXED, FIXED, None),
    };
    let base = at.unwrap_or(FIXED_AT).max(1);
    let widen = |e: Effort| {
        let growth = (live as f64 / base as f64).max(1.0);
        let beam = ((e.beam as f64 * growth.sqrt()).ceil() as usize).clamp(e.beam.min(MAX_BEAM), MAX_BEAM);
        Effort { beam, rerank: e.rerank }
    };
    SearchDefaults { stored: widen(stored), recompute: widen(recompute), calibrated_at: at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_effort_widens_with_growth_only() {
        let c = Calibration {
            stored: Effort { beam: 256, rerank: 40 },
            recompute: Effort { beam: 1024, rerank: 20 },
            passages: 10_000,
            queries: 200,
            recall: 0.97,
        };
        let same = defaults(Some(&c), 10_000);
        assert_eq!((same.stored, same.recompute, same.calibrated_at), (c.stored, c.recompute, Some(10_000)));
        assert_eq!(defaults(Some(&c), 2_000).stored, c.stored, "never narrowed");
        let grown = defaults(Some(&c), 40_000);
        assert_eq!(grown.stored, Effort { beam: 512, rerank: 40 });
        assert_eq!(grown.recompute, Effort { beam: 2048, rerank: 20 });
        assert_eq!(defaults(Some(&c), usize::MAX / 2).recompute.beam, MAX_BEAM);
    }

    #[test]
    fn uncalibrated_index_gets_the_fixed_effort_scaled() {
        let d = defaults(None, 0);
        assert_eq!((d.stored, d.recompute, d.calibrated_at), (FIXED, FIXED, None));
        assert_eq!(defaults(None, 160_000).stored, Effort { beam: 2048, rerank: 50 });
    }
}
