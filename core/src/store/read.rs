//! Reading whole small files of an index (`CURRENT`, the write-ahead log, a partial sidecar)
//! safely: only regular files, within a size bound, so a FIFO, a device or a huge file named like
//! an index file gives a typed error instead of blocking forever or exhausting memory.

use std::io::Read;
use std::path::Path;

use super::os_error::io_err;
use crate::{Error, Result};

/// The contents of `path`, `None` if it does not exist. Anything but a regular file (checked
/// before opening: opening a FIFO blocks until a writer comes) or a file over `max_len` bytes is
/// `Corrupt`.
pub fn read_regular(path: &Path, max_len: u64) -> Result<Option<Vec<u8>>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("reading", path, e)),
    };
    let refuse = |why: &str| Error::Corrupt(format!("{} {why}", path.display()));
    if !meta.is_file() {
        return Err(refuse("is not a regular file"));
    }
    if meta.len() > max_len {
        return Err(refuse(&format!("is larger than {max_len} bytes")));
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("opening", path, e)),
    };
    // The name may have been replaced in between: check what was actually opened.
    let opened = file.metadata().map_err(|e| io_err("reading", path, e))?;
    if !opened.is_file() {
        return Err(refuse("is not a regular file"));
    }
    // Bounded even if the file grows while it is read.
    let mut bytes = Vec::with_capacity(opened.len().min(max_len) as usize);
    file.take(max_len.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| io_err("reading", path, e))?;
    if bytes.len() as u64 > max_len {
        return Err(refuse(&format!("is larger than {max_len} bytes")));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_bound_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(read_regular(&path, 10).unwrap().is_none());
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_regular(&path, 10).unwrap().unwrap(), b"0123456789");
        assert!(matches!(read_regular(&path, 9), Err(Error::Corrupt(_))));
        assert!(matches!(read_regular(dir.path(), 10), Err(Error::Corrupt(_))));
        assert!(matches!(read_regular(Path::new("/dev/zero"), 10), Err(Error::Corrupt(_))));
    }
}
