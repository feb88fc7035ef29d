//! Cross-module tests: SQLite FTS5's bm25() as the reference, damaged files, search against a
//! brute-force BM25, and the pruned search against an exhaustive one on lists of many blocks.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::Error;

#[derive(serde::Deserialize)]
struct Golden {
    docs: Vec<String>,
    queries: Vec<GoldenQuery>,
}

#[derive(serde::Deserialize)]
struct GoldenQuery {
    id: String,
    text: String,
    hits: Vec<(u32, f64)>,
}

/// Scores from scripts/py/fts5_reference.py: same top-10 (up to ties) and scores within 1e-4.
#[test]
fn matches_sqlite_fts5_bm25() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/fts5_bm25.json");
    let golden: Golden = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let docs: Vec<(u32, &str)> =
        golden.docs.iter().enumerate().map(|(i, d)| (i as u32, d.as_str())).collect();
    let idx = KeywordIndex::build(&docs, &Analyzer::default()).unwrap();
    let view = KeywordView::from_bytes(idx.to_bytes()).unwrap();
    let params = Bm25Params { idf: Idf::Fts5, ..Bm25Params::default() };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1e-9);
    let mut compared = 0;
    for q in &golden.queries {
        let ours = view.search(&q.text, 10, &params, &|_| true).unwrap();
        assert_eq!(ours.len(), q.hits.len(), "{}: hit count", q.id);
        let want: HashMap<u32, f64> = q.hits.iter().copied().collect();
        let last = q.hits.last().map_or(0.0, |h| h.1);
        for (rank, (hit, (_, score))) in ours.iter().zip(&q.hits).enumerate() {
            let got = f64::from(hit.score);
            assert!(close(got, *score), "{} rank {rank}: {got} against FTS5 {score}", q.id);
            // A node FTS5 did not list may only be one tied with its 10th.
            match want.get(&hit.node) {
                Some(&s) => assert!(close(got, s), "{} node {}: {got} against {s}", q.id, hit.node),
                None => assert!(close(got, last), "{} node {} not in FTS5's top 10", q.id, hit.node),
            }
            compared += 1;
        }
    }
    assert!(compared >= 250, "only {compared} hits compared");
}

fn corpus() -> Vec<(u32, String)> {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "東京", "数据"];
    // 300 passages: the common words' lists run to several skip blocks, so the damage tests
    // below cover skip tables too.
    (0..300u32)
        .map(|i| {
            let text: Vec<&str> = (0..(i % 13 + 1)).map(|j| words[((i * 7 + j * j) % 10) as usize]).collect();
            (i * 2 + 1, text.join(" "))
        })
        .collect()
}

fn sample_bytes() -> Vec<u8> {
    let c = corpus();
    let docs: Vec<(u32, &str)> = c.iter().map(|(n, t)| (*n, t.as_str())).collect();
    KeywordIndex::build(&docs, &Analyzer::new(AnalyzerConfig { stem: true })).unwrap().to_bytes().to_vec()
}

/// Opening any damaged image either fails with a typed error or, when it passes, searching it
/// and checking all its postings never panics.
fn open_and_use(bytes: &[u8]) -> Result<(), Error> {
    let view = KeywordView::from_bytes(bytes)?;
    view.validate_postings()?;
    for q in ["alpha beta", "theta", "東京 数据", "none"] {
        view.search(q, 5, &Bm25Params::default(), &|_| true)?;
    }
    Ok(())
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample_bytes();
    open_and_use(&bytes).unwrap();
    for cut in 0..bytes.len() {
        match open_and_use(&bytes[..cut]) {
            Err(Error::Corrupt(_)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn bit_flips_are_errors() {
    let bytes = sample_bytes();
    // Every bit of the header and table, and every 7th bit after them.
    let bits = (0..192 * 8).chain((192 * 8..bytes.len() * 8).step_by(7));
    for bit in bits {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        match open_and_use(&damaged) {
            Err(Error::Corrupt(_) | Error::IncompatibleVersion { .. }) => {}
            other => panic!("bit {bit}: {other:?}"),
        }
    }
}

/// Checksums stop random damage; this checks the structural validation behind them, on images
/// whose checksums were recomputed after the damage (as a crafted file would have).
#[test]
fn rechecksummed_damage_never_panics() {
    let bytes = sample_bytes();
    let mut rng = crate::rng::SplitMix64::new(7);
    for _ in 0..3000 {
        let mut damaged = bytes.clone();
        for _ in 0..1 + rng.below(3) {
            let at = 192 + rng.below(bytes.len() - 192);
            damaged[at] ^= 1 << rng.below(8);
        }
        reseal(&mut damaged);
        let _ = open_and_use(&damaged);
    }
}

/// Recompute every section checksum, the table's and the header's.
fn reseal(bytes: &mut [u8]) {
    use crate::store::checksum;
    for s in 0..4 {
        let e = 64 + s * 32;
        let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
        let sum = checksum(&bytes[off..off + len]);
        bytes[e + 24..e + 32].copy_from_slice(&sum.to_le_bytes());
    }
    let table = checksum(&bytes[64..192]);
    bytes[48..56].copy_from_slice(&table.to_le_bytes());
    bytes[56..64].fill(0);
    let head = checksum(&bytes[..64]);
    bytes[56..64].copy_from_slice(&head.to_le_bytes());
}

/// BM25 straight from the definition, over analyzed passages.
fn brute_force(
    docs: &[(u32, String)],
    query: &str,
    analyzer: &Analyzer,
    k: usize,
    live: &dyn Fn(u32) -> bool,
) -> Vec<(u32, f64)> {
    let analyzed: Vec<(u32, Vec<String>)> = docs.iter().map(|(n, t)| (*n, analyzer.terms(t))).collect();
    let n = docs.len() as f64;
    let avg = analyzed.iter().map(|(_, t)| t.len()).sum::<usize>() as f64 / n;
    let (k1, b) = (1.2, 0.75);
    let mut scored = Vec::new();
    for (node, terms) in &analyzed {
        let mut score = 0.0;
        let mut any = false;
        for q in analyzer.terms(query) {
            let tf = terms.iter().filter(|t| **t == q).count() as f64;
            if tf == 0.0 {
                continue;
            }
            any = true;
            let df = analyzed.iter().filter(|(_, t)| t.contains(&q)).count() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            score += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * terms.len() as f64 / avg));
        }
        if any && live(*node) {
            scored.push((*node, score));
        }
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn search_equals_brute_force(
        texts in prop::collection::vec(
            prop::collection::vec(prop::sample::select(vec!["cat", "cats", "dog", "fish", "the", "a", "猫", "犬", "x1"]), 0..12),
            1..40),
        query in prop::collection::vec(prop::sample::select(vec!["cat", "dog", "fish", "the", "猫犬", "zzz", "x1"]), 1..4),
        stem: bool,
        k in 1usize..12,
        dead in 0u32..5,
    ) {
        let docs: Vec<(u32, String)> = texts.iter().enumerate().map(|(i, t)| (i as u32 * 3 + 1, t.join(" "))).collect();
        let analyzer = Analyzer::new(AnalyzerConfig { stem });
        let refs: Vec<(u32, &str)> = docs.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let bytes = KeywordIndex::build(&refs, &analyzer).unwrap().to_bytes().to_vec();
        let view = KeywordView::from_bytes(&bytes).unwrap();
        view.validate_postings().unwrap();
        let query = query.join(" ");
        let live = |n: u32| dead == 0 || n % (dead * 3 + 1) != 1;
        let got = view.search(&query, k, &Bm25Params::default(), &live).unwrap();
        let want = brute_force(&docs, &query, &analyzer, k, &live);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((f64::from(g.score) - w.1).abs() <= 1e-4 * w.1.abs().max(1e-6), "{:?} vs {:?}", got, want);
        }
        // Same nodes up to ties: each node we return has the brute-force score of its rank.
        for (g, w) in got.iter().zip(&want) {
            if g.node != w.0 {
                let theirs = want.iter().find(|x| x.0 == g.node).map(|x| x.1);
                let tie = (f64::from(g.score) - w.1).abs() <= 1e-4 * w.1.abs().max(1e-6);
                prop_assert!(tie && theirs.is_none_or(|s| (s - w.1).abs() <= 1e-4 * w.1.abs().max(1e-6)));
            }
        }
    }
}

/// Term-at-a-time over every posting, no pruning: what the pruned search must equal exactly.
fn exhaustive(view: &KeywordView<'_>, terms: &[String], k: usize, live: &dyn Fn(u32) -> bool) -> Vec<Scored> {
    let p = Bm25Params::default();
    let inv_avg = (1.0 / view.avg_len()) as f32;
    let mut acc = vec![0f32; view.node_count() as usize];
    for term in terms {
        let Some(mut list) = view.postings(term).unwrap() else { continue };
        let w = p.idf.weight(view.doc_count(), list.doc_freq()) as f32 * (p.k1 + 1.0);
        while let Some((node, tf, len)) = list.next_posting().unwrap() {
            let tf = tf as f32;
            acc[node as usize] += w * tf / (tf + p.k1 * (1.0 - p.b + p.b * len as f32 * inv_avg));
        }
    }
    let all = (0..view.node_count()).filter(|&n| acc[n as usize] > 0.0 && live(n));
    top_k(all.map(|n| Scored { node: n, score: acc[n as usize] }), k)
}

/// Zipf-like passages: a few words in most passages, many in a few.
fn zipf_corpus(n: u32, seed: u64) -> Vec<(u32, String)> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let len = 3 + rng.below(40);
            let words: Vec<String> = (0..len)
                .map(|_| {
                    // rank ~ 1/u: word 0 in about half of the draws, word 1000 rarely.
                    let u = 1 + rng.below(1000);
                    format!("w{}", 1000 / u)
                })
                .collect();
            (i * 2, words.join(" "))
        })
        .collect()
}

#[test]
fn pruned_search_equals_exhaustive_on_long_lists() {
    let docs = zipf_corpus(6000, 11);
    let refs: Vec<(u32, &str)> = docs.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let idx = KeywordIndex::build(&refs, &Analyzer::default()).unwrap();
    let view = idx.view();
    view.validate_postings().unwrap();
    let longest = view.postings("w1").unwrap().unwrap().doc_freq();
    assert!(longest > 20 * postings::SKIP_BLOCK, "w1 is in {longest} passages");
    let mut rng = crate::rng::SplitMix64::new(5);
    let mut compared = 0;
    for q in 0..300 {
        let n_terms = 1 + rng.below(6);
        let mut terms: Vec<String> =
            (0..n_terms).map(|_| format!("w{}", 1000 / (1 + rng.below(1000)))).collect();
        if q % 7 == 0 {
            terms.push(terms[0].clone()); // a term given twice counts twice
        }
        for (k, dead) in [(1, 0), (3, 0), (10, 0), (10, 3), (100, 5)] {
            let live = |n: u32| dead == 0 || (n / 2) % dead != 1;
            let got = view.search_terms(&terms, k, &Bm25Params::default(), &live).unwrap();
            let want = exhaustive(&view, &terms, k, &live);
            let bits = |v: &[Scored]| v.iter().map(|s| (s.node, s.score.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "query {terms:?}, k {k}, dead {dead}");
            compared += 1;
        }
    }
    assert_eq!(compared, 1500);
}
