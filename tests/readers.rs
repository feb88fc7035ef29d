//! Readers never wait for the writer: while one thread is inside `add`, `update`,
//! `materialize_vectors` or `compact` (held there for seconds by a slow embedder or slow storage),
//! `get`, `ids`, `stats` and a search in every mode return at once on another thread.
//! Model-free (HashEmbedder).
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ember_core::store::{RealStorage, Storage};
use ember_core::{
    Embedder, Index, IndexConfig, Mode, OpenOptions, Passage, Precision, SearchOptions, Task, VectorStorage,
};
use ember_tests::{synthetic_passages, temp_dir, HashEmbedder};

/// How long the writer is held inside its operation.
const HOLD: Duration = Duration::from_secs(3);
/// The bar for one reader call (issue 12). The best of a few tries must meet it: one call may
/// lose a time slice on a busy 2-core machine, but a reader that waits for the writer waits
/// seconds on every try.
const BAR: Duration = Duration::from_millis(50);

/// The same vectors as the fast embedder, but once armed, the next call signals that the writer
/// is inside and then sleeps for [`HOLD`].
#[derive(Debug)]
struct SlowEmbedder {
    inner: HashEmbedder,
    armed: AtomicBool,
    inside: Arc<Barrier>,
}

impl Embedder for SlowEmbedder {
    fn embed(&self, texts: &[&str], kind: ember_core::TextKind) -> ember_core::Result<Vec<Vec<f32>>> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.inside.wait();
            std::thread::sleep(HOLD);
        }
        self.inner.embed(texts, kind)
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
}

/// The real file system, but once armed, the next segment written signals and then sleeps.
#[derive(Debug)]
struct SlowStorage {
    armed: AtomicBool,
    inside: Arc<Barrier>,
}

impl Storage for SlowStorage {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> ember_core::Result<()> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.inside.wait();
            std::thread::sleep(HOLD);
        }
        RealStorage.write_new(path, bytes)
    }
    fn append(&self, path: &Path, bytes: &[u8]) -> ember_core::Result<()> {
        RealStorage.append(path, bytes)
    }
    fn truncate(&self, path: &Path, len: u64) -> ember_core::Result<()> {
        RealStorage.truncate(path, len)
    }
    fn sync_file(&self, path: &Path) -> ember_core::Result<()> {
        RealStorage.sync_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> ember_core::Result<()> {
        RealStorage.rename(from, to)
    }
    fn remove(&self, path: &Path) -> ember_core::Result<()> {
        RealStorage.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> ember_core::Result<()> {
        RealStorage.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> ember_core::Result<()> {
        RealStorage.create_dir_all(dir)
    }
}

/// Every reader call once, each timed; the slowest of them.
fn readers(index: &Index, fast: &HashEmbedder, stored: bool) -> Duration {
    let mut slowest = Duration::ZERO;
    let mut time = |what: &str, f: &dyn Fn()| {
        // The best of three: see BAR.
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap();
        assert!(best <= BAR, "{what} took {best:?} while the writer was busy (bar {BAR:?})");
        slowest = slowest.max(best);
    };
    time("get", &|| assert!(index.get("p3").unwrap().is_some()));
    time("ids", &|| assert!(index.ids().unwrap().len() >= 299));
    time("stats", &|| assert!(index.stats().unwrap().passages >= 299));
    let mut modes = vec![Mode::Auto, Mode::Recompute, Mode::CodesOnly];
    if stored {
        modes.push(Mode::StoredRerank);
    }
    for mode in modes {
        let opts = SearchOptions { k: 5, mode, beam: Some(64), rerank: Some(10), ..SearchOptions::default() };
        time(&format!("search {mode:?}"), &|| {
            let (report, _) = index.search_text("battery flash storage", fast, &opts).unwrap();
            assert_eq!(report.hits.len(), 5);
        });
    }
    slowest
}

/// Run `write` on another thread; once it signals that it is inside, run every reader and check
/// each returned while the writer was still inside.
fn check_while_writing(
    name: &str,
    index: &Arc<Index>,
    fast: &HashEmbedder,
    stored: bool,
    inside: &Barrier,
    write: impl FnOnce(&Index) + Send + 'static,
) {
    let writer_index = Arc::clone(index);
    let start = Instant::now();
    let writer = std::thread::spawn(move || write(&writer_index));
    inside.wait();
    let entered = Instant::now();
    let slowest = readers(index, fast, stored);
    let done = entered.elapsed();
    assert!(!writer.is_finished(), "{name}: the writer finished before the readers did");
    assert!(done < HOLD, "{name}: the readers took {done:?}, as long as the writer");
    writer.join().unwrap();
    eprintln!(
        "{name}: writer held {:?}; every reader call within {slowest:?} (all readers {done:?})",
        start.elapsed()
    );
}

#[test]
fn readers_never_wait_for_the_writer() {
    let dir = temp_dir("readers");
    let fast = HashEmbedder::new(32);
    let inside = Arc::new(Barrier::new(2));
    let slow = Arc::new(SlowEmbedder {
        inner: HashEmbedder::new(32),
        armed: AtomicBool::new(false),
        inside: Arc::clone(&inside),
    });
    let storage = Arc::new(SlowStorage { armed: AtomicBool::new(false), inside: Arc::clone(&inside) });
    let config = IndexConfig { code_dims: 32, vectors: VectorStorage::F16, ..IndexConfig::default() };
    let passages = synthetic_passages(300);
    drop(Index::build(&dir, &fast, &passages, &config, &Task::none()).unwrap());
    let opts = OpenOptions { storage: storage.clone(), ..OpenOptions::default() };
    let index = Arc::new(Index::open_with(&dir, opts).unwrap());

    slow.armed.store(true, Ordering::SeqCst);
    let s = Arc::clone(&slow);
    check_while_writing("add", &index, &fast, true, &inside, move |i| {
        i.add(&[Passage::new("new-1", "battery phone offline")], s.as_ref(), &Task::none()).unwrap()
    });

    slow.armed.store(true, Ordering::SeqCst);
    let s = Arc::clone(&slow);
    check_while_writing("update", &index, &fast, true, &inside, move |i| {
        i.update(&[Passage::new("p3", "flash storage search")], s.as_ref(), &Task::none()).unwrap()
    });
    assert_eq!(index.get("p3").unwrap().unwrap().text, "flash storage search");

    index.delete(&["p7".to_string(), "p8".to_string()]).unwrap();
    storage.armed.store(true, Ordering::SeqCst);
    check_while_writing("compact", &index, &fast, true, &inside, |i| i.compact(&Task::none()).unwrap());
    assert!(index.get("p7").unwrap().is_none());
    assert_eq!(index.stats().unwrap().deleted, 0);

    index.evict_vectors().unwrap();
    slow.armed.store(true, Ordering::SeqCst);
    let s = Arc::clone(&slow);
    check_while_writing("materialize_vectors", &index, &fast, false, &inside, move |i| {
        i.materialize_vectors(s.as_ref(), Precision::F16, &Task::none()).unwrap()
    });
    assert!(index.sidecar_status().is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
