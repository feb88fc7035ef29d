//! A fault-injecting [`Storage`] for crash, disk-full and read-only tests: it counts every write,
//! fsync, rename and remove, fails the Nth, and can then simulate a power loss by dropping what was
//! never made durable (unsynced bytes, un-synced renames and removals).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::storage::{RealStorage, Storage};
use crate::{Error, Result};

/// What happens at the failing operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The process dies: this and every later operation fail, nothing more reaches the disk.
    Crash,
    /// The disk is full: this write (or fsync) fails with `OutOfSpace`; later operations succeed.
    NoSpace,
    /// The file system turns read-only (a remount after errors, a write-protected card): this and
    /// every later operation fail with `ReadOnly`; what was written before stays.
    ReadOnly,
}

#[derive(Debug, Default)]
struct State {
    ops: u64,
    crashed: bool,
    read_only: bool,
    /// What a power loss leaves at each path touched (None: no file). Paths never touched keep
    /// whatever they held before the test began, which counts as durable.
    durable: HashMap<PathBuf, Option<Vec<u8>>>,
    /// Renames and removals not yet made durable by `sync_dir`: (from, to) or (path, None).
    pending: Vec<(PathBuf, Option<PathBuf>)>,
}

/// Real file operations in a real directory, with one injected fault.
#[derive(Debug)]
pub struct FaultyStorage {
    fail_at: Option<u64>,
    fault: Fault,
    state: Mutex<State>,
}

impl FaultyStorage {
    /// Fail the operation numbered `fail_at` (0-based) with `fault`; `None` never fails.
    pub fn new(fail_at: Option<u64>, fault: Fault) -> Self {
        FaultyStorage { fail_at, fault, state: Mutex::new(State::default()) }
    }

    /// Operations attempted so far.
    pub fn ops(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.ops)
    }

    /// Whether the injected crash has happened.
    pub fn crashed(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.crashed)
    }

    /// Put every touched path back to its durable content, as a reboot after power loss would.
    pub fn power_loss(&self) -> Result<()> {
        let state = self.state.lock().map_err(|_| Error::Inference("storage lock poisoned".into()))?;
        for (path, content) in &state.durable {
            match content {
                Some(bytes) => std::fs::write(path, bytes).map_err(|e| Error::io("restoring", path, e))?,
                None => RealStorage.remove(path)?,
            }
        }
        Ok(())
    }

    /// Count an operation on `paths`, record their durable state on first touch, and fail it if
    /// it is the chosen one.
    fn begin(&self, paths: &[&Path], writes: bool) -> Result<std::sync::MutexGuard<'_, State>> {
        let mut s = self.state.lock().map_err(|_| Error::Inference("storage lock poisoned".into()))?;
        if s.crashed {
            return Err(injected("after crash"));
        }
        let n = s.ops;
        s.ops += 1;
        if s.read_only || (self.fault == Fault::ReadOnly && self.fail_at == Some(n)) {
            s.read_only = true;
            return Err(Error::ReadOnly { path: paths.first().map(|p| p.to_path_buf()).unwrap_or_default() });
        }
        for p in paths {
            if !s.durable.contains_key(*p) {
                let now = std::fs::read(p).ok();
                s.durable.insert(p.to_path_buf(), now);
            }
        }
        if self.fail_at == Some(n) {
            match self.fault {
                Fault::Crash => {
                    s.crashed = true;
                    return Err(injected("crash"));
                }
                Fault::NoSpace if writes => {
                    return Err(Error::OutOfSpace {
                        path: paths.first().map(|p| p.to_path_buf()).unwrap_or_default(),
                    })
                }
                Fault::NoSpace | Fault::ReadOnly => {}
            }
        }
        Ok(s)
    }
}

fn injected(what: &str) -> Error {
    Error::io("injected", "", std::io::Error::other(format!("injected fault: {what}")))
}

impl Storage for FaultyStorage {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let _s = self.begin(&[path], true)?;
        RealStorage.write_new(path, bytes)
    }

    fn append(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let _s = self.begin(&[path], true)?;
        RealStorage.append(path, bytes)
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let _s = self.begin(&[path], true)?;
        RealStorage.truncate(path, len)
    }

    fn sync_file(&self, path: &Path) -> Result<()> {
        // Counted as a write: with delayed allocation, a full disk surfaces at fsync (ext4, XFS).
        let mut s = self.begin(&[path], true)?;
        RealStorage.sync_file(path)?;
        let now = std::fs::read(path).ok();
        s.durable.insert(path.to_path_buf(), now);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = self.begin(&[from, to], false)?;
        RealStorage.rename(from, to)?;
        s.pending.push((from.to_path_buf(), Some(to.to_path_buf())));
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut s = self.begin(&[path], false)?;
        RealStorage.remove(path)?;
        s.pending.push((path.to_path_buf(), None));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut s = self.begin(&[], false)?;
        RealStorage.sync_dir(dir)?;
        let pending: Vec<_> = std::mem::take(&mut s.pending);
        let (now, later): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|(p, _)| p.parent().is_some_and(|d| d == dir));
        for (from, to) in now {
            match to {
                Some(to) => {
                    let moved = s.durable.get(&from).cloned().flatten();
                    s.durable.insert(to, moved);
                    s.durable.insert(from, None);
                }
                None => {
                    s.durable.insert(from, None);
                }
            }
        }
        s.pending = later;
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let _s = self.begin(&[], true)?;
        RealStorage.create_dir_all(dir)
    }
}
