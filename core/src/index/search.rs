//! Two-level search: beam search on the graph ranked by code estimates, then exact scores for the
//! best candidates by recomputing their embeddings or reading the vector sidecar.

use std::time::Instant;

use super::filter::Filter;
use super::open::{lock_poisoned, Index};
use super::snapshot::Snapshot;
use super::walk::{seed_count, walk, Scored};
use crate::{Embedder, Error, Result};

/// How exact distances are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Mode {
    /// Stored vectors if present, else recompute if an embedder is given, else codes only.
    Auto,
    /// Re-embed the candidates' text (storage-lean).
    Recompute,
    /// Read the candidates' vectors from the sidecar (compute-lean).
    #[cfg_attr(feature = "clap", value(name = "stored"))]
    StoredRerank,
    /// Rank by code estimates alone (lowest power, lower recall).
    #[cfg_attr(feature = "clap", value(name = "codes"))]
    CodesOnly,
}

impl Mode {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Recompute => "recompute",
            Mode::StoredRerank => "stored",
            Mode::CodesOnly => "codes",
        }
    }
}

/// Search knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Hits returned.
    pub k: usize,
    /// How exact distances are obtained.
    pub mode: Mode,
    /// Beam width of the graph search (candidates kept while traversing).
    pub beam: usize,
    /// Candidates given an exact score (by recompute or sidecar); at least `k`.
    pub rerank: usize,
    /// Only passages whose metadata matches are returned (applied during traversal).
    pub filter: Option<Filter>,
}

impl SearchOptions {
    /// Hits returned by default.
    pub const DEFAULT_K: usize = 10;
    /// Default beam width. Measured on 10k Debian-doc passages: beam 512 + rerank 50 reach
    /// recall@3 0.958; beam 256 gives 0.933 in about 60% of the time (docs/BENCHMARKS.md).
    pub const DEFAULT_BEAM: usize = 512;
    /// Default number of candidates given an exact score.
    pub const DEFAULT_RERANK: usize = 50;
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: Self::DEFAULT_K,
            mode: Mode::Auto,
            beam: Self::DEFAULT_BEAM,
            rerank: Self::DEFAULT_RERANK,
            filter: None,
        }
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    /// The app's passage id.
    pub id: String,
    /// Inner product with the query (cosine similarity): exact, or estimated in codes-only mode.
    pub score: f32,
}

/// Results and what they cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchReport {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// The mode that ran (never `Auto`).
    pub mode: Mode,
    /// Why that mode (for `Auto`).
    pub reason: String,
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
    /// Wall time of the search (excluding embedding the query), milliseconds.
    pub search_ms: f64,
}

impl Index {
    /// Search with an already embedded query (unit length, the index's dimension).
    ///
    /// `embedder` is needed for [`Mode::Recompute`] (and lets `Auto` choose it); it must be the
    /// model the index was built with. The search runs on the snapshot current when it starts.
    pub fn search(
        &self,
        query: &[f32],
        embedder: Option<&dyn Embedder>,
        opts: &SearchOptions,
    ) -> Result<SearchReport> {
        let start = Instant::now();
        let snap = self.snapshot()?;
        let dim = snap.base.meta.dim;
        if query.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, found: query.len() });
        }
        if query.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidArgument("query vector has a NaN or infinite value".into()));
        }
        if opts.k == 0 || opts.beam == 0 {
            return Err(Error::InvalidArgument("k and beam must be at least 1".into()));
        }
        if let Some(e) = embedder {
            self.check_model(e.model_id())?;
        }
        let (mode, reason) = self.resolve_mode(&snap, opts.mode, embedder.is_some())?;
        let rerank = if mode == Mode::CodesOnly { opts.k } else { opts.rerank.max(opts.k) };
        // Tombstones still occupy beam slots while they await compaction: widen the beam by the
        // share of deleted nodes (at most 4×) so the live part is searched as widely as asked.
        let widen = (snap.len() as f64 / snap.live.max(1) as f64).min(4.0);
        let beam = ((opts.beam as f64 * widen) as usize).max(rerank);
        let (top, scored, scanned) = self.candidates(&snap, query, beam, rerank, opts)?;
        let mut report = SearchReport {
            hits: Vec::new(),
            mode,
            reason,
            reembedded: 0,
            cache_hits: 0,
            bytes_read: (scored * snap.base.quantizer.code_bytes()) as u64,
            scored,
            scanned,
            search_ms: 0.0,
        };
        let mut exact: Vec<Scored> = match mode {
            Mode::CodesOnly => top,
            _ => self.rerank(&snap, query, &top, mode, embedder, &mut report)?,
        };
        exact.sort_by(|a, b| b.cmp(a));
        exact.truncate(opts.k);
        report.hits =
            exact.iter().map(|s| Ok(SearchHit { id: snap.id(s.1)?, score: s.0 })).collect::<Result<_>>()?;
        report.search_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// Embed `text` with `embedder` and search; returns the report and the query-embedding time.
    pub fn search_text(
        &self,
        text: &str,
        embedder: &dyn Embedder,
        opts: &SearchOptions,
    ) -> Result<(SearchReport, f64)> {
        self.check_model(embedder.model_id())?;
        let start = Instant::now();
        let q = embedder.embed(&[text])?.pop().ok_or_else(|| Error::Inference("no query vector".into()))?;
        let embed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok((self.search(&q, Some(embedder), opts)?, embed_ms))
    }

    fn resolve_mode(&self, snap: &Snapshot, asked: Mode, have_embedder: bool) -> Result<(Mode, String)> {
        match asked {
            Mode::StoredRerank => match &snap.sidecar {
                Ok(_) => Ok((asked, "requested".into())),
                Err(why) => Err(Error::InvalidArgument(format!("stored mode needs vectors: {why}"))),
            },
            Mode::Recompute if !have_embedder => {
                Err(Error::InvalidArgument("recompute mode needs the embedding model".into()))
            }
            Mode::Recompute | Mode::CodesOnly => Ok((asked, "requested".into())),
            Mode::Auto => {
                let device = self.device_state();
                Ok(self.opts.policy.choose_mode(device.as_ref(), snap.sidecar.is_ok(), have_embedder))
            }
        }
    }

    /// The `keep` best live, matching nodes by code estimate: a graph walk, or a scan of every code
    /// when the walk finds fewer than `keep` (a selective filter, many deletions), so k hits come
    /// back whenever k matching passages exist. Returns them, the codes scored, and whether it scanned.
    fn candidates(
        &self,
        snap: &Snapshot,
        query: &[f32],
        beam: usize,
        keep: usize,
        opts: &SearchOptions,
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
        let mut scratch = self.take_scratch();
        let found = walk(
            &view,
            entry,
            seed_count(snap.len()),
            beam,
            keep,
            score,
            filtered.then_some(&accept as &dyn Fn(u32) -> bool),
            &mut scratch,
        );
        self.return_scratch(scratch);
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
    fn rerank(
        &self,
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
                let e = embedder.ok_or_else(|| {
                    Error::InvalidArgument("recompute mode needs the embedding model".into())
                })?;
                out.extend(self.rerank_recompute(snap, query, &rest, e, report)?);
            }
        }
        Ok(out)
    }

    fn rerank_recompute(
        &self,
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
        let vectors = embedder.embed(&refs)?;
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
}
