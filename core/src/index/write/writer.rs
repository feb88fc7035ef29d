//! The writer's entry points: add, update and delete go to the write-ahead log and to a new
//! snapshot. Every change is applied to a private copy of the snapshot, logged, and only then
//! published, so a failure at any step leaves both the files and what readers see as they were.

use super::apply::apply;
use super::insert::Limits;
use crate::error::lock_poisoned;
use crate::index::handle::{Index, Writer};
use crate::index::log::{Entry, Op};
use crate::index::options::Durability;
use crate::index::passage::{validate_passage, Passage};
use crate::index::task::Task;
use crate::{Embedder, Error, Result, TextKind};

impl Index {
    pub(crate) fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        if self.opts.read_only {
            return Err(Error::ReadOnly { path: self.dir.clone() });
        }
        let w = self.writer.lock().map_err(|_| lock_poisoned())?;
        if let Some(why) = &w.log.broken {
            return Err(Error::Io {
                op: "writing the log (reopen the index)",
                path: self.dir.clone(),
                source: std::io::Error::other(why.clone()),
            });
        }
        Ok(w)
    }

    /// Embed and add new passages. Returns once they are logged (durably, with
    /// `Durability::Sync`) and visible to searches. All or nothing: on any error, cancellation
    /// included, none is added. Ids must be new ([`Error::DuplicateId`]).
    pub fn add(&self, passages: &[Passage], embedder: &dyn Embedder, task: &Task) -> Result<()> {
        self.metered(|| self.upsert(passages, embedder, task, false))
    }

    /// Replace the text and metadata of existing passages (re-embedded). Ids must exist
    /// ([`Error::UnknownId`]). All or nothing.
    pub fn update(&self, passages: &[Passage], embedder: &dyn Embedder, task: &Task) -> Result<()> {
        self.metered(|| self.upsert(passages, embedder, task, true))
    }

    /// Add passages with vectors the caller computed (unit length, the index's model).
    pub fn add_with_vectors(&self, passages: &[Passage], vectors: &[Vec<f32>]) -> Result<()> {
        let mut w = self.writer()?;
        self.check_new(passages, false)?;
        if vectors.len() != passages.len() {
            return Err(Error::InvalidArgument(format!(
                "{} vectors for {} passages",
                vectors.len(),
                passages.len()
            )));
        }
        let entries = passages
            .iter()
            .zip(vectors)
            .map(|(p, v)| Entry {
                id: p.id.clone(),
                text: p.text.clone(),
                metadata: p.metadata.clone(),
                vector: v.clone(),
            })
            .collect();
        self.log_and_publish(&mut w, Op::Upsert(entries))
    }

    fn upsert(
        &self,
        passages: &[Passage],
        embedder: &dyn Embedder,
        task: &Task,
        replace: bool,
    ) -> Result<()> {
        self.check_embedder(embedder)?;
        let mut w = self.writer()?;
        self.check_new(passages, replace)?;
        let dim = self.dim();
        let total = passages.len() as u64;
        let mut entries = Vec::with_capacity(passages.len());
        for chunk in passages.chunks(16) {
            task.check()?;
            let texts: Vec<&str> = chunk.iter().map(|p| p.text.as_str()).collect();
            let vectors = embedder.embed(&texts, TextKind::Passage)?;
            if vectors.len() != chunk.len() {
                return Err(Error::Inference(format!("{} vectors for {} texts", vectors.len(), chunk.len())));
            }
            for (p, v) in chunk.iter().zip(vectors) {
                if v.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
                }
                entries.push(Entry {
                    id: p.id.clone(),
                    text: p.text.clone(),
                    metadata: p.metadata.clone(),
                    vector: v,
                });
            }
            task.progress(entries.len() as u64, total);
        }
        task.check()?;
        self.log_and_publish(&mut w, Op::Upsert(entries))
    }

    /// Ids valid, unique in the call, and new (add) or present (update).
    fn check_new(&self, passages: &[Passage], replace: bool) -> Result<()> {
        let snap = self.snapshot()?;
        let mut seen = std::collections::HashSet::with_capacity(passages.len());
        for p in passages {
            validate_passage(p)?;
            if !seen.insert(p.id.as_str()) {
                return Err(Error::InvalidArgument(format!("id {:?} appears twice in one call", p.id)));
            }
            match (snap.ids.contains(&p.id), replace) {
                (true, false) => return Err(Error::DuplicateId(p.id.clone())),
                (false, true) => return Err(Error::UnknownId(p.id.clone())),
                _ => {}
            }
        }
        Ok(())
    }

    /// Mark passages deleted; unknown ids are ignored. Returns how many were deleted. Logged like
    /// `add`; space is reclaimed by `compact`.
    pub fn delete(&self, ids: &[String]) -> Result<usize> {
        let mut w = self.writer()?;
        let snap = self.snapshot()?;
        let mut known: Vec<String> = ids.iter().filter(|id| snap.ids.contains(id)).cloned().collect();
        known.sort_unstable();
        known.dedup();
        if known.is_empty() {
            return Ok(0);
        }
        let n = known.len();
        self.log_and_publish(&mut w, Op::Delete(known))?;
        Ok(n)
    }

    /// Apply `op` to a copy of the snapshot, log it, then publish the copy.
    fn log_and_publish(&self, w: &mut Writer, op: Op) -> Result<()> {
        let mut next = (*self.snapshot()?).clone();
        let limits = Limits::of(&next.base.meta);
        // A failure in either step drops the private copy: readers and the id map never saw it.
        apply(&mut next, &op, limits, &mut w.scratch)?;
        let sync = self.opts.durability == Durability::Sync;
        let (generation, fingerprint) = (next.base.generation, next.base.segment.fingerprint());
        w.log.append(self.opts.storage.as_ref(), &self.dir, generation, fingerprint, &op, sync)?;
        self.publish_snapshot(next)?;
        if self.opts.auto_commit_bytes > 0 && w.log.len > self.opts.auto_commit_bytes {
            self.commit_locked(w, &Task::none())?;
        }
        Ok(())
    }
}
