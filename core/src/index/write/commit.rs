//! Commit: fold the log into the next segment (numbering kept, deleted passages kept as
//! tombstones) and publish it; `CURRENT` moving is the commit point. Compaction writes its
//! generation through the same [`Index::write_generation`].

use std::sync::{Arc, Mutex};

use super::open::open_sidecar;
use crate::graph::Graph;
use crate::index::cache::EmbeddingCache;
use crate::index::files;
use crate::index::handle::{Index, Writer};
use crate::index::keyword;
use crate::index::options::TextStorage;
use crate::index::segment::load::Base;
use crate::index::segment::meta::Meta;
use crate::index::segment::publish::publish;
use crate::index::segment::write::{write_segment, SegmentParts, SegmentText};
use crate::index::sidecar;
use crate::index::snapshot::Snapshot;
use crate::index::task::Task;
use crate::{Error, Result};

impl Index {
    /// Fold the log into a new segment (numbering kept, deleted passages kept as tombstones) and
    /// publish it atomically. A no-op when nothing is logged.
    pub fn commit(&self) -> Result<()> {
        let mut w = self.writer()?;
        self.commit_locked(&mut w, &Task::none())
    }

    pub(crate) fn commit_locked(&self, w: &mut Writer, task: &Task) -> Result<()> {
        let snap = self.snapshot()?;
        if snap.logged_ops == 0 && w.log.len == 0 {
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

    /// Write the next generation: the segment holds node `order[k]` of `snap` as node `k` with
    /// `graph`'s lists (already in new numbering); the sidecar follows if present. Publishing
    /// CURRENT is the commit point; the old generation's files (log included) go after it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_generation(
        &self,
        w: &mut Writer,
        snap: &Snapshot,
        graph: Graph,
        order: &[u32],
        flags: Option<Vec<u8>>,
        cache: Arc<Mutex<EmbeddingCache>>,
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
        // A segment without text carries its fingerprints on; the app's texts are asked for only
        // to rebuild a keyword index (live passages; tombstones get none).
        let (texts, fingerprints) = match (base.meta.text, &snap.keywords) {
            (TextStorage::Store, _) => (snap.texts(order)?, Vec::new()),
            (TextStorage::None, Some(Ok(_))) => {
                let live: Vec<u32> = order.iter().copied().filter(|&i| !snap.is_deleted(i)).collect();
                let mut fetched = snap.texts(&live)?.into_iter();
                let texts =
                    order
                        .iter()
                        .map(|&i| {
                            if snap.is_deleted(i) {
                                String::new()
                            } else {
                                fetched.next().unwrap_or_default()
                            }
                        })
                        .collect();
                (texts, snap.fingerprints(order)?)
            }
            (TextStorage::None, _) => (Vec::new(), snap.fingerprints(order)?),
        };
        let ids: Vec<String> = order.iter().map(|&i| snap.id(i)).collect::<Result<_>>()?;
        let text_bytes = match base.meta.text {
            TextStorage::Store => texts.iter().map(|t| t.len() as u64).sum(),
            TextStorage::None => snap.text_bytes(order),
        };
        let meta = Meta { passages: order.len(), generation, text_bytes, ..base.meta.clone() };
        let parts = SegmentParts {
            meta,
            quantizer: &base.quantizer,
            codes,
            graph: &graph,
            ids: ids.iter().map(String::as_str).collect(),
            text: match base.meta.text {
                TextStorage::Store => SegmentText::Stored(texts.iter().map(String::as_str).collect()),
                TextStorage::None => SegmentText::Held(fingerprints),
            },
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
            // The postings are folded by rebuilding them over the new segment's live passages (a
            // keyword index refused at open is not carried over: build_keywords makes a new one).
            if let Some(Ok(kw)) = &snap.keywords {
                let docs: Vec<(u32, &str)> = order
                    .iter()
                    .enumerate()
                    .filter(|(_, &i)| !snap.is_deleted(i))
                    .map(|(k, _)| (k as u32, texts.get(k).map_or("", String::as_str)))
                    .collect();
                keyword::write(storage, &self.dir, generation, &docs, kw.analyzer.config())?;
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
                let _ = storage.remove(&self.dir.join(files::keywords(generation)));
            } else {
                // CURRENT was renamed but not made durable: which generation a reboot shows is
                // unknown, so refuse further writes until the index is reopened.
                w.log.broken = Some(format!("publishing generation {generation} failed midway: {e}"));
            }
            return Err(e);
        }
        let new_base = Arc::new(Base::load(&self.dir.join(&name), generation, cache)?);
        let sidecar = open_sidecar(&self.dir, &new_base);
        let keywords = keyword::open(&self.dir, &new_base);
        let next = Snapshot { source: snap.source.clone(), ..Snapshot::new(new_base, sidecar, keywords) };
        w.log.len = 0;
        self.publish_snapshot(next)
    }
}
