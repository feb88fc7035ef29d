//! Ember's fuzz targets as plain functions of the input bytes, so that libFuzzer (through the
//! one-line binaries in `fuzz_targets/`), a replay, or a test can run them alike. A target panics
//! only when Ember misbehaves: a panic inside Ember, or a result that breaks a stated invariant.
//!
//! Adding a target (for instance WAL replay or a C-API call sequence) takes three steps:
//! 1. a function here taking `&[u8]` (decode it with [`Input`]; for files, a [`DirImage`] written
//!    to [`scratch_dir`]),
//! 2. `fuzz_targets/NAME.rs` calling it and a `[[bin]]` entry in `fuzz/Cargo.toml`,
//! 3. seeds in `fuzz/corpus/NAME/` (see `examples/make_seeds.rs`).
//!
//! `scripts/fuzz.sh` runs every file in `fuzz_targets/`.
#![allow(clippy::panic)] // A panic is how a fuzz target reports a broken invariant.

mod chunker;
mod decode;
mod dir;
mod embed;
mod index;
mod input;

pub use chunker::chunker;
pub use decode::decode;
pub use dir::{scratch_dir, DirImage, REPAIR_SEGMENTS, REPAIR_SIDECAR};
pub use embed::{embed, model_dir};
pub use index::index_open;
pub use input::Input;
