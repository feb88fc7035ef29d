//! Atomic publication: write a temp file, fsync it, rename over the target, fsync the directory.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Write `bytes` to `path` so that readers see either the old file or the whole new one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_err("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err("writing", &tmp, e))?;
        f.sync_all().map_err(|e| io_err("syncing", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io_err("publishing", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
