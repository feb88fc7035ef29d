//! The living index: add, update, delete, commit, compact, replay, filters, policy, concurrency,
//! cancellation and the vector sidecar at run time (model-free: HashEmbedder).
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ember_core::keywords::AnalyzerConfig;
use ember_core::TextKind;
use ember_core::{
    DeviceState, Embedder, Error, Filter, Index, IndexConfig, Metadata, Mode, OpenOptions, Passage,
    Precision, Retrieval, SearchOptions, Task, Value, VectorStorage,
};
use ember_tests::{synthetic_passages, temp_dir, HashEmbedder};

fn config(vectors: VectorStorage) -> IndexConfig {
    IndexConfig { code_dims: 32, vectors, ..IndexConfig::default() }
}

fn opts(mode: Mode, k: usize) -> SearchOptions {
    SearchOptions { k, mode, beam: Some(64), rerank: Some(30), ..SearchOptions::default() }
}

/// Passages `p{from}`..`p{to}` with metadata derived from the number.
fn passages(from: usize, to: usize) -> Vec<Passage> {
    let all = synthetic_passages(to);
    all.into_iter()
        .skip(from)
        .enumerate()
        .map(|(j, mut p)| {
            let i = from + j;
            let mut m = Metadata::new();
            m.insert("lang".into(), Value::Str(["en", "fr", "de"][i % 3].into()));
            m.insert("year".into(), Value::Int(2000 + (i % 25) as i64));
            m.insert("score".into(), Value::Float((i % 10) as f64 / 10.0));
            m.insert("starred".into(), Value::Bool(i.is_multiple_of(7)));
            p.metadata = m;
            p
        })
        .collect()
}

fn query(e: &HashEmbedder, p: &Passage) -> Vec<f32> {
    e.embed(&[p.text.as_str()], TextKind::Query).unwrap().remove(0)
}

fn live_ids(index: &Index) -> HashSet<String> {
    index.ids().unwrap().into_iter().collect()
}

#[test]
fn add_update_delete_then_replay_and_commit() {
    let dir = temp_dir("living-basic");
    let e = HashEmbedder::new(64);
    let index =
        Index::build(&dir, &e, &passages(0, 100), &config(VectorStorage::None), &Task::none()).unwrap();
    let added = passages(100, 130);
    index.add(&added, &e, &Task::none()).unwrap();
    assert_eq!(index.len(), 130);
    // A new passage is found by its own text, with an exact score (its vector is in memory).
    let r = index.search(&query(&e, &added[7]), Some(&e), &opts(Mode::Recompute, 3)).unwrap();
    assert_eq!(r.hits[0].id, "p107");
    assert!((r.hits[0].score - 1.0).abs() < 1e-5);
    // Duplicate and unknown ids are typed errors and change nothing.
    assert!(matches!(index.add(&added[..1], &e, &Task::none()), Err(Error::DuplicateId(id)) if id == "p100"));
    assert!(matches!(
        index.update(&[Passage::new("nope", "x")], &e, &Task::none()),
        Err(Error::UnknownId(_))
    ));
    assert_eq!(index.len(), 130);
    // Update replaces text and metadata under the same id.
    let mut changed = Passage::new("p5", "kotlin swift kotlin swift kotlin swift unique words here");
    changed.metadata.insert("lang".into(), Value::Str("sv".into()));
    index.update(std::slice::from_ref(&changed), &e, &Task::none()).unwrap();
    let got = index.get("p5").unwrap().unwrap();
    assert_eq!(
        (got.text.as_str(), got.metadata.get("lang")),
        (changed.text.as_str(), Some(&Value::Str("sv".into())))
    );
    let r = index.search(&query(&e, &changed), Some(&e), &opts(Mode::Recompute, 1)).unwrap();
    assert_eq!(r.hits[0].id, "p5");
    // Deleted passages never come back.
    let gone: Vec<String> = (0..100).step_by(2).map(|i| format!("p{i}")).collect();
    assert_eq!(index.delete(&gone).unwrap(), 50);
    assert_eq!(index.delete(&gone).unwrap(), 0);
    assert_eq!(index.len(), 80);
    let all = passages(0, 130);
    for p in all.iter().step_by(5) {
        for mode in [Mode::Recompute, Mode::CodesOnly] {
            let r = index.search(&query(&e, p), Some(&e), &opts(mode, 10)).unwrap();
            assert_eq!(r.hits.len(), 10);
            assert!(r.hits.iter().all(|h| !gone.contains(&h.id)), "{mode:?} returned a deleted passage");
        }
    }
    let ids_before = live_ids(&index);
    let stats = index.stats().unwrap();
    assert_eq!((stats.passages, stats.deleted, stats.pending_ops), (80, 51, 3));
    let q = query(&e, &all[33]);
    let before = index.search(&q, Some(&e), &opts(Mode::Recompute, 5)).unwrap().hits;
    drop(index);

    // Reopen: the log replays to the same state and the same results.
    let index = Index::open(&dir).unwrap();
    assert_eq!(live_ids(&index), ids_before);
    assert_eq!(index.search(&q, Some(&e), &opts(Mode::Recompute, 5)).unwrap().hits, before);
    // Commit folds the log into a new segment; results stay the same.
    index.commit().unwrap();
    let stats = index.stats().unwrap();
    assert_eq!((stats.passages, stats.pending_ops, stats.generation), (80, 0, 2));
    assert_eq!(index.search(&q, Some(&e), &opts(Mode::Recompute, 5)).unwrap().hits, before);
    assert!(!dir.join("wal-000001.log").exists() && !dir.join("segment-000001.ember").exists());
    drop(index);
    let index = Index::open(&dir).unwrap();
    assert_eq!(live_ids(&index), ids_before);
    // Compact drops the deleted passages for good, without re-embedding (no embedder given).
    index.compact(&Task::none()).unwrap();
    let stats = index.stats().unwrap();
    assert_eq!((stats.passages, stats.deleted, stats.generation), (80, 0, 3));
    assert_eq!(live_ids(&index), ids_before);
    let after = index.search(&q, Some(&e), &opts(Mode::Recompute, 5)).unwrap().hits;
    assert_eq!(after[0], before[0]);
    // Everything still reachable: each live passage is found by its own text.
    for p in all.iter().filter(|p| ids_before.contains(&p.id) && p.id != "p5") {
        let r = index.search(&query(&e, p), Some(&e), &opts(Mode::Recompute, 10)).unwrap();
        assert!((r.hits[0].score - 1.0).abs() < 1e-4, "{} not found after compaction", p.id);
    }
}

#[test]
fn torn_log_tail_is_dropped_and_writes_resume() {
    let dir = temp_dir("living-torn");
    let e = HashEmbedder::new(64);
    let index =
        Index::build(&dir, &e, &passages(0, 50), &config(VectorStorage::None), &Task::none()).unwrap();
    index.add(&passages(50, 60), &e, &Task::none()).unwrap();
    drop(index);
    let log = dir.join("wal-000001.log");
    let good = std::fs::read(&log).unwrap();
    // A half-written record at the end (as a crash mid-append leaves it).
    let mut torn = good.clone();
    torn.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&log, &torn).unwrap();
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.len(), 60);
    assert_eq!(std::fs::read(&log).unwrap(), good, "torn tail not cut");
    index.add(&passages(60, 61), &e, &Task::none()).unwrap();
    drop(index);
    assert_eq!(Index::open(&dir).unwrap().len(), 61);
    // A log for another segment is refused, not silently applied.
    let other = temp_dir("living-torn-other");
    let idx2 =
        Index::build(&other, &e, &passages(0, 10), &config(VectorStorage::None), &Task::none()).unwrap();
    drop(idx2);
    std::fs::copy(&log, other.join("wal-000001.log")).unwrap();
    assert!(matches!(Index::open(&other), Err(Error::Corrupt(_))));
}

#[test]
fn filters_match_brute_force() {
    let dir = temp_dir("living-filter");
    let e = HashEmbedder::new(64);
    let base = passages(0, 300);
    let index = Index::build(&dir, &e, &base, &config(VectorStorage::F32), &Task::none()).unwrap();
    let extra = passages(300, 400);
    index.add(&extra, &e, &Task::none()).unwrap();
    index.delete(&(0..400).step_by(9).map(|i| format!("p{i}")).collect::<Vec<_>>()).unwrap();
    let all: Vec<Passage> = base
        .into_iter()
        .chain(extra)
        .filter(|p| !p.id.trim_start_matches('p').parse::<usize>().unwrap().is_multiple_of(9))
        .collect();
    let vectors =
        e.embed(&all.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), TextKind::Passage).unwrap();
    let filters = [
        "lang = 'en'",
        "lang != 'en'",
        "year >= 2010 and year < 2015",
        "score > 0.55",
        "lang in ('fr', 'de') and starred = true",
        "starred = true or year = 2024",
        "not (lang = 'de')",
        "year = 2003 and lang = 'fr'",
        "missing = 1",
    ];
    let mut recall_sum = 0.0;
    let mut cases = 0;
    for text in filters {
        let filter = Filter::parse(text).unwrap();
        for p in all.iter().step_by(37) {
            let q = query(&e, p);
            let mut truth: Vec<(f32, &str)> = all
                .iter()
                .zip(&vectors)
                .filter(|(p, _)| filter.matches(&p.metadata))
                .map(|(p, v)| (ember_core::distance::dot(&q, v), p.id.as_str()))
                .collect();
            truth.sort_by(|a, b| b.0.total_cmp(&a.0));
            truth.truncate(10);
            let o = SearchOptions { filter: Some(filter.clone()), ..opts(Mode::StoredRerank, 10) };
            let r = index.search(&q, None, &o).unwrap();
            assert_eq!(r.hits.len(), truth.len(), "{text}: {} hits, {} matching", r.hits.len(), truth.len());
            for h in &r.hits {
                let p = all.iter().find(|p| p.id == h.id).unwrap();
                assert!(filter.matches(&p.metadata), "{text}: {} does not match", h.id);
            }
            if !truth.is_empty() {
                let kth = truth[truth.len() - 1].0 - 1e-5;
                recall_sum += r.hits.iter().filter(|h| h.score >= kth).count() as f64 / truth.len() as f64;
                cases += 1;
            }
        }
    }
    let recall = recall_sum / cases as f64;
    println!("filtered recall@10 over {cases} searches: {recall:.3}");
    assert!(recall >= 0.95, "filtered recall@10 {recall:.3}");
}

#[test]
fn device_policy_drives_auto_mode() {
    let dir = temp_dir("living-policy");
    let e = HashEmbedder::new(64);
    let index =
        Index::build(&dir, &e, &passages(0, 80), &config(VectorStorage::None), &Task::none()).unwrap();
    let q = query(&e, &passages(0, 1)[0]);
    let auto = opts(Mode::Auto, 3);
    let dev = |battery, charging, low| DeviceState {
        battery_percent: battery,
        charging,
        low_power_mode: low,
        free_storage_bytes: 64 << 30,
    };
    assert_eq!(index.search(&q, Some(&e), &auto).unwrap().mode, Mode::Recompute);
    index.set_device_state(dev(10, false, false)).unwrap();
    let r = index.search(&q, Some(&e), &auto).unwrap();
    assert_eq!(r.mode, Mode::CodesOnly);
    assert!(r.reason.contains("battery 10%"), "{}", r.reason);
    index.set_device_state(dev(10, true, false)).unwrap();
    assert_eq!(index.search(&q, Some(&e), &auto).unwrap().mode, Mode::Recompute);
    let (action, _) =
        index.policy().vector_action(&dev(10, true, false), false, index.sidecar_bytes(Precision::F16));
    assert_eq!(action, ember_core::VectorAction::Materialize);
    // Materialize (cancelled once, then resumed), then stored mode; evict goes back.
    let cancel = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    let progress = |_: u64, _: u64| {
        calls.fetch_add(1, Ordering::Relaxed);
        cancel.store(true, Ordering::Relaxed);
    };
    let task = Task { progress: Some(&progress), cancel: Some(&cancel) };
    assert!(matches!(index.materialize_vectors(&e, Precision::F16, &task), Err(Error::Cancelled)));
    assert!(dir.join("vectors-000001.partial").exists());
    assert!(index.sidecar_status().is_err());
    index.materialize_vectors(&e, Precision::F16, &Task::none()).unwrap();
    assert!(!dir.join("vectors-000001.partial").exists());
    let r = index.search(&q, Some(&e), &auto).unwrap();
    assert_eq!((r.mode, r.reembedded), (Mode::StoredRerank, 0));
    let stored = index.search(&q, None, &opts(Mode::StoredRerank, 3)).unwrap();
    let recomputed = index.search(&q, Some(&e), &opts(Mode::Recompute, 3)).unwrap();
    assert_eq!(
        stored.hits.iter().map(|h| &h.id).collect::<Vec<_>>(),
        recomputed.hits.iter().map(|h| &h.id).collect::<Vec<_>>()
    );
    // Added passages join the sidecar at commit.
    index.add(&passages(80, 90), &e, &Task::none()).unwrap();
    index.commit().unwrap();
    assert!(index.sidecar_status().is_ok(), "{:?}", index.sidecar_status());
    index.evict_vectors().unwrap();
    assert!(index.sidecar_status().is_err());
    assert_eq!(index.search(&q, Some(&e), &auto).unwrap().mode, Mode::Recompute);
    assert!(std::fs::read_dir(&dir).unwrap().all(|f| !f
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("vectors-")));
}

#[test]
fn cancelled_operations_leave_the_index_as_it_was() {
    let dir = temp_dir("living-cancel");
    let e = HashEmbedder::new(64);
    let index =
        Index::build(&dir, &e, &passages(0, 60), &config(VectorStorage::None), &Task::none()).unwrap();
    index.delete(&["p1".to_string(), "p2".to_string()]).unwrap();
    let cancel = AtomicBool::new(false);
    let progress = |_: u64, _: u64| cancel.store(true, Ordering::Relaxed);
    let task = Task { progress: Some(&progress), cancel: Some(&cancel) };
    assert!(matches!(index.add(&passages(60, 100), &e, &task), Err(Error::Cancelled)));
    assert_eq!(index.len(), 58);
    cancel.store(false, Ordering::Relaxed);
    assert!(matches!(index.compact(&task), Err(Error::Cancelled)));
    assert_eq!(index.stats().unwrap().deleted, 2);
    let pre = temp_dir("living-cancel-build");
    cancel.store(false, Ordering::Relaxed);
    assert!(matches!(
        Index::build(
            &pre,
            &e,
            &passages(0, 600),
            &IndexConfig { embed_chunk: 100, ..config(VectorStorage::None) },
            &task
        ),
        Err(Error::Cancelled)
    ));
    assert!(!pre.join("CURRENT").exists());
    drop(index);
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.len(), 58);
}

#[test]
fn one_writer_many_readers() {
    let dir = temp_dir("living-concurrent");
    let e = Arc::new(HashEmbedder::new(64));
    let index = Arc::new(
        Index::build(&dir, e.as_ref(), &passages(0, 200), &config(VectorStorage::None), &Task::none())
            .unwrap(),
    );
    // A second writer is refused; readers may open read-only.
    assert!(matches!(Index::open(&dir), Err(Error::Locked { .. })));
    let reader = Index::open_with(&dir, OpenOptions { read_only: true, ..OpenOptions::default() }).unwrap();
    assert!(matches!(reader.delete(&["p0".into()]), Err(Error::ReadOnly { .. })));
    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicUsize::new(0));
    let all = passages(0, 600);
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (index, e, stop, searches) = (index.clone(), e.clone(), stop.clone(), searches.clone());
            let qs: Vec<Vec<f32>> = all.iter().skip(t).step_by(13).map(|p| query(&e, p)).collect();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r =
                        index.search(&qs[i % qs.len()], Some(e.as_ref()), &opts(Mode::Recompute, 5)).unwrap();
                    assert_eq!(r.hits.len(), 5);
                    let ids: HashSet<&String> = r.hits.iter().map(|h| &h.id).collect();
                    assert_eq!(ids.len(), 5, "duplicate hits");
                    searches.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for round in 0..8 {
        let from = 200 + round * 40;
        index.add(&all[from..from + 40], e.as_ref(), &Task::none()).unwrap();
        let del: Vec<String> = (round * 20..round * 20 + 20).map(|i| format!("p{i}")).collect();
        index.delete(&del).unwrap();
        match round % 4 {
            1 => index.commit().unwrap(),
            3 => index.compact(&Task::none()).unwrap(),
            _ => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(searches.load(Ordering::Relaxed) > 10);
    let expected: HashSet<String> = (160..520).map(|i| format!("p{i}")).collect();
    assert_eq!(live_ids(&index), expected);
    drop(reader);
    drop(index);
    assert_eq!(live_ids(&Index::open(&dir).unwrap()), expected);
}

#[test]
fn bad_input_is_refused_without_change() {
    let dir = temp_dir("living-bad");
    let e = HashEmbedder::new(64);
    let index =
        Index::build(&dir, &e, &passages(0, 20), &config(VectorStorage::None), &Task::none()).unwrap();
    let mut nan = Passage::new("nan", "x");
    nan.metadata.insert("f".into(), Value::Float(f64::NAN));
    let cases: Vec<Vec<Passage>> = vec![
        vec![Passage::new("x".repeat(2000), "too long id")],
        vec![Passage::new("a", "one"), Passage::new("a", "twice")],
        vec![nan],
    ];
    for bad in cases {
        assert!(matches!(index.add(&bad, &e, &Task::none()), Err(Error::InvalidArgument(_))));
    }
    let wrong = HashEmbedder::new(32);
    assert!(matches!(index.add(&passages(20, 21), &wrong, &Task::none()), Err(Error::ModelMismatch { .. })));
    assert!(matches!(
        index.add_with_vectors(&passages(20, 21), &[vec![0.1; 8]]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.search(&[f32::NAN; 64], None, &opts(Mode::CodesOnly, 3)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(Filter::parse("lang = ").is_err());
    assert_eq!(index.len(), 20);
    assert_eq!(index.stats().unwrap().pending_ops, 0);
    let metadata: BTreeMap<String, Value> = index.get("p3").unwrap().unwrap().metadata;
    assert_eq!(metadata.get("year"), Some(&Value::Int(2003)));
}

/// Passages `p{from}`..`p{to}`, each with a word of its own (`tagN`) for keyword search.
fn tagged(from: usize, to: usize) -> Vec<Passage> {
    passages(from, to)
        .into_iter()
        .enumerate()
        .map(|(j, mut p)| {
            p.text = format!("{} tag{}", p.text, from + j);
            p
        })
        .collect()
}

fn keyword_opts(k: usize) -> SearchOptions {
    SearchOptions { k, retrieval: Retrieval::Keywords, ..SearchOptions::default() }
}

fn keyword_ids(index: &Index, text: &str, opts: &SearchOptions) -> Vec<String> {
    let report = index.search_query(Some(text), None, None, opts).unwrap();
    assert_eq!(report.retrieval, Retrieval::Keywords);
    report.hits.into_iter().map(|h| h.id).collect()
}

fn keyword_scores(index: &Index, text: &str) -> Vec<(String, f32)> {
    let report = index.search_query(Some(text), None, None, &keyword_opts(1000)).unwrap();
    let mut hits: Vec<(String, f32)> = report.hits.into_iter().map(|h| (h.id, h.score)).collect();
    hits.sort_by(|a, b| a.0.cmp(&b.0));
    hits
}

#[test]
fn keywords_follow_adds_updates_deletes_commit_compact_and_reopen() {
    let dir = temp_dir("living-keywords");
    let e = HashEmbedder::new(64);
    let config = IndexConfig { keywords: Some(AnalyzerConfig { stem: true }), ..config(VectorStorage::None) };
    let index = Index::build(&dir, &e, &tagged(0, 100), &config, &Task::none()).unwrap();
    assert!(index.keyword_status().is_ok());
    assert!(index.stats().unwrap().keyword_bytes > 0);
    assert_eq!(keyword_ids(&index, "tag5", &keyword_opts(3)), ["p5"]);
    // An added passage is findable by keyword at once, before any commit.
    index.add(&tagged(100, 130), &e, &Task::none()).unwrap();
    assert_eq!(keyword_ids(&index, "tag117", &keyword_opts(3)), ["p117"]);
    // An update replaces the old terms; a delete hides them.
    index.update(&[Passage::new("p5", "renamed passage tagfive")], &e, &Task::none()).unwrap();
    index.delete(&["p7".into(), "p120".into()]).unwrap();
    let check = |index: &Index, stage: &str| {
        assert!(keyword_ids(index, "tag5", &keyword_opts(3)).is_empty(), "{stage}: old text of p5");
        assert_eq!(keyword_ids(index, "tagfive", &keyword_opts(3)), ["p5"], "{stage}");
        assert!(keyword_ids(index, "tag7 tag120", &keyword_opts(3)).is_empty(), "{stage}: deleted");
        assert_eq!(keyword_ids(index, "tag117", &keyword_opts(3)), ["p117"], "{stage}");
        // Filters apply to the keyword side; k hits whenever k passages match.
        let fr = SearchOptions { filter: Some(Filter::parse("lang = \"fr\"").unwrap()), ..keyword_opts(500) };
        let found = keyword_ids(index, "battery flash", &fr);
        let want: HashSet<String> = index
            .live_texts()
            .unwrap()
            .into_iter()
            .filter(|(id, t)| {
                let lang = index.get(id).unwrap().unwrap().metadata.get("lang").cloned();
                lang == Some(Value::Str("fr".into())) && (t.contains("battery") || t.contains("flash"))
            })
            .map(|(id, _)| id)
            .collect();
        assert_eq!(found.iter().cloned().collect::<HashSet<_>>(), want, "{stage}: filtered matches");
        assert_eq!(found.len(), want.len(), "{stage}: a passage returned twice");
    };
    check(&index, "live");
    let before = keyword_scores(&index, "battery tag117 tagfive");
    drop(index);
    let index = Index::open(&dir).unwrap();
    check(&index, "replayed");
    assert_eq!(keyword_scores(&index, "battery tag117 tagfive"), before, "replay changed scores");
    index.commit().unwrap();
    check(&index, "committed");
    index.compact(&Task::none()).unwrap();
    check(&index, "compacted");
    let generation = index.stats().unwrap().generation;
    assert!(dir.join(format!("keywords-{generation:06}.ember")).exists());
    let stale = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("keywords-") && *n != format!("keywords-{generation:06}.ember"))
        .count();
    drop(index);
    let index = Index::open(&dir).unwrap();
    check(&index, "reopened after compaction");
    assert_eq!(stale, 0, "an older generation's keyword file was left behind");
    // After compaction the statistics are those of the live passages alone: the scores equal a
    // fresh build's over the same passages.
    let live: Vec<Passage> = index.ids().unwrap().iter().map(|id| index.get(id).unwrap().unwrap()).collect();
    let fresh = Index::build(&temp_dir("living-keywords-fresh"), &e, &live, &config, &Task::none()).unwrap();
    for q in ["battery tag117 tagfive", "graph vector", "swift"] {
        let (a, b) = (keyword_scores(&index, q), keyword_scores(&fresh, q));
        assert_eq!(a.len(), b.len(), "{q}");
        for ((ida, sa), (idb, sb)) in a.iter().zip(&b) {
            assert_eq!(ida, idb, "{q}");
            assert!((sa - sb).abs() <= 1e-4 * sb.abs().max(1.0), "{q}: {ida} scores {sa} against {sb}");
        }
    }
}

#[test]
fn keyword_index_is_built_and_dropped_at_run_time() {
    let dir = temp_dir("living-keywords-runtime");
    let e = HashEmbedder::new(64);
    let index = Index::build(&dir, &e, &tagged(0, 60), &config(VectorStorage::None), &Task::none()).unwrap();
    index.add(&tagged(60, 70), &e, &Task::none()).unwrap();
    let q = query(&e, &tagged(9, 10)[0]);
    assert!(matches!(
        index.search_query(Some("tag5"), None, None, &keyword_opts(3)),
        Err(Error::InvalidArgument(_))
    ));
    let auto = SearchOptions { k: 3, ..SearchOptions::default() };
    let r = index.search_query(Some("tag5"), Some(&q), Some(&e), &auto).unwrap();
    assert_eq!(r.retrieval, Retrieval::Dense);
    // Built from the stored texts (the log folded first): no embedding.
    index.build_keywords(AnalyzerConfig { stem: false }, &Task::none()).unwrap();
    assert_eq!(index.stats().unwrap().pending_ops, 0);
    assert_eq!(keyword_ids(&index, "tag65", &keyword_opts(3)), ["p65"]);
    // Hybrid now by default: the keyword side brings p5, the dense side p9.
    let r = index.search_query(Some("tag5"), Some(&q), Some(&e), &auto).unwrap();
    assert_eq!(r.retrieval, Retrieval::Hybrid);
    let ids: Vec<&str> = r.hits.iter().map(|h| h.id.as_str()).collect();
    assert!(ids.contains(&"p5") && ids.contains(&"p9"), "{ids:?}");
    assert_eq!(r.keyword_hits, 1);
    for fusion in ["adaptive", "adaptive:1", "rrf:60", "blend:0.5", "blend:0", "blend:1"] {
        let o =
            SearchOptions { fusion: fusion.parse().unwrap(), retrieval: Retrieval::Hybrid, ..auto.clone() };
        let r = index.search_query(Some("tag5"), Some(&q), Some(&e), &o).unwrap();
        assert_eq!(r.hits.len(), 3, "{fusion}");
        let top = r.hits[0].id.as_str();
        match fusion {
            "blend:0" => assert_eq!(top, "p5", "{fusion}: keywords alone decide"),
            "blend:1" => assert_eq!(top, "p9", "{fusion}: the dense side alone decides"),
            _ => {}
        }
    }
    assert!(
        "blend:2".parse::<ember_core::Fusion>().is_err()
            && "rrf:-1".parse::<ember_core::Fusion>().is_err()
            && "adaptive:0".parse::<ember_core::Fusion>().is_err()
    );
    // A keyword search needs no model and no query vector.
    let r = index.search_query(Some("tag5"), None, None, &auto).unwrap();
    assert_eq!(r.retrieval, Retrieval::Keywords);
    // search_text runs no model for a keywords-only search.
    let (r, embed_ms) = index.search_text("tag5", &e, &keyword_opts(3)).unwrap();
    assert_eq!((r.hits[0].id.as_str(), embed_ms), ("p5", 0.0));
    index.drop_keywords().unwrap();
    assert!(index.keyword_status().is_err());
    assert_eq!(index.stats().unwrap().keyword_bytes, 0);
    let r = index.search_query(Some("tag5"), Some(&q), Some(&e), &auto).unwrap();
    assert_eq!(r.retrieval, Retrieval::Dense);
    drop(index);
    let index = Index::open(&dir).unwrap();
    assert!(index.keyword_status().is_err(), "a dropped keyword index came back");
}

#[test]
fn damaged_keyword_file_is_a_typed_error_and_auto_falls_back_to_dense() {
    let dir = temp_dir("living-keywords-damaged");
    let e = HashEmbedder::new(64);
    let config = IndexConfig { keywords: Some(AnalyzerConfig { stem: true }), ..config(VectorStorage::None) };
    drop(Index::build(&dir, &e, &tagged(0, 80), &config, &Task::none()).unwrap());
    let path = dir.join("keywords-000001.ember");
    let good = std::fs::read(&path).unwrap();
    let q = query(&e, &tagged(9, 10)[0]);
    let mut refused = 0;
    // Every truncation and one flipped bit per byte: the index still opens, keyword searches
    // are a typed error, and auto retrieval stays dense.
    let cases = (0..good.len()).map(|cut| good[..cut].to_vec()).chain((0..good.len()).map(|i| {
        let mut bad = good.clone();
        bad[i] ^= 1 << (i % 8);
        bad
    }));
    for bad in cases {
        std::fs::write(&path, &bad).unwrap();
        let index = ember_tests::open_read_only(&dir).unwrap();
        let Err(why) = index.keyword_status() else { panic!("a damaged keyword file was accepted") };
        assert!(!why.is_empty());
        assert!(matches!(
            index.search_query(Some("tag5"), None, None, &keyword_opts(3)),
            Err(Error::Corrupt(_))
        ));
        let r = index.search_query(Some("tag5"), Some(&q), Some(&e), &SearchOptions::default()).unwrap();
        assert_eq!(r.retrieval, Retrieval::Dense);
        refused += 1;
    }
    assert_eq!(refused, 2 * good.len());
    std::fs::write(&path, &good).unwrap();
    assert!(ember_tests::open_read_only(&dir).unwrap().keyword_status().is_ok());
}
