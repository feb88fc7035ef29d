//! Opening an index directory: validate the current segment, replay the write-ahead log on top of
//! it, cut a torn tail, and hand the result to a new [`Index`].

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::apply::apply;
use super::insert::Limits;
use crate::index::cache::EmbeddingCache;
use crate::index::files;
use crate::index::handle::{Index, Writer};
use crate::index::keyword;
use crate::index::log;
use crate::index::options::OpenOptions;
use crate::index::segment::load::Base;
use crate::index::sidecar::Sidecar;
use crate::index::snapshot::Snapshot;
use crate::{Error, Result};

impl Index {
    /// Open the index in `dir` for reading and writing, with default options.
    pub fn open(dir: &Path) -> Result<Index> {
        Index::open_with(dir, OpenOptions::default())
    }

    /// Open the index in `dir`: validate the segment (magic, version, checksums, bounds), replay the
    /// log (a torn tail is dropped), and, unless read-only, take the writer lock and remove files
    /// of older generations.
    pub fn open_with(dir: &Path, opts: OpenOptions) -> Result<Index> {
        // Not an index (or no such directory): `Missing`, before the lock would leave a LOCK file
        // in a folder that is not ours. `open_locked` reads CURRENT again under the lock.
        files::read_current(dir)?;
        let lock = match opts.read_only {
            true => None,
            false => Some(take_lock(dir)?),
        };
        Index::open_locked(dir, opts, lock)
    }

    /// Open with the writer lock already taken (`None` when read-only): a build hands over the
    /// lock it wrote under, so no other writer can slip in between.
    pub(crate) fn open_locked(dir: &Path, opts: OpenOptions, lock: Option<std::fs::File>) -> Result<Index> {
        let (name, generation) = files::read_current(dir)?;
        let cache = Arc::new(Mutex::new(EmbeddingCache::new(opts.cache_bytes)));
        let base = Arc::new(Base::load(&dir.join(name), generation, cache)?);
        // Only once the named segment has proved valid may other generations' files go.
        if !opts.read_only {
            files::remove_stale(opts.storage.as_ref(), dir, generation)?;
        }
        let sidecar = open_sidecar(dir, &base);
        // Before the replay, so passages added since are analyzed as they are applied.
        let keywords = keyword::open(dir, &base);
        let mut snap = Snapshot::new(base, sidecar, keywords);
        let mut writer = Writer::default();
        replay_log(dir, &opts, &mut snap, &mut writer)?;
        Ok(Index::from_parts(dir, opts, snap, writer, lock))
    }
}

/// Take the writer's advisory lock: one read-write opener per index at a time.
pub(crate) fn take_lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(files::LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        // A directory or LOCK file that cannot be written is `ReadOnly`: open it read-only instead.
        .map_err(|e| crate::store::write_err("opening", &path, e))?;
    // A lock released a moment ago can still be held by a copy of its descriptor in a child
    // process another thread is starting (fork shares the lock until exec closes the copy), so a
    // busy lock is retried for about 0.1 s before it counts as another writer's.
    let mut wait = std::time::Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if wait.as_millis() <= 64 => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked { dir: dir.to_owned() }),
            Err(std::fs::TryLockError::Error(e)) => return Err(crate::store::write_err("locking", &path, e)),
        }
    }
}

pub(crate) fn open_sidecar(dir: &Path, base: &Base) -> std::result::Result<Arc<Sidecar>, String> {
    let path = dir.join(files::vectors(base.generation));
    if !path.exists() {
        return Err("no vector sidecar".to_string());
    }
    Sidecar::open(&path, base.len(), base.meta.dim, base.segment.fingerprint())
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Apply the log of the snapshot's generation; cut a torn tail (unless read-only).
fn replay_log(dir: &Path, opts: &OpenOptions, snap: &mut Snapshot, writer: &mut Writer) -> Result<()> {
    let path = dir.join(files::wal(snap.base.generation));
    // Not size-bounded: a log is as large as the changes it holds (all of them stay in memory
    // until the next commit anyway). A FIFO or device is refused rather than read.
    let Some(bytes) = crate::store::read_regular(&path, u64::MAX)? else { return Ok(()) };
    let replay = log::replay(&bytes, snap.base.segment.fingerprint())?;
    let limits = Limits::of(&snap.base.meta);
    for op in &replay.ops {
        apply(snap, op, limits, &mut writer.scratch)
            .map_err(|e| Error::Corrupt(format!("write-ahead log: {e}")))?;
    }
    writer.log.len = replay.valid_len;
    if !opts.read_only && replay.dropped > 0 {
        log::cut::cut_to(opts.storage.as_ref(), dir, &path, replay.valid_len)?;
    }
    Ok(())
}
