//! Publishing a segment: `CURRENT` is replaced atomically, the single commit point of the index.

use std::path::Path;

use crate::index::files;
use crate::store::Storage;
use crate::Result;

/// Make `segment_name` current (the commit point), then drop every other generation's files (a
/// failure there is harmless: the next open removes them).
pub(crate) fn publish(storage: &dyn Storage, dir: &Path, segment_name: &str) -> Result<()> {
    storage.atomic_write(&dir.join(files::CURRENT), segment_name.as_bytes())?;
    let _ = files::remove_stale(storage, dir, files::generation_of(segment_name).unwrap_or(0));
    Ok(())
}
