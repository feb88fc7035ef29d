//! `ember ids`: the live passage ids, one per line.

use std::io::Write;
use std::path::PathBuf;

use ember_core::{Index, OpenOptions};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open_with(&args.dir, OpenOptions { read_only: true, ..OpenOptions::default() })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for id in index.ids()? {
        writeln!(out, "{id}")?;
    }
    out.flush()?;
    Ok(())
}
