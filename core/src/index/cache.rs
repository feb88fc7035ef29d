//! A bounded least-recently-used cache of recomputed embeddings, sized in bytes.

use std::collections::{BTreeMap, HashMap};

/// Embeddings by internal passage id, evicting the least recently used beyond a byte budget.
#[derive(Debug, Default)]
pub(crate) struct EmbeddingCache {
    budget: usize,
    used: usize,
    tick: u64,
    entries: HashMap<u32, (Vec<f32>, u64)>,
    by_age: BTreeMap<u64, u32>,
}

impl EmbeddingCache {
    pub fn new(budget_bytes: usize) -> Self {
        EmbeddingCache { budget: budget_bytes, ..Default::default() }
    }

    fn cost(v: &[f32]) -> usize {
        std::mem::size_of_val(v) + 32
    }

    /// A copy of the cached vector, refreshed as most recently used.
    pub fn get(&mut self, id: u32) -> Option<Vec<f32>> {
        self.tick += 1;
        let tick = self.tick;
        let (v, age) = self.entries.get_mut(&id)?;
        self.by_age.remove(age);
        *age = tick;
        self.by_age.insert(tick, id);
        Some(v.clone())
    }

    pub fn put(&mut self, id: u32, v: Vec<f32>) {
        let cost = Self::cost(&v);
        if cost > self.budget {
            return;
        }
        if let Some((old, age)) = self.entries.remove(&id) {
            self.used -= Self::cost(&old);
            self.by_age.remove(&age);
        }
        while self.used + cost > self.budget {
            let Some((_, victim)) = self.by_age.pop_first() else { break };
            if let Some((old, _)) = self.entries.remove(&victim) {
                self.used -= Self::cost(&old);
            }
        }
        self.tick += 1;
        self.used += cost;
        self.by_age.insert(self.tick, id);
        self.entries.insert(id, (v, self.tick));
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recent_within_budget() {
        let one = EmbeddingCache::cost(&[0.0; 4]);
        let mut c = EmbeddingCache::new(one * 2);
        c.put(1, vec![1.0; 4]);
        c.put(2, vec![2.0; 4]);
        assert!(c.get(1).is_some()); // 2 is now the oldest
        c.put(3, vec![3.0; 4]);
        assert!(c.get(2).is_none());
        assert_eq!(c.get(1), Some(vec![1.0; 4]));
        assert_eq!(c.get(3), Some(vec![3.0; 4]));
        assert!(c.bytes() <= one * 2);
        let mut tiny = EmbeddingCache::new(0);
        tiny.put(1, vec![1.0; 4]);
        assert!(tiny.get(1).is_none());
    }
}
