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
pub mod bench_energy;
pub mod bench_living;
pub mod compact;
pub mod delete;
pub mod embed;
pub mod eval;
pub mod ids;
pub mod index;
pub mod info;
pub mod keywords;
pub mod search;
pub mod vectors;

/// A CLI failure: one line for stderr.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// ", 123.4 CPU-ms, ~140 mJ estimated" for a human-readable line; empty without a CPU clock.
pub fn cost_note(cost: &ember_core::Cost) -> String {
    match (cost.cpu_ms, cost.energy_mj) {
        (Some(ms), Some(mj)) => format!(" ({ms:.1} CPU-ms, ~{mj:.1} mJ estimated)"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;
    use ember_core::{Mode, Precision, Retrieval, VectorStorage};

    fn names<T: ValueEnum>() -> Vec<String> {
        T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .map(|p| p.get_name().to_owned())
            .collect()
    }

    /// The values of `--mode`, `--vectors` and `--precision` are a public contract (README); they
    /// now come from core's enums, so a renamed variant must not change them.
    #[test]
    fn option_values_are_the_documented_ones() {
        assert_eq!(names::<Mode>(), ["auto", "recompute", "stored", "codes"]);
        assert_eq!(names::<VectorStorage>(), ["none", "f16", "f32"]);
        assert_eq!(names::<Precision>(), ["f16", "f32"]);
        assert_eq!(names::<Retrieval>(), ["auto", "dense", "keywords", "hybrid"]);
        for r in Retrieval::value_variants() {
            assert_eq!(r.to_possible_value().map(|p| p.get_name().to_owned()).as_deref(), Some(r.name()));
        }
        // `--json` output names the mode with `Mode::name`: the same word the option takes.
        for m in Mode::value_variants() {
            assert_eq!(m.to_possible_value().map(|p| p.get_name().to_owned()).as_deref(), Some(m.name()));
        }
    }
}
