//! Compaction: drop deleted passages for good, repair the graph around them locally, renumber
//! for locality, and publish the result as the next generation. Nothing is re-embedded.

use std::sync::{Arc, Mutex};

use super::insert::{self, Limits};
use crate::graph::{self, Graph};
use crate::index::cache::EmbeddingCache;
use crate::index::handle::Index;
use crate::index::task::Task;
use crate::Result;

impl Index {
    /// Drop deleted passages for good: repair the graph around them (their in-neighbours inherit
    /// their out-neighbours, pruned back to bound), reconnect anything cut off, renumber for
    /// locality, and publish a new segment. Nothing is re-embedded. Cancellable until the publish.
    pub fn compact(&self, task: &Task) -> Result<()> {
        self.metered(|| self.compact_unmetered(task))
    }

    fn compact_unmetered(&self, task: &Task) -> Result<()> {
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
            let g = graph::permute_owned(dense, &locality);
            (g, locality.iter().map(|&k| live[k as usize]).collect())
        };
        let cache = Arc::new(Mutex::new(EmbeddingCache::new(self.opts.cache_bytes)));
        self.write_generation(&mut w, &snap, graph, &order, None, cache, task)?;
        task.progress(3, 3);
        Ok(())
    }
}
