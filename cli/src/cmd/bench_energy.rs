//! `ember bench-energy`: CPU time and estimated energy per query for each mode and thread count,
//! the cost of materializing the vector sidecar, and after how many searches it pays for itself.
//! Each search's `cpu_ms` is also checked against the process CPU time (getrusage) around it.

use std::path::PathBuf;

use ember_core::cpu::process_cpu_ns;
use ember_core::{
    Embedder, EmbedderConfig, EnergyProfile, Index, Meter, Mode, OnnxEmbedder, OpenOptions, Policy,
    Precision, SearchOptions, Task,
};

use super::CliResult;
use crate::corpus::read_jsonl;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Profile {
    /// Kirin 960 big core (docs/architecture.md, "Energy").
    Phone,
    /// x86 laptop core.
    Laptop,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory, left as found (a sidecar the run built is dropped again).
    dir: PathBuf,
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Queries (BEIR queries.jsonl).
    #[arg(long)]
    queries: PathBuf,
    /// Queries per measurement.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Energy profile the estimates use.
    #[arg(long, value_enum, default_value = "phone")]
    profile: Profile,
    /// Whether to measure materializing the sidecar (it re-embeds every passage: at 100k passages
    /// and more, hours).
    #[arg(long, value_enum, default_value = "auto")]
    materialize: Materialize,
    /// One JSON object per measurement.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Materialize {
    /// Only when the index has no sidecar; stored searches then use the one built. An existing
    /// sidecar is used as it is, and no break-even is printed.
    Auto,
    /// Always: an existing sidecar is dropped and rebuilt (measured), then the break-even printed.
    Always,
    /// Never: stored searches are measured only when the index has a sidecar.
    Never,
}

#[derive(serde::Serialize, Clone)]
struct Row {
    what: String,
    threads: usize,
    count: usize,
    /// Mean CPU time per call, every thread's (the reports' `cpu_ms`).
    cpu_ms: f64,
    /// Mean estimated energy per call.
    energy_mj: f64,
    /// Mean wall time per call.
    wall_ms: f64,
    /// Sum of `cpu_ms` over the sum of process CPU time (getrusage) around each call.
    cpu_vs_rusage: f64,
    /// The single call furthest from its getrusage figure (ratio).
    worst_cpu_vs_rusage: f64,
}

/// Metered `n` calls of `f`, each between two getrusage reads.
fn measure(
    what: &str,
    threads: usize,
    n: usize,
    mut f: impl FnMut(usize) -> Result<(Option<f64>, f64), Box<dyn std::error::Error>>,
    profile: &EnergyProfile,
) -> Result<Row, Box<dyn std::error::Error>> {
    let (mut cpu, mut rusage, mut wall, mut worst) = (0.0, 0.0, 0.0, 1.0f64);
    for i in 0..n {
        let before = process_cpu_ns().ok_or("no process CPU clock")?;
        let (cpu_ms, wall_ms) = f(i)?;
        let after = process_cpu_ns().ok_or("no process CPU clock")?;
        let cpu_ms = cpu_ms.ok_or("no per-thread CPU clock on this platform")?;
        let r = after.saturating_sub(before) as f64 / 1e6;
        if r > 0.0 && ((cpu_ms / r) - 1.0).abs() > (worst - 1.0).abs() {
            worst = cpu_ms / r;
        }
        cpu += cpu_ms;
        rusage += r;
        wall += wall_ms;
    }
    let n = n.max(1) as f64;
    Ok(Row {
        what: what.into(),
        threads,
        count: n as usize,
        cpu_ms: cpu / n,
        energy_mj: profile.energy_mj(cpu / n),
        wall_ms: wall / n,
        cpu_vs_rusage: if rusage > 0.0 { cpu / rusage } else { f64::NAN },
        worst_cpu_vs_rusage: worst,
    })
}

pub fn run(args: Args) -> CliResult {
    let profile = match args.profile {
        Profile::Phone => EnergyProfile::PHONE,
        Profile::Laptop => EnergyProfile::LAPTOP_X86,
    };
    let queries: Vec<String> =
        read_jsonl(&args.queries)?.into_iter().take(args.limit).map(|r| r.text).collect();
    if queries.is_empty() || args.threads.is_empty() {
        return Err("need at least one query and one thread count".into());
    }
    // A cold cache: every recompute search re-embeds all its candidates.
    let open = OpenOptions {
        cache_bytes: 0,
        policy: Policy { energy: profile, ..Policy::default() },
        ..Default::default()
    };
    let index = Index::open_with(&args.dir, open)?;
    let had_vectors = index.sidecar_status().is_ok();
    let materialize = match args.materialize {
        Materialize::Auto => !had_vectors,
        Materialize::Always => true,
        Materialize::Never => false,
    };
    let mut rows = Vec::new();
    let embedders = args
        .threads
        .iter()
        .map(|&threads| {
            let config = EmbedderConfig { max_tokens: index.max_tokens(), threads, ..Default::default() };
            Ok((threads, OnnxEmbedder::load(&args.model, &config)?))
        })
        .collect::<Result<Vec<_>, ember_core::Error>>()?;
    let search = |e: &OnnxEmbedder, mode: Mode, threads: usize| -> Result<Row, Box<dyn std::error::Error>> {
        let opts = SearchOptions { mode, k: 10, ..SearchOptions::default() };
        // Two searches first: tract compiles a plan per batch shape on first use.
        for q in queries.iter().take(2) {
            index.search_text(q, e, &opts)?;
        }
        let one = |i: usize| {
            let (r, embed_ms) = index.search_text(&queries[i], e, &opts)?;
            Ok((r.cpu_ms, embed_ms + r.search_ms))
        };
        measure(mode.name(), threads, queries.len(), one, &profile)
    };
    let print = |r: &Row| -> CliResult {
        match args.json {
            true => outln!("{}", serde_json::to_string(r)?)?,
            false => outln!(
                "{:<16} threads {} ×{:<4} cpu {:>10.2} ms  ~{:>10.2} mJ  wall {:>9.2} ms  cpu/rusage {:.3} (worst {:.3})",
                r.what,
                r.threads,
                r.count,
                r.cpu_ms,
                r.energy_mj,
                r.wall_ms,
                r.cpu_vs_rusage,
                r.worst_cpu_vs_rusage
            )?,
        }
        Ok(())
    };
    let mut keep = |r: Row| -> CliResult {
        print(&r)?;
        rows.push(r);
        Ok(())
    };
    for (threads, e) in &embedders {
        let embed = |i: usize| -> Result<(Option<f64>, f64), Box<dyn std::error::Error>> {
            let m = Meter::start();
            let t = std::time::Instant::now();
            e.embed(&[queries[i].as_str()], ember_core::TextKind::Query)?;
            Ok((m.cpu_ms(), t.elapsed().as_secs_f64() * 1e3))
        };
        keep(measure("query embedding", *threads, queries.len(), embed, &profile)?)?;
        keep(search(e, Mode::Recompute, *threads)?)?;
        keep(search(e, Mode::CodesOnly, *threads)?)?;
    }
    // Materializing re-embeds every passage: its CPU time barely depends on the thread count, so
    // it is measured once, with the most threads.
    let Some((mat_threads, mat_embedder)) = embedders.iter().max_by_key(|(t, _)| *t) else {
        return Err("no thread counts".into());
    };
    if materialize {
        index.evict_vectors()?;
        let mat = |_: usize| -> Result<(Option<f64>, f64), Box<dyn std::error::Error>> {
            let t = std::time::Instant::now();
            index.materialize_vectors(mat_embedder, Precision::F16, &Task::none())?;
            let cost = index.last_write_cost().ok_or("materialize reported no cost")?;
            Ok((cost.cpu_ms, t.elapsed().as_secs_f64() * 1e3))
        };
        keep(measure("materialize f16", *mat_threads, 1, mat, &profile)?)?;
    }
    if index.sidecar_status().is_ok() {
        for (threads, e) in &embedders {
            keep(search(e, Mode::StoredRerank, *threads)?)?;
        }
    }
    if !had_vectors {
        index.evict_vectors()?;
    }
    // Materializing pays for itself once the searches it turns from recompute into stored have
    // saved what it cost.
    for &(threads, _) in &embedders {
        let find = |what: &str| rows.iter().find(|r| r.what == what && r.threads == threads);
        let m = rows.iter().find(|r| r.what == "materialize f16");
        if let (Some(m), Some(rc), Some(st)) = (m, find("recompute"), find("stored")) {
            let saved = rc.energy_mj - st.energy_mj;
            let searches = if saved > 0.0 { (m.energy_mj / saved).ceil() } else { f64::INFINITY };
            match args.json {
                true => outln!(
                    "{}",
                    serde_json::json!({"what": "break-even", "threads": threads, "searches": searches,
                        "materialize_mj": m.energy_mj, "saved_mj_per_search": saved})
                )?,
                false => outln!(
                    "break-even       threads {threads}: materializing ({:.0} mJ) pays for itself after {searches} searches ({saved:.1} mJ saved each)",
                    m.energy_mj
                )?,
            }
        }
    }
    Ok(())
}
