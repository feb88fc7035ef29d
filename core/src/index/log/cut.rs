//! Cutting a log back to its last complete record: after a torn append found at open, and after
//! an append that failed, so a later record never follows a torn one.

use std::path::Path;

use crate::store::Storage;
use crate::Result;

/// Cut the log at `path` to `valid_len` bytes, durably; a log with no complete record goes.
pub(crate) fn cut_to(storage: &dyn Storage, dir: &Path, path: &Path, valid_len: u64) -> Result<()> {
    if valid_len == 0 {
        storage.remove(path)?;
        storage.sync_dir(dir)
    } else {
        storage.truncate(path, valid_len)?;
        storage.sync_file(path)
    }
}
