//! Every write Ember makes goes through [`Storage`]: the real file system in production, a
//! fault-injecting layer in the crash tests ([`super::FaultyStorage`]). Reads go to the files directly.

use std::fmt::Debug;
use std::io::Write;
use std::path::Path;

use super::os_error::write_err;
use crate::Result;

/// The primitive, individually failing write operations. Durability follows POSIX: file contents
/// survive a power loss after [`Storage::sync_file`], names (create, rename, remove) after
/// [`Storage::sync_dir`] of their directory.
pub trait Storage: Debug + Send + Sync {
    /// Create or truncate `path` and write `bytes` (not yet durable).
    fn write_new(&self, path: &Path, bytes: &[u8]) -> Result<()>;
    /// Append `bytes` to `path`, creating it if needed (not yet durable).
    fn append(&self, path: &Path, bytes: &[u8]) -> Result<()>;
    /// Cut `path` to `len` bytes (not yet durable).
    fn truncate(&self, path: &Path, len: u64) -> Result<()>;
    /// Make the contents of `path` durable.
    fn sync_file(&self, path: &Path) -> Result<()>;
    /// Rename `from` over `to` (atomic; durable after `sync_dir`).
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Remove `path`; a missing file is not an error.
    fn remove(&self, path: &Path) -> Result<()>;
    /// Make the names in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Create `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;

    /// Replace `path` so that readers, and a reboot, see either the old file or the whole new one:
    /// temp file, fsync, rename, fsync of the directory.
    fn atomic_write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.atomic_write_with(path, &mut |tmp| self.write_new(tmp, bytes))
    }

    /// [`Storage::atomic_write`] of a file that `write` makes at the temp path it is given (in
    /// pieces, say with [`Storage::write_new`] then [`Storage::append`], so a large file is never
    /// held whole).
    fn atomic_write_with(&self, path: &Path, write: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp"));
        let result = write(&tmp)
            .and_then(|()| self.sync_file(&tmp))
            .and_then(|()| self.rename(&tmp, path))
            .and_then(|()| self.sync_dir(dir));
        if result.is_err() {
            let _ = self.remove(&tmp);
        }
        result
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealStorage;

impl Storage for RealStorage {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut f = std::fs::File::create(path).map_err(|e| write_err("creating", path, e))?;
        f.write_all(bytes).map_err(|e| write_err("writing", path, e))
    }

    fn append(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| write_err("opening", path, e))?;
        f.write_all(bytes).map_err(|e| write_err("appending to", path, e))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let f =
            std::fs::OpenOptions::new().write(true).open(path).map_err(|e| write_err("opening", path, e))?;
        f.set_len(len).map_err(|e| write_err("truncating", path, e))
    }

    fn sync_file(&self, path: &Path) -> Result<()> {
        let f =
            std::fs::OpenOptions::new().write(true).open(path).map_err(|e| write_err("opening", path, e))?;
        f.sync_all().map_err(|e| write_err("syncing", path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| write_err("publishing", to, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(write_err("removing", path, e)),
            _ => Ok(()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let d = std::fs::File::open(dir).map_err(|e| write_err("opening", dir, e))?;
        d.sync_all().map_err(|e| write_err("syncing", dir, e))
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| write_err("creating", dir, e))
    }
}
