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
    let d = std::fs::File::open(dir).map_err(|e| write_err("opening", dir, e))?;
    d.sync_all().map_err(|e| write_err("syncing", dir, e))
}

/// An I/O error, as out-of-space when the disk is full.
pub(crate) fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(28) {
        Error::OutOfSpace { path: path.to_path_buf() }
    } else {
        Error::io(op, path, e)
    }
}

/// An error of a write (create, append, truncate, fsync, rename, remove, lock): out-of-space for a
/// full disk or quota, read-only for a read-only file system or a missing write permission, so an
/// app can tell "free some space" and "open it read-only" from other failures.
pub(crate) fn write_err(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::StorageFull | K::QuotaExceeded => Error::OutOfSpace { path: path.to_path_buf() },
        K::ReadOnlyFilesystem | K::PermissionDenied => Error::ReadOnly { path: path.to_path_buf() },
        _ => io_err(op, path, e),
    }
}
