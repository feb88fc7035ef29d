//! `ember`: embed, index and search text on this machine, offline.

mod cmd;
mod corpus;

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
    /// Measure embedding throughput (passages/s) over batch sizes and thread counts.
    BenchEmbed(cmd::bench::Args),
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
        Command::BenchEmbed(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember: error: {e}");
            ExitCode::from(1)
        }
    }
}
