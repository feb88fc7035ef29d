//! `ember compact`: drop deleted passages and repair the graph around them (no re-embedding).

use std::path::PathBuf;

use ember_core::{Index, Task};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Print the stats after compaction as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    let before = index.stats()?;
    index.compact(&Task::none())?;
    let after = index.stats()?;
    if args.json {
        outln!("{}", serde_json::to_string(&after)?)?;
    } else {
        outln!(
            "compacted {}: {} live passages, {} deleted dropped; index {} → {} bytes",
            args.dir.display(),
            after.passages,
            before.deleted,
            before.index_bytes,
            after.index_bytes
        )?;
    }
    Ok(())
}
