#!/usr/bin/env bash
#! The whole test suite, from a fresh clone: fetch models, lint, test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "models (sha256-checked)"
bash scripts/fetch-models.sh

step "format"
cargo fmt --all -- --check

step "import loops (files and sibling modules; the read path apart from the write path)"
python3 scripts/check/check-imports.py core/src ffi/src --forbid index::read=index::write

step "lint"
cargo clippy --release --workspace --all-targets -- -D warnings

step "tests"
cargo test --release --workspace

step "fuzz (every target 60 s; RELIABILITY.md)"
bash scripts/fuzz.sh 60

step "SDK surfaces: header and bindings up to date, C (x86_64, aarch64), Kotlin, Swift, Android, iOS"
bash scripts/test-bindings.sh
