//! `ember keywords`: build or drop the keyword (BM25) index of an index, without re-embedding.

use std::path::PathBuf;

use ember_core::keywords::AnalyzerConfig;
use ember_core::{Index, Task};

use super::CliResult;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Action {
    /// Build it from the stored texts (the log is committed first).
    Build,
    /// Delete it.
    Drop,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// What to do.
    #[arg(value_enum)]
    action: Action,
    /// Index English words as written, without reducing them to their stem.
    #[arg(long)]
    no_stem: bool,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    match args.action {
        Action::Build => {
            index.build_keywords(AnalyzerConfig { stem: !args.no_stem }, &Task::none())?;
            let stats = index.stats()?;
            let pct = 100.0 * stats.keyword_bytes as f64 / stats.text_bytes.max(1) as f64;
            outln!("built a keyword index of {} bytes ({pct:.1}% of the text)", stats.keyword_bytes)?;
        }
        Action::Drop => {
            index.drop_keywords()?;
            outln!("dropped the keyword index of {}", args.dir.display())?;
        }
    }
    Ok(())
}
