//! Appending one record to the log, durably if asked, so that a failed append leaves the log as it
//! was (or marks it broken when even that cannot be ensured).

use std::path::Path;

use super::format::{encode, header, Op};
use crate::index::files;
use crate::store::Storage;
use crate::Result;

/// The writer's end of the current generation's log.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Bytes of the log that hold complete records (0: no log file yet).
    pub len: u64,
    /// Set when a failed write could not be undone: writes refuse until the index is reopened.
    pub broken: Option<String>,
}

impl Tail {
    /// Append `op` to the log of `generation` (creating it with its header first).
    pub fn append(
        &mut self,
        storage: &dyn Storage,
        dir: &Path,
        generation: u64,
        fingerprint: u64,
        op: &Op,
        sync: bool,
    ) -> Result<()> {
        let path = dir.join(files::wal(generation));
        let record = encode(op);
        if self.len == 0 {
            let mut first = header(fingerprint);
            first.extend_from_slice(&record);
            let result = storage
                .write_new(&path, &first)
                .and_then(|()| if sync { storage.sync_file(&path) } else { Ok(()) })
                .and_then(|()| if sync { storage.sync_dir(dir) } else { Ok(()) });
            if let Err(e) = result {
                let _ = storage.remove(&path);
                return Err(e);
            }
            self.len = first.len() as u64;
            return Ok(());
        }
        let result =
            storage
                .append(&path, &record)
                .and_then(|()| if sync { storage.sync_file(&path) } else { Ok(()) });
        if let Err(e) = result {
            // Cut what may have reached the file, so later records never follow a torn one. If the
            // cut fails too (a file system gone read-only) but nothing reached the file, as when it
            // could not even be opened for writing, there is nothing to undo.
            if let Err(undo) = storage.truncate(&path, self.len) {
                let untouched = std::fs::metadata(&path).is_ok_and(|m| m.len() == self.len);
                if !untouched {
                    self.broken = Some(format!("{e}; cutting the log back failed: {undo}"));
                }
            }
            return Err(e);
        }
        self.len += record.len() as u64;
        Ok(())
    }
}
