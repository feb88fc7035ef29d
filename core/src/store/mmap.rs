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

    /// [`checksum`](crate::store::checksum) of `bytes()[range]`, hashed in 8 MiB steps, each given
    /// back once hashed: a 0.8 GB sidecar is checked at open without ever being resident at once,
    /// so it never sets the process's peak. The pages stay in the system's file cache and come back
    /// on the next access; where the system refuses the advice, nothing changes.
    pub fn checksum_released(&self, range: std::ops::Range<usize>) -> u64 {
        const STEP: usize = 8 << 20;
        let bytes = self.bytes();
        let mut hash = xxhash_rust::xxh3::Xxh3::new();
        let (mut at, end) = (range.start.min(bytes.len()), range.end.min(bytes.len()));
        while at < end {
            let next = (at + STEP).min(end);
            hash.update(&bytes[at..next]);
            #[cfg(unix)]
            if let Some(map) = &self.map {
                // SAFETY: a read-only, shared mapping of a file Ember never modifies in place (see
                // `open`): after MADV_DONTNEED the next access reads the same bytes from the file,
                // so no reference into the mapping sees different contents.
                let _ =
                    unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, next - at) };
            }
            at = next;
        }
        hash.digest()
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::Mapped;

    /// Resident kB of the mapping that starts at `addr`, from /proc/self/smaps.
    fn resident_kb(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let start = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        lines.next()?;
        let rss = lines.find(|l| l.starts_with("Rss:"))?;
        rss.split_whitespace().nth(1)?.parse().ok()
    }

    #[test]
    fn a_released_checksum_leaves_the_pages_out_of_the_resident_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let m = Mapped::open(&path).unwrap();
        let addr = m.bytes().as_ptr() as usize;
        assert_eq!(crate::store::checksum(m.bytes()), crate::store::checksum(&bytes));
        let touched = resident_kb(addr).unwrap();
        assert!(touched >= 7 << 10, "every page was read: {touched} kB resident");
        // Hashing in released steps: the same value, and the pages do not stay.
        assert_eq!(m.checksum_released(0..bytes.len()), crate::store::checksum(&bytes));
        let released = resident_kb(addr).unwrap();
        assert!(released < 1 << 10, "{released} kB still resident after the checksum");
        assert_eq!(
            m.checksum_released(5..bytes.len() - 3),
            crate::store::checksum(&bytes[5..bytes.len() - 3])
        );
        assert_eq!(m.checksum_released(0..0), crate::store::checksum(&[]));
        assert_eq!(m.bytes(), &bytes[..], "the same bytes come back from the file");
    }
}
