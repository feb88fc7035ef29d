//! Read-only file mappings: the one place Ember uses `unsafe` for storage.

use std::path::Path;

use crate::store::os_error::io_err;
use crate::Result;

/// A read-only mapping of a whole file.
#[derive(Debug)]
pub struct Mapped {
    map: Option<memmap2::Mmap>,
}

impl Mapped {
    /// Map `path` read-only (an empty file maps to an empty slice).
    ///
    /// Anything but a regular file (a FIFO, whose open would block until a writer comes; a device; a
    /// directory) is refused as corrupt before it is opened.
    pub fn open(path: &Path) -> Result<Self> {
        let missing = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => crate::Error::Missing { what: "index file", path: path.into() },
            _ => io_err("opening", path, e),
        };
        let not_regular = || crate::Error::Corrupt(format!("{} is not a regular file", path.display()));
        if !std::fs::metadata(path).map_err(missing)?.is_file() {
            return Err(not_regular());
        }
        let file = std::fs::File::open(path).map_err(missing)?;
        let meta = file.metadata().map_err(|e| io_err("reading", path, e))?;
        // The path may have been replaced in between: never map anything but a regular file.
        if !meta.is_file() {
            return Err(not_regular());
        }
        let len = meta.len();
        if len == 0 {
            return Ok(Mapped { map: None });
        }
        // SAFETY: Ember never modifies a published file in place (new versions are written to a
        // temp file and renamed over), so the mapped bytes do not change while mapped. A file
        // truncated by another process could still raise SIGBUS; that is outside our contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err("mapping", path, e))?;
        Ok(Mapped { map: Some(map) })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
