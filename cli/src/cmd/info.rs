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
    let defaults = index.search_defaults()?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Info<'a> {
            #[serde(flatten)]
            stats: &'a ember_core::IndexStats,
            search_defaults: ember_core::SearchDefaults,
        }
        outln!("{}", serde_json::to_string(&Info { stats: &stats, search_defaults: defaults })?)?;
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
        let (s, r) = (defaults.stored, defaults.recompute);
        let how = match defaults.calibrated_at {
            Some(n) => format!("measured at {n} passages"),
            None => "not measured: fixed, scaled by size".to_owned(),
        };
        outln!(
            "search        stored/codes beam {} rerank {}, recompute beam {} rerank {} ({how})",
            s.beam,
            s.rerank,
            r.beam,
            r.rerank
        )?;
        for (name, bytes) in &stats.sections {
            outln!("  {name:<14}{bytes}")?;
        }
    }
    Ok(())
}
