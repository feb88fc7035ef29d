//! A chunked copy-on-write vector: cloning copies one pointer per 1024 items, and a write copies
//! only the chunk it touches. Snapshots of the living index share everything they don't change.

use std::sync::Arc;

const CHUNK: usize = 1024;

/// A vector of `T` whose clones share unchanged chunks.
#[derive(Debug, Clone)]
pub(crate) struct CowVec<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for CowVec<T> {
    fn default() -> Self {
        CowVec { chunks: Vec::new(), len: 0 }
    }
}

impl<T: Clone> CowVec<T> {
    /// `n` copies of `value`.
    pub fn filled(n: usize, value: T) -> Self {
        let mut v = CowVec::default();
        for _ in 0..n {
            v.push(value.clone());
        }
        v
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// Replace item `i` (ignored when out of range).
    pub fn set(&mut self, i: usize, value: T) {
        if let Some(chunk) = self.chunks.get_mut(i / CHUNK) {
            if let Some(slot) = Arc::make_mut(chunk).get_mut(i % CHUNK) {
                *slot = value;
            }
        }
    }

    pub fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(value);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_until_written() {
        let mut a = CowVec::filled(3000, 0u8);
        let b = a.clone();
        a.set(2500, 7);
        a.push(9);
        assert_eq!((a.get(2500), b.get(2500)), (Some(&7), Some(&0)));
        assert_eq!((a.len(), b.len()), (3001, 3000));
        assert_eq!(a.get(3000), Some(&9));
        assert_eq!(b.get(3000), None);
        assert!(Arc::ptr_eq(&a.chunks[0], &b.chunks[0]));
        assert!(!Arc::ptr_eq(&a.chunks[2], &b.chunks[2]));
        assert_eq!(a.iter().count(), 3001);
    }
}
