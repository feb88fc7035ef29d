//! `ember info`: sizes and counts of an index (a stable JSON contract).

use std::path::PathBuf;

use ember_core::{Index, OpenOptions, TextStorage};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open_with(&args.dir, OpenOptions { read_only: true, ..OpenOptions::default() })?;
    let stats = index.stats()?;
    if args.json {
        outln!("{}", serde_json::to_string(&stats)?)?;
    } else {
        outln!(
            "passages      {} ({} deleted, {} logged operations)",
            stats.passages,
            stats.deleted,
            stats.pending_ops
        )?;
        outln!("model         {} ({} dims)", stats.model, stats.dim)?;
        match stats.text {
            TextStorage::Store => outln!(
                "text          {} bytes (stored compressed in {})",
                stats.text_bytes,
                stats.text_store_bytes
            )?,
            TextStorage::None => {
                outln!("text          {} bytes (held by the app; not stored)", stats.text_bytes)?
            }
        }
        let pct = 100.0 * stats.index_bytes as f64 / stats.text_bytes.max(1) as f64;
        outln!("index         {} bytes ({pct:.1}% of the text)", stats.index_bytes)?;
        outln!("vectors       {} bytes", stats.sidecar_bytes)?;
        match index.keyword_status() {
            Ok(()) => {
                let pct = 100.0 * stats.keyword_bytes as f64 / stats.text_bytes.max(1) as f64;
                outln!("keywords      {} bytes ({pct:.1}% of the text)", stats.keyword_bytes)?
            }
            Err(why) => outln!("keywords      none ({why})")?,
        }
        let pct = 100.0 * stats.dir_bytes as f64 / stats.text_bytes.max(1) as f64;
        outln!("directory     {} bytes ({pct:.1}% of the text, every file)", stats.dir_bytes)?;
        for (name, bytes) in &stats.sections {
            outln!("  {name:<14}{bytes}")?;
        }
    }
    Ok(())
}
