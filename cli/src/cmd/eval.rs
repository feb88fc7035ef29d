//! `ember eval`: recall against exact brute force (passages embedded afresh), nDCG@10 against
//! qrels, latency percentiles, passages re-embedded and bytes — one JSON line per knob setting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ember_core::{
    Embedder, EmbedderConfig, Fusion, Index, Mode, OnnxEmbedder, Retrieval, SearchOptions, TextKind,
};

use super::CliResult;
use crate::corpus::read_jsonl;
use crate::knob::Knob;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Model directory (the model the index was built with).
    #[arg(long)]
    model: PathBuf,
    /// A BEIR queries.jsonl.
    #[arg(long)]
    queries: PathBuf,
    /// A BEIR qrels .tsv (query-id, corpus-id, score) for nDCG@10.
    #[arg(long)]
    qrels: Option<PathBuf>,
    /// Hits per query.
    #[arg(short, default_value_t = SearchOptions::DEFAULT_K)]
    k: usize,
    /// Retrievals to measure (comma-separated; auto: hybrid when the index has keywords).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "auto")]
    retrieval: Vec<Retrieval>,
    /// Fusions to measure for hybrid retrieval (comma-separated adaptive[:RANK], rrf[:K] or
    /// blend[:ALPHA]).
    #[arg(long, value_delimiter = ',', default_values_t = [Fusion::default()])]
    fusion: Vec<Fusion>,
    /// Modes to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "auto")]
    mode: Vec<Mode>,
    /// Beam widths to measure (comma-separated numbers; `auto`: the index's default for the mode).
    #[arg(long, value_delimiter = ',', default_values_t = [Knob(None)])]
    beam: Vec<Knob>,
    /// Rerank counts to measure (comma-separated numbers; `auto`: the index's default for the mode).
    #[arg(long, value_delimiter = ',', default_values_t = [Knob(None)])]
    rerank: Vec<Knob>,
    /// Use only the first N queries (0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Byte budget of the recomputed-embedding cache, kept across the queries of one setting
    /// (0 = every query recomputes all its candidates).
    #[arg(long, default_value_t = ember_core::index::DEFAULT_CACHE_BYTES)]
    cache_bytes: usize,
    /// Threads for embedding (the truth, and recomputing candidates during searches).
    #[arg(long, default_value_t = 2)]
    search_threads: usize,
    /// Threads for embedding the truth.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    text_from: crate::corpus::TextFrom,
    /// Benchmarking aid: take the truth's passage embeddings from this file when its key (model,
    /// ids and texts) matches, instead of embedding them again.
    #[arg(long)]
    embeddings_cache: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Row {
    retrieval: &'static str,
    fusion: String,
    mode: &'static str,
    beam: usize,
    rerank: usize,
    k: usize,
    queries: usize,
    #[serde(rename = "recall@1")]
    recall1: f64,
    #[serde(rename = "recall@3")]
    recall3: f64,
    #[serde(rename = "recall@10")]
    recall10: f64,
    /// Strict id overlap (duplicate texts make even exact search miss some ids).
    #[serde(rename = "id_recall@3")]
    id_recall3: f64,
    #[serde(rename = "ndcg@10")]
    ndcg10: Option<f64>,
    embed_ms_p50: f64,
    search_ms_p50: f64,
    search_ms_p95: f64,
    elapsed_ms_p50: f64,
    elapsed_ms_p95: f64,
    reembedded_mean: f64,
    cache_hits_mean: f64,
    bytes_read_mean: f64,
    index_bytes: u64,
    text_bytes: u64,
    sidecar_bytes: u64,
    passages: u64,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    args.text_from.apply(&index)?;
    let max_tokens = index.max_tokens();
    let truth_embedder = OnnxEmbedder::load(
        &args.model,
        &EmbedderConfig { max_tokens, threads: args.threads, ..Default::default() },
    )?;
    let embedder = OnnxEmbedder::load(
        &args.model,
        &EmbedderConfig { max_tokens, threads: args.search_threads, ..Default::default() },
    )?;
    index.check_embedder(&embedder)?;
    let mut queries = read_jsonl(&args.queries)?;
    if args.limit > 0 {
        queries.truncate(args.limit);
    }
    let qrels = args.qrels.as_deref().map(read_qrels).transpose()?;
    let items = index.live_texts()?;
    let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
    let n = ids.len();
    let position: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    // Exact truth: every passage embedded afresh with the same model and token limit.
    let bar = crate::progress::bar(n as u64, "embedding passages for the exact truth");
    let pairs: Vec<(&str, &str)> = items.iter().map(|(id, t)| (id.as_str(), t.as_str())).collect();
    let corpus =
        crate::embcache::embed_cached(args.embeddings_cache.as_deref(), &truth_embedder, &pairs, &mut |d| {
            bar.set_position(d as u64)
        })?;
    bar.finish_and_clear();
    let k_truth = 10.max(args.k);
    let mut qvecs = Vec::with_capacity(queries.len());
    let mut embed_ms = Vec::with_capacity(queries.len());
    let mut truth = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        let v = embedder.embed(&[q.text.as_str()], TextKind::Query)?.pop().ok_or("no query vector")?;
        embed_ms.push(t.elapsed().as_secs_f64() * 1e3);
        truth.push(exact_top(&corpus, &v, k_truth));
        qvecs.push(v);
    }
    let stats = index.stats()?;
    let mut runs = Vec::new();
    for &retrieval in &args.retrieval {
        for &fusion in &args.fusion {
            for &mode in &args.mode {
                for &beam in &args.beam {
                    runs.extend(args.rerank.iter().map(|&rerank| (retrieval, fusion, mode, beam, rerank)));
                }
            }
        }
    }
    for (retrieval, fusion, mode, beam, rerank) in runs {
        index.set_cache_bytes(args.cache_bytes)?;
        let opts = SearchOptions {
            k: args.k,
            mode,
            beam: beam.0,
            rerank: rerank.0,
            retrieval,
            fusion,
            ..SearchOptions::default()
        };
        let mut r = [0f64; 3];
        let mut id_r3 = 0f64;
        let (mut ndcg, mut judged) = (0f64, 0usize);
        let (mut search_ms, mut elapsed_ms) = (Vec::new(), Vec::new());
        let (mut reembedded, mut cache_hits, mut bytes) = (0usize, 0usize, 0u64);
        let (mut ran, mut ran_retrieval) = ("", "");
        // The effort that ran (a default resolves per index and mode).
        let (mut beam, mut rerank) = (beam.0.unwrap_or(0), rerank.0.unwrap_or(0));
        for (qi, q) in queries.iter().enumerate() {
            let report = index.search_query(Some(&q.text), Some(&qvecs[qi]), Some(&embedder), &opts)?;
            ran = report.mode.name();
            ran_retrieval = report.retrieval.name();
            (beam, rerank) = (report.beam, report.rerank);
            let got: Vec<usize> =
                report.hits.iter().filter_map(|h| position.get(h.id.as_str()).copied()).collect();
            for (slot, at) in [1usize, 3, 10].iter().enumerate() {
                r[slot] += tie_aware_recall(&got, &truth[qi], &corpus, &qvecs[qi], *at);
            }
            let want = &truth[qi][..3.min(truth[qi].len())];
            id_r3 +=
                got.iter().take(3).filter(|g| want.contains(g)).count() as f64 / want.len().max(1) as f64;
            if let Some(qrels) = &qrels {
                if let Some(rel) = qrels.get(&q.id) {
                    let hit_ids: Vec<&str> = report.hits.iter().map(|h| h.id.as_str()).collect();
                    ndcg += ndcg_at_10(&hit_ids, rel);
                    judged += 1;
                }
            }
            search_ms.push(report.search_ms);
            elapsed_ms.push(report.search_ms + embed_ms[qi]);
            reembedded += report.reembedded;
            cache_hits += report.cache_hits;
            bytes += report.bytes_read;
        }
        let nq = queries.len().max(1) as f64;
        let row = Row {
            retrieval: ran_retrieval,
            fusion: fusion.to_string(),
            mode: ran,
            beam,
            rerank,
            k: args.k,
            queries: queries.len(),
            recall1: r[0] / nq,
            recall3: r[1] / nq,
            recall10: r[2] / nq,
            id_recall3: id_r3 / nq,
            ndcg10: qrels.as_ref().map(|_| ndcg / judged.max(1) as f64),
            embed_ms_p50: percentile(&mut embed_ms.clone(), 0.5),
            search_ms_p50: percentile(&mut search_ms, 0.5),
            search_ms_p95: percentile(&mut search_ms, 0.95),
            elapsed_ms_p50: percentile(&mut elapsed_ms, 0.5),
            elapsed_ms_p95: percentile(&mut elapsed_ms, 0.95),
            reembedded_mean: reembedded as f64 / nq,
            cache_hits_mean: cache_hits as f64 / nq,
            bytes_read_mean: bytes as f64 / nq,
            index_bytes: stats.index_bytes,
            text_bytes: stats.text_bytes,
            sidecar_bytes: stats.sidecar_bytes,
            passages: stats.passages,
        };
        if args.json {
            outln!("{}", serde_json::to_string(&row)?)?;
        } else {
            outln!(
                        "{:<8} {:<9} beam {:>4} rerank {:>3}: R@1 {:.3} R@3 {:.3} R@10 {:.3} nDCG@10 {} search p50 {:.3} ms p95 {:.3} ms elapsed p50 {:.1} ms re-embedded {:.1}",
                        row.retrieval, row.mode, beam, rerank, row.recall1, row.recall3, row.recall10,
                        row.ndcg10.map_or("-".into(), |v| format!("{v:.3}")),
                        row.search_ms_p50, row.search_ms_p95, row.elapsed_ms_p50, row.reembedded_mean
                    )?;
        }
    }
    Ok(())
}

/// Share of the top `k` hits whose exact score reaches the true k-th best score: identical
/// passages (the man pages hold many aliases) tie, and any of them is a correct answer.
fn tie_aware_recall(got: &[usize], truth: &[usize], corpus: &[Vec<f32>], q: &[f32], k: usize) -> f64 {
    let k = k.min(truth.len());
    if k == 0 {
        return 1.0;
    }
    let kth = ember_core::distance::dot(&corpus[truth[k - 1]], q) - 1e-5;
    let found = got.iter().take(k).filter(|&&g| ember_core::distance::dot(&corpus[g], q) >= kth).count();
    found as f64 / k as f64
}

/// Indices of the `k` passages with the highest inner product, best first.
fn exact_top(corpus: &[Vec<f32>], q: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> =
        corpus.iter().enumerate().map(|(i, v)| (ember_core::distance::dot(v, q), i)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|s| s.1).collect()
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let at = ((values.len() - 1) as f64 * p).round() as usize;
    values[at.min(values.len() - 1)]
}

type Qrels = HashMap<String, HashMap<String, f64>>;

fn read_qrels(path: &Path) -> Result<Qrels, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut out: Qrels = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let Ok(score) = cols[2].trim().parse::<f64>() else {
            if n == 0 {
                continue; // header
            }
            return Err(format!("{}:{}: bad score", path.display(), n + 1).into());
        };
        out.entry(cols[0].to_owned()).or_default().insert(cols[1].to_owned(), score);
    }
    Ok(out)
}

fn ndcg_at_10(hits: &[&str], rel: &HashMap<String, f64>) -> f64 {
    let dcg: f64 = hits
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, h)| rel.get(*h).copied().unwrap_or(0.0) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = rel.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(i, g)| g / ((i + 2) as f64).log2()).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}
