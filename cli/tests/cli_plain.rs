//! CLI behaviour that needs no model: it runs in the default `cargo test`.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

#[test]
fn version() {
    let out = Command::new(env!("CARGO_BIN_EXE_ember")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ember "));
}
