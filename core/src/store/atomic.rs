//! Atomic publication on the real file system, for callers outside a `Storage`.

use std::path::Path;

use super::storage::{RealStorage, Storage};
use crate::Result;

/// Write `bytes` to `path` so that readers see either the old file or the whole new one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    RealStorage.atomic_write(path, bytes)
}

/// fsync a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    RealStorage.sync_dir(dir)
}
