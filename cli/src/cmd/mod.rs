//! One module per `ember` subcommand.

pub mod bench;
pub mod embed;

/// A CLI failure: one line for stderr.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;
