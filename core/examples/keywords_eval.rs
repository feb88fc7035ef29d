//! Measures the keyword index on BEIR folders: nDCG@10 and recall@10 of BM25 (stemming off and
//! on), bytes per posting, index bytes as a share of the text, build time and search p50; then the
//! same index over ~100k passages synthesized by repeating the corpora, for the latency target.
//!
//! `cargo run --release -p ember-core --no-default-features --example keywords_eval [-- DATA_DIR]`
//! (DATA_DIR defaults to ../shared/data, holding pydocs/ and manpages/).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use ember_core::keywords::{Analyzer, AnalyzerConfig, Bm25Params, KeywordIndex};

type Qrels = HashMap<String, HashMap<String, f64>>;
type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn read_jsonl(path: &Path) -> Res<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect())
}

fn field(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

fn read_qrels(path: &Path) -> Res<Qrels> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut q: Qrels = HashMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() == 3 {
            q.entry(cols[0].into())
                .or_default()
                .insert(cols[1].into(), cols[2].trim().parse().unwrap_or(0.0));
        }
    }
    Ok(q)
}

/// nDCG@10 with graded gains (the qrels' scores), log2 discount, the ideal from the qrels; and
/// recall@10 over the passages with a positive grade.
fn metrics(ranked: &[String], rel: &HashMap<String, f64>) -> (f64, f64) {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| rel.get(d).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = rel.values().copied().filter(|&g| g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(i, g)| g / (i as f64 + 2.0).log2()).sum();
    let relevant = rel.values().filter(|&&g| g > 0.0).count();
    let found = ranked.iter().take(10).filter(|d| rel.get(*d).is_some_and(|&g| g > 0.0)).count();
    let ndcg = if idcg > 0.0 { dcg / idcg } else { 0.0 };
    let recall = if relevant > 0 { found as f64 / relevant as f64 } else { 0.0 };
    (ndcg, recall)
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

struct Set {
    ids: Vec<String>,
    texts: Vec<String>,
    queries: HashMap<String, String>,
}

fn load(dir: &Path) -> Res<Set> {
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    for d in read_jsonl(&dir.join("corpus.jsonl"))? {
        ids.push(field(&d, "_id"));
        texts.push(format!("{}\n{}", field(&d, "title"), field(&d, "text")));
    }
    let queries =
        read_jsonl(&dir.join("queries.jsonl"))?.iter().map(|q| (field(q, "_id"), field(q, "text"))).collect();
    Ok(Set { ids, texts, queries })
}

fn main() -> Res<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| "../shared/data".into());
    let root = Path::new(&root);
    let params = Bm25Params::default();
    println!("| set | stem | queries | nDCG@10 | R@10 | build ms | p50 us | B/posting | index % text | dict B | postings |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all: Vec<String> = Vec::new();
    let mut all_queries: Vec<String> = Vec::new();
    for (name, qrels_file) in [("pydocs", "test.tsv"), ("pydocs", "headings.tsv"), ("manpages", "test.tsv")] {
        let set = load(&root.join(name))?;
        let qrels = read_qrels(&root.join(name).join("qrels").join(qrels_file))?;
        let text_bytes: usize = set.texts.iter().map(String::len).sum();
        if qrels_file == "test.tsv" {
            all.extend(set.texts.iter().cloned());
            all_queries.extend(qrels.keys().filter_map(|q| set.queries.get(q).cloned()));
        }
        for stem in [false, true] {
            let analyzer = Analyzer::new(AnalyzerConfig { stem });
            let docs: Vec<(u32, &str)> =
                set.texts.iter().enumerate().map(|(i, t)| (i as u32, t.as_str())).collect();
            let t0 = Instant::now();
            let idx = KeywordIndex::build(&docs, &analyzer)?;
            let build_ms = t0.elapsed().as_secs_f64() * 1e3;
            let view = idx.view();
            let stats = view.stats();
            let (mut ndcg, mut recall, mut times) = (0.0, 0.0, Vec::new());
            let mut qids: Vec<&String> = qrels.keys().collect();
            qids.sort();
            for qid in &qids {
                let text = set.queries.get(*qid).map(String::as_str).unwrap_or("");
                let t = Instant::now();
                let hits = view.search(text, 10, &params, &|_| true)?;
                times.push(t.elapsed().as_secs_f64() * 1e6);
                let ranked: Vec<String> = hits.iter().map(|h| set.ids[h.node as usize].clone()).collect();
                let (n, r) = metrics(&ranked, &qrels[*qid]);
                ndcg += n;
                recall += r;
            }
            let nq = qids.len() as f64;
            println!(
                "| {name}/{qrels_file} | {stem} | {} | {:.3} | {:.3} | {build_ms:.0} | {:.0} | {:.2} | {:.1}% | {} | {} |",
                qids.len(),
                ndcg / nq,
                recall / nq,
                p50(times),
                stats.postings_bytes as f64 / stats.postings_count as f64,
                100.0 * stats.file_bytes as f64 / text_bytes as f64,
                stats.dict_bytes,
                stats.postings_count,
            );
        }
    }

    // ~100k passages: the two corpora repeated under new node ids (each copy's terms are the same,
    // so document frequencies grow with the copies as a real larger corpus's common terms do).
    let copies = 100_000usize.div_ceil(all.len());
    let per_copy = all.len();
    let all = &all;
    let big: Vec<(u32, &str)> = (0..copies)
        .flat_map(|c| all.iter().enumerate().map(move |(i, t)| ((c * per_copy + i) as u32, t.as_str())))
        .collect();
    let text_bytes: usize = big.iter().map(|d| d.1.len()).sum();
    for stem in [false, true] {
        let analyzer = Analyzer::new(AnalyzerConfig { stem });
        let t0 = Instant::now();
        let idx = KeywordIndex::build(&big, &analyzer)?;
        let build_ms = t0.elapsed().as_secs_f64() * 1e3;
        let view = idx.view();
        let stats = view.stats();
        let mut times = Vec::new();
        for q in &all_queries {
            let t = Instant::now();
            let hits = view.search(q, 10, &params, &|_| true)?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(hits);
        }
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "| synthetic {} passages ({copies} copies) | {stem} | {} | - | - | {build_ms:.0} | {:.0} (p90 {:.0}) | {:.2} | {:.1}% | {} | {} |",
            big.len(),
            all_queries.len(),
            p50(times),
            sorted[sorted.len() * 9 / 10],
            stats.postings_bytes as f64 / stats.postings_count as f64,
            100.0 * stats.file_bytes as f64 / text_bytes as f64,
            stats.dict_bytes,
            stats.postings_count,
        );
    }
    Ok(())
}
