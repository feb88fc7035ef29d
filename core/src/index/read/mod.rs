//! The read path: everything a search or a lookup does, on one published snapshot. It imports
//! nothing of the write path, so no reader can reach the writer's state or wait on its lock.

pub(crate) mod bm25;
pub(crate) mod lookup;
pub(crate) mod search;
pub(crate) mod walk;
