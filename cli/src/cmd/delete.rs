//! `ember delete`: delete passages by id (one id per line in a file, or `-` for stdin).

use std::io::Read;
use std::path::PathBuf;

use ember_core::Index;

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// File with one id per line (`-`: standard input).
    #[arg(long)]
    ids: PathBuf,
    /// Print `{"deleted": N}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CliResult {
    let mut text = String::new();
    if args.ids.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text =
            std::fs::read_to_string(&args.ids).map_err(|e| format!("reading {}: {e}", args.ids.display()))?;
    }
    let ids: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let index = Index::open(&args.dir)?;
    let deleted = index.delete(&ids)?;
    index.commit()?;
    if args.json {
        outln!("{}", serde_json::json!({ "deleted": deleted }))?;
    } else {
        outln!("deleted {deleted} of {} ids", ids.len())?;
    }
    Ok(())
}
