//! `ember search`: query an index; with --json one line per query (a stable contract).

use std::path::PathBuf;

use ember_core::{Embedder, EmbedderConfig, Index, OnnxEmbedder, SearchOptions};

use super::{CliMode, CliResult};
use crate::corpus::read_jsonl;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Model directory (must be the model the index was built with).
    #[arg(long)]
    model: PathBuf,
    /// One query text.
    #[arg(long, conflicts_with = "queries", required_unless_present = "queries")]
    query: Option<String>,
    /// A BEIR queries.jsonl.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Hits per query.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// How exact distances are obtained.
    #[arg(long, value_enum, default_value = "auto")]
    mode: CliMode,
    /// Token limit (default: the one the index was built with).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Beam width of the graph search.
    #[arg(long, default_value_t = SearchOptions::default().beam)]
    beam: usize,
    /// Candidates given exact scores.
    #[arg(long, default_value_t = SearchOptions::default().rerank)]
    rerank: usize,
    /// Threads for embedding the query and any recomputed passages.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// One JSON line per query.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    query_id: &'a str,
    hits: &'a [ember_core::SearchHit],
    mode: &'static str,
    reembedded: usize,
    embed_ms: f64,
    search_ms: f64,
    elapsed_ms: f64,
    cache_hits: usize,
    bytes_read: u64,
    reason: &'a str,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    let max_tokens = args.max_tokens.or(index.max_tokens());
    let embedder = OnnxEmbedder::load(
        &args.model,
        &EmbedderConfig { max_tokens, threads: args.threads, ..Default::default() },
    )?;
    index.check_model(embedder.model_id())?;
    let queries: Vec<(String, String)> = match (&args.query, &args.queries) {
        (Some(q), _) => vec![("query".to_owned(), q.clone())],
        (None, Some(path)) => read_jsonl(path)?.into_iter().map(|r| (r.id, r.text)).collect(),
        (None, None) => return Err("give --query TEXT or --queries FILE".into()),
    };
    let opts = SearchOptions { k: args.k, mode: args.mode.into(), beam: args.beam, rerank: args.rerank };
    for (id, text) in &queries {
        let (report, embed_ms) = index.search_text(text, &embedder, &opts)?;
        if args.json {
            let line = Line {
                query_id: id,
                hits: &report.hits,
                mode: report.mode.name(),
                reembedded: report.reembedded,
                embed_ms,
                search_ms: report.search_ms,
                elapsed_ms: embed_ms + report.search_ms,
                cache_hits: report.cache_hits,
                bytes_read: report.bytes_read,
                reason: &report.reason,
            };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            println!(
                "{id}: {text}  [{} mode, {} re-embedded, {:.1} ms]",
                report.mode.name(),
                report.reembedded,
                embed_ms + report.search_ms
            );
            for (rank, hit) in report.hits.iter().enumerate() {
                println!("  {:>2}. {:.4}  {}", rank + 1, hit.score, hit.id);
            }
        }
    }
    Ok(())
}
