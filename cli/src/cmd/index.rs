//! `ember index`: build a lean index from a BEIR corpus.jsonl or a folder of .txt/.md files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ember_core::graph::GraphParams;
use ember_core::keywords::AnalyzerConfig;
use ember_core::text::{chunk, ChunkConfig};
use ember_core::{
    Embedder, EmbedderConfig, Index, IndexConfig, OnnxEmbedder, Passage, Prefixes, Task, TextKind,
    TextStorage, VectorStorage,
};

use super::CliResult;
use crate::corpus::{read_jsonl_with, Record};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// A BEIR corpus.jsonl, or a folder of .txt/.md files (chunked into passages).
    #[arg(long)]
    corpus: PathBuf,
    /// Index directory to create (an index already there is replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Token limit per passage (default: the model's manifest).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Full-precision vectors kept beside the index for stored-rerank search.
    #[arg(long, value_enum, default_value = "none")]
    vectors: VectorStorage,
    /// Threads for embedding.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
    /// Code dimensions: 0 = the model's full dimension; fewer (a multiple of 8) = PCA.
    #[arg(long, default_value_t = IndexConfig::default().code_dims)]
    code_dims: usize,
    /// Bits per code dimension (1–4).
    #[arg(long, default_value_t = IndexConfig::default().code_bits)]
    code_bits: u8,
    /// Graph degree of hub nodes (M).
    #[arg(long, default_value_t = IndexConfig::default().graph.max_degree)]
    max_degree: usize,
    /// Graph degree of all other nodes after pruning (m).
    #[arg(long, default_value_t = IndexConfig::default().graph.degree)]
    degree: usize,
    /// Beam width of the searches that build the graph (wider: better graph, slower build).
    #[arg(long, default_value_t = IndexConfig::default().graph.build_beam)]
    build_beam: usize,
    /// Build a keyword (BM25) index beside the vectors, for keyword and hybrid search.
    #[arg(long)]
    keywords: bool,
    /// With --keywords: index English words as written, without reducing them to their stem.
    #[arg(long, requires = "keywords")]
    no_stem: bool,
    /// Keep the passages' text in the index (`store`), or only a fingerprint of each (`none`: the
    /// app keeps the texts; `search`, `eval` and `vectors materialize` then take `--text-from`).
    #[arg(long, value_enum, default_value = "store")]
    text: TextStorage,
    /// Benchmarking aid: reuse (or save) passage embeddings in this file, keyed by model and texts.
    #[arg(long)]
    embeddings_cache: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Summary {
    passages: u64,
    dim: u64,
    model: String,
    text_bytes: u64,
    index_bytes: u64,
    sidecar_bytes: u64,
    keyword_bytes: u64,
    text_store_bytes: u64,
    dir_bytes: u64,
    index_ratio: f64,
    build_ms: f64,
    search_defaults: ember_core::SearchDefaults,
}

pub fn run(args: Args) -> CliResult {
    let start = Instant::now();
    let config = EmbedderConfig { max_tokens: args.max_tokens, threads: args.threads, ..Default::default() };
    let embedder = OnnxEmbedder::load(&args.model, &config)?;
    let passages = load_passages(&args.corpus, &embedder)?;
    let index_config = IndexConfig {
        graph: GraphParams {
            max_degree: args.max_degree,
            degree: args.degree,
            build_beam: args.build_beam,
            ..IndexConfig::default().graph
        },
        code_dims: args.code_dims,
        code_bits: args.code_bits,
        vectors: args.vectors,
        max_tokens: Some(embedder.max_tokens()),
        keywords: args.keywords.then_some(AnalyzerConfig { stem: !args.no_stem }),
        text: args.text,
        ..IndexConfig::default()
    };
    let bar = crate::progress::bar(passages.len() as u64, "embedding");
    let index = match &args.embeddings_cache {
        Some(cache) => {
            let items: Vec<(&str, &str)> =
                passages.iter().map(|p| (p.id.as_str(), p.text.as_str())).collect();
            // What the cache lacks is embedded and saved first; then the build reads its rows one
            // at a time (a cache of this corpus lists them in its order) and stages each in i8
            // (unless the sidecar is f32), so it never holds them all in f32.
            let mut rows = crate::embcache::open_rows(cache, &embedder, &items)?;
            let mut held = None;
            if rows.is_none() {
                let vectors = crate::embcache::embed_cached(Some(cache), &embedder, &items, &mut |done| {
                    bar.set_position(done as u64);
                })?;
                rows = crate::embcache::open_rows(cache, &embedder, &items)?;
                if rows.is_none() {
                    held = Some(vectors); // a cache that lists the passages in another order
                }
            }
            drop(items);
            bar.set_position(passages.len() as u64);
            let prefixes = Prefixes::of(&embedder);
            let build = |vectors: &mut dyn Iterator<Item = Vec<f32>>| {
                Index::build_with_vectors(
                    &args.out,
                    embedder.model_id(),
                    &prefixes,
                    &passages,
                    vectors,
                    &index_config,
                    Some(&embedder),
                )
            };
            match (rows, held) {
                (Some(mut rows), _) => {
                    let built = build(&mut rows);
                    rows.finish()?;
                    built?
                }
                (None, Some(vectors)) => build(&mut vectors.into_iter())?,
                (None, None) => return Err("the embeddings cache could not be read back".into()),
            }
        }
        None => {
            let progress = |done: u64, _total: u64| bar.set_position(done);
            Index::build(
                &args.out,
                &embedder,
                &passages,
                &index_config,
                &Task { progress: Some(&progress), cancel: None },
            )?
        }
    };
    bar.finish_and_clear();
    let stats = index.stats()?;
    let summary = Summary {
        passages: stats.passages,
        dim: stats.dim,
        model: embedder.model_id().to_owned(),
        text_bytes: stats.text_bytes,
        index_bytes: stats.index_bytes,
        sidecar_bytes: stats.sidecar_bytes,
        keyword_bytes: stats.keyword_bytes,
        text_store_bytes: stats.text_store_bytes,
        dir_bytes: stats.dir_bytes,
        index_ratio: stats.index_bytes as f64 / stats.text_bytes.max(1) as f64,
        build_ms: start.elapsed().as_secs_f64() * 1e3,
        search_defaults: index.search_defaults()?,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&summary)?)?;
    } else {
        outln!(
            "indexed {} passages into {} in {:.1} s: index {} bytes = {:.1}% of {} text bytes",
            summary.passages,
            args.out.display(),
            summary.build_ms / 1e3,
            summary.index_bytes,
            summary.index_ratio * 100.0,
            summary.text_bytes
        )?;
        if summary.keyword_bytes > 0 {
            let pct = 100.0 * summary.keyword_bytes as f64 / summary.text_bytes.max(1) as f64;
            outln!("keyword index {} bytes = {pct:.1}% of the text", summary.keyword_bytes)?;
        }
    }
    Ok(())
}

pub fn load_passages(
    path: &Path,
    embedder: &OnnxEmbedder,
) -> Result<Vec<Passage>, Box<dyn std::error::Error>> {
    if path.is_dir() {
        return load_folder(path, embedder);
    }
    // Each record becomes a passage as it is read: no second copy of the corpus (at a million
    // passages, 0.3 GB of titles and texts that the allocator would keep).
    Ok(read_jsonl_with(path, Record::into_passage)?)
}

/// Every .txt/.md file under `dir`, chunked to the model's token limit; ids are `path#n`.
fn load_folder(dir: &Path, embedder: &OnnxEmbedder) -> Result<Vec<Passage>, Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    // The window also holds the passage prefix the model puts first (e5's `passage: `): leave it
    // room, so no chunk is cut at the end.
    let prefix = match embedder.prefix(TextKind::Passage) {
        "" => 0,
        p => embedder.token_counts(&[p])?.first().map_or(0, |c| c.saturating_sub(2)),
    };
    let target = embedder.max_tokens().saturating_sub(2 + prefix).max(8);
    let chunk_config = ChunkConfig { target_tokens: target, overlap_tokens: target / 8 };
    // Token counts without special tokens: the chunker's budget is the model's window minus them.
    let count = |t: &str| embedder.token_counts(&[t]).map_or(usize::MAX, |c| c[0].saturating_sub(2));
    let mut out = Vec::new();
    for file in files {
        let doc = std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        let rel = file.strip_prefix(dir).unwrap_or(&file).to_string_lossy().into_owned();
        for (n, c) in chunk(&doc, &chunk_config, &count)?.iter().enumerate() {
            out.push(Passage::new(format!("{rel}#{n}"), c.text(&doc)));
        }
    }
    Ok(out)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "txt" || e == "md") {
            out.push(path);
        }
    }
    Ok(())
}
