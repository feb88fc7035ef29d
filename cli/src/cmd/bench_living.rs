//! `ember bench-living`: latency of single adds and deletes, and search latency idle vs while a
//! writer adds continuously (the living-index targets).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ember_core::{
    Durability, Embedder, EmbedderConfig, Index, IndexConfig, Mode, OnnxEmbedder, OpenOptions, SearchOptions,
    Task, TextKind, VectorStorage,
};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// A BEIR corpus.jsonl: the first --base passages are indexed, the rest added one by one.
    #[arg(long)]
    corpus: PathBuf,
    /// Scratch index directory (replaced).
    #[arg(long)]
    out: PathBuf,
    /// Passages in the starting index.
    #[arg(long, default_value_t = 2000)]
    base: usize,
    /// Single-passage adds and deletes timed.
    #[arg(long, default_value_t = 100)]
    ops: usize,
    /// Searches timed in each phase (the busy phase also runs until 30 adds are done).
    #[arg(long, default_value_t = 300)]
    searches: usize,
    /// Skip the fsync before acknowledging (Durability::Buffered).
    #[arg(long)]
    buffered: bool,
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

pub fn run(args: Args) -> CliResult {
    let config = EmbedderConfig { threads: 1, ..Default::default() };
    let embedder = OnnxEmbedder::load(&args.model, &config)?;
    let records = crate::corpus::read_jsonl(&args.corpus)?;
    if records.len() < args.base + 2 * args.ops {
        return Err(
            format!("need {} passages, the corpus has {}", args.base + 2 * args.ops, records.len()).into()
        );
    }
    let passages: Vec<_> = records.into_iter().map(|r| r.into_passage()).collect();
    let (base, rest) = passages.split_at(args.base);
    let index_config = IndexConfig { vectors: VectorStorage::F16, ..IndexConfig::default() };
    let bar = crate::progress::bar(base.len() as u64, "building");
    let progress = |d: u64, _t: u64| bar.set_position(d);
    let task = Task { progress: Some(&progress), cancel: None };
    drop(Index::build(&args.out, &embedder, base, &index_config, &task)?);
    bar.finish_and_clear();
    let durability = if args.buffered { Durability::Buffered } else { Durability::Sync };
    let index = Index::open_with(&args.out, OpenOptions { durability, ..OpenOptions::default() })?;
    let queries: Vec<Vec<f32>> = embedder.embed(
        &base.iter().step_by(7).take(64).map(|p| p.text.as_str()).collect::<Vec<_>>(),
        TextKind::Query,
    )?;
    let opts = SearchOptions { k: 10, mode: Mode::StoredRerank, ..SearchOptions::default() };
    let mut add_ms = Vec::new();
    for p in &rest[..args.ops] {
        let t = Instant::now();
        index.add(std::slice::from_ref(p), &embedder, &Task::none())?;
        add_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut delete_ms = Vec::new();
    for p in &rest[..args.ops] {
        let t = Instant::now();
        index.delete(std::slice::from_ref(&p.id))?;
        delete_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let search = |n: usize| -> Result<Vec<f64>, ember_core::Error> {
        (0..n).map(|i| Ok(index.search(&queries[i % queries.len()], None, &opts)?.search_ms)).collect()
    };
    let idle = search(args.searches)?;
    let stop = AtomicBool::new(false);
    let adds = std::sync::atomic::AtomicUsize::new(0);
    let (busy, added) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            for p in rest[args.ops..].iter().cycle().take(100_000) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut p = p.clone();
                p.id = format!("{}#busy{n}", p.id);
                if index.add(std::slice::from_ref(&p), &embedder, &Task::none()).is_err() {
                    break;
                }
                n += 1;
                adds.store(n, Ordering::Relaxed);
            }
            n
        });
        let mut busy = search(args.searches);
        while adds.load(Ordering::Relaxed) < 30 {
            match (&mut busy, search(50)) {
                (Ok(b), Ok(more)) => b.extend(more),
                (_, Err(e)) => busy = Err(e),
                _ => break,
            }
        }
        stop.store(true, Ordering::Relaxed);
        (busy, writer.join().unwrap_or(0))
    });
    let busy = busy?;
    let line = serde_json::json!({
        "base_passages": args.base,
        "add_ms_p50": pct(add_ms.clone(), 0.5),
        "add_ms_p95": pct(add_ms, 0.95),
        "delete_ms_p50": pct(delete_ms.clone(), 0.5),
        "delete_ms_p95": pct(delete_ms, 0.95),
        "search_ms_p50_idle": pct(idle.clone(), 0.5),
        "search_ms_p50_while_adding": pct(busy.clone(), 0.5),
        "search_slowdown": pct(busy, 0.5) / pct(idle, 0.5).max(1e-9),
        "adds_during_busy_phase": added,
        "durability": if args.buffered { "buffered" } else { "sync" },
        "threads": std::thread::available_parallelism().map_or(0, |n| n.get()),
    });
    outln!("{line}")?;
    Ok(())
}
