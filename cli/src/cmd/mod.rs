//! One module per `ember` subcommand.

/// `println!` that returns the write's `io::Result` instead of panicking: a closed stdout (the
/// reader of `ember ... | head` exited) must end the command quietly (see `main`), not with a
/// "failed printing to stdout" panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod add;
pub mod bench;
pub mod bench_living;
pub mod compact;
pub mod delete;
pub mod embed;
pub mod eval;
pub mod ids;
pub mod index;
pub mod info;
pub mod search;
pub mod vectors;

/// A CLI failure: one line for stderr.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// `--mode` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CliMode {
    /// Stored vectors if present, else recompute.
    Auto,
    /// Re-embed candidates.
    Recompute,
    /// Read candidates' stored vectors.
    Stored,
    /// Codes only.
    Codes,
}

impl From<CliMode> for ember_core::Mode {
    fn from(m: CliMode) -> Self {
        match m {
            CliMode::Auto => ember_core::Mode::Auto,
            CliMode::Recompute => ember_core::Mode::Recompute,
            CliMode::Stored => ember_core::Mode::StoredRerank,
            CliMode::Codes => ember_core::Mode::CodesOnly,
        }
    }
}
