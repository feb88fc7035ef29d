//! Adding and dropping the vector sidecar at run time, without touching graph or codes.
//!
//! `materialize_vectors` re-embeds the segment's passages into `vectors-N.partial`, appending and
//! syncing row by row, so an interrupted run (cancelled, killed, out of battery) resumes where it
//! stopped; the finished rows become `vectors-N.ember` atomically. Passages added since the
//! segment keep their vectors in memory and join the sidecar at the next commit.

use half::f16;

use super::open::open_sidecar;
use crate::error::lock_poisoned;
use crate::index::files;
use crate::index::handle::Index;
use crate::index::options::Precision;
use crate::index::sidecar;
use crate::index::snapshot::Snapshot;
use crate::index::task::Task;
use crate::{Embedder, Error, Result, TextKind};

/// Rows embedded (and synced) per step.
const STEP: usize = 64;

impl Index {
    /// Build the vector sidecar by re-embedding the segment's passages. Resumable (a partial file
    /// is kept between calls), cancellable ([`Error::Cancelled`]: the rows done so far are kept for
    /// the next call), with progress in passages. Writers wait; searches do not.
    pub fn materialize_vectors(
        &self,
        embedder: &dyn Embedder,
        precision: Precision,
        task: &Task,
    ) -> Result<()> {
        self.metered(|| self.materialize_unmetered(embedder, precision, task))
    }

    fn materialize_unmetered(
        &self,
        embedder: &dyn Embedder,
        precision: Precision,
        task: &Task,
    ) -> Result<()> {
        self.check_embedder(embedder)?;
        let _w = self.writer.lock().map_err(|_| lock_poisoned())?;
        if self.opts.read_only {
            return Err(Error::ReadOnly { path: self.dir.clone() });
        }
        let snap = self.snapshot()?;
        if snap.sidecar.is_ok() {
            return Ok(());
        }
        let storage = self.opts.storage.as_ref();
        let base = &snap.base;
        let (n, dim) = (base.len(), base.meta.dim);
        let row_bytes = dim * precision.width();
        let partial = self.dir.join(files::partial_vectors(base.generation));
        // Only a regular file is resumed: anything else under the name (a FIFO would block the
        // append) is not Ember's, and is removed without being opened.
        if std::fs::symlink_metadata(&partial).is_ok_and(|m| !m.is_file()) {
            storage.remove(&partial)?;
        }
        let existing = std::fs::metadata(&partial).map(|m| m.len() as usize).unwrap_or(0);
        let mut done = (existing / row_bytes.max(1)).min(n);
        if existing != done * row_bytes {
            storage.truncate(&partial, (done * row_bytes) as u64)?;
        }
        while done < n {
            task.check()?;
            let rows: Vec<u32> = (done..(done + STEP).min(n)).map(|i| i as u32).collect();
            // Deleted rows (tombstones until a compaction) are never scored: they get zeros, and
            // their text is not asked for (an app holding its texts has dropped theirs).
            let live: Vec<u32> = rows.iter().copied().filter(|&i| !snap.is_deleted(i)).collect();
            let texts = snap.texts(&live)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let embedded = embedder.embed(&refs, TextKind::Passage)?;
            if embedded.len() != live.len() {
                return Err(Error::Inference(format!("{} vectors for {} texts", embedded.len(), live.len())));
            }
            let mut embedded = embedded.into_iter();
            let vectors: Vec<Vec<f32>> = rows
                .iter()
                .map(|&i| match snap.is_deleted(i) {
                    true => vec![0.0; dim],
                    false => embedded.next().unwrap_or_default(),
                })
                .collect();
            let mut bytes = Vec::with_capacity(rows.len() * row_bytes);
            for v in &vectors {
                if v.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
                }
                match precision {
                    Precision::F16 => bytes.extend(v.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes())),
                    Precision::F32 => bytes.extend(v.iter().flat_map(|&x| x.to_le_bytes())),
                }
            }
            storage.append(&partial, &bytes)?;
            storage.sync_file(&partial)?;
            done += rows.len();
            task.progress(done as u64, n as u64);
        }
        let raw = match crate::store::read_regular(&partial, (n * row_bytes) as u64)? {
            Some(r) => r,
            None if n == 0 => Vec::new(),
            None => return Err(Error::Missing { what: "partial vector sidecar", path: partial }),
        };
        if raw.len() != n * row_bytes {
            return Err(Error::Corrupt("partial vector file changed while materializing".into()));
        }
        let vecs: Vec<f32> = match precision {
            Precision::F16 => {
                raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            Precision::F32 => {
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
        };
        let path = self.dir.join(files::vectors(base.generation));
        sidecar::write(storage, &path, &vecs, dim, precision, base.segment.fingerprint())?;
        storage.remove(&partial)?;
        storage.sync_dir(&self.dir)?;
        let next = Snapshot { sidecar: open_sidecar(&self.dir, base), ..(*snap).clone() };
        if let Err(why) = &next.sidecar {
            return Err(Error::Corrupt(format!("the new vector sidecar does not open: {why}")));
        }
        self.publish_snapshot(next)
    }

    /// Delete the vector sidecar (and any partial one). Searches in flight keep their mapping;
    /// later ones recompute or use codes.
    pub fn evict_vectors(&self) -> Result<()> {
        let _w = self.writer.lock().map_err(|_| lock_poisoned())?;
        if self.opts.read_only {
            return Err(Error::ReadOnly { path: self.dir.clone() });
        }
        let snap = self.snapshot()?;
        let storage = self.opts.storage.as_ref();
        let generation = snap.base.generation;
        storage.remove(&self.dir.join(files::vectors(generation)))?;
        storage.remove(&self.dir.join(files::partial_vectors(generation)))?;
        storage.sync_dir(&self.dir)?;
        let next = Snapshot { sidecar: Err("vectors evicted".into()), ..(*snap).clone() };
        self.publish_snapshot(next)
    }
}
