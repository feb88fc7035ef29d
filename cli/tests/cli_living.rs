//! The living-index CLI contract (`ember add --json`, delete, ids, compact, vectors, search with a
//! filter and device state) and a real `kill -9` loop against the ids `ember add` acknowledged.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ember_tests::{empty_temp_dir, shared_data};

fn l3() -> String {
    ember_tests::l3().to_string_lossy().into_owned()
}

fn ember(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ember")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = ember(args);
    assert!(out.status.success(), "ember {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A BEIR corpus of `n` man-page passages starting at `from`, ids prefixed, with metadata.
fn corpus(dir: &Path, name: &str, prefix: &str, from: usize, n: usize) -> String {
    let src = shared_data("manpages").join("corpus.jsonl");
    let text = std::fs::read_to_string(&src).unwrap_or_else(|_| panic!("missing {}", src.display()));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for (i, line) in text.lines().skip(from).take(n).enumerate() {
        let mut rec: serde_json::Value = serde_json::from_str(line).unwrap();
        rec["_id"] = format!("{prefix}{}", from + i).into();
        rec["metadata"] =
            serde_json::json!({ "section": (from + i) % 3, "even": (from + i).is_multiple_of(2) });
        writeln!(f, "{rec}").unwrap();
    }
    path.to_string_lossy().into_owned()
}

fn ids(dir: &str) -> HashSet<String> {
    ok(&["ids", dir]).lines().map(str::to_owned).collect()
}

#[test]
fn add_delete_compact_vectors_and_filtered_search() {
    let tmp = empty_temp_dir("cli-living");
    let model = l3();
    let dir = tmp.join("index").to_string_lossy().into_owned();
    let base = corpus(&tmp, "base.jsonl", "m", 0, 60);
    ok(&["index", "--model", &model, "--corpus", &base, "--out", &dir]);
    let more = corpus(&tmp, "more.jsonl", "m", 60, 20);
    let out = ok(&["add", &dir, "--model", &model, "--corpus", &more, "--json", "--batch", "8"]);
    // One line per durable batch: {"acked": [...]} with the batch's ids, in order.
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    let acked: Vec<String> = lines
        .iter()
        .flat_map(|l| l["acked"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(acked, (60..80).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // Each batch says what it cost: every thread's CPU time and the energy estimate (Linux has
    // per-thread CPU clocks, so both are there).
    for l in &lines {
        assert!(l["cpu_ms"].as_f64().unwrap() > 0.0 && l["energy_mj"].as_f64().unwrap() > 0.0, "{l}");
    }
    assert_eq!(ids(&dir).len(), 80);
    // Adding the same ids again fails with a one-line error and changes nothing.
    let again = ember(&["add", &dir, "--model", &model, "--corpus", &more]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in the index"));
    assert_eq!(ids(&dir).len(), 80);
    // Delete from a file of ids.
    let del = tmp.join("del.txt");
    std::fs::write(&del, "m1\nm2\nm61\nnot-there\n").unwrap();
    let out = ok(&["delete", &dir, "--ids", &del.to_string_lossy(), "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["deleted"], 3);
    let live = ids(&dir);
    assert_eq!(live.len(), 77);
    assert!(!live.contains("m1") && !live.contains("m61") && live.contains("m79"));
    // Filtered search: every hit matches.
    let out = ok(&[
        "search",
        &dir,
        "--model",
        &model,
        "--query",
        "copy files",
        "-k",
        "5",
        "--json",
        "--filter",
        "section = 1 and even = false",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let hits = line["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5);
    let (cpu_ms, energy_mj) = (line["cpu_ms"].as_f64().unwrap(), line["energy_mj"].as_f64().unwrap());
    assert!(cpu_ms > 0.0 && energy_mj > 0.0, "{line}");
    for h in hits {
        let n: usize = h["id"].as_str().unwrap()[1..].parse().unwrap();
        assert!(n % 3 == 1 && n % 2 == 1, "hit {n} does not match the filter");
    }
    // Device state drives auto mode; the reason says why.
    let out = ok(&[
        "search",
        &dir,
        "--model",
        &model,
        "--query",
        "copy files",
        "--json",
        "--battery",
        "5",
        "--charging",
        "false",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["mode"], "codes");
    assert!(line["reason"].as_str().unwrap().contains("battery 5%"));
    assert_eq!(line["vectors_advice"], "keep");
    let out = ok(&[
        "search",
        &dir,
        "--model",
        &model,
        "--query",
        "copy files",
        "--json",
        "--charging",
        "true",
        "--free-storage",
        "100000000000",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (line["mode"].as_str(), line["vectors_advice"].as_str()),
        (Some("recompute"), Some("materialize"))
    );
    // Materialize (reporting its cost), then stored mode; evict, back to recompute.
    let out = ok(&["vectors", &dir, "materialize", "--model", &model, "--json"]);
    let made: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(made["sidecar_bytes"].as_u64().unwrap() > 0 && made["cpu_ms"].as_f64().unwrap() > 0.0, "{made}");
    let out = ok(&["search", &dir, "--model", &model, "--query", "copy files", "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["mode"], "stored");
    ok(&["vectors", &dir, "evict"]);
    let out = ok(&["search", &dir, "--model", &model, "--query", "copy files", "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["mode"], "recompute");
    // Compact keeps exactly the live ids, and says what it cost beside the stats.
    let out = ok(&["compact", &dir, "--json"]);
    let compacted: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(compacted["passages"].as_u64(), Some(77), "{compacted}");
    assert!(compacted["cpu_ms"].as_f64().unwrap() >= 0.0 && !compacted["energy_mj"].is_null(), "{compacted}");
    assert_eq!(ids(&dir), live);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &dir, "--json"])).unwrap();
    assert_eq!((info["passages"].as_u64(), info["deleted"].as_u64()), (Some(77), Some(0)));
    // Bad filter: usage-free runtime error, one line.
    let bad = ember(&["search", &dir, "--model", &model, "--query", "x", "--filter", "section ="]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("ember: error: invalid argument: filter"));
}

/// The keyword contract: `ember index --keywords`, `ember search --retrieval` with `"retrieval"` in
/// each `--json` line (hybrid by default with keywords), `ember info`'s `keyword_bytes`, and
/// `ember keywords DIR build|drop`.
#[test]
fn keywords_retrieval_and_info() {
    let tmp = empty_temp_dir("cli-keywords");
    let model = l3();
    let dir = tmp.join("index").to_string_lossy().into_owned();
    let base = corpus(&tmp, "base.jsonl", "m", 0, 60);
    let summary = ok(&["index", "--model", &model, "--corpus", &base, "--out", &dir, "--keywords", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(summary.trim()).unwrap();
    assert!(summary["keyword_bytes"].as_u64().unwrap() > 0, "{summary}");
    let search = |extra: &[&str]| -> serde_json::Value {
        let mut args =
            vec!["search", dir.as_str(), "--model", model.as_str(), "--query", "copy files", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(ok(&args).trim()).unwrap()
    };
    let line = search(&[]);
    assert_eq!(line["retrieval"], "hybrid", "{line}");
    for field in ["dense_ms", "keyword_ms", "keyword_hits", "mode", "hits"] {
        assert!(!line[field].is_null(), "{field} missing: {line}");
    }
    assert!(line["keyword_hits"].as_u64().unwrap() > 0, "{line}");
    for retrieval in ["dense", "keywords", "hybrid"] {
        let line = search(&["--retrieval", retrieval]);
        assert_eq!(line["retrieval"], retrieval, "{line}");
        assert!(!line["hits"].as_array().unwrap().is_empty(), "{retrieval}: no hits");
    }
    let line = search(&["--retrieval", "keywords"]);
    assert_eq!((line["embed_ms"].as_f64(), line["dense_ms"].as_f64()), (Some(0.0), Some(0.0)), "{line}");
    let line = search(&["--fusion", "rrf:60"]);
    assert_eq!(line["retrieval"], "hybrid");
    let bad = ember(&["search", &dir, "--model", &model, "--query", "x", "--fusion", "mean"]);
    assert_eq!(bad.status.code(), Some(2), "a bad --fusion is a usage error");
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &dir, "--json"])).unwrap();
    assert_eq!(info["keyword_bytes"], summary["keyword_bytes"]);
    ok(&["keywords", &dir, "drop"]);
    assert_eq!(search(&[])["retrieval"], "dense");
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &dir, "--json"])).unwrap();
    assert_eq!(info["keyword_bytes"], 0);
    let no_index = ember(&["search", &dir, "--model", &model, "--query", "x", "--retrieval", "keywords"]);
    assert_eq!(no_index.status.code(), Some(1));
    ok(&["keywords", &dir, "build", "--no-stem"]);
    assert_eq!(search(&[])["retrieval"], "hybrid");
}

/// `kill -9` at random moments of `ember add`: every id it acknowledged survives, and the index
/// always reopens.
#[test]
fn kill_9_never_loses_an_acknowledged_id() {
    let tmp = empty_temp_dir("cli-kill9");
    let model = l3();
    let dir = tmp.join("index").to_string_lossy().into_owned();
    let base = corpus(&tmp, "base.jsonl", "b", 0, 30);
    ok(&["index", "--model", &model, "--corpus", &base, "--out", &dir]);
    let mut acked_all: HashSet<String> = HashSet::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let rounds = 10;
    for round in 0..rounds {
        let file = corpus(&tmp, &format!("round{round}.jsonl"), &format!("r{round}-"), 100 + round * 40, 40);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
            .args(["add", &dir, "--model", &model, "--corpus", &file, "--json", "--batch", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                acked.extend(v["acked"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()));
            }
            acked
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait_ms = 600 + seed % 1500;
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let acked = reader.join().unwrap();
        acked_all.extend(acked.iter().cloned());
        let live = ids(&dir);
        let lost: Vec<&String> = acked_all.iter().filter(|id| !live.contains(*id)).collect();
        assert!(lost.is_empty(), "round {round} (killed after {wait_ms} ms): lost acknowledged ids {lost:?}");
        println!("round {round}: killed after {wait_ms} ms, {} acked, {} live", acked.len(), live.len());
    }
    assert!(acked_all.len() > 10, "too few acknowledgements to test anything: {}", acked_all.len());
    println!("kill -9 rounds: {rounds}, acknowledged ids: {}, lost: 0", acked_all.len());
}

#[test]
fn text_none_with_text_from_plays_the_app() {
    let tmp = empty_temp_dir("cli-text-none");
    let model = l3();
    let held = tmp.join("held").to_string_lossy().into_owned();
    let stored = tmp.join("stored").to_string_lossy().into_owned();
    let base = corpus(&tmp, "base.jsonl", "m", 0, 80);
    ok(&["index", "--model", &model, "--corpus", &base, "--out", &stored]);
    let summary =
        ok(&["index", "--model", &model, "--corpus", &base, "--out", &held, "--text", "none", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(summary["text_store_bytes"], 0, "{summary}");
    let info = |dir: &str| -> serde_json::Value {
        serde_json::from_str(ok(&["info", dir, "--json"]).trim()).unwrap()
    };
    let (h, s) = (info(&held), info(&stored));
    assert_eq!(h["text"], "none");
    assert_eq!(s["text"], "store");
    // dir_bytes: every file; the held index saves the text store's bytes and no more.
    let files = |dir: &str| -> u64 {
        std::fs::read_dir(dir).unwrap().map(|f| f.unwrap().metadata().unwrap().len()).sum()
    };
    assert_eq!(h["dir_bytes"].as_u64().unwrap(), files(&held));
    assert!(h["dir_bytes"].as_u64().unwrap() < s["dir_bytes"].as_u64().unwrap());
    // Recompute needs the app's texts: without --text-from a one-line error, with it the same hits.
    let q = "how to copy files between directories";
    let search = |dir: &str, extra: &[&str]| {
        let mut a = vec!["search", dir, "--model", &model, "--query", q, "--mode", "recompute", "--json"];
        a.extend_from_slice(extra);
        ember(&a)
    };
    let without = search(&held, &[]);
    assert_eq!(without.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without.stderr).contains("text unavailable"), "{without:?}");
    let hits = |out: Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        line["hits"].clone()
    };
    assert_eq!(hits(search(&held, &["--text-from", &base])), hits(search(&stored, &[])));
    // vectors materialize reads the texts from the app too; stored mode then needs no texts.
    ok(&["vectors", &held, "materialize", "--model", &model, "--text-from", &base]);
    assert!(info(&held)["sidecar_bytes"].as_u64().unwrap() > 0);
    // A corpus whose text changed since indexing is caught by the fingerprints.
    let edited = tmp.join("edited.jsonl");
    let text = std::fs::read_to_string(&base).unwrap().replacen("\"text\": \"", "\"text\": \"EDITED ", 200);
    let text = text.replacen("\"text\":\"", "\"text\":\"EDITED ", 200);
    std::fs::write(&edited, text).unwrap();
    let out = search(&held, &["--text-from", &edited.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed since it was indexed"), "{out:?}");
}
