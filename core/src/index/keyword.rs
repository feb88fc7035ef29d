//! The keyword half of a living index: the generation's keyword file (`keywords-N.ember`, built
//! from the segment's live passages at build, commit, compaction or `build_keywords`), the terms of
//! passages added since (analyzed once, when logged or replayed), and BM25 over both as one
//! collection: N, the average length and each term's document frequency count both parts.

use std::path::Path;
use std::sync::Arc;

use super::files;
use super::segment::load::Base;
use super::snapshot::Snapshot;
use crate::keywords::{
    top_k, Analyzer, AnalyzerConfig, Bm25Params, Corpus, KeywordFile, KeywordIndex, Scored,
};
use crate::store::Storage;
use crate::Result;

/// A generation's keyword file, validated, and the analyzer it was built with.
#[derive(Debug)]
pub(crate) struct Keywords {
    pub file: KeywordFile,
    pub analyzer: Analyzer,
}

/// A snapshot's keyword index: `None` without one; `Some(Err(why))` when its file is present but
/// refused (searches that need it get a typed error, `Retrieval::Auto` falls back to dense).
pub(crate) type KeywordState = Option<std::result::Result<Arc<Keywords>, String>>;

/// The terms of one added passage: distinct terms in byte order with their frequency, and its
/// length in terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocTerms {
    pub terms: Vec<(String, u32)>,
    pub len: u32,
}

impl Keywords {
    /// Analyze an added passage as the file's passages were.
    pub fn analyze(&self, text: &str) -> DocTerms {
        let mut all = self.analyzer.terms(text);
        let len = u32::try_from(all.len()).unwrap_or(u32::MAX);
        all.sort_unstable();
        let mut terms: Vec<(String, u32)> = Vec::new();
        for t in all {
            match terms.last_mut() {
                Some((last, n)) if *last == t => *n += 1,
                _ => terms.push((t, 1)),
            }
        }
        DocTerms { terms, len }
    }

    /// Bytes of the file.
    pub fn file_bytes(&self) -> u64 {
        self.file.view().stats().file_bytes
    }
}

/// Open the keyword file of `base`'s generation, if there is one. It must cover at most the
/// segment's passages (its file name ties it to the generation; other generations' files are
/// removed at open).
pub(crate) fn open(dir: &Path, base: &Base) -> KeywordState {
    let path = dir.join(files::keywords(base.generation));
    if std::fs::symlink_metadata(&path).is_err() {
        return None;
    }
    let opened = KeywordFile::open(&path).map_err(|e| e.to_string()).and_then(|file| {
        let view = file.view();
        if view.node_count() as usize > base.len() || view.doc_count() as usize > base.len() {
            return Err(format!(
                "keyword index: covers {} nodes, the segment has {}",
                view.node_count(),
                base.len()
            ));
        }
        let analyzer = Analyzer::new(view.analyzer_config());
        Ok(Arc::new(Keywords { file, analyzer }))
    });
    Some(opened)
}

/// Build and write (atomically) the keyword file of `generation` over `docs`: (node in that
/// generation's segment, text) of its live passages.
pub(crate) fn write(
    storage: &dyn Storage,
    dir: &Path,
    generation: u64,
    docs: &[(u32, &str)],
    config: AnalyzerConfig,
) -> Result<()> {
    let index = KeywordIndex::build(docs, &Analyzer::new(config))?;
    index.write(storage, &dir.join(files::keywords(generation)))
}

/// An added passage holding query terms: its node, length, and (query position, tf) pairs.
struct Match {
    node: u32,
    len: u32,
    hit: Vec<(usize, u32)>,
}

/// The `k` best passages `accept`ed (live, matching the filter) for `text`, by BM25 over the
/// keyword file and the passages added since, best first. Passages with no query term are never
/// returned; every accepted match is considered, so k come back whenever k match.
pub(crate) fn search(
    snap: &Snapshot,
    kw: &Keywords,
    text: &str,
    k: usize,
    params: &Bm25Params,
    accept: &dyn Fn(u32) -> bool,
) -> Result<Vec<Scored>> {
    params.check()?;
    let terms = kw.analyzer.terms(text);
    if k == 0 || terms.is_empty() {
        return Ok(Vec::new());
    }
    let view = kw.file.view();
    // The added passages' share of the statistics, and those holding a query term. Like the
    // file's, these count passages deleted since until the next commit.
    let mut extra_df = vec![0u32; terms.len()];
    let (mut docs, mut total_len) = (view.doc_count(), view.total_len());
    let mut matches: Vec<Match> = Vec::new();
    let n_base = snap.base.len() as u32;
    for (j, added) in snap.added.iter().enumerate() {
        let Some(doc) = &added.terms else { continue };
        docs = docs.saturating_add(1);
        total_len += u64::from(doc.len);
        let mut hit = Vec::new();
        for (at, t) in terms.iter().enumerate() {
            if let Ok(p) = doc.terms.binary_search_by(|(x, _)| x.as_str().cmp(t)) {
                extra_df[at] += 1;
                hit.push((at, doc.terms[p].1));
            }
        }
        let node = n_base + j as u32;
        if !hit.is_empty() && accept(node) {
            matches.push(Match { node, len: doc.len, hit });
        }
    }
    let corpus = Corpus { docs, total_len };
    let mut found = view.search_terms_in(&terms, k, params, accept, &corpus, &extra_df)?;
    if matches.is_empty() {
        return Ok(found);
    }
    let mut weights = Vec::with_capacity(terms.len());
    for (at, t) in terms.iter().enumerate() {
        let file_df = view.postings(t)?.map_or(0, |p| p.doc_freq());
        weights.push(corpus.weight(params, file_df.saturating_add(extra_df[at])));
    }
    let contribution = corpus.contribution(params);
    for Match { node, len, hit } in matches {
        // Summed in query-term order, as the file's scores are.
        let score = hit.iter().map(|&(at, tf)| contribution(weights[at], tf, len)).sum();
        found.push(Scored { node, score });
    }
    Ok(top_k(found, k))
}
