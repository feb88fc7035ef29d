//! `ember`: embed, index and search text on this machine, offline.

mod cmd;
mod corpus;
mod embcache;
mod knob;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ember: on-device semantic search.
#[derive(Debug, Parser)]
#[command(name = "ember", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Embed one text per input line and print the vectors.
    Embed(cmd::embed::Args),
    /// Build a lean index from a BEIR corpus.jsonl or a folder of .txt/.md files.
    Index(cmd::index::Args),
    /// Search an index.
    Search(cmd::search::Args),
    /// Show an index's sizes and counts.
    Info(cmd::info::Args),
    /// Build or drop the keyword (BM25) index of an index, without re-embedding.
    Keywords(cmd::keywords::Args),
    /// Measure recall against exact search, nDCG against qrels, latency and bytes.
    Eval(cmd::eval::Args),
    /// Measure embedding throughput (passages/s) over batch sizes and thread counts.
    BenchEmbed(cmd::bench::Args),
    /// Measure CPU time and estimated energy per query for each mode, and materializing's break-even.
    BenchEnergy(cmd::bench_energy::Args),
    /// Measure add and delete latency, and search latency while a writer adds.
    BenchLiving(cmd::bench_living::Args),
    /// Embed and add passages to an index (each batch durable before it is reported).
    Add(cmd::add::Args),
    /// Delete passages by id.
    Delete(cmd::delete::Args),
    /// Drop deleted passages and repair the graph around them.
    Compact(cmd::compact::Args),
    /// Print the live passage ids, one per line.
    Ids(cmd::ids::Args),
    /// Build (materialize) or drop (evict) the stored-vector sidecar.
    Vectors(cmd::vectors::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Embed(args) => cmd::embed::run(args),
        Command::Index(args) => cmd::index::run(args),
        Command::Search(args) => cmd::search::run(args),
        Command::Info(args) => cmd::info::run(args),
        Command::Keywords(args) => cmd::keywords::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::BenchEmbed(args) => cmd::bench::run(args),
        Command::BenchLiving(args) => cmd::bench_living::run(args),
        Command::BenchEnergy(args) => cmd::bench_energy::run(args),
        Command::Add(args) => cmd::add::run(args),
        Command::Delete(args) => cmd::delete::run(args),
        Command::Compact(args) => cmd::compact::run(args),
        Command::Ids(args) => cmd::ids::run(args),
        Command::Vectors(args) => cmd::vectors::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader closed our stdout (`ember ids DIR | head -1`): stop quietly with success, as
        // Unix tools do. Rust ignores SIGPIPE, so the closed pipe arrives here as an EPIPE error
        // rather than killing the process; nothing else the CLI writes to can raise it.
        Err(e) if broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Whether `e`, or an error it wraps, is a write to a closed pipe.
fn broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        let kind = match (err.downcast_ref::<std::io::Error>(), err.downcast_ref::<serde_json::Error>()) {
            (Some(io), _) => Some(io.kind()),
            (_, Some(json)) => json.io_error_kind(),
            _ => None,
        };
        if kind == Some(std::io::ErrorKind::BrokenPipe) {
            return true;
        }
        next = err.source();
    }
    false
}
