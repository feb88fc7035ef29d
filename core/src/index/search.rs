//! Two-level search: beam search on the graph ranked by code estimates, then exact scores for the
//! best candidates by recomputing their embeddings or reading the vector sidecar.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Instant;

use super::open::Index;
use crate::{Embedder, Error, Result};

/// How exact distances are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Stored vectors if present, else recompute if an embedder is given, else codes only.
    Auto,
    /// Re-embed the candidates' text (storage-lean).
    Recompute,
    /// Read the candidates' vectors from the sidecar (compute-lean).
    StoredRerank,
    /// Rank by code estimates alone (lowest power, lower recall).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Hits returned.
    pub k: usize,
    /// How exact distances are obtained.
    pub mode: Mode,
    /// Beam width of the graph search (candidates kept while traversing).
    pub beam: usize,
    /// Candidates given an exact score (by recompute or sidecar); at least `k`.
    pub rerank: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        // Measured on 10k Debian-doc passages: beam 512 + rerank 50 reach recall@3 0.958; beam 256
        // gives 0.933 in about 60% of the time (docs/BENCHMARKS.md).
        SearchOptions { k: 10, mode: Mode::Auto, beam: 512, rerank: 50 }
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
    /// Wall time of the search (excluding embedding the query), milliseconds.
    pub search_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Scored(f32, u32);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// Reusable per-search memory: a generation-stamped visited set and the two heaps.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    visited: Vec<u32>,
    stamp: u32,
    frontier: BinaryHeap<Scored>,
    best: BinaryHeap<Reverse<Scored>>,
    neighbors: Vec<u32>,
}

impl Scratch {
    fn reset(&mut self, n: usize) {
        if self.visited.len() != n || self.stamp == u32::MAX {
            self.visited = vec![0; n];
            self.stamp = 0;
        }
        self.stamp += 1;
        self.frontier.clear();
        self.best.clear();
    }

    /// Mark `i` visited; false if it already was.
    fn visit(&mut self, i: u32) -> bool {
        match self.visited.get_mut(i as usize) {
            Some(v) if *v != self.stamp => {
                *v = self.stamp;
                true
            }
            _ => false,
        }
    }
}

impl Index {
    /// Search with an already embedded query (unit length, the index's dimension).
    ///
    /// `embedder` is needed for [`Mode::Recompute`] (and lets `Auto` choose it); it must be the
    /// model the index was built with.
    pub fn search(
        &self,
        query: &[f32],
        embedder: Option<&dyn Embedder>,
        opts: &SearchOptions,
    ) -> Result<SearchReport> {
        let start = Instant::now();
        if query.len() != self.dim() {
            return Err(Error::DimensionMismatch { expected: self.dim(), found: query.len() });
        }
        if opts.k == 0 || opts.beam == 0 {
            return Err(Error::InvalidArgument("k and beam must be at least 1".into()));
        }
        if let Some(e) = embedder {
            self.check_model(e.model_id())?;
        }
        let (mode, reason) = self.resolve_mode(opts.mode, embedder.is_some())?;
        let rerank = opts.rerank.max(opts.k);
        let beam = opts.beam.max(rerank);
        let candidates = self.beam_search(query, beam)?;
        let mut report = SearchReport {
            hits: Vec::new(),
            mode,
            reason,
            reembedded: 0,
            cache_hits: 0,
            bytes_read: (candidates.1 * self.quantizer.code_bytes()) as u64,
            scored: candidates.1,
            search_ms: 0.0,
        };
        let mut top = candidates.0;
        top.truncate(if mode == Mode::CodesOnly { opts.k } else { rerank });
        let mut exact: Vec<Scored> = match mode {
            Mode::CodesOnly => top,
            Mode::StoredRerank => self.rerank_stored(query, &top, &mut report)?,
            _ => match embedder {
                Some(e) => self.rerank_recompute(query, &top, e, &mut report)?,
                None => {
                    return Err(Error::InvalidArgument("recompute mode needs the embedding model".into()))
                }
            },
        };
        exact.sort_by(|a, b| b.cmp(a));
        exact.truncate(opts.k);
        report.hits = exact
            .iter()
            .map(|s| Ok(SearchHit { id: self.id_of(s.1)?, score: s.0 }))
            .collect::<Result<_>>()?;
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

    fn resolve_mode(&self, asked: Mode, have_embedder: bool) -> Result<(Mode, String)> {
        let sidecar = self.sidecar.as_ref().map(|_| ()).map_err(Clone::clone);
        match asked {
            Mode::StoredRerank => match sidecar {
                Ok(()) => Ok((asked, "requested".into())),
                Err(why) => Err(Error::InvalidArgument(format!("stored mode needs vectors: {why}"))),
            },
            Mode::Recompute | Mode::CodesOnly => Ok((asked, "requested".into())),
            Mode::Auto => Ok(match (sidecar, have_embedder) {
                (Ok(()), _) => (Mode::StoredRerank, "auto: vector sidecar present".into()),
                (Err(_), true) => (Mode::Recompute, "auto: no sidecar, model available".into()),
                (Err(_), false) => (Mode::CodesOnly, "auto: no sidecar and no model".into()),
            }),
        }
    }

    /// Best-first search over code estimates; returns up to `beam` candidates best first, and the
    /// number of codes scored.
    fn beam_search(&self, query: &[f32], beam: usize) -> Result<(Vec<Scored>, usize)> {
        let n = self.len();
        if n == 0 {
            return Ok((Vec::new(), 0));
        }
        let lut = self.quantizer.prepare(query)?;
        let codes = self.codes()?;
        let cb = self.quantizer.code_bytes();
        let graph = self.graph()?;
        let score = |i: u32| -> f32 {
            codes
                .get(i as usize * cb..(i as usize + 1) * cb)
                .map_or(f32::MIN, |c| self.quantizer.estimate(&lut, c))
        };
        let mut s = self.take_scratch();
        s.reset(n);
        let entry = self.graph_entry;
        s.visit(entry);
        let first = Scored(score(entry), entry);
        s.frontier.push(first);
        s.best.push(Reverse(first));
        let mut scored = 1;
        while let Some(cur) = s.frontier.pop() {
            if s.best.len() >= beam && s.best.peek().is_some_and(|w| cur.0 < w.0 .0) {
                break;
            }
            let mut nb = std::mem::take(&mut s.neighbors);
            graph.neighbors(cur.1, &mut nb);
            for &j in &nb {
                if !s.visit(j) {
                    continue;
                }
                let sc = Scored(score(j), j);
                scored += 1;
                if s.best.len() < beam || s.best.peek().is_some_and(|w| sc.0 > w.0 .0) {
                    s.frontier.push(sc);
                    s.best.push(Reverse(sc));
                    if s.best.len() > beam {
                        s.best.pop();
                    }
                }
            }
            s.neighbors = nb;
        }
        let mut out: Vec<Scored> = s.best.drain().map(|r| r.0).collect();
        out.sort_by(|a, b| b.cmp(a));
        self.return_scratch(s);
        Ok((out, scored))
    }

    fn rerank_stored(&self, query: &[f32], top: &[Scored], report: &mut SearchReport) -> Result<Vec<Scored>> {
        let sidecar = self.sidecar.as_ref().map_err(|why| Error::InvalidArgument(why.clone()))?;
        report.bytes_read += (top.len() * sidecar.row_bytes()) as u64;
        top.iter()
            .map(|c| {
                sidecar
                    .dot(query, c.1)
                    .map(|s| Scored(s, c.1))
                    .ok_or_else(|| Error::Corrupt(format!("sidecar has no row {}", c.1)))
            })
            .collect()
    }

    fn rerank_recompute(
        &self,
        query: &[f32],
        top: &[Scored],
        embedder: &dyn Embedder,
        report: &mut SearchReport,
    ) -> Result<Vec<Scored>> {
        let mut out = Vec::with_capacity(top.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.cache.lock().map_err(|_| Error::Inference("cache lock poisoned".into()))?;
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
        let texts = self.texts_of(&missing)?;
        report.bytes_read += texts.iter().map(|t| t.len() as u64).sum::<u64>();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&refs)?;
        report.reembedded += missing.len();
        let mut cache = self.cache.lock().map_err(|_| Error::Inference("cache lock poisoned".into()))?;
        for (&i, v) in missing.iter().zip(vectors) {
            if v.len() != self.dim() {
                return Err(Error::DimensionMismatch { expected: self.dim(), found: v.len() });
            }
            out.push(Scored(crate::distance::dot(query, &v), i));
            cache.put(i, v);
        }
        Ok(out)
    }

    fn take_scratch(&self) -> Scratch {
        self.scratch.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default()
    }

    fn return_scratch(&self, s: Scratch) {
        if let Ok(mut p) = self.scratch.lock() {
            if p.len() < 8 {
                p.push(s);
            }
        }
    }
}
