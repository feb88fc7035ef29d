//! Writes the committed seed corpora, `fuzz/corpus/<target>/`, deterministically, from real index
//! directories (current file names: `CURRENT`, `segment-N.ember`, `vectors-N.ember`, `wal-N.log`):
//! `cargo run --release -p ember-tests --example fuzz_seeds`. Stale seeds are removed first.
#![allow(clippy::panic)]

use std::path::Path;

use ember_core::keywords::{Analyzer, AnalyzerConfig, KeywordIndex};
use ember_core::quant::{QuantParams, Quantizer};
use ember_core::store::{SectionKind, Segment};
use ember_core::{Index, IndexConfig, Passage, Task, Value, VectorStorage};
use ember_tests::fuzz::{DirImage, OWN_FINGERPRINT, REPAIR, REPAIR_SEGMENTS, REPAIR_SIDECAR, REPAIR_WAL};
use ember_tests::{synthetic_passages, HashEmbedder};

fn check<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = ember_tests::workspace().join("fuzz/corpus").join(target);
    check(std::fs::create_dir_all(&dir), "creating the corpus folder");
    check(std::fs::write(dir.join(name), bytes), "writing a seed");
}

fn index(dir: &Path, n: usize, vectors: VectorStorage) -> DirImage {
    let _ = std::fs::remove_dir_all(dir);
    let config = IndexConfig { vectors, ..IndexConfig::default() };
    check(
        Index::build(dir, &HashEmbedder::new(64), &synthetic_passages(n), &config, &ember_core::Task::none()),
        "build",
    );
    check(DirImage::read(dir, 0), "reading the index")
}

/// An index of `n` passages with a write-ahead log on top: adds with every kind of metadata, an
/// update and deletes, as an app makes them.
fn logged(dir: &Path, n: usize, vectors: VectorStorage) -> DirImage {
    let _ = index(dir, n, vectors);
    let e = HashEmbedder::new(64);
    let index = check(Index::open(dir), "open");
    let mut added = Vec::new();
    for (i, (key, value)) in [
        ("folder", Value::Str("travel".into())),
        ("year", Value::Int(2024)),
        ("score", Value::Float(0.25)),
        ("done", Value::Bool(true)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = Passage::new(format!("note-{i}"), format!("battery flash note {i} offline"));
        p.metadata.insert(key.into(), value);
        added.push(p);
    }
    check(index.add(&added[..3], &e, &Task::none()), "add");
    check(index.add(&added[3..], &e, &Task::none()), "add");
    if n > 1 {
        check(index.update(&[Passage::new("p1", "graph graph storage")], &e, &Task::none()), "update");
    }
    check(index.delete(&["p0".to_string(), "note-1".to_string()]), "delete");
    drop(index);
    check(DirImage::read(dir, 0), "reading the index")
}

/// The log of a logged index, in the `wal_replay` target's framing.
fn wal_seed(image: &DirImage, flags: u8, pick: u8, cut: Option<usize>) -> Vec<u8> {
    let Some(log) = image.file("wal-000001.log") else { panic!("the logged index has no log") };
    let log = &log[..cut.unwrap_or(log.len()).min(log.len())];
    let mut seed = vec![flags, pick];
    seed.extend_from_slice(log);
    seed
}

/// The targets whose seeds this writes; their folders are emptied first, so renamed seeds go.
const TARGETS: [&str; 7] =
    ["index_open", "index_write", "wal_replay", "decode", "chunker", "embed", "keywords"];

fn main() {
    for target in TARGETS {
        let dir = ember_tests::workspace().join("fuzz/corpus").join(target);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            check(std::fs::remove_file(entry.path()), "removing a stale seed");
        }
    }
    let tmp = std::env::temp_dir().join(format!("ember-make-seeds-{}", std::process::id()));
    let small = index(&tmp, 24, VectorStorage::None);
    let with_sidecar = index(&tmp, 24, VectorStorage::F16);
    let empty = index(&tmp, 0, VectorStorage::F32);
    let with_log = logged(&tmp, 24, VectorStorage::None);
    let with_log_sidecar = logged(&tmp, 24, VectorStorage::F16);
    let empty_with_log = logged(&tmp, 0, VectorStorage::None);
    let Some(log) = with_log.file("wal-000001.log") else { panic!("no log") };
    // Cut inside the last record: a torn append, as a crash leaves it.
    let torn = DirImage {
        files: with_log
            .files
            .iter()
            .map(|(n, b)| {
                (n.clone(), if n.starts_with("wal-") { b[..log.len() - 7].to_vec() } else { b.clone() })
            })
            .collect(),
        ..with_log.clone()
    };
    let all = REPAIR_SEGMENTS | REPAIR_SIDECAR | REPAIR_WAL;
    // Both whole-directory targets start from the same real directories.
    for target in ["index_open", "index_write"] {
        write(target, "small", &small.to_bytes());
        write(target, "small-f16-sidecar", &with_sidecar.to_bytes());
        write(target, "empty-f32-sidecar", &empty.to_bytes());
        let repaired = DirImage { flags: REPAIR_SEGMENTS | REPAIR_SIDECAR, ..with_sidecar.clone() };
        write(target, "small-f16-sidecar-repair", &repaired.to_bytes());
        write(target, "small-log", &with_log.to_bytes());
        write(target, "small-log-repair", &DirImage { flags: all, ..with_log.clone() }.to_bytes());
        write(
            target,
            "small-log-f16-sidecar-repair",
            &DirImage { flags: all, ..with_log_sidecar.clone() }.to_bytes(),
        );
        write(target, "empty-log-repair", &DirImage { flags: all, ..empty_with_log.clone() }.to_bytes());
        write(target, "small-torn-log", &torn.to_bytes());
    }

    // The log alone.
    write("wal_replay", "log", &wal_seed(&with_log, OWN_FINGERPRINT, 0, None));
    write("wal_replay", "log-repair", &wal_seed(&with_log, OWN_FINGERPRINT | REPAIR, 77, None));
    write(
        "wal_replay",
        "log-empty-index-repair",
        &wal_seed(&empty_with_log, OWN_FINGERPRINT | REPAIR, 3, None),
    );
    write("wal_replay", "log-torn", &wal_seed(&with_log, OWN_FINGERPRINT, 200, Some(log.len() - 7)));
    write("wal_replay", "log-header-only", &wal_seed(&with_log, OWN_FINGERPRINT, 1, Some(24)));
    write("wal_replay", "log-other-segment", &wal_seed(&with_log, 0, 5, None));

    // Graph and quantizer bytes of the small index, in the `decode` target's framing.
    let Some(seg_name) = small.files.iter().map(|(n, _)| n).find(|n| n.starts_with("segment-")) else {
        panic!("no segment in the seed index")
    };
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = index(&tmp, 24, VectorStorage::None);
    let seg = check(Segment::open(&tmp.join(seg_name)), "opening the seed segment");
    let section = |k| check(seg.section(k), "section").to_vec();
    let blocks = section(SectionKind::GraphBlocks);
    let lengths = section(SectionKind::GraphLengths);
    let edges = section(SectionKind::GraphEdges);
    let mut graph = vec![0u8];
    graph.extend_from_slice(&(lengths.len() as u16).to_le_bytes());
    graph.extend_from_slice(&blocks[..2]); // entry (low half of the u32)
    graph.push(0); // offsets given
    graph.extend_from_slice(&lengths);
    graph.extend_from_slice(&blocks[8..]);
    graph.extend_from_slice(&edges);
    write("decode", "graph-24", &graph);
    let mut computed = graph.clone();
    computed[5] = 1; // offsets computed from the lengths
    computed.truncate(6 + lengths.len());
    computed.extend_from_slice(&edges);
    write("decode", "graph-24-computed-offsets", &computed);
    write("decode", "graph-empty", &[0, 0, 0, 0, 0, 1]);
    let mut quant = vec![1u8];
    quant.extend_from_slice(&section(SectionKind::Quantizer));
    write("decode", "quantizer-64-rotation", &quant);
    let sample: Vec<f32> = (0..32 * 16).map(|i| ((i * 7919) % 101) as f32 / 101.0 - 0.5).collect();
    let pca = check(Quantizer::train(&sample, 32, QuantParams { dims: 16, bits: 3, seed: 7 }), "train");
    let mut quant = vec![1u8];
    quant.extend_from_slice(&pca.to_bytes());
    write("decode", "quantizer-32-pca16-3bit", &quant);
    let _ = std::fs::remove_dir_all(&tmp);

    // Chunker: u16 target, u16 overlap, counter, document.
    let chunk_seed = |target: u16, overlap: u16, counter: u8, doc: &str| {
        let mut b = target.to_le_bytes().to_vec();
        b.extend_from_slice(&overlap.to_le_bytes());
        b.push(counter);
        b.extend_from_slice(doc.as_bytes());
        b
    };
    let prose = "Flash storage wears out. Phones keep indexes small!\n\nA new paragraph: does it \
                 split? Yes — on sentences, then words.";
    write("chunker", "prose", &chunk_seed(12, 3, 0, prose));
    write("chunker", "cjk-bytes", &chunk_seed(2, 1, 1, "日本語のテキスト。句読点！次の文？"));
    // Keyword files: a short one, one with a list long enough for skip blocks, stemmed and not,
    // and an empty one.
    let texts = synthetic_passages(300);
    for (name, n, stem) in [("small-stemmed", 24, true), ("skips-300", 300, false), ("empty", 0, true)] {
        let mut docs: Vec<(u32, String)> =
            texts[..n].iter().enumerate().map(|(i, p)| (i as u32, p.text.clone())).collect();
        if n > 0 {
            docs[0].1.push_str(" 电池容量 battery");
        }
        let refs: Vec<(u32, &str)> = docs.iter().map(|(i, t)| (*i, t.as_str())).collect();
        let built = check(KeywordIndex::build(&refs, &Analyzer::new(AnalyzerConfig { stem })), "keywords");
        // Flag 1: the target recomputes the checksums of what the mutator changed.
        write("keywords", name, &[&[1u8][..], built.to_bytes()].concat());
    }
    write("chunker", "specials", &chunk_seed(3, 0, 2, "a b c d e f g h i j k l m n o p"));
    write("chunker", "long-word", &chunk_seed(5, 2, 3, &"x".repeat(300)));
    write("chunker", "emoji-joiners", &chunk_seed(4, 1, 0, "👨‍👩‍👧 e\u{301} ﷽ \u{200d}\u{200d} 🎉🎉. ok"));

    // Embedder: a flags byte, then text.
    let embed_seed = |flags: u8, text: &[u8]| {
        let mut b = vec![flags];
        b.extend_from_slice(text);
        b
    };
    write("embed", "ascii", &embed_seed(0, b"How do I free disk space on Linux?"));
    write("embed", "empty", &embed_seed(0, b""));
    write("embed", "cjk-emoji", &embed_seed(0, "検索エンジン 🔍 поиск é\u{301} ﷽".as_bytes()));
    write("embed", "batch", &embed_seed(2, b"first line\n\nthird line after an empty one\n   \n\t"));
    write("embed", "invalid-utf8", &embed_seed(1, &[0xff, b'a', 0xc3, 0x28, 0xe2, 0x82, b' ', 0xf0, 0x9f]));
    write("embed", "control", &embed_seed(0, b"\0\x01\x1b[31m\x7f[CLS][SEP][UNK][PAD] ##ing"));
    write("embed", "long", &embed_seed(0, "supercalifragilistic ".repeat(100).as_bytes()));

    // C API call sequences.
    for (name, bytes) in ember_tests::fuzz::capi_sequence_seeds() {
        write("capi_sequence", name, &bytes);
    }
    println!("seeds written under {}", ember_tests::workspace().join("fuzz/corpus").display());
}
