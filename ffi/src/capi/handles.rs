//! C handles as checked tokens: a handle is a number that names an entry in a registry, never a
//! pointer Ember dereferences. So a handle that was closed or freed, freed twice, of the wrong
//! type, or plain garbage gives a typed error instead of undefined behaviour, and `close` racing
//! with calls on other threads is safe: a call holds its own reference to what the handle named.
//!
//! A token is `(sequence << 4) | tag`: the tag says which registry issued it, the sequence is
//! never reused (it would take 2^28 handles of one kind to wrap on a 32-bit device, and even then
//! a live token is never issued twice), so a stale token is told apart from a foreign one.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::EmberError;

const TAG_BITS: u32 = 4;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;

/// What a handle names.
pub(crate) enum Lookup<T: ?Sized> {
    /// A live entry.
    Live(Arc<T>),
    /// An entry of this kind that was closed or freed.
    Gone,
    /// NULL, or not a handle of this kind.
    Foreign,
}

/// The live handles of one kind `H` (the opaque C type), holding `T`s.
pub(crate) struct Registry<T: ?Sized, H> {
    tag: usize,
    /// Next sequence number (starts at 1, so no token is 0).
    next: AtomicUsize,
    live: Mutex<BTreeMap<usize, Arc<T>>>,
    kind: PhantomData<fn() -> H>,
}

impl<T: ?Sized, H> Registry<T, H> {
    /// A registry whose tokens carry `tag` (1..=15, distinct per kind).
    pub(crate) const fn new(tag: usize) -> Self {
        Registry { tag, next: AtomicUsize::new(1), live: Mutex::new(BTreeMap::new()), kind: PhantomData }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Arc<T>>> {
        // Nothing panics while holding the lock, but a poisoned map is still consistent.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register `value` and return its new handle.
    pub(crate) fn insert(&self, value: Arc<T>) -> *mut H {
        let mut map = self.map();
        loop {
            let seq = self.next.fetch_add(1, Ordering::Relaxed);
            let token = seq.wrapping_shl(TAG_BITS) | self.tag;
            if token >> TAG_BITS != 0 && !map.contains_key(&token) {
                map.insert(token, value);
                return std::ptr::without_provenance_mut(token);
            }
        }
    }

    /// What `handle` names.
    pub(crate) fn lookup(&self, handle: *const H) -> Lookup<T> {
        let token = handle.addr();
        if token & TAG_MASK != self.tag || token >> TAG_BITS == 0 {
            return Lookup::Foreign;
        }
        if let Some(v) = self.map().get(&token) {
            return Lookup::Live(Arc::clone(v));
        }
        if token >> TAG_BITS < self.next.load(Ordering::Relaxed) {
            Lookup::Gone
        } else {
            Lookup::Foreign
        }
    }

    /// The live entry `handle` names, or an error: `gone` for a closed or freed handle,
    /// `InvalidArgument` naming `what` otherwise.
    pub(crate) fn get(
        &self,
        handle: *const H,
        what: &str,
        gone: impl FnOnce() -> EmberError,
    ) -> Result<Arc<T>, EmberError> {
        match self.lookup(handle) {
            Lookup::Live(v) => Ok(v),
            Lookup::Gone => Err(gone()),
            Lookup::Foreign if handle.is_null() => Err(EmberError::invalid(format!("{what} is NULL"))),
            Lookup::Foreign => Err(EmberError::invalid(format!("{what} is not a handle of its type"))),
        }
    }

    /// Unregister `handle`; its entry lives on while calls in flight hold it.
    pub(crate) fn remove(&self, handle: *const H) -> Option<Arc<T>> {
        self.map().remove(&handle.addr())
    }

    /// Live handles of this kind (for tests and leak checks).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;

    #[test]
    fn stale_foreign_and_live_handles_are_told_apart() {
        let a: Registry<u32, A> = Registry::new(1);
        let b: Registry<u32, B> = Registry::new(2);
        let h = a.insert(Arc::new(7));
        assert!(matches!(a.lookup(h), Lookup::Live(v) if *v == 7));
        assert!(matches!(b.lookup(h.cast()), Lookup::Foreign));
        assert!(matches!(a.lookup(std::ptr::null()), Lookup::Foreign));
        assert!(matches!(a.lookup(std::ptr::without_provenance(0xdead_bee1)), Lookup::Foreign));
        assert_eq!(a.remove(h).map(|v| *v), Some(7));
        assert!(matches!(a.lookup(h), Lookup::Gone));
        assert!(a.remove(h).is_none());
        let h2 = a.insert(Arc::new(8));
        assert_ne!(h, h2, "tokens are never reused");
        assert_eq!(a.len(), 1);
        let e = a.get(std::ptr::null(), "index", || EmberError::Closed).err();
        assert!(matches!(e, Some(EmberError::InvalidArgument { ref detail }) if detail == "index is NULL"));
        assert_eq!(a.get(h, "index", || EmberError::Closed).err(), Some(EmberError::Closed));
    }
}
