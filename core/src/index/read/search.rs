//! Search: the dense side is a beam search on the graph ranked by code estimates, then exact
//! scores for the best candidates by recomputing their embeddings or reading the vector sidecar;
//! the keyword side is BM25 over the keyword index; a hybrid search fuses the two lists.

use std::time::Instant;

use super::bm25;
use super::walk::{seed_count, walk, Scored, Scratch};
use crate::error::lock_poisoned;
use crate::index::effort::Effort;
use crate::index::options::{Fusion, Mode, Policy, Retrieval, SearchOptions};
use crate::index::policy::{DeviceState, ModeCosts};
use crate::index::snapshot::Snapshot;
use crate::keywords::{self as kw, Normalize};
use crate::{Embedder, Error, Result, TextKind};

/// One result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    /// The app's passage id.
    pub id: String,
    /// Dense: the inner product with the query (cosine similarity), exact or estimated in
    /// codes-only mode. Keywords: the BM25 score. Hybrid: the fused score.
    pub score: f32,
}

/// Results and what they cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchReport {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// The retrieval that ran (never `Auto`).
    pub retrieval: Retrieval,
    /// The mode of the dense side (never `Auto`; `CodesOnly` when only keywords ran).
    pub mode: Mode,
    /// Why that retrieval and mode (for `Auto`).
    pub reason: String,
    /// Beam width the walk used (the asked or default one, widened for tombstones; 0 when only
    /// keywords ran).
    pub beam: usize,
    /// Candidates given an exact score (0 in codes-only mode and when only keywords ran).
    pub rerank: usize,
    /// Passages whose embeddings were recomputed.
    pub reembedded: usize,
    /// Candidates whose embeddings came from the cache.
    pub cache_hits: usize,
    /// Bytes of codes, sidecar rows and text read.
    pub bytes_read: u64,
    /// Graph nodes whose codes were scored.
    pub scored: usize,
    /// Whether the filter was so selective that candidates came from a scan of all codes.
    pub scanned: bool,
    /// Passages the keyword side returned (before fusion).
    pub keyword_hits: usize,
    /// Wall time of the dense side, milliseconds (0 when it did not run).
    pub dense_ms: f64,
    /// Wall time of the keyword side, milliseconds (0 when it did not run).
    pub keyword_ms: f64,
    /// Wall time of the search (excluding embedding the query), milliseconds.
    pub search_ms: f64,
    /// CPU time of every thread that worked for the search (query embedding by
    /// `Index::search_text` included, graph walk, re-embedding, reads), milliseconds, from
    /// per-thread CPU clocks (`crate::cpu`); `None` where the platform has none.
    pub cpu_ms: Option<f64>,
    /// Estimated energy, millijoules: `cpu_ms` priced by the policy's [`crate::EnergyProfile`].
    /// An estimate, not a measurement.
    pub energy_mj: Option<f64>,
}

/// What `Mode::Auto` decides from: the device policy and the last device state the app set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Auto<'a> {
    pub policy: &'a Policy,
    pub device: Option<DeviceState>,
    /// The measured mean cost of each mode on this index.
    pub costs: ModeCosts,
}

/// Which retrieval `asked` comes to on `snap` for a search with (or without) a query text and a
/// query vector, and why.
pub(crate) fn resolve_retrieval(
    snap: &Snapshot,
    asked: Retrieval,
    has_text: bool,
    has_vector: bool,
) -> Result<(Retrieval, &'static str)> {
    let keywords = || match &snap.keywords {
        Some(Ok(_)) => Ok(()),
        Some(Err(why)) => Err(Error::Corrupt(why.clone())),
        None => Err(Error::InvalidArgument("the index has no keyword index (build_keywords)".into())),
    };
    let need_text = || match has_text {
        true => Ok(()),
        false => Err(Error::InvalidArgument(format!("{} retrieval needs the query text", asked.name()))),
    };
    let need_vector = || match has_vector {
        true => Ok(()),
        false => Err(Error::InvalidArgument(format!("{} retrieval needs a query vector", asked.name()))),
    };
    match asked {
        Retrieval::Dense => need_vector().map(|()| (asked, "requested")),
        Retrieval::Keywords => need_text().and_then(|()| keywords()).map(|()| (asked, "requested")),
        Retrieval::Hybrid => {
            need_text().and_then(|()| need_vector()).and_then(|()| keywords()).map(|()| (asked, "requested"))
        }
        Retrieval::Auto => match (has_vector, has_text && keywords().is_ok()) {
            (true, true) => Ok((Retrieval::Hybrid, "the index has keywords")),
            (true, false) => Ok((Retrieval::Dense, "no keyword index")),
            (false, true) => Ok((Retrieval::Keywords, "no query vector")),
            (false, false) => Err(Error::InvalidArgument(
                "nothing to search with: no query vector, and no keyword index for the text".into(),
            )),
        },
    }
}

/// Search one snapshot with a query text, an embedded query (unit length, the index's dimension),
/// or both, as `opts.retrieval` asks.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    snap: &Snapshot,
    text: Option<&str>,
    query: Option<&[f32]>,
    embedder: Option<&dyn Embedder>,
    opts: &SearchOptions,
    auto: Auto,
    scratch: &mut Scratch,
) -> Result<SearchReport> {
    let start = Instant::now();
    if opts.k == 0 || opts.beam == Some(0) {
        return Err(Error::InvalidArgument("k and beam must be at least 1".into()));
    }
    opts.fusion.check()?;
    opts.bm25.check()?;
    let (retrieval, why) = resolve_retrieval(snap, opts.retrieval, text.is_some(), query.is_some())?;
    // The dense side's mode comes first: its effort defaults by mode, and a hybrid's depth is its
    // rerank.
    let dense_plan = match (retrieval, query) {
        (Retrieval::Dense | Retrieval::Hybrid, Some(_)) => {
            let (mode, reason) = resolve_mode(snap, opts.mode, embedder.is_some(), auto)?;
            let d = snap.search_defaults();
            let e = if mode == Mode::Recompute { d.recompute } else { d.stored };
            let effort =
                Effort { beam: opts.beam.unwrap_or(e.beam), rerank: opts.rerank.unwrap_or(e.rerank) };
            Some((mode, reason, effort))
        }
        _ => None,
    };
    // Each side hands the fusion as many candidates as the dense side scores exactly.
    let depth = match (retrieval, &dense_plan) {
        (Retrieval::Hybrid, Some((_, _, effort))) => effort.rerank.max(opts.k),
        _ => opts.k,
    };
    let mut report = SearchReport {
        hits: Vec::new(),
        retrieval,
        mode: Mode::CodesOnly,
        reason: format!("keywords only: {why}"),
        beam: 0,
        rerank: 0,
        reembedded: 0,
        cache_hits: 0,
        bytes_read: 0,
        scored: 0,
        scanned: false,
        keyword_hits: 0,
        dense_ms: 0.0,
        keyword_ms: 0.0,
        search_ms: 0.0,
        cpu_ms: None,
        energy_mj: None,
    };
    let dense = match (query, dense_plan) {
        (Some(q), Some((mode, reason, effort))) => {
            let at = Instant::now();
            report.mode = mode;
            report.reason = reason;
            let found = dense(snap, q, embedder, opts, effort, depth, scratch, &mut report)?;
            report.dense_ms = at.elapsed().as_secs_f64() * 1e3;
            if retrieval == Retrieval::Hybrid {
                report.reason = format!("{}; hybrid: {why}", report.reason);
            }
            found
        }
        _ => Vec::new(),
    };
    let keywords = match (retrieval, text, &snap.keywords) {
        (Retrieval::Keywords | Retrieval::Hybrid, Some(t), Some(Ok(k))) => {
            let at = Instant::now();
            let accept = |i: u32| {
                !snap.is_deleted(i) && opts.filter.as_ref().is_none_or(|f| f.matches(snap.metadata(i)))
            };
            // An adaptive fusion reads the keyword list down to its rank, even past `depth`.
            let want = match (retrieval, opts.fusion) {
                (Retrieval::Hybrid, Fusion::Adaptive { rank }) => depth.max(rank),
                _ => depth,
            };
            let found = bm25::search(snap, k, t, want, &opts.bm25, &accept)?;
            report.keyword_ms = at.elapsed().as_secs_f64() * 1e3;
            report.keyword_hits = found.len().min(depth);
            found
        }
        _ => Vec::new(),
    };
    let ranked: Vec<kw::Scored> = match retrieval {
        Retrieval::Hybrid => {
            let dense: Vec<kw::Scored> = dense.iter().map(|s| kw::Scored { node: s.1, score: s.0 }).collect();
            match opts.fusion {
                Fusion::Rrf { k } => kw::rrf(&dense, &keywords, k, opts.k)?,
                Fusion::Blend { alpha } => kw::blend(&dense, &keywords, alpha, Normalize::MinMax, opts.k)?,
                Fusion::Adaptive { rank } => kw::adaptive(&dense, &keywords, rank, depth, opts.k)?,
            }
        }
        Retrieval::Keywords => keywords,
        _ => dense.iter().take(opts.k).map(|s| kw::Scored { node: s.1, score: s.0 }).collect(),
    };
    report.hits = ranked
        .iter()
        .map(|s| Ok(SearchHit { id: snap.id(s.node)?, score: s.score }))
        .collect::<Result<_>>()?;
    report.search_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

/// The dense side in the report's mode, with `effort`: the `depth` best passages by exact score
/// (code estimates in codes-only mode), best first; fills the report's effort and costs.
#[allow(clippy::too_many_arguments)]
fn dense(
    snap: &Snapshot,
    query: &[f32],
    embedder: Option<&dyn Embedder>,
    opts: &SearchOptions,
    effort: Effort,
    depth: usize,
    scratch: &mut Scratch,
    report: &mut SearchReport,
) -> Result<Vec<Scored>> {
    let dim = snap.base.meta.dim;
    if query.len() != dim {
        return Err(Error::DimensionMismatch { expected: dim, found: query.len() });
    }
    if query.iter().any(|x| !x.is_finite()) {
        return Err(Error::InvalidArgument("query vector has a NaN or infinite value".into()));
    }
    if let Some(e) = embedder {
        snap.check_embedder(e)?;
    }
    let mode = report.mode;
    let rerank = if mode == Mode::CodesOnly { depth } else { effort.rerank.max(depth) };
    // Tombstones still occupy beam slots while they await compaction: widen the beam by the
    // share of deleted nodes (at most 4×) so the live part is searched as widely as asked.
    let widen = (snap.len() as f64 / snap.live.max(1) as f64).min(4.0);
    let beam = ((effort.beam as f64 * widen) as usize).max(rerank);
    let (top, scored, scanned) = candidates(snap, query, beam, rerank, opts, scratch)?;
    report.beam = beam;
    report.rerank = if mode == Mode::CodesOnly { 0 } else { rerank };
    report.bytes_read += (scored * snap.base.quantizer.code_bytes()) as u64;
    report.scored = scored;
    report.scanned = scanned;
    let mut exact: Vec<Scored> = match mode {
        Mode::CodesOnly => top,
        _ => exact_scores(snap, query, &top, mode, embedder, report)?,
    };
    exact.sort_by(|a, b| b.cmp(a));
    exact.truncate(depth);
    Ok(exact)
}

fn resolve_mode(snap: &Snapshot, asked: Mode, have_embedder: bool, auto: Auto) -> Result<(Mode, String)> {
    match asked {
        Mode::StoredRerank => match &snap.sidecar {
            Ok(_) => Ok((asked, "requested".into())),
            Err(why) => Err(Error::InvalidArgument(format!("stored mode needs vectors: {why}"))),
        },
        Mode::Recompute if !have_embedder => {
            Err(Error::InvalidArgument("recompute mode needs the embedding model".into()))
        }
        Mode::Recompute | Mode::CodesOnly => Ok((asked, "requested".into())),
        Mode::Auto => Ok(auto.policy.choose_mode(
            auto.device.as_ref(),
            snap.sidecar.is_ok(),
            have_embedder,
            &auto.costs,
        )),
    }
}

/// The `keep` best live, matching nodes by code estimate: a graph walk, or a scan of every code
/// when the walk finds fewer than `keep` (a selective filter, many deletions), so k hits come
/// back whenever k matching passages exist. Returns them, the codes scored, and whether it scanned.
fn candidates(
    snap: &Snapshot,
    query: &[f32],
    beam: usize,
    keep: usize,
    opts: &SearchOptions,
    scratch: &mut Scratch,
) -> Result<(Vec<Scored>, usize, bool)> {
    let Some(entry) = snap.entry else { return Ok((Vec::new(), 0, false)) };
    let quantizer = &snap.base.quantizer;
    let lut = quantizer.prepare(query)?;
    let view = snap.view();
    let score = |i: u32| {
        let c = view.code(i);
        if c.is_empty() {
            f32::MIN
        } else {
            quantizer.estimate(&lut, c)
        }
    };
    let accept =
        |i: u32| !snap.is_deleted(i) && opts.filter.as_ref().is_none_or(|f| f.matches(snap.metadata(i)));
    let filtered = opts.filter.is_some() || snap.live < snap.len();
    let found = walk(
        &view,
        entry,
        seed_count(snap.len()),
        beam,
        keep,
        score,
        filtered.then_some(&accept as &dyn Fn(u32) -> bool),
        scratch,
    );
    if found.found.len() >= keep.min(snap.live) || !filtered {
        return Ok((found.found, found.scored, false));
    }
    let mut all: Vec<Scored> =
        (0..snap.len() as u32).filter(|&i| accept(i)).map(|i| Scored(score(i), i)).collect();
    let scored = found.scored + all.len();
    all.sort_by(|a, b| b.cmp(a));
    all.truncate(keep);
    Ok((all, scored, true))
}

/// Exact scores: added passages from their vectors in memory, the rest from the sidecar or by
/// re-embedding their text.
fn exact_scores(
    snap: &Snapshot,
    query: &[f32],
    top: &[Scored],
    mode: Mode,
    embedder: Option<&dyn Embedder>,
    report: &mut SearchReport,
) -> Result<Vec<Scored>> {
    let mut out = Vec::with_capacity(top.len());
    let mut rest = Vec::new();
    for c in top {
        match snap.added(c.1) {
            Some(a) => out.push(Scored(crate::distance::dot(query, &a.vector), c.1)),
            None => rest.push(*c),
        }
    }
    match mode {
        Mode::StoredRerank => {
            let sidecar = snap.sidecar.as_ref().map_err(|why| Error::InvalidArgument(why.clone()))?;
            report.bytes_read += (rest.len() * sidecar.row_bytes()) as u64;
            for c in rest {
                let s = sidecar
                    .dot(query, c.1)
                    .ok_or_else(|| Error::Corrupt(format!("sidecar has no row {}", c.1)))?;
                out.push(Scored(s, c.1));
            }
        }
        _ => {
            let e = embedder
                .ok_or_else(|| Error::InvalidArgument("recompute mode needs the embedding model".into()))?;
            out.extend(rerank_recompute(snap, query, &rest, e, report)?);
        }
    }
    Ok(out)
}

fn rerank_recompute(
    snap: &Snapshot,
    query: &[f32],
    top: &[Scored],
    embedder: &dyn Embedder,
    report: &mut SearchReport,
) -> Result<Vec<Scored>> {
    let dim = snap.base.meta.dim;
    let mut out = Vec::with_capacity(top.len());
    let mut missing = Vec::new();
    {
        let mut cache = snap.base.cache.lock().map_err(|_| lock_poisoned())?;
        for c in top {
            match cache.get(c.1) {
                Some(v) => {
                    out.push(Scored(crate::distance::dot(query, &v), c.1));
                    report.cache_hits += 1;
                }
                None => missing.push(c.1),
            }
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    // One batch for every candidate the cache lacks: the model runs once per search.
    let texts = snap.texts(&missing)?;
    report.bytes_read += texts.iter().map(|t| t.len() as u64).sum::<u64>();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Candidates are passages: re-embedded as they were at build, so the scores match stored ones.
    let vectors = embedder.embed(&refs, TextKind::Passage)?;
    if vectors.len() != missing.len() {
        return Err(Error::Inference(format!("{} vectors for {} texts", vectors.len(), missing.len())));
    }
    report.reembedded += missing.len();
    let mut cache = snap.base.cache.lock().map_err(|_| lock_poisoned())?;
    for (&i, v) in missing.iter().zip(vectors) {
        if v.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
        }
        out.push(Scored(crate::distance::dot(query, &v), i));
        cache.put(i, v);
    }
    Ok(out)
}
