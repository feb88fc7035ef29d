//! CLI behaviour that needs no model (indexes built with the HashEmbedder): it runs in the default
//! `cargo test`.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ember_core::{Index, IndexConfig, Passage, Task};
use ember_tests::{temp_dir, HashEmbedder};

#[test]
fn version() {
    let out = Command::new(env!("CARGO_BIN_EXE_ember")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ember "));
}

/// An index of `n` passages whose ids are long (900 bytes), so that `ember ids` prints far more than
/// a pipe buffer (64 KiB on Linux) holds.
fn long_ids_index(name: &str, n: usize) -> PathBuf {
    let dir = temp_dir(name);
    let passages: Vec<Passage> = (0..n)
        .map(|i| Passage::new(format!("{i:04}-{}", "x".repeat(895)), format!("passage {i} about storage")))
        .collect();
    let config = IndexConfig { code_dims: 32, ..IndexConfig::default() };
    drop(Index::build(&dir, &HashEmbedder::new(64), &passages, &config, &Task::none()).unwrap());
    dir
}

/// Run `ember ARGS` with a stdout whose reading end is already closed: every write fails (EPIPE).
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_quiet_success(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: status {:?}, stderr {stderr}", out.status);
    assert!(stderr.is_empty(), "{what}: stderr should be empty: {stderr}");
}

/// `ember ids DIR | head -1` and friends: a reader that goes away ends the command quietly with
/// status 0, like other Unix tools, not with "Broken pipe (os error 32)" or a panic.
#[test]
fn closed_stdout_ends_quietly_with_success() {
    let dir = long_ids_index("cli-pipe", 200);
    let d = dir.to_str().unwrap();
    // As `| head -1`: read one line, then close while ember still has ~170 KiB to write.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["ids", d])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // Ids come in the index's internal (locality) order, not insertion order: any one of them.
    let (num, rest) = first.split_once('-').unwrap_or_default();
    assert!(
        num.len() == 4
            && num.bytes().all(|b| b.is_ascii_digit())
            && rest.trim_end().bytes().all(|b| b == b'x'),
        "first id line: {first:?}"
    );
    let out = child.wait_with_output().unwrap();
    assert_quiet_success(&out, "ids | head -1");
    // Closed before the first write: the buffered writer (`ids`) and the println-style one (`info`).
    let cases: [&[&str]; 3] = [&["ids", d], &["info", d], &["info", d, "--json"]];
    for args in cases {
        assert_quiet_success(&with_closed_stdout(args), &args.join(" "));
    }
    // A real error still reports and fails.
    let out = with_closed_stdout(&["ids", Path::new(d).join("no-such-index").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
