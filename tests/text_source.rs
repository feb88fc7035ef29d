//! App-held text: an index built with `TextStorage::None` keeps fingerprints, not text, and asks
//! the app's `TextSource` for what it re-embeds; it scores exactly as an index that keeps its text,
//! and a source that fails, miscounts or hands back changed text gives a typed error.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ember_core::keywords::AnalyzerConfig;
use ember_core::{
    Embedder, Error, Index, IndexConfig, Mode, Passage, Precision, Result, SearchOptions, Task, TextKind,
    TextSource, TextStorage,
};
use ember_tests::{open_read_only, synthetic_passages, temp_dir, HashEmbedder};

/// The app's texts, editable, with a count of calls and of ids asked for.
#[derive(Default)]
struct AppTexts {
    texts: Mutex<HashMap<String, String>>,
    calls: AtomicUsize,
    asked: AtomicUsize,
}

impl AppTexts {
    fn of(passages: &[Passage]) -> Arc<AppTexts> {
        let app = AppTexts::default();
        app.put(passages);
        Arc::new(app)
    }

    fn put(&self, passages: &[Passage]) {
        let mut t = self.texts.lock().unwrap();
        for p in passages {
            t.insert(p.id.clone(), p.text.clone());
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TextSource for AppTexts {
    fn texts(&self, ids: &[String]) -> Result<Vec<String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.asked.fetch_add(ids.len(), Ordering::SeqCst);
        let t = self.texts.lock().unwrap();
        ids.iter()
            .map(|id| t.get(id).cloned().ok_or_else(|| Error::TextUnavailable(format!("app lost {id}"))))
            .collect()
    }
}

fn config(text: TextStorage) -> IndexConfig {
    IndexConfig { code_dims: 32, text, ..IndexConfig::default() }
}

fn opts(mode: Mode) -> SearchOptions {
    SearchOptions { k: 5, mode, ..SearchOptions::default() }
}

fn query(e: &HashEmbedder, text: &str) -> Vec<f32> {
    e.embed(&[text], TextKind::Query).unwrap().remove(0)
}

const QUERIES: [&str; 4] = [
    "battery flash storage offline",
    "graph vector recall",
    "kotlin swift phone",
    "cache memory linux device",
];

#[test]
fn held_text_scores_exactly_as_stored_text_with_one_source_call_per_search() {
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(400);
    let stored_dir = temp_dir("held-stored");
    let held_dir = temp_dir("held-none");
    let stored =
        Index::build(&stored_dir, &e, &passages, &config(TextStorage::Store), &Task::none()).unwrap();
    let held = Index::build(&held_dir, &e, &passages, &config(TextStorage::None), &Task::none()).unwrap();

    let s = held.stats().unwrap();
    assert_eq!(s.text, TextStorage::None);
    assert_eq!(s.text_store_bytes, 0);
    assert!(!s.sections.contains_key("text") && s.sections["fingerprints"] == 4 * 400, "{:?}", s.sections);
    assert_eq!(s.text_bytes, stored.stats().unwrap().text_bytes);
    let files: u64 =
        std::fs::read_dir(&held_dir).unwrap().map(|f| f.unwrap().metadata().unwrap().len()).sum();
    assert_eq!(s.dir_bytes, files);
    assert!(s.dir_bytes < stored.stats().unwrap().dir_bytes);

    // No source: a recompute search and `get` say why; codes-only needs no text.
    let q = query(&e, QUERIES[0]);
    assert!(matches!(held.search(&q, Some(&e), &opts(Mode::Recompute)), Err(Error::TextUnavailable(_))));
    assert!(matches!(held.get("p3"), Err(Error::TextUnavailable(_))));
    // Presence needs no text (`ember add --update` sorts passages by it).
    assert!(held.contains("p3").unwrap() && !held.contains("nope").unwrap());
    assert!(held.search(&q, None, &opts(Mode::CodesOnly)).is_ok());

    let app = AppTexts::of(&passages);
    held.set_text_source(Some(app.clone())).unwrap();
    for text in QUERIES {
        let q = query(&e, text);
        let before = app.calls();
        let a = stored.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap();
        let b = held.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap();
        assert_eq!(a.hits, b.hits, "{text}");
        assert_eq!(a.reembedded, b.reembedded);
        assert_eq!(app.calls() - before, usize::from(b.reembedded > 0), "one batch per search");
    }
    assert_eq!(held.get("p3").unwrap().unwrap(), stored.get("p3").unwrap().unwrap());

    // A read-only handle takes a source too (searching is what it is for).
    let ro = open_read_only(&held_dir).unwrap();
    ro.set_text_source(Some(app.clone())).unwrap();
    let q = query(&e, QUERIES[1]);
    assert_eq!(
        ro.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap().hits,
        stored.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap().hits
    );
}

#[test]
fn a_source_that_changed_failed_or_miscounted_gives_a_typed_error() {
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(200);
    let dir = temp_dir("held-bad");
    let index = Index::build(&dir, &e, &passages, &config(TextStorage::None), &Task::none()).unwrap();
    let app = AppTexts::of(&passages);
    index.set_text_source(Some(app.clone())).unwrap();
    let q = query(&e, QUERIES[0]);
    let hits = index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap().hits;

    // The app edited a passage without telling the index: the top hit's text changed.
    let top = hits[0].id.clone();
    app.texts.lock().unwrap().insert(top.clone(), "edited behind the index's back".into());
    index.set_cache_bytes(0).unwrap(); // nothing served from recomputed embeddings
    match index.search(&q, Some(&e), &opts(Mode::Recompute)) {
        Err(Error::TextChanged { id }) => assert_eq!(id, top),
        other => panic!("expected TextChanged, got {other:?}"),
    }
    assert!(matches!(index.get(&top), Err(Error::TextChanged { .. })));

    // The app lost a text.
    app.texts.lock().unwrap().remove(&top);
    assert!(matches!(index.search(&q, Some(&e), &opts(Mode::Recompute)), Err(Error::TextUnavailable(_))));

    // A source that returns one text too few, or fails with another error.
    struct Short;
    impl TextSource for Short {
        fn texts(&self, ids: &[String]) -> Result<Vec<String>> {
            Ok(ids.iter().skip(1).cloned().collect())
        }
    }
    struct Broken;
    impl TextSource for Broken {
        fn texts(&self, _: &[String]) -> Result<Vec<String>> {
            Err(Error::Io { op: "reading", path: "app.db".into(), source: std::io::Error::other("disk") })
        }
    }
    index.set_text_source(Some(Arc::new(Short))).unwrap();
    let err = index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap_err();
    assert!(matches!(&err, Error::TextUnavailable(m) if m.contains("texts for")), "{err}");
    index.set_text_source(Some(Arc::new(Broken))).unwrap();
    let err = index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap_err();
    assert!(matches!(&err, Error::TextUnavailable(m) if m.contains("app.db")), "{err}");
    index.set_text_source(None).unwrap();
    assert!(matches!(index.search(&q, Some(&e), &opts(Mode::Recompute)), Err(Error::TextUnavailable(_))));
}

#[test]
fn living_index_without_text_adds_updates_commits_compacts_and_materializes() {
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(300);
    let dir = temp_dir("held-living");
    let cfg = IndexConfig { keywords: Some(AnalyzerConfig { stem: true }), ..config(TextStorage::None) };
    let index = Index::build(&dir, &e, &passages, &cfg, &Task::none()).unwrap();
    let app = AppTexts::of(&passages);
    index.set_text_source(Some(app.clone())).unwrap();

    // Added passages are scored from their logged vectors: the source is not asked for them.
    let new = vec![
        Passage::new("n1", "zeppelin swift kotlin battery battery"),
        Passage::new("n2", "offline private search on the phone"),
    ];
    index.add(&new, &e, &Task::none()).unwrap();
    app.put(&new);
    let q = query(&e, "zeppelin swift kotlin battery battery");
    let asked = app.asked.load(Ordering::SeqCst);
    let r = index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap();
    assert_eq!(r.hits[0].id, "n1");
    assert_eq!(app.asked.load(Ordering::SeqCst) - asked, r.reembedded, "asked only for what it re-embedded");

    // Update: the app changes its text and tells the index; delete: the app drops the text.
    let changed = vec![Passage::new("p7", "linux linux memory cache graph")];
    index.update(&changed, &e, &Task::none()).unwrap();
    app.put(&changed);
    index.delete(&["p8".to_string()]).unwrap();
    app.texts.lock().unwrap().remove("p8");

    // Commit (keywords are rebuilt from the app's texts), reopen, search: fingerprints carried on.
    index.commit().unwrap();
    drop(index);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.text_storage(), TextStorage::None);
    index.set_text_source(Some(app.clone())).unwrap();
    assert_eq!(index.get("p7").unwrap().unwrap().text, "linux linux memory cache graph");
    assert_eq!(index.get("n2").unwrap().unwrap().text, new[1].text);
    assert!(index.get("p8").unwrap().is_none());
    let q = query(&e, "linux linux memory cache graph");
    assert_eq!(index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap().hits[0].id, "p7");
    let kw = SearchOptions { retrieval: ember_core::Retrieval::Keywords, ..opts(Mode::Recompute) };
    assert_eq!(index.search_query(Some("zeppelin"), None, None, &kw).unwrap().hits[0].id, "n1");

    // Vectors are materialized from the app's texts (the deleted passage's is not asked for), and
    // stored mode then agrees with recompute without asking the source at all.
    index.materialize_vectors(&e, Precision::F32, &Task::none()).unwrap();
    let calls = app.calls();
    for text in QUERIES {
        let q = query(&e, text);
        let stored = index.search(&q, Some(&e), &opts(Mode::StoredRerank)).unwrap();
        let ids = |r: &ember_core::SearchReport| r.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&stored), ids(&index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap()));
    }
    let recompute_calls = app.calls() - calls;
    assert!(
        recompute_calls <= QUERIES.len(),
        "{recompute_calls} source calls for {} searches",
        QUERIES.len()
    );

    // Compaction drops the tombstones and keeps every fingerprint with its passage.
    index.compact(&Task::none()).unwrap();
    let s = index.stats().unwrap();
    assert_eq!((s.passages, s.deleted), (301, 0));
    assert_eq!(s.sections["fingerprints"], 4 * 301);
    index.set_cache_bytes(0).unwrap();
    let q = query(&e, "linux linux memory cache graph");
    assert_eq!(index.search(&q, Some(&e), &opts(Mode::Recompute)).unwrap().hits[0].id, "p7");
    app.texts.lock().unwrap().insert("p7".into(), "stale".into());
    assert!(matches!(index.get("p7"), Err(Error::TextChanged { .. })));
}

#[test]
fn a_damaged_fingerprint_section_is_refused_at_open() {
    let e = HashEmbedder::new(64);
    let dir = temp_dir("held-damaged");
    drop(Index::build(&dir, &e, &synthetic_passages(50), &config(TextStorage::None), &Task::none()).unwrap());
    let seg = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "ember"))
        .expect("a segment file");
    let image = std::fs::read(&seg).unwrap();
    let old = ember_core::store::Segment::open(&seg).unwrap();
    let mut w = ember_core::store::SegmentWriter::new();
    for kind in ember_core::store::SectionKind::ALL {
        if let Ok(bytes) = old.section(kind) {
            let bytes = match kind {
                ember_core::store::SectionKind::Fingerprints => bytes[4..].to_vec(), // one short
                _ => bytes.to_vec(),
            };
            w.add(kind, bytes);
        }
    }
    drop(old);
    assert_ne!(w.to_bytes(), image);
    std::fs::write(&seg, w.to_bytes()).unwrap();
    match Index::open(&dir) {
        Err(Error::Corrupt(m)) => assert!(m.contains("fingerprints"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
