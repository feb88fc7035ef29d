//! Format compatibility: every committed golden index (tests/golden/index/vMAJOR/NAME, written by
//! an earlier build with examples/make_golden.rs) must still open and answer as it did when it was
//! written (its `expect.json`). Each is opened read-only from a temporary copy, and the committed
//! files must come out of the test byte for byte unchanged.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ember_core::store::FORMAT_MAJOR;
use ember_core::TextKind;
use ember_core::{Embedder, Error, Filter, Metadata, Mode, Prefixes, SearchOptions};
use ember_tests::{copy_dir, open_read_only, temp_dir, workspace, HashEmbedder};
use serde_json::Value as Json;

fn golden_root() -> PathBuf {
    workspace().join("tests/golden/index")
}

/// Every file under `root` with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The golden index directories: `vMAJOR/NAME` for every version folder.
fn golden_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for version in std::fs::read_dir(golden_root()).unwrap() {
        let version = version.unwrap().path();
        if !version.is_dir() {
            continue;
        }
        for index in std::fs::read_dir(&version).unwrap() {
            let index = index.unwrap().path();
            if index.is_dir() {
                dirs.push(index);
            }
        }
    }
    dirs.sort();
    dirs
}

fn check(golden: &Path, scratch: &Path) {
    let name = golden.strip_prefix(golden_root()).unwrap().display().to_string();
    let expect: Json = serde_json::from_str(&std::fs::read_to_string(golden.join("expect.json")).unwrap())
        .unwrap_or_else(|e| panic!("{name}: expect.json: {e}"));
    copy_dir(golden, scratch);
    let index =
        open_read_only(scratch).unwrap_or_else(|e| panic!("{name}: the golden index does not open: {e}"));

    let stats = index.stats().unwrap();
    let want = &expect["stats"];
    assert_eq!(stats.passages, want["passages"].as_u64().unwrap(), "{name}: passages");
    assert_eq!(stats.deleted, want["deleted"].as_u64().unwrap(), "{name}: deleted");
    assert_eq!(stats.pending_ops, want["pending_ops"].as_u64().unwrap(), "{name}: pending ops");
    assert_eq!(stats.dim, want["dim"].as_u64().unwrap(), "{name}: dim");
    assert_eq!(stats.model, want["model"].as_str().unwrap(), "{name}: model id");
    assert_eq!(index.sidecar_status().is_ok(), expect["sidecar"].as_bool().unwrap(), "{name}: sidecar");

    let mut ids = index.ids().unwrap();
    ids.sort();
    let want: Vec<String> = serde_json::from_value(expect["ids"].clone()).unwrap();
    assert_eq!(ids, want, "{name}: ids");

    for g in expect["get"].as_array().unwrap() {
        let id = g["id"].as_str().unwrap();
        let got = index.get(id).unwrap();
        if g["absent"] == true {
            assert!(got.is_none(), "{name}: get({id}) should find nothing: {got:?}");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{name}: get({id}) found nothing"));
        assert_eq!(got.id, id, "{name}: get({id}) id");
        assert_eq!(got.text, g["text"].as_str().unwrap(), "{name}: get({id}) text");
        let meta: Metadata = serde_json::from_value(g["metadata"].clone()).unwrap();
        assert_eq!(got.metadata, meta, "{name}: get({id}) metadata");
    }

    let e = HashEmbedder {
        dim: expect["embedder"]["dim"].as_u64().unwrap() as usize,
        id: expect["embedder"]["model_id"].as_str().unwrap().to_string(),
    };
    // Written before indexes recorded prefixes: they read as none, so the symmetric embedder the
    // index was built with passes the check, and one with prefixes is refused.
    assert_eq!(index.prefixes(), Prefixes::default(), "{name}: prefixes");
    index.check_embedder(&e).unwrap_or_else(|err| panic!("{name}: {err}"));
    let prefixed = Prefixed(&e);
    assert!(
        matches!(index.check_embedder(&prefixed), Err(Error::PrefixMismatch { .. })),
        "{name}: an embedder with prefixes is refused"
    );
    let searches = expect["searches"].as_array().unwrap();
    assert!(!searches.is_empty(), "{name}: no searches recorded");
    for s in searches {
        let query = s["query"].as_str().unwrap();
        let mode: Mode = serde_json::from_value(s["mode"].clone()).unwrap();
        let filter = s["filter"].as_str();
        let opts = SearchOptions {
            k: s["k"].as_u64().unwrap() as usize,
            mode,
            // As when recorded: beam and rerank cover the whole index.
            beam: Some(128),
            rerank: Some(128),
            filter: filter.map(|f| Filter::parse(f).unwrap()),
            ..SearchOptions::default()
        };
        let v = e.embed(&[query], TextKind::Query).unwrap().pop().unwrap();
        let report =
            index.search(&v, Some(&e), &opts).unwrap_or_else(|err| panic!("{name}: {query:?}: {err}"));
        assert_eq!(report.mode, mode, "{name}: {query:?} ran in another mode");
        let hits: Vec<&str> = report.hits.iter().map(|h| h.id.as_str()).collect();
        let want: Vec<&str> = s["hits"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert_eq!(hits, want, "{name}: {query:?} in {mode:?} with filter {filter:?}");
    }
    println!("compat: {name}: {} passages, {} searches as recorded", stats.passages, searches.len());
}

/// The golden indexes' model, with a query prefix.
struct Prefixed<'a>(&'a HashEmbedder);

impl Embedder for Prefixed<'_> {
    fn embed(&self, texts: &[&str], kind: TextKind) -> ember_core::Result<Vec<Vec<f32>>> {
        self.0.embed(texts, kind)
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn model_id(&self) -> &str {
        self.0.model_id()
    }
    fn prefix(&self, kind: TextKind) -> &str {
        if kind == TextKind::Query {
            "query: "
        } else {
            ""
        }
    }
}

#[test]
fn every_golden_index_opens_and_answers_as_recorded() {
    let root = golden_root();
    let before = snapshot(&root);
    let dirs = golden_dirs();
    let current = root.join(format!("v{FORMAT_MAJOR}"));
    assert!(
        dirs.iter().any(|d| d.starts_with(&current)),
        "no golden index for format major {FORMAT_MAJOR}: run `cargo run -p ember-tests --example make_golden -- tests/golden/index`"
    );
    for (i, dir) in dirs.iter().enumerate() {
        let scratch = temp_dir(&format!("compat-{i}"));
        check(dir, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
    }
    assert!(before == snapshot(&root), "the test changed a file under {}", root.display());
}
