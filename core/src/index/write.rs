//! The writer: add, update and delete go to the write-ahead log and to a new snapshot; commit folds
//! the log into a new segment; compact also drops deleted passages and repairs the graph locally.
//!
//! Every change is built on a private copy of the snapshot, logged, and only then published, so a
//! failure at any step leaves both the files and what readers see as they were.

use std::collections::HashMap;
use std::sync::Arc;

use super::build::{publish, validate_passage, write_segment, Meta, SegmentParts};
use super::cache::EmbeddingCache;
use super::files;
use super::insert::{self, Limits};
use super::open::{lock_poisoned, open_sidecar, Durability, Index, Writer};
use super::sidecar;
use super::snapshot::{Added, Base, Snapshot, DELETED};
use super::task::Task;
use super::wal::{self, Entry, Op};
use super::walk::Scratch;
use super::Passage;
use crate::graph::{self, Graph};
use crate::{Embedder, Error, Result};

/// Id-map changes made while applying an operation, to undo it if logging fails.
#[derive(Debug, Default)]
pub(crate) struct IdChanges(Vec<(String, Option<u32>)>);

impl IdChanges {
    fn set(&mut self, ids: &mut HashMap<String, u32>, id: &str, node: Option<u32>) {
        let old = match node {
            Some(n) => ids.insert(id.to_owned(), n),
            None => ids.remove(id),
        };
        self.0.push((id.to_owned(), old));
    }

    fn undo(self, ids: &mut HashMap<String, u32>) {
        for (id, old) in self.0.into_iter().rev() {
            match old {
                Some(n) => ids.insert(id, n),
                None => ids.remove(&id),
            };
        }
    }
}

/// Apply one logged operation to `snap` (live writes and replay share this).
pub(crate) fn apply(
    snap: &mut Snapshot,
    ids: &mut HashMap<String, u32>,
    changes: &mut IdChanges,
    op: &Op,
    limits: Limits,
    scratch: &mut Scratch,
) -> Result<()> {
    match op {
        Op::Upsert(entries) => {
            for e in entries {
                let dim = snap.base.meta.dim;
                if e.vector.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: e.vector.len() });
                }
                if let Some(old) = ids.get(&e.id).copied() {
                    mark_deleted(snap, old);
                }
                let quantizer = &snap.base.quantizer;
                let mut code = vec![0u8; quantizer.code_bytes()];
                quantizer.encode(&e.vector, &mut code)?;
                let position = quantizer.position(&e.vector)?;
                let node = u32::try_from(snap.len())
                    .map_err(|_| Error::InvalidArgument("too many passages for one index".into()))?;
                snap.added.push(Arc::new(Added {
                    id: e.id.clone(),
                    text: e.text.clone(),
                    metadata: e.metadata.clone(),
                    vector: e.vector.clone(),
                    code,
                    position,
                }));
                snap.adj.push(None);
                snap.flags.push(0);
                snap.live += 1;
                changes.set(ids, &e.id, Some(node));
                insert::insert(snap, node, limits, scratch)?;
            }
        }
        Op::Delete(del) => {
            for id in del {
                if let Some(node) = ids.get(id).copied() {
                    mark_deleted(snap, node);
                    changes.set(ids, id, None);
                }
            }
        }
    }
    snap.logged_ops += 1;
    Ok(())
}

fn mark_deleted(snap: &mut Snapshot, node: u32) {
    if let Some(&f) = snap.flags.get(node as usize) {
        if f & DELETED == 0 {
            snap.flags.set(node as usize, f | DELETED);
            snap.live -= 1;
        }
    }
}

impl Index {
    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        if self.opts.read_only {
            return Err(Error::ReadOnly { path: self.dir.clone() });
        }
        let w = self.writer.lock().map_err(|_| lock_poisoned())?;
        if let Some(why) = &w.broken {
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
        self.upsert(passages, embedder, task, false)
    }

    /// Replace the text and metadata of existing passages (re-embedded). Ids must exist
    /// ([`Error::UnknownId`]). All or nothing.
    pub fn update(&self, passages: &[Passage], embedder: &dyn Embedder, task: &Task) -> Result<()> {
        self.upsert(passages, embedder, task, true)
    }

    /// Add passages with vectors the caller computed (unit length, the index's model).
    pub fn add_with_vectors(&self, passages: &[Passage], vectors: &[Vec<f32>]) -> Result<()> {
        let mut w = self.writer()?;
        self.check_new(&w, passages, false)?;
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
        self.check_model(embedder.model_id())?;
        let mut w = self.writer()?;
        self.check_new(&w, passages, replace)?;
        let dim = self.dim();
        let total = passages.len() as u64;
        let mut entries = Vec::with_capacity(passages.len());
        for chunk in passages.chunks(16) {
            task.check()?;
            let texts: Vec<&str> = chunk.iter().map(|p| p.text.as_str()).collect();
            let vectors = embedder.embed(&texts)?;
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
    fn check_new(&self, w: &Writer, passages: &[Passage], replace: bool) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(passages.len());
        for p in passages {
            validate_passage(p)?;
            if !seen.insert(p.id.as_str()) {
                return Err(Error::InvalidArgument(format!("id {:?} appears twice in one call", p.id)));
            }
            match (w.ids.contains_key(&p.id), replace) {
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
        let mut known: Vec<String> = ids.iter().filter(|id| w.ids.contains_key(*id)).cloned().collect();
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
        let mut changes = IdChanges::default();
        let mut scratch = std::mem::take(&mut w.scratch);
        let applied = apply(&mut next, &mut w.ids, &mut changes, &op, limits, &mut scratch);
        w.scratch = scratch;
        let logged = applied.and_then(|()| self.append_log(w, &next, &op));
        if let Err(e) = logged {
            changes.undo(&mut w.ids);
            return Err(e);
        }
        self.publish_snapshot(next)?;
        if self.opts.auto_commit_bytes > 0 && w.wal_len > self.opts.auto_commit_bytes {
            self.commit_locked(w, &Task::none())?;
        }
        Ok(())
    }

    /// Append one record to the log (creating it with its header first), durably if asked.
    fn append_log(&self, w: &mut Writer, snap: &Snapshot, op: &Op) -> Result<()> {
        let storage = self.opts.storage.as_ref();
        let path = self.dir.join(files::wal(snap.base.generation));
        let record = wal::encode(op);
        let sync = self.opts.durability == Durability::Sync;
        if w.wal_len == 0 {
            let mut first = wal::header(snap.base.segment.fingerprint());
            first.extend_from_slice(&record);
            let result = storage
                .write_new(&path, &first)
                .and_then(|()| if sync { storage.sync_file(&path) } else { Ok(()) })
                .and_then(|()| if sync { storage.sync_dir(&self.dir) } else { Ok(()) });
            if let Err(e) = result {
                let _ = storage.remove(&path);
                return Err(e);
            }
            w.wal_len = first.len() as u64;
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
            if let Err(undo) = storage.truncate(&path, w.wal_len) {
                let untouched = std::fs::metadata(&path).is_ok_and(|m| m.len() == w.wal_len);
                if !untouched {
                    w.broken = Some(format!("{e}; cutting the log back failed: {undo}"));
                }
            }
            return Err(e);
        }
        w.wal_len += record.len() as u64;
        Ok(())
    }

    /// Fold the log into a new segment (numbering kept, deleted passages kept as tombstones) and
    /// publish it atomically. A no-op when nothing is logged.
    pub fn commit(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.commit_locked(&mut w, &Task::none())
    }

    fn commit_locked(&self, w: &mut Writer, task: &Task) -> Result<()> {
        let snap = self.snapshot()?;
        if snap.logged_ops == 0 && w.wal_len == 0 {
            return Ok(());
        }
        let view = snap.view();
        let mut lists = Vec::with_capacity(snap.len());
        for i in 0..snap.len() as u32 {
            let mut l = Vec::new();
            view.neighbors(i, &mut l);
            lists.push(l);
        }
        let order: Vec<u32> = (0..snap.len() as u32).collect();
        let entry = snap.entry.unwrap_or(0);
        let flags: Vec<u8> = snap.flags.iter().copied().collect();
        let cache = Arc::clone(&snap.base.cache);
        self.write_generation(w, &snap, Graph { entry, neighbors: lists }, &order, Some(flags), cache, task)
    }

    /// Drop deleted passages for good: repair the graph around them (their in-neighbours inherit
    /// their out-neighbours, pruned back to bound), reconnect anything cut off, renumber for
    /// locality, and publish a new segment. Nothing is re-embedded. Cancellable until the publish.
    pub fn compact(&self, task: &Task) -> Result<()> {
        let mut w = self.writer()?;
        let snap = self.snapshot()?;
        if snap.live == snap.len() {
            return self.commit_locked(&mut w, task);
        }
        let limits = Limits::of(&snap.base.meta);
        task.progress(0, 3);
        let mut lists = insert::repair_deleted(&snap, limits);
        task.check()?;
        task.progress(1, 3);
        let live: Vec<u32> = (0..snap.len() as u32).filter(|&i| !snap.is_deleted(i)).collect();
        let entry = snap.entry.and_then(|e| insert::live_entry(&snap, &lists, e));
        if let Some(e) = entry {
            insert::reconnect(&snap, &mut lists, e);
        }
        task.check()?;
        task.progress(2, 3);
        // Renumber live nodes densely, then reorder for locality as a build does.
        let mut new_of = vec![u32::MAX; snap.len()];
        for (k, &i) in live.iter().enumerate() {
            new_of[i as usize] = k as u32;
        }
        let dense = Graph {
            entry: entry.map_or(0, |e| new_of[e as usize]),
            neighbors: live
                .iter()
                .map(|&i| {
                    lists[i as usize].iter().map(|&j| new_of[j as usize]).filter(|&j| j != u32::MAX).collect()
                })
                .collect(),
        };
        let (graph, order) = if dense.neighbors.is_empty() {
            (dense, Vec::new())
        } else {
            let locality = graph::locality_order(&dense);
            let g = graph::permute(&dense, &locality);
            (g, locality.iter().map(|&k| live[k as usize]).collect())
        };
        let cache = Arc::new(std::sync::Mutex::new(EmbeddingCache::new(self.opts.cache_bytes)));
        self.write_generation(&mut w, &snap, graph, &order, None, cache, task)?;
        task.progress(3, 3);
        Ok(())
    }

    /// Write the next generation: the segment holds node `order[k]` of `snap` as node `k` with
    /// `graph`'s lists (already in new numbering); the sidecar follows if present. Publishing
    /// CURRENT is the commit point; the old generation's files (log included) go after it.
    #[allow(clippy::too_many_arguments)]
    fn write_generation(
        &self,
        w: &mut Writer,
        snap: &Snapshot,
        graph: Graph,
        order: &[u32],
        flags: Option<Vec<u8>>,
        cache: Arc<std::sync::Mutex<EmbeddingCache>>,
        task: &Task,
    ) -> Result<()> {
        let storage = self.opts.storage.as_ref();
        let base = &snap.base;
        let generation = base.generation + 1;
        let view = snap.view();
        let mut codes = Vec::with_capacity(order.len() * base.quantizer.code_bytes());
        for &i in order {
            codes.extend_from_slice(view.code(i));
        }
        let texts = snap.texts(order)?;
        let ids: Vec<String> = order.iter().map(|&i| snap.id(i)).collect::<Result<_>>()?;
        let text_bytes = texts.iter().map(|t| t.len() as u64).sum();
        let meta = Meta { passages: order.len(), generation, text_bytes, ..base.meta.clone() };
        let parts = SegmentParts {
            meta,
            quantizer: &base.quantizer,
            codes,
            graph: &graph,
            ids: ids.iter().map(String::as_str).collect(),
            texts: texts.iter().map(String::as_str).collect(),
            metadata: order.iter().map(|&i| snap.metadata(i)).collect(),
            flags,
        };
        task.check()?;
        let (name, fingerprint) = write_segment(storage, &self.dir, parts)?;
        let written = (|| -> Result<()> {
            if let Ok(side) = &snap.sidecar {
                let dim = base.meta.dim;
                let mut vecs = Vec::with_capacity(order.len() * dim);
                for &i in order {
                    match snap.added(i) {
                        Some(a) => vecs.extend_from_slice(&a.vector),
                        None => vecs.extend(
                            side.row(i).ok_or_else(|| Error::Corrupt(format!("sidecar lacks row {i}")))?,
                        ),
                    }
                }
                let path = self.dir.join(files::vectors(generation));
                sidecar::write(storage, &path, &vecs, dim, side.precision(), fingerprint)?;
            }
            task.check()?;
            publish(storage, &self.dir, &name)
        })();
        if let Err(e) = written {
            // Not published: the old generation is intact; drop what was written for the new one
            // (unless CURRENT already names it, which a failure after the rename can leave).
            if files::current_generation(&self.dir) != Some(generation) {
                let _ = storage.remove(&self.dir.join(&name));
                let _ = storage.remove(&self.dir.join(files::vectors(generation)));
            } else {
                // CURRENT was renamed but not made durable: which generation a reboot shows is
                // unknown, so refuse further writes until the index is reopened.
                w.broken = Some(format!("publishing generation {generation} failed midway: {e}"));
            }
            return Err(e);
        }
        let new_base = Arc::new(Base::load(&self.dir.join(&name), generation, cache)?);
        let sidecar = open_sidecar(&self.dir, &new_base);
        let next = Snapshot::new(new_base, sidecar);
        w.ids = super::open::live_ids(&next)?;
        w.wal_len = 0;
        self.publish_snapshot(next)
    }
}
