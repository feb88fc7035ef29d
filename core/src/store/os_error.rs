//! The mapping of OS errors to Ember's: out of space, read-only, or plain I/O.

use std::path::Path;

use crate::Error;

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
