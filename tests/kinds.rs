//! Queries are not passages: every index operation asks its embedder for the right kind of text
//! (build, add, update, stored vectors and recompute embed passages; a text search embeds a
//! query), and an index records the embedder's prefixes and refuses an embedder with others.
//! Model-free: a hashing embedder that records what it was asked.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::sync::Mutex;

use ember_core::{
    Embedder, Error, Index, Mode, Passage, Precision, Prefixes, SearchOptions, Task, TextKind, VectorStorage,
};
use ember_tests::{synthetic_passages, temp_dir, HashEmbedder};

/// A hashing embedder with prefixes that it puts before each text (as e5 does), and a log of the
/// kind of every call with its number of texts.
#[derive(Debug)]
struct Recording {
    inner: HashEmbedder,
    prefixes: Prefixes,
    calls: Mutex<Vec<(TextKind, usize)>>,
}

impl Recording {
    fn new(query: &str, passage: &str) -> Self {
        Recording {
            inner: HashEmbedder::new(64),
            prefixes: Prefixes { query: query.into(), passage: passage.into() },
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls since the last `take`, and clear them.
    fn take(&self) -> Vec<(TextKind, usize)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn kinds(&self) -> Vec<TextKind> {
        let mut kinds: Vec<TextKind> = self.take().into_iter().map(|(k, _)| k).collect();
        kinds.dedup();
        kinds
    }
}

impl Embedder for Recording {
    fn embed(&self, texts: &[&str], kind: TextKind) -> ember_core::Result<Vec<Vec<f32>>> {
        self.calls.lock().unwrap().push((kind, texts.len()));
        let prefixed: Vec<String> = texts.iter().map(|t| format!("{}{t}", self.prefixes.get(kind))).collect();
        self.inner.embed(&prefixed.iter().map(String::as_str).collect::<Vec<_>>(), kind)
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn prefix(&self, kind: TextKind) -> &str {
        self.prefixes.get(kind)
    }
}

fn opts(mode: Mode) -> SearchOptions {
    SearchOptions { k: 3, mode, ..SearchOptions::default() }
}

#[test]
fn writes_embed_passages_and_searches_embed_queries() {
    let e = Recording::new("q> ", "p> ");
    let dir = temp_dir("kinds-sides");
    let config =
        ember_core::IndexConfig { vectors: VectorStorage::None, ..ember_core::IndexConfig::default() };
    let index = Index::build(&dir, &e, &synthetic_passages(40), &config, &Task::none()).unwrap();
    // The passages, then a few hundred short queries that measure the search defaults.
    assert_eq!(e.kinds(), [TextKind::Passage, TextKind::Query], "build");

    // A recompute search: the query once, as a query; the candidates as passages.
    let (report, _) = index.search_text("passage 3", &e, &opts(Mode::Recompute)).unwrap();
    assert!(report.reembedded > 0);
    let calls = e.take();
    assert_eq!(calls[0], (TextKind::Query, 1), "the query is embedded first, alone: {calls:?}");
    assert!(calls[1..].iter().all(|c| c.0 == TextKind::Passage), "recompute: {calls:?}");
    assert!(calls.len() > 1);

    index.add(&[Passage::new("new", "a passage added later")], &e, &Task::none()).unwrap();
    assert_eq!(e.kinds(), [TextKind::Passage], "add");
    index.update(&[Passage::new("new", "the same passage, changed")], &e, &Task::none()).unwrap();
    assert_eq!(e.kinds(), [TextKind::Passage], "update");
    index.commit().unwrap();
    index.materialize_vectors(&e, Precision::F32, &Task::none()).unwrap();
    assert_eq!(e.kinds(), [TextKind::Passage], "stored vectors");

    // With stored vectors the search embeds the query only.
    index.search_text("passage 3", &e, &opts(Mode::StoredRerank)).unwrap();
    assert_eq!(e.take(), [(TextKind::Query, 1)], "stored-vector search");
}

#[test]
fn stored_and_recomputed_scores_agree_for_a_prefixed_model() {
    // Recompute must re-embed candidates exactly as they were stored (as passages, with the
    // passage prefix): then both modes give the same exact scores.
    let e = Recording::new("query: ", "passage: ");
    let dir = temp_dir("kinds-agree");
    let config =
        ember_core::IndexConfig { vectors: VectorStorage::F32, ..ember_core::IndexConfig::default() };
    let index = Index::build(&dir, &e, &synthetic_passages(60), &config, &Task::none()).unwrap();
    let (stored, _) = index.search_text("passage 7 words", &e, &opts(Mode::StoredRerank)).unwrap();
    let (recomputed, _) = index.search_text("passage 7 words", &e, &opts(Mode::Recompute)).unwrap();
    assert_eq!(stored.hits.len(), 3);
    for (a, b) in stored.hits.iter().zip(&recomputed.hits) {
        assert_eq!(a.id, b.id);
        assert!((a.score - b.score).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn an_index_records_its_prefixes_and_refuses_others() {
    let e = Recording::new("query: ", "passage: ");
    let dir = temp_dir("kinds-prefixes");
    let config = ember_core::IndexConfig::default();
    let index = Index::build(&dir, &e, &synthetic_passages(30), &config, &Task::none()).unwrap();
    let want = Prefixes { query: "query: ".into(), passage: "passage: ".into() };
    assert_eq!(index.prefixes(), want);
    // Kept by commit, compaction and reopening.
    index.add(&synthetic_passages(31)[30..], &e, &Task::none()).unwrap();
    index.commit().unwrap();
    index.compact(&Task::none()).unwrap();
    drop(index);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.prefixes(), want);
    index.check_embedder(&e).unwrap();

    // The same model id with other prefixes, or none: every entry point refuses it.
    for (q, p) in [("query: ", ""), ("", "passage: "), ("q: ", "passage: ")] {
        let other = Recording::new(q, p);
        let err = index.check_embedder(&other).unwrap_err();
        assert!(matches!(err, Error::PrefixMismatch { .. }), "{err}");
        assert!(matches!(
            index.search_text("x", &other, &opts(Mode::Auto)),
            Err(Error::PrefixMismatch { .. })
        ));
        let q = e.embed(&["x"], TextKind::Query).unwrap().remove(0);
        assert!(matches!(
            index.search(&q, Some(&other), &opts(Mode::Recompute)),
            Err(Error::PrefixMismatch { .. })
        ));
        assert!(matches!(
            index.add(&[Passage::new("z", "z")], &other, &Task::none()),
            Err(Error::PrefixMismatch { .. })
        ));
        assert!(other.take().is_empty(), "nothing was embedded with the refused embedder");
    }
    let err = index.check_embedder(&Recording::new("", "")).unwrap_err();
    assert_eq!(err.to_string(), r#"index was built with query prefix "query: ", the embedder uses """#);

    // An index of a symmetric model records none and refuses a prefixed embedder of the same id.
    let plain = HashEmbedder::new(64);
    let dir = temp_dir("kinds-plain");
    let index = Index::build(&dir, &plain, &synthetic_passages(20), &config, &Task::none()).unwrap();
    assert_eq!(index.prefixes(), Prefixes::default());
    assert!(matches!(index.check_embedder(&e), Err(Error::PrefixMismatch { .. })));

    // Vectors embedded elsewhere: the caller says which prefixes made them.
    let passages = synthetic_passages(20);
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let vectors = e.embed(&texts, TextKind::Passage).unwrap();
    let dir = temp_dir("kinds-vectors");
    let index =
        Index::build_with_vectors(&dir, e.model_id(), &want, &passages, &vectors, &config, None).unwrap();
    index.check_embedder(&e).unwrap();
    let dir = temp_dir("kinds-create");
    let index = Index::create(&dir, e.model_id(), &want, 64, &config).unwrap();
    index.add(&passages, &e, &Task::none()).unwrap();
    assert_eq!(index.prefixes(), want);
}
