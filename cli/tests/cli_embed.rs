//! The `ember embed` contract and its error behaviour, through the real binary.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ember_tests::{l3, l3_copy};

fn ember(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// A failure is one line on stderr, exit 1 or 2, and no panic or backtrace.
fn assert_clean_failure(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1 | 2)), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
}

#[test]
fn embed_json_contract() {
    let model = l3();
    let out = ember(
        &["embed", "--model", model.to_str().unwrap(), "--input", "-", "--json"],
        Some("first line\nsecond line\n\nfourth, after an empty one\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["model"].as_str().unwrap().starts_with("paraphrase-MiniLM-L3-v2@"));
    assert_eq!(doc["dim"], 384);
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 4, "one vector per input line, empty lines included");
    assert!(vectors.iter().all(|v| v.as_array().unwrap().len() == 384));
    // In order: the same text embedded alone gives the same vector as in the batch.
    let alone = ember(
        &["embed", "--model", model.to_str().unwrap(), "--input", "-", "--json"],
        Some("second line\n"),
    );
    let alone: serde_json::Value = serde_json::from_slice(&alone.stdout).unwrap();
    assert_eq!(alone["vectors"][0], vectors[1]);
}

#[test]
fn embed_from_file_with_options() {
    let input = std::env::temp_dir().join(format!("ember-cli-input-{}.txt", std::process::id()));
    std::fs::write(&input, "a sentence about flash storage\n").unwrap();
    let out = ember(
        &[
            "embed",
            "--model",
            l3().to_str().unwrap(),
            "--max-tokens",
            "64",
            "--threads",
            "2",
            "--input",
            input.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["vectors"].as_array().unwrap().len(), 1);
}

fn broken_model_dir(name: &str, keep: &[&str]) -> PathBuf {
    l3_copy(&format!("cli-{name}"), keep)
}

#[test]
fn truncated_model_fails_cleanly() {
    let dir = broken_model_dir("trunc", &["tokenizer.json", "ember-model.json"]);
    let bytes = std::fs::read(l3().join("model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &bytes[..bytes.len() / 3]).unwrap();
    let out = ember(&["embed", "--model", dir.to_str().unwrap(), "--input", "-"], Some("hello\n"));
    assert_clean_failure(&out, "invalid model");
}

#[test]
fn missing_tokenizer_fails_cleanly() {
    let dir = broken_model_dir("notok", &["model.onnx", "ember-model.json"]);
    let out = ember(&["embed", "--model", dir.to_str().unwrap(), "--input", "-"], Some("hello\n"));
    assert_clean_failure(&out, "missing tokenizer file");
}

#[test]
fn empty_model_dir_fails_cleanly() {
    let dir = broken_model_dir("empty", &[]);
    let out = ember(&["embed", "--model", dir.to_str().unwrap(), "--input", "-"], Some("hello\n"));
    assert_clean_failure(&out, "missing");
}

#[test]
fn missing_input_and_bad_flags_fail_cleanly() {
    let out = ember(&["embed", "--model", l3().to_str().unwrap(), "--input", "/nonexistent/input.txt"], None);
    assert_clean_failure(&out, "cannot open");
    let out = ember(
        &["embed", "--model", l3().to_str().unwrap(), "--input", "-", "--max-tokens", "1"],
        Some("x\n"),
    );
    assert_clean_failure(&out, "max tokens");
    let out = ember(&["embed", "--no-such-flag"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn embed_as_query_or_passage_with_e5() {
    let e5 = ember_tests::model_dir("multilingual-e5-small");
    let e5 = e5.to_str().unwrap();
    let vectors = |kind: &str| -> serde_json::Value {
        let out = ember(
            &["embed", "--model", e5, "--as", kind, "--input", "-", "--json"],
            Some("free disk space\n"),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(doc["model"].as_str().unwrap().starts_with("multilingual-e5-small@"));
        doc["vectors"][0].clone()
    };
    let (query, passage) = (vectors("query"), vectors("passage"));
    assert_eq!(query.as_array().unwrap().len(), 384);
    assert_ne!(query, passage, "e5 puts query: or passage: before the text");
    let default = ember(&["embed", "--model", e5, "--input", "-", "--json"], Some("free disk space\n"));
    let default: serde_json::Value = serde_json::from_slice(&default.stdout).unwrap();
    assert_eq!(default["vectors"][0], passage, "passages by default");
    // A symmetric model gives the same vector for both kinds.
    let l3 = l3();
    let l3 = l3.to_str().unwrap();
    let one = |kind: &str| ember(&["embed", "--model", l3, "--as", kind, "--input", "-"], Some("x\n")).stdout;
    assert_eq!(one("query"), one("passage"));
    // A usage error: clap's message, exit 2 (no input given: it exits before reading any).
    let bad = ember(&["embed", "--model", l3, "--as", "question", "--input", "-"], None);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("possible values: query, passage"), "{stderr}");
}

#[test]
fn index_and_search_with_e5() {
    let e5 = ember_tests::model_dir("multilingual-e5-small");
    let e5 = e5.to_str().unwrap();
    let dir = ember_tests::temp_dir("cli-e5");
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.jsonl");
    std::fs::write(
        &corpus,
        concat!(
            r#"{"_id": "disk", "title": "", "text": "Delete old build folders to free disk space"}"#,
            "\n",
            r#"{"_id": "train", "title": "", "text": "Der Zug an die Küste fährt um sieben Uhr morgens ab"}"#,
            "\n",
            r#"{"_id": "pasta", "title": "", "text": "Faire cuire les pâtes neuf minutes dans l'eau salée"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out_dir = dir.join("index");
    let out = ember(
        &["index", "--model", e5, "--corpus", corpus.to_str().unwrap(), "--out", out_dir.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ember(
        &[
            "search",
            out_dir.to_str().unwrap(),
            "--model",
            e5,
            "--query",
            "when does the train leave",
            "-k",
            "1",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["hits"][0]["id"], "train", "{doc}");
    // Another model's index is refused.
    let l3 = l3();
    let out =
        ember(&["search", out_dir.to_str().unwrap(), "--model", l3.to_str().unwrap(), "--query", "x"], None);
    assert_clean_failure(&out, "model");
}
