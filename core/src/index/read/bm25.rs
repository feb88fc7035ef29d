//! BM25 over a snapshot's keyword file and the passages added since, as one collection: N, the
//! average length and each term's document frequency count both parts.

use crate::index::keyword::Keywords;
use crate::index::snapshot::Snapshot;
use crate::keywords::{top_k, Bm25Params, Corpus, Scored};
use crate::Result;

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
