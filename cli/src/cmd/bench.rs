//! `ember bench-embed`: embedding throughput over batch sizes and thread counts.

use std::path::PathBuf;
use std::time::Instant;

use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder, TextKind};

use super::CliResult;
use crate::corpus::read_jsonl;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// BEIR corpus.jsonl to take passages from.
    #[arg(long)]
    corpus: PathBuf,
    /// Passages per measurement.
    #[arg(long, default_value_t = 256)]
    n: usize,
    /// Token limits to measure.
    #[arg(long, value_delimiter = ',', default_value = "128,256")]
    max_tokens: Vec<usize>,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    batch: Vec<usize>,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Join consecutive passages so every input fills the token limit (measures exactly N tokens).
    #[arg(long)]
    full: bool,
    /// One JSON object per measurement.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    runtime: String,
    model: String,
    max_tokens: usize,
    batch: usize,
    threads: usize,
    n: usize,
    mean_tokens: f64,
    passages_per_s: f64,
}

pub fn run(args: Args) -> CliResult {
    let records = read_jsonl(&args.corpus)?;
    let passages: Vec<String> = records.iter().map(|r| r.passage()).collect();
    if passages.is_empty() {
        return Err("the corpus has no passages".into());
    }
    for &max_tokens in &args.max_tokens {
        for &threads in &args.threads {
            for &batch in &args.batch {
                let config = EmbedderConfig { max_tokens: Some(max_tokens), threads, batch_size: batch };
                let embedder = OnnxEmbedder::load(&args.model, &config)?;
                let inputs =
                    if args.full { fill(&embedder, &passages, args.n)? } else { cycle(&passages, args.n) };
                let texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let counts = embedder.token_counts(&texts)?;
                // Warm-up compiles every plan the timed run needs.
                embedder.embed(&texts, TextKind::Passage)?;
                let start = Instant::now();
                embedder.embed(&texts, TextKind::Passage)?;
                let secs = start.elapsed().as_secs_f64();
                let row = Row {
                    runtime: format!("ember-{}", embedder.engine()),
                    model: embedder.model_id().to_owned(),
                    max_tokens,
                    batch,
                    threads,
                    n: texts.len(),
                    mean_tokens: counts.iter().sum::<usize>() as f64 / counts.len() as f64,
                    passages_per_s: texts.len() as f64 / secs,
                };
                if args.json {
                    outln!("{}", serde_json::to_string(&row)?)?;
                } else {
                    outln!(
                        "max_tokens {:>3}  threads {}  batch {:>2}  mean tokens {:>5.1}  {:>7.1} passages/s",
                        row.max_tokens,
                        row.threads,
                        row.batch,
                        row.mean_tokens,
                        row.passages_per_s
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn cycle(passages: &[String], n: usize) -> Vec<String> {
    passages.iter().cycle().take(n).cloned().collect()
}

/// Inputs of at least `max_tokens` tokens each, made by joining consecutive passages.
fn fill(
    embedder: &OnnxEmbedder,
    passages: &[String],
    n: usize,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(n);
    let mut it = passages.iter().cycle();
    while out.len() < n {
        let mut text = String::new();
        for p in it.by_ref() {
            text.push_str(p);
            text.push('\n');
            if embedder.token_counts(&[&text])?[0] >= embedder.max_tokens() {
                break;
            }
        }
        out.push(text);
    }
    Ok(out)
}
