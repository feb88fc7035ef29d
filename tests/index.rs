//! The lean index through its public API: build, open, search in every mode, and typed errors for
//! every kind of damaged file.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::store::{SectionKind, Segment, SegmentWriter};
use ember_core::Task;
use ember_core::TextKind;
use ember_core::{Embedder, Error, Index, IndexConfig, Mode, Prefixes, SearchOptions, VectorStorage};
use ember_tests::{open_read_only, synthetic_passages, temp_dir, HashEmbedder};

fn build(name: &str, n: usize, vectors: VectorStorage) -> (std::path::PathBuf, Index, HashEmbedder) {
    let dir = temp_dir(name);
    let e = HashEmbedder::new(64);
    let config = IndexConfig { code_dims: 32, vectors, ..IndexConfig::default() };
    let index = Index::build(&dir, &e, &synthetic_passages(n), &config, &Task::none()).unwrap();
    (dir, index, e)
}

fn opts(mode: Mode, k: usize) -> SearchOptions {
    SearchOptions { k, mode, ..SearchOptions::default() }
}

#[test]
fn round_trip_and_every_mode() {
    let (dir, index, e) = build("roundtrip", 300, VectorStorage::F16);
    let q = e.embed(&["battery flash storage offline"], TextKind::Query).unwrap().remove(0);
    let stored = index.search(&q, Some(&e), &opts(Mode::StoredRerank, 5)).unwrap();
    let recompute = index.search(&q, Some(&e), &opts(Mode::Recompute, 5)).unwrap();
    let codes = index.search(&q, None, &opts(Mode::CodesOnly, 5)).unwrap();
    assert_eq!(stored.mode, Mode::StoredRerank);
    assert_eq!(recompute.mode, Mode::Recompute);
    assert_eq!(codes.mode, Mode::CodesOnly);
    assert_eq!(stored.hits.len(), 5);
    assert!(recompute.reembedded > 0 && stored.reembedded == 0);
    // f16 storage vs recomputed f32: same ranking on this data, scores within f16 rounding.
    for (a, b) in stored.hits.iter().zip(&recompute.hits) {
        assert!((a.score - b.score).abs() < 2e-3, "{a:?} {b:?}");
    }
    // Reopening gives identical results.
    let again = open_read_only(&dir).unwrap();
    assert_eq!(again.search(&q, Some(&e), &opts(Mode::StoredRerank, 5)).unwrap().hits, stored.hits);
    assert_eq!(again.stats().unwrap(), index.stats().unwrap());
    // Auto picks the sidecar when present.
    assert_eq!(index.search(&q, Some(&e), &opts(Mode::Auto, 5)).unwrap().mode, Mode::StoredRerank);
    // A second recompute of the same query is served by the cache.
    let warm = index.search(&q, Some(&e), &opts(Mode::Recompute, 5)).unwrap();
    assert_eq!(warm.reembedded, 0);
    assert!(warm.cache_hits > 0);
}

#[test]
fn exact_scores_match_brute_force_on_the_best_hit() {
    let (_dir, index, e) = build("brute", 500, VectorStorage::F32);
    let passages = synthetic_passages(500);
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let all = e.embed(&texts, TextKind::Passage).unwrap();
    let mut agree = 0;
    for p in passages.iter().take(50) {
        let q = e.embed(&[p.text.as_str()], TextKind::Query).unwrap().remove(0);
        let hits = index.search(&q, None, &opts(Mode::StoredRerank, 1)).unwrap().hits;
        let best = all.iter().map(|v| ember_core::distance::dot(v, &q)).fold(f32::MIN, f32::max);
        if (hits[0].score - best).abs() < 1e-5 {
            agree += 1;
        }
    }
    assert!(agree >= 48, "top-1 found exactly for {agree}/50 queries");
}

#[test]
fn empty_index_and_k_beyond_size() {
    let (_d, empty, e) = build("empty", 0, VectorStorage::None);
    let q = e.embed(&["anything"], TextKind::Query).unwrap().remove(0);
    assert!(empty.search(&q, Some(&e), &opts(Mode::Recompute, 10)).unwrap().hits.is_empty());
    assert_eq!(empty.stats().unwrap().passages, 0);
    let (_d, small, e) = build("small", 7, VectorStorage::None);
    let hits = small.search(&q, Some(&e), &opts(Mode::Recompute, 50)).unwrap().hits;
    assert_eq!(hits.len(), 7, "k larger than the index returns every passage");
    let (_d, one, e) = build("one", 1, VectorStorage::None);
    assert_eq!(one.search(&q, Some(&e), &opts(Mode::Recompute, 3)).unwrap().hits.len(), 1);
}

#[test]
fn empty_and_huge_passages() {
    let dir = temp_dir("huge");
    let e = HashEmbedder::new(64);
    let mut passages = synthetic_passages(20);
    passages.push(ember_core::Passage::new("empty", String::new()));
    passages.push(ember_core::Passage::new("huge", "battery ".repeat(300_000)));
    let config = IndexConfig { code_dims: 32, ..IndexConfig::default() };
    let index = Index::build(&dir, &e, &passages, &config, &Task::none()).unwrap();
    let q = e.embed(&["battery"], TextKind::Query).unwrap().remove(0);
    let hits = index.search(&q, Some(&e), &opts(Mode::Recompute, 3)).unwrap().hits;
    assert_eq!(hits[0].id, "huge");
    assert_eq!(index.stats().unwrap().text_bytes, passages.iter().map(|p| p.text.len() as u64).sum::<u64>());
}

#[test]
fn vectors_given_to_a_build_are_checked_before_use() {
    let e = HashEmbedder::new(64);
    let passages = synthetic_passages(6);
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let rows = e.embed(&texts, TextKind::Passage).unwrap();
    let config = IndexConfig { code_dims: 32, ..Default::default() };
    let build = |rows: Vec<Vec<f32>>| {
        Index::build_with_vectors(
            &temp_dir("given"),
            e.model_id(),
            &Prefixes::default(),
            &passages,
            rows,
            &config,
            None,
        )
    };
    // Borrowed and given rows build the same index.
    let borrowed = Index::build_with_vectors(
        &temp_dir("borrowed"),
        e.model_id(),
        &Prefixes::default(),
        &passages,
        &rows,
        &config,
        None,
    )
    .unwrap();
    let given = build(rows.clone()).unwrap();
    let q = e.embed(&["x"], TextKind::Query).unwrap().remove(0);
    let hits = |i: &Index| i.search(&q, None, &opts(Mode::CodesOnly, 6)).unwrap().hits;
    assert_eq!(hits(&borrowed), hits(&given));
    // Fewer or more rows than passages, a ragged row, a dimension past the limit, no rows: typed
    // errors.
    assert!(matches!(build(rows[..5].to_vec()), Err(Error::InvalidArgument(_))));
    let mut more = rows.clone();
    more.push(rows[0].clone());
    assert!(matches!(build(more), Err(Error::InvalidArgument(_))));
    let mut ragged = rows.clone();
    ragged[3].pop();
    assert!(matches!(build(ragged), Err(Error::DimensionMismatch { expected: 64, found: 63 })));
    assert!(matches!(build(vec![vec![0.0; 1 << 20]; 6]), Err(Error::InvalidArgument(_))));
    assert!(matches!(build(Vec::new()), Err(Error::InvalidArgument(_))));
}

#[test]
fn bad_input_is_rejected() {
    let e = HashEmbedder::new(64);
    let mut passages = synthetic_passages(5);
    passages.push(passages[0].clone());
    let err = Index::build(
        &temp_dir("dup"),
        &e,
        &passages,
        &IndexConfig { code_dims: 32, ..Default::default() },
        &Task::none(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let (_d, index, e) = build("badq", 10, VectorStorage::None);
    let err = index.search(&[0.0; 3], Some(&e), &opts(Mode::Recompute, 3)).unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch { expected: 64, found: 3 }));
    let q = e.embed(&["x"], TextKind::Query).unwrap().remove(0);
    assert!(matches!(index.search(&q, Some(&e), &opts(Mode::Recompute, 0)), Err(Error::InvalidArgument(_))));
    assert!(matches!(index.search(&q, None, &opts(Mode::StoredRerank, 3)), Err(Error::InvalidArgument(_))));
    let other = HashEmbedder { dim: 64, id: "another-model".into() };
    assert!(matches!(
        index.search(&q, Some(&other), &opts(Mode::Recompute, 3)),
        Err(Error::ModelMismatch { .. })
    ));
}

/// Replace a file by rename, as Ember itself does: an open mapping of the old file stays valid
/// (writing in place under a live mapping is what raises SIGBUS).
fn replace(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("test-tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn segment_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(std::fs::read_to_string(dir.join("CURRENT")).unwrap().trim())
}

/// The vector sidecar of the current segment.
fn sidecar_path(dir: &std::path::Path) -> std::path::PathBuf {
    segment_path(dir).to_string_lossy().replace("segment-", "vectors-").into()
}

#[test]
fn damaged_segments_give_typed_errors() {
    let (dir, _index, _e) = build("damaged", 200, VectorStorage::None);
    let path = segment_path(&dir);
    let good = std::fs::read(&path).unwrap();
    // Truncation anywhere.
    for cut in [0, 10, 63, 64, good.len() / 2, good.len() - 17, good.len() - 1] {
        replace(&path, &good[..cut]);
        assert!(matches!(open_read_only(&dir), Err(Error::Corrupt(_))), "cut at {cut}");
    }
    // A flipped bit in every 97th byte.
    for i in (0..good.len()).step_by(97) {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        replace(&path, &bad);
        match open_read_only(&dir) {
            Err(Error::Corrupt(_)) | Err(Error::IncompatibleVersion { .. }) => {}
            Ok(_) => {
                // Only alignment padding is outside every checksum.
            }
            Err(other) => panic!("flip at {i}: unexpected {other}"),
        }
    }
    // Bad magic, unknown major version.
    let mut bad = good.clone();
    bad[0] = b'X';
    replace(&path, &bad);
    assert!(matches!(open_read_only(&dir), Err(Error::Corrupt(_))));
    let mut bad = good.clone();
    bad[8] = 3; // major = 3 (little-endian u16 at offset 8)
    replace(&path, &bad);
    assert!(matches!(open_read_only(&dir), Err(Error::IncompatibleVersion { found: 3, supported: 2 })));
    replace(&path, &good);
    assert!(open_read_only(&dir).is_ok());
    // No index at all.
    assert!(matches!(open_read_only(&temp_dir("nothing-here")), Err(Error::Missing { .. })));
    // Opened for writing, a folder that is not an index (or does not exist) is `Missing` too, and
    // is left as it was: no LOCK file appears in it.
    let folder = temp_dir("not-an-index");
    std::fs::create_dir_all(&folder).unwrap();
    assert!(matches!(Index::open(&folder), Err(Error::Missing { .. })));
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        0,
        "open wrote into a folder that is not an index"
    );
    assert!(matches!(Index::open(&folder.join("absent")), Err(Error::Missing { .. })));
}

/// Checksums valid but contents wrong (as a buggy writer or an attacker could produce): the bounds
/// checks, not the checksums, must catch these.
#[test]
fn consistent_checksums_with_bad_contents() {
    let (dir, _index, _e) = build("contents", 100, VectorStorage::None);
    let path = segment_path(&dir);
    let good = Segment::open(&path).unwrap();
    let rewrite = |target: SectionKind, bytes: Vec<u8>| {
        let mut w = SegmentWriter::new();
        for kind in SectionKind::ALL {
            let Some(present) = good.optional_section(kind).unwrap() else { continue };
            let body = if kind == target { bytes.clone() } else { present.to_vec() };
            w.add(kind, body);
        }
        replace(&path, &w.to_bytes());
        open_read_only(&dir)
    };
    // Edges pointing outside the graph: every edge byte set to a large varint-terminating value.
    let edges: Vec<u8> = good.section(SectionKind::GraphEdges).unwrap().iter().map(|_| 0x7f).collect();
    assert!(matches!(
        rewrite(SectionKind::GraphEdges, edges),
        Err(Error::Corrupt(_)) | Err(Error::InvalidArgument(_))
    ));
    // Codes of the wrong size.
    let codes = good.section(SectionKind::Codes).unwrap()[1..].to_vec();
    assert!(matches!(rewrite(SectionKind::Codes, codes), Err(Error::Corrupt(_))));
    // A passage count far beyond the file.
    let meta = String::from_utf8(good.section(SectionKind::Meta).unwrap().to_vec()).unwrap();
    let meta = meta.replace("\"passages\":100", "\"passages\":1099511627776");
    let start = std::time::Instant::now();
    assert!(matches!(rewrite(SectionKind::Meta, meta.into_bytes()), Err(Error::Corrupt(_))));
    assert!(start.elapsed().as_millis() < 1000);
    // Ids and text that disagree with the count.
    assert!(matches!(
        rewrite(SectionKind::Ids, vec![1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, b'x']),
        Err(Error::Corrupt(_))
    ));
    assert!(matches!(rewrite(SectionKind::Text, vec![0; 8]), Err(Error::Corrupt(_))));
    assert!(matches!(
        rewrite(SectionKind::Quantizer, vec![0; 30]),
        Err(Error::Corrupt(_)) | Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn sidecar_problems_disable_stored_mode_only() {
    let (dir, _index, e) = build("sidecar", 150, VectorStorage::F16);
    let side = sidecar_path(&dir);
    let mut bytes = std::fs::read(&side).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    replace(&side, &bytes);
    let index = open_read_only(&dir).unwrap();
    assert!(index.sidecar_status().unwrap_err().contains("checksum"));
    let q = e.embed(&["flash storage"], TextKind::Query).unwrap().remove(0);
    assert!(index.search(&q, Some(&e), &opts(Mode::StoredRerank, 3)).is_err());
    assert_eq!(index.search(&q, Some(&e), &opts(Mode::Auto, 3)).unwrap().mode, Mode::Recompute);
    // A sidecar of a different build (stale) is refused too.
    // (Builds are deterministic: an identical corpus would give an identical, valid sidecar.)
    let dir2 = temp_dir("sidecar2");
    let mut other = synthetic_passages(150);
    other[0].text.push_str(" changed");
    let config = IndexConfig { code_dims: 32, vectors: VectorStorage::F16, ..IndexConfig::default() };
    Index::build(&dir2, &e, &other, &config, &Task::none()).unwrap();
    replace(&side, &std::fs::read(sidecar_path(&dir2)).unwrap());
    assert!(open_read_only(&dir).unwrap().sidecar_status().unwrap_err().contains("stale"));
}

#[test]
fn rebuild_replaces_atomically() {
    let (dir, first, e) = build("rebuild", 50, VectorStorage::None);
    drop(first);
    // A reader keeps serving the old segment after a rebuild replaces it.
    let first = open_read_only(&dir).unwrap();
    let config = IndexConfig { code_dims: 32, ..IndexConfig::default() };
    let second = Index::build(&dir, &e, &synthetic_passages(80), &config, &Task::none()).unwrap();
    assert_eq!(first.len(), 50);
    assert_eq!(second.len(), 80);
    assert_eq!(open_read_only(&dir).unwrap().len(), 80);
    let segments = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("segment-"));
    assert_eq!(segments.count(), 1, "the old segment is removed after CURRENT moves");
}
