//! Atomic publication on the real file system, and the mapping of OS errors to Ember's.

use std::path::Path;

use super::storage::{RealStorage, Storage};
use crate::{Error, Result};

/// Write `bytes` to `path` so that readers see either the old file or the whole new one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    RealStorage.atomic_write(path, bytes)
}

/// fsync a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).map_err(|e| io_err("opening", dir, e))?;
    d.sync_all().map_err(|e| io_err("syncing", dir, e))
}

/// An I/O error, as out-of-space when the disk is full.
pub(crate) fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(28) {
        Error::OutOfSpace { path: path.to_path_buf() }
    } else {
        Error::io(op, path, e)
    }
}
