//! Writes the committed seed corpora, `fuzz/corpus/<target>/`, deterministically:
//! `cargo run --release -p ember-tests --example fuzz_seeds`.
#![allow(clippy::panic)]

use std::path::Path;

use ember_core::quant::{QuantParams, Quantizer};
use ember_core::store::{SectionKind, Segment};
use ember_core::{Index, IndexConfig, VectorStorage};
use ember_tests::fuzz::{DirImage, REPAIR_SEGMENTS, REPAIR_SIDECAR};
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

fn main() {
    let tmp = std::env::temp_dir().join(format!("ember-make-seeds-{}", std::process::id()));
    let small = index(&tmp, 24, VectorStorage::None);
    let with_sidecar = index(&tmp, 24, VectorStorage::F16);
    let empty = index(&tmp, 0, VectorStorage::F32);
    write("index_open", "small", &small.to_bytes());
    write("index_open", "small-f16-sidecar", &with_sidecar.to_bytes());
    write("index_open", "empty-f32-sidecar", &empty.to_bytes());
    let repaired = DirImage { flags: REPAIR_SEGMENTS | REPAIR_SIDECAR, ..with_sidecar.clone() };
    write("index_open", "small-f16-sidecar-repair", &repaired.to_bytes());

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
