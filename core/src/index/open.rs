//! Opening an index directory: validate the current segment, replay the write-ahead log on top of
//! it, and serve searches from published snapshots while one writer changes the index.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::cache::EmbeddingCache;
use super::files;
use super::insert::Limits;
use super::policy::{DeviceState, Policy};
use super::sidecar::Sidecar;
use super::snapshot::{Base, Snapshot, DELETED};
use super::wal;
use super::walk::Scratch;
use super::write::{apply, IdChanges};
use crate::store::{RealStorage, SectionKind, Storage};
use crate::{Error, Result};

/// Default byte budget of the recomputed-embedding cache.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

/// When an acknowledged write is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The log is fsynced before `add`, `update` and `delete` return: acknowledged writes survive
    /// a process kill and a power loss.
    #[default]
    Sync,
    /// The log is written but not fsynced: acknowledged writes survive a process kill (the OS
    /// holds them), not a power loss or OS crash. Much faster on slow flash.
    Buffered,
}

/// How an index is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// When writes are acknowledged.
    pub durability: Durability,
    /// Open without the writer lock: searches only, the log is replayed but never changed. Several
    /// processes may open an index read-only while one writes.
    pub read_only: bool,
    /// Byte budget of the recomputed-embedding cache.
    pub cache_bytes: usize,
    /// The device policy behind `Mode::Auto`.
    pub policy: Policy,
    /// Fold the log into a new segment once it grows past this many bytes (0: only on `commit`).
    pub auto_commit_bytes: u64,
    /// Where writes go (the real file system; a fault-injecting layer in tests).
    pub storage: Arc<dyn Storage>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            durability: Durability::Sync,
            read_only: false,
            cache_bytes: DEFAULT_CACHE_BYTES,
            policy: Policy::default(),
            auto_commit_bytes: 16 << 20,
            storage: Arc::new(RealStorage),
        }
    }
}

/// The writer's private state, behind one mutex: one writer at a time.
#[derive(Debug)]
pub(crate) struct Writer {
    /// Bytes of the log that hold complete records (0: no log file yet).
    pub wal_len: u64,
    /// Live ids → node.
    pub ids: HashMap<String, u32>,
    pub scratch: Scratch,
    /// Set when a failed log write could not be undone: writes refuse until reopened.
    pub broken: Option<String>,
}

/// An opened index. `Send + Sync`: share it (e.g. in an `Arc`) between threads; searches run
/// concurrently with each other and with one writer, and never wait for the writer.
#[derive(Debug)]
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) opts: OpenOptions,
    pub(crate) state: RwLock<Arc<Snapshot>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) device: Mutex<Option<DeviceState>>,
    pub(crate) scratch: Mutex<Vec<Scratch>>,
    _lock: Option<std::fs::File>,
}

/// Sizes and counts of an index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Live passages.
    pub passages: u64,
    /// Deleted passages whose space `compact` would reclaim.
    pub deleted: u64,
    /// Operations in the write-ahead log, not yet folded into a segment.
    pub pending_ops: u64,
    /// The current segment's generation.
    pub generation: u64,
    /// Embedding dimension.
    pub dim: u64,
    /// Raw UTF-8 bytes of the segment's passage texts.
    pub text_bytes: u64,
    /// Graph + codes + ids + metadata: everything but the text store and the sidecar.
    pub index_bytes: u64,
    /// The vector sidecar's file size (0 without one).
    pub sidecar_bytes: u64,
    /// The compressed text store's size.
    pub text_store_bytes: u64,
    /// Bytes per section, by name.
    pub sections: BTreeMap<String, u64>,
    /// The embedding model the index was built with.
    pub model: String,
}

pub(crate) fn lock_poisoned() -> Error {
    Error::Inference("internal lock poisoned by an earlier panic".into())
}

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
        let mut snap = Snapshot::new(base, sidecar);
        let mut writer =
            Writer { wal_len: 0, ids: live_ids(&snap)?, scratch: Scratch::default(), broken: None };
        replay_log(dir, &opts, &mut snap, &mut writer)?;
        Ok(Index {
            dir: dir.to_path_buf(),
            opts,
            state: RwLock::new(Arc::new(snap)),
            writer: Mutex::new(writer),
            device: Mutex::new(None),
            scratch: Mutex::new(Vec::new()),
            _lock: lock,
        })
    }

    /// The current snapshot (a pointer copy under a lock held for nanoseconds).
    pub(crate) fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.state.read().map(|s| Arc::clone(&s)).map_err(|_| lock_poisoned())
    }

    pub(crate) fn publish_snapshot(&self, snap: Snapshot) -> Result<()> {
        *self.state.write().map_err(|_| lock_poisoned())? = Arc::new(snap);
        Ok(())
    }

    /// Refuse an embedder whose model differs from the one the index was built with.
    pub fn check_model(&self, model_id: &str) -> Result<()> {
        let model = self.model();
        if model_id != model {
            return Err(Error::ModelMismatch { index: model, given: model_id.into() });
        }
        Ok(())
    }

    /// Number of live passages.
    pub fn len(&self) -> usize {
        self.snapshot().map_or(0, |s| s.live)
    }

    /// Whether the index holds no live passage.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The embedding model id recorded at build.
    pub fn model(&self) -> String {
        self.snapshot().map(|s| s.base.meta.model.clone()).unwrap_or_default()
    }

    /// The token limit the passages were embedded with, if recorded.
    pub fn max_tokens(&self) -> Option<usize> {
        self.snapshot().ok().and_then(|s| s.base.meta.max_tokens)
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.snapshot().map_or(0, |s| s.base.meta.dim)
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a valid vector sidecar is present (and why not, if not).
    pub fn sidecar_status(&self) -> std::result::Result<(), String> {
        let snap = self.snapshot().map_err(|e| e.to_string())?;
        snap.sidecar.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// Set the byte budget of the recomputed-embedding cache (0 disables it).
    pub fn set_cache_bytes(&self, bytes: usize) -> Result<()> {
        let snap = self.snapshot()?;
        *snap.base.cache.lock().map_err(|_| lock_poisoned())? = EmbeddingCache::new(bytes);
        Ok(())
    }

    /// Tell the policy about the device; `Mode::Auto` searches use it from now on.
    pub fn set_device_state(&self, state: DeviceState) -> Result<()> {
        *self.device.lock().map_err(|_| lock_poisoned())? = Some(state);
        Ok(())
    }

    /// The last device state set.
    pub fn device_state(&self) -> Option<DeviceState> {
        self.device.lock().ok().and_then(|d| *d)
    }

    /// The device policy in use.
    pub fn policy(&self) -> Policy {
        self.opts.policy
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Result<IndexStats> {
        let snap = self.snapshot()?;
        let segment = &snap.base.segment;
        let sections: BTreeMap<String, u64> =
            segment.section_sizes().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let text_store_bytes = sections.get(SectionKind::Text.name()).copied().unwrap_or(0);
        Ok(IndexStats {
            passages: snap.live as u64,
            deleted: (snap.len() - snap.live) as u64,
            pending_ops: snap.logged_ops,
            generation: snap.base.generation,
            dim: snap.base.meta.dim as u64,
            text_bytes: snap.base.meta.text_bytes,
            index_bytes: segment.file_len() - text_store_bytes,
            sidecar_bytes: snap.sidecar.as_ref().map_or(0, |s| s.file_bytes()),
            text_store_bytes,
            sections,
            model: snap.base.meta.model.clone(),
        })
    }

    /// Live ids, in internal order.
    pub fn ids(&self) -> Result<Vec<String>> {
        let snap = self.snapshot()?;
        let base_ids = snap.base.ids().all();
        let mut out = Vec::with_capacity(snap.live);
        for (i, id) in base_ids.into_iter().enumerate() {
            if !snap.is_deleted(i as u32) {
                out.push(id);
            }
        }
        for (j, a) in snap.added.iter().enumerate() {
            if !snap.is_deleted((snap.base.len() + j) as u32) {
                out.push(a.id.clone());
            }
        }
        Ok(out)
    }

    /// Texts of live passages by internal number (0..), for evaluation and export.
    pub fn texts(&self, nodes: &[u32]) -> Result<Vec<String>> {
        let snap = self.snapshot()?;
        if let Some(&bad) = nodes.iter().find(|&&i| i as usize >= snap.len()) {
            return Err(Error::InvalidArgument(format!("passage {bad} out of range")));
        }
        snap.texts(nodes)
    }

    /// Every live passage's (id, text), in internal order.
    pub fn live_texts(&self) -> Result<Vec<(String, String)>> {
        let snap = self.snapshot()?;
        let live: Vec<u32> = (0..snap.len() as u32).filter(|&i| !snap.is_deleted(i)).collect();
        let texts = snap.texts(&live)?;
        live.iter().zip(texts).map(|(&i, t)| Ok((snap.id(i)?, t))).collect()
    }

    /// The text and metadata of a live passage by id, if present.
    pub fn get(&self, id: &str) -> Result<Option<super::Passage>> {
        let node = {
            let w = self.writer.lock().map_err(|_| lock_poisoned())?;
            w.ids.get(id).copied()
        };
        let Some(node) = node else { return Ok(None) };
        let snap = self.snapshot()?;
        if node as usize >= snap.len() || snap.is_deleted(node) {
            return Ok(None);
        }
        let text = snap.texts(&[node])?.pop().unwrap_or_default();
        Ok(Some(super::Passage { id: id.to_owned(), text, metadata: snap.metadata(node).clone() }))
    }

    pub(crate) fn take_scratch(&self) -> Scratch {
        self.scratch.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default()
    }

    pub(crate) fn return_scratch(&self, s: Scratch) {
        if let Ok(mut p) = self.scratch.lock() {
            if p.len() < 8 {
                p.push(s);
            }
        }
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

/// Live ids of a snapshot → node.
pub(crate) fn live_ids(snap: &Snapshot) -> Result<HashMap<String, u32>> {
    let mut ids = HashMap::with_capacity(snap.live);
    for (i, id) in snap.base.ids().all().into_iter().enumerate() {
        if snap.flags.get(i).is_some_and(|f| f & DELETED == 0) {
            ids.insert(id, i as u32);
        }
    }
    for (j, a) in snap.added.iter().enumerate() {
        let i = snap.base.len() + j;
        if !snap.is_deleted(i as u32) {
            ids.insert(a.id.clone(), i as u32);
        }
    }
    Ok(ids)
}

/// Apply the log of the snapshot's generation; cut a torn tail (unless read-only).
fn replay_log(dir: &Path, opts: &OpenOptions, snap: &mut Snapshot, writer: &mut Writer) -> Result<()> {
    let path = dir.join(files::wal(snap.base.generation));
    // Not size-bounded: a log is as large as the changes it holds (all of them stay in memory
    // until the next commit anyway). A FIFO or device is refused rather than read.
    let Some(bytes) = crate::store::read_regular(&path, u64::MAX)? else { return Ok(()) };
    let replay = wal::replay(&bytes, snap.base.segment.fingerprint())?;
    let limits = Limits::of(&snap.base.meta);
    for op in &replay.ops {
        let mut changes = IdChanges::default();
        apply(snap, &mut writer.ids, &mut changes, op, limits, &mut writer.scratch)
            .map_err(|e| Error::Corrupt(format!("write-ahead log: {e}")))?;
    }
    writer.wal_len = replay.valid_len;
    if !opts.read_only && replay.dropped > 0 {
        let storage = opts.storage.as_ref();
        if replay.valid_len == 0 {
            storage.remove(&path)?;
            storage.sync_dir(dir)?;
        } else {
            storage.truncate(&path, replay.valid_len)?;
            storage.sync_file(&path)?;
        }
    }
    Ok(())
}
