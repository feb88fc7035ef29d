//! Target `index_write`: a whole index directory from fuzz bytes (`CURRENT`, segment, sidecar and
//! write-ahead log, checksums optionally repaired), opened for writing: the log replayed and its
//! torn tail cut, then an add, a delete, a commit, a compact and reopens. Whatever opened must
//! take writes, and every reopen must show exactly what the writer acknowledged.

use std::path::Path;

use ember_core::store::{RealStorage, Storage};
use ember_core::{Durability, Index, OpenOptions, Passage, Task};

use super::{scratch_dir, DirImage};
use crate::damage::{open_and_use, Outcome};
use crate::HashEmbedder;

/// The real file system without fsync: durability across power loss is `crash.rs`'s subject, and
/// an fsync per write would cut the rate tenfold.
#[derive(Debug)]
struct NoSync;

impl Storage for NoSync {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> ember_core::Result<()> {
        RealStorage.write_new(path, bytes)
    }
    fn append(&self, path: &Path, bytes: &[u8]) -> ember_core::Result<()> {
        RealStorage.append(path, bytes)
    }
    fn truncate(&self, path: &Path, len: u64) -> ember_core::Result<()> {
        RealStorage.truncate(path, len)
    }
    fn sync_file(&self, _: &Path) -> ember_core::Result<()> {
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> ember_core::Result<()> {
        RealStorage.rename(from, to)
    }
    fn remove(&self, path: &Path) -> ember_core::Result<()> {
        RealStorage.remove(path)
    }
    fn sync_dir(&self, _: &Path) -> ember_core::Result<()> {
        Ok(())
    }
    fn create_dir_all(&self, dir: &Path) -> ember_core::Result<()> {
        RealStorage.create_dir_all(dir)
    }
}

fn writable() -> OpenOptions {
    OpenOptions {
        durability: Durability::Buffered,
        auto_commit_bytes: 0,
        storage: std::sync::Arc::new(NoSync),
        ..OpenOptions::default()
    }
}

fn state(index: &Index) -> Vec<(String, String)> {
    let mut s =
        index.live_texts().unwrap_or_else(|e| panic!("an opened index cannot list its passages: {e}"));
    s.sort();
    s
}

/// Reopen for writing; it must open and show `expected`.
fn reopen(dir: &Path, expected: &[(String, String)], after: &str) -> Index {
    let index =
        Index::open_with(dir, writable()).unwrap_or_else(|e| panic!("reopen after {after} failed: {e}"));
    assert_eq!(state(&index), expected, "reopen after {after} shows another state");
    index
}

/// Write the [`DirImage`] in `data` to the scratch directory, then open it for writing and use it.
pub fn index_write(data: &[u8]) {
    let mut image = DirImage::parse(data);
    image.repair();
    let dir = scratch_dir();
    image.write_to(dir);
    // Read-only first (searches in every mode checked), then for writing: both accept or both refuse.
    let read_only = open_and_use(dir);
    let index = match (Index::open_with(dir, writable()), read_only) {
        (Ok(index), Outcome::Opened { .. }) => index,
        (Err(_), Outcome::Rejected(_)) => return,
        (Ok(_), Outcome::Rejected(e)) => panic!("opens for writing, refused read-only: {e}"),
        (Err(e), Outcome::Opened { .. }) => panic!("opens read-only, refused for writing: {e}"),
    };
    let embedder = HashEmbedder { dim: index.dim(), id: index.model() };
    let mut expected = state(&index);

    // An add (a new id) and a delete (of an existing one): acknowledged, so visible and durable.
    let new = Passage::new("fuzz-added-passage", "battery flash offline search");
    if !expected.iter().any(|(id, _)| *id == new.id) {
        index
            .add(std::slice::from_ref(&new), &embedder, &Task::none())
            .unwrap_or_else(|e| panic!("add: {e}"));
        expected.push((new.id.clone(), new.text.clone()));
        expected.sort();
    }
    if let Some((victim, _)) = expected.first().cloned() {
        assert_eq!(index.delete(std::slice::from_ref(&victim)).unwrap_or_else(|e| panic!("delete: {e}")), 1);
        expected.retain(|(id, _)| *id != victim);
    }
    assert_eq!(state(&index), expected, "the writer does not show its own writes");
    drop(index);
    let index = reopen(dir, &expected, "add and delete");

    // Fold the log into a segment, then drop tombstones and repair the graph.
    index.commit().unwrap_or_else(|e| panic!("commit: {e}"));
    assert_eq!(state(&index), expected, "commit changed the passages");
    drop(index);
    let index = reopen(dir, &expected, "commit");
    index.compact(&Task::none()).unwrap_or_else(|e| panic!("compact: {e}"));
    assert_eq!(state(&index), expected, "compact changed the passages");
    drop(index);
    drop(reopen(dir, &expected, "compact"));
    assert!(open_and_use(dir).opened(), "the compacted index does not open read-only");
}
