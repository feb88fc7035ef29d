//! `--beam` and `--rerank` values: a number, or `auto` for the index's measured default.

use std::fmt;
use std::str::FromStr;

/// A search effort knob as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Knob(pub Option<usize>);

impl FromStr for Knob {
    type Err = String;

    fn from_str(s: &str) -> Result<Knob, String> {
        match s {
            "auto" => Ok(Knob(None)),
            _ => match s.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Knob(Some(n))),
                _ => Err(format!("expected a positive number or `auto`, got {s:?}")),
            },
        }
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("auto"),
        }
    }
}
