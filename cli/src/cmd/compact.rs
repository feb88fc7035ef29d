//! `ember compact`: drop deleted passages and repair the graph around them (no re-embedding).

use std::path::PathBuf;

use ember_core::{Cost, Index, Task};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Print the stats after compaction as JSON.
    #[arg(long)]
    json: bool,
}

/// The stats after compaction, with what it cost (`cpu_ms`, `energy_mj`; absent without
/// per-thread CPU clocks).
#[derive(serde::Serialize)]
struct Compacted<'a> {
    #[serde(flatten)]
    stats: &'a ember_core::IndexStats,
    #[serde(flatten)]
    cost: Cost,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    let before = index.stats()?;
    index.compact(&Task::none())?;
    let after = index.stats()?;
    let cost = index.last_write_cost().unwrap_or_default();
    if args.json {
        outln!("{}", serde_json::to_string(&Compacted { stats: &after, cost })?)?;
    } else {
        outln!(
            "compacted {}: {} live passages, {} deleted dropped; index {} → {} bytes{}",
            args.dir.display(),
            after.passages,
            before.deleted,
            before.index_bytes,
            after.index_bytes,
            super::cost_note(&cost)
        )?;
    }
    Ok(())
}
