//! Writes the golden index directories that tests/compat.rs opens: one folder per on-disk format
//! major (`v1/`, ...), each holding small indexes written by the current code with the model-free
//! HashEmbedder, and beside each index the `expect.json` its answers are checked against.
//!
//!   cargo run -p ember-tests --example make_golden -- tests/golden/index
//!
//! Run it once per new format major: it refuses to touch an existing version folder, so the
//! indexes an older release wrote stay exactly as they were committed.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use ember_core::store::{SectionKind, Segment, FORMAT_MAJOR, FORMAT_MINOR};
use ember_core::TextKind;
use ember_core::{
    Embedder, Filter, Index, IndexConfig, Metadata, Mode, OpenOptions, Passage, SearchOptions, Task, Value,
    VectorStorage,
};
use ember_tests::{synthetic_passages, HashEmbedder};
use serde_json::{json, Value as Json};

/// Dimension of the golden indexes: small files, and the HashEmbedder still separates passages.
const DIM: usize = 64;

/// Query texts searched in every golden index (words of the synthetic vocabulary).
const QUERIES: &[&str] =
    &["battery flash storage", "graph vector search index", "offline private phone", "kotlin swift linux"];

/// The filter searched with in every golden index (metadata written by [`passages`]).
const FILTER: &str = "section = 1";

/// `n` synthetic passages from `from` with metadata of each kind (int, bool, string, float).
fn passages(from: usize, n: usize) -> Vec<Passage> {
    let all = synthetic_passages(from + n);
    all.into_iter()
        .skip(from)
        .enumerate()
        .map(|(i, mut p)| {
            let i = from + i;
            let mut meta = Metadata::new();
            meta.insert("section".into(), Value::Int((i % 3) as i64));
            meta.insert("even".into(), Value::Bool(i.is_multiple_of(2)));
            meta.insert("name".into(), Value::Str(format!("page-{i}")));
            meta.insert("weight".into(), Value::Float(i as f64 / 4.0));
            p.metadata = meta;
            p
        })
        .collect()
}

fn config(vectors: VectorStorage) -> IndexConfig {
    IndexConfig { code_dims: 32, vectors, ..IndexConfig::default() }
}

/// The search knobs of every recorded query: beam and rerank cover the whole index, so the exact
/// modes return the true top k and an improved graph search cannot change the expected ids.
fn opts(mode: Mode, filter: Option<&str>) -> SearchOptions {
    SearchOptions {
        k: 5,
        mode,
        beam: Some(128),
        rerank: Some(128),
        filter: filter.map(|f| Filter::parse(f).unwrap()),
        ..SearchOptions::default()
    }
}

/// What `compat.rs` checks, read back from the index as a reader opening `dir` sees it.
fn expectations(dir: &Path, e: &HashEmbedder, modes: &[Mode], sample: &[&str]) -> Json {
    let index = Index::open_with(dir, OpenOptions { read_only: true, ..OpenOptions::default() }).unwrap();
    let stats = index.stats().unwrap();
    let mut ids = index.ids().unwrap();
    ids.sort();
    let get: Vec<Json> = sample
        .iter()
        .map(|id| match index.get(id).unwrap() {
            Some(p) => json!({ "id": id, "text": p.text, "metadata": p.metadata }),
            None => json!({ "id": id, "absent": true }),
        })
        .collect();
    let mut searches = Vec::new();
    for &mode in modes {
        for filter in [None, Some(FILTER)] {
            for q in QUERIES {
                let v = e.embed(&[q], TextKind::Query).unwrap().pop().unwrap();
                let report = index.search(&v, Some(e), &opts(mode, filter)).unwrap();
                assert_eq!(report.mode, mode, "{q}: asked for {mode:?}");
                let hits: Vec<&str> = report.hits.iter().map(|h| h.id.as_str()).collect();
                searches.push(json!({ "query": q, "mode": mode, "filter": filter, "k": 5, "hits": hits }));
            }
        }
    }
    json!({
        "written_by": format!("ember-core {} (format {FORMAT_MAJOR}.{FORMAT_MINOR})", env!("CARGO_PKG_VERSION")),
        "embedder": { "kind": "HashEmbedder", "dim": e.dim, "model_id": e.id },
        "stats": {
            "passages": stats.passages,
            "deleted": stats.deleted,
            "pending_ops": stats.pending_ops,
            "dim": stats.dim,
            "model": stats.model,
        },
        "sidecar": index.sidecar_status().is_ok(),
        "ids": ids,
        "get": get,
        "searches": searches,
    })
}

fn write_expect(dir: &Path, expect: &Json) {
    let text = serde_json::to_string_pretty(expect).unwrap() + "\n";
    std::fs::write(dir.join("expect.json"), text).unwrap();
}

fn main() {
    let root =
        std::env::args().nth(1).unwrap_or_else(|| panic!("usage: make_golden OUT (e.g. tests/golden/index)"));
    let out = Path::new(&root).join(format!("v{FORMAT_MAJOR}"));
    if out.exists() {
        panic!("{} exists: golden indexes of a released format are never rewritten", out.display());
    }
    std::fs::create_dir_all(&out).unwrap();
    let e = HashEmbedder::new(DIM);

    // `small`: 40 passages with metadata, committed (a segment, no log, no sidecar).
    let dir = out.join("small");
    drop(Index::build(&dir, &e, &passages(0, 40), &config(VectorStorage::None), &Task::none()).unwrap());
    let expect = expectations(&dir, &e, &[Mode::CodesOnly, Mode::Recompute], &["p0", "p7", "p39", "p40"]);
    write_expect(&dir, &expect);

    // `log`: 30 committed passages, then an uncommitted write-ahead log of adds, an update and
    // deletes (of a committed passage and of one the log itself added).
    let dir = out.join("log");
    let index =
        Index::build(&dir, &e, &passages(0, 30), &config(VectorStorage::None), &Task::none()).unwrap();
    index.add(&passages(30, 8), &e, &Task::none()).unwrap();
    let mut changed = passages(2, 1);
    changed[0].text = "updated passage about battery storage on the phone".into();
    index.update(&changed, &e, &Task::none()).unwrap();
    assert_eq!(index.delete(&["p5".to_string(), "p33".to_string()]).unwrap(), 2);
    drop(index);
    let expect =
        expectations(&dir, &e, &[Mode::CodesOnly, Mode::Recompute], &["p2", "p5", "p31", "p33", "p37"]);
    assert!(expect["stats"]["pending_ops"].as_u64().unwrap() > 0, "the log was folded into a segment");
    write_expect(&dir, &expect);

    // `f16-sidecar`: 40 passages with a stored f16 vector sidecar (every mode available).
    let dir = out.join("f16-sidecar");
    drop(Index::build(&dir, &e, &passages(0, 40), &config(VectorStorage::F16), &Task::none()).unwrap());
    let expect = expectations(
        &dir,
        &e,
        &[Mode::CodesOnly, Mode::Recompute, Mode::StoredRerank],
        &["p0", "p13", "p39", "missing"],
    );
    assert_eq!(expect["sidecar"], true, "no usable sidecar");
    write_expect(&dir, &expect);

    // `dict`: 48 passages of ~23 KB, over the 1 MiB from which the text section carries a
    // trained zstd dictionary (format 2); few passages, so searches still cover the whole index.
    let dir = out.join("dict");
    let words = synthetic_passages(48 * 300);
    let mut long = passages(0, 48);
    for (i, p) in long.iter_mut().enumerate() {
        p.text = words[i * 300..(i + 1) * 300].iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join("\n");
    }
    drop(Index::build(&dir, &e, &long, &config(VectorStorage::None), &Task::none()).unwrap());
    let segment = Segment::open(&dir.join("segment-000001.ember")).unwrap();
    let text = segment.section(SectionKind::Text).unwrap();
    assert!(u32::from_le_bytes(text[12..16].try_into().unwrap()) > 0, "no dictionary in the text section");
    let expect = expectations(&dir, &e, &[Mode::CodesOnly, Mode::Recompute], &["p1", "missing"]);
    write_expect(&dir, &expect);
    println!("wrote {}", out.display());
}
