//! Ember's fuzz targets as plain functions of the input bytes, run alike by libFuzzer (cargo-fuzz,
//! through the one-line binaries in `fuzz/fuzz_targets/`), by the stable mutation runner
//! (`examples/fuzz.rs`, what CI runs) and by replays. A target panics only when Ember misbehaves:
//! a panic inside Ember, or a result that breaks a stated invariant.
//!
//! Adding a target (for instance a C-API call sequence):
//! 1. a function here taking `&[u8]` (decode it with [`Input`]; for files, a [`DirImage`] written
//!    to [`scratch_dir`]) and a line in [`TARGETS`],
//! 2. for cargo-fuzz, `fuzz/fuzz_targets/NAME.rs` calling it and a `[[bin]]` in `fuzz/Cargo.toml`,
//! 3. seeds in `fuzz/corpus/NAME/` (`examples/fuzz_seeds.rs` writes the committed ones).
//!
//! `scripts/check/fuzz.sh` runs every target in [`TARGETS`].

mod capi;
mod chunker;
mod decode;
mod dir;
mod embed;
mod index;
mod input;
mod keywords;
mod wal;
mod write;

pub use capi::{capi_sequence, seeds as capi_sequence_seeds};
pub use chunker::chunker;
pub use decode::decode;
pub use dir::{scratch_dir, DirImage, REPAIR_SEGMENTS, REPAIR_SIDECAR, REPAIR_WAL};
pub use embed::embed;
pub use index::index_open;
pub use input::Input;
pub use keywords::keywords;
pub use wal::{wal_replay, OWN_FINGERPRINT, REPAIR};
pub use write::index_write;

/// A fuzz target: input bytes in, a panic out only when Ember misbehaves.
pub type Target = fn(&[u8]);

/// Every target by name (also its folder in `fuzz/corpus/` and its cargo-fuzz binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("index_open", index_open),
    ("chunker", chunker),
    ("embed", embed),
    ("decode", decode),
    ("wal_replay", wal_replay),
    ("index_write", index_write),
    ("capi_sequence", capi_sequence),
    ("keywords", keywords),
];
