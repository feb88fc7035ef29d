//! `ember add`: embed and add passages to an index, reporting each durable batch (a contract:
//! with --json, one `{"acked": [ids]}` line per batch, printed only once the batch is synced).

use std::io::Write;
use std::path::PathBuf;

use ember_core::{EmbedderConfig, Index, Meter, OnnxEmbedder, Task};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Model directory (the model the index was built with).
    #[arg(long)]
    model: PathBuf,
    /// A BEIR corpus.jsonl (optional "metadata" object per line), or a folder of .txt/.md files.
    #[arg(long)]
    corpus: PathBuf,
    /// Token limit (default: the one the index was built with).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Passages per logged batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Replace passages whose id is already in the index instead of failing.
    #[arg(long)]
    update: bool,
    /// Threads for embedding.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print one JSON line per durable batch.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Acked<'a> {
    acked: Vec<&'a str>,
    /// CPU time of the batch's add (and update) calls, every thread's.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_ms: Option<f64>,
    /// Estimated energy of the batch, millijoules.
    #[serde(skip_serializing_if = "Option::is_none")]
    energy_mj: Option<f64>,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    let max_tokens = args.max_tokens.or(index.max_tokens());
    let embedder = OnnxEmbedder::load(
        &args.model,
        &EmbedderConfig { max_tokens, threads: args.threads, ..Default::default() },
    )?;
    index.check_embedder(&embedder)?;
    let passages = super::index::load_passages(&args.corpus, &embedder)?;
    let bar = (!args.json).then(|| crate::progress::bar(passages.len() as u64, "adding"));
    let mut stdout = std::io::stdout().lock();
    for batch in passages.chunks(args.batch.max(1)) {
        let meter = Meter::start();
        if args.update {
            let mut new = Vec::new();
            let mut old = Vec::new();
            for p in batch {
                if index.contains(&p.id)? {
                    old.push(p.clone())
                } else {
                    new.push(p.clone())
                }
            }
            index.add(&new, &embedder, &Task::none())?;
            index.update(&old, &embedder, &Task::none())?;
        } else {
            index.add(batch, &embedder, &Task::none())?;
        }
        if args.json {
            let cost = index.cost(&meter);
            let line = Acked {
                acked: batch.iter().map(|p| p.id.as_str()).collect(),
                cpu_ms: cost.cpu_ms,
                energy_mj: cost.energy_mj,
            };
            writeln!(stdout, "{}", serde_json::to_string(&line)?)?;
            stdout.flush()?;
        }
        if let Some(b) = &bar {
            b.inc(batch.len() as u64);
        }
    }
    index.commit()?;
    if let Some(b) = bar {
        b.finish_and_clear();
        outln!("added {} passages to {}", passages.len(), args.dir.display())?;
    }
    Ok(())
}
