#!/usr/bin/env bash
#! The whole test suite, from a fresh clone: fetch models, lint, test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each step prints the minutes:seconds since the start, so a CI log shows where the time went.
step() { printf '\n== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "models (sha256-checked)"
bash scripts/fetch/fetch-models.sh

step "format"
cargo fmt --all -- --check

step "import loops (files and sibling modules; the read path apart from the write path)"
python3 scripts/check/check-imports.py core/src ffi/src --forbid index::read=index::write

# No line tables in this run's release builds (`[profile.release]` keeps them for profiling): they
# only lengthen every test binary's link, and a failing assertion still names its file and line.
export CARGO_PROFILE_RELEASE_DEBUG=false

# The model tests sit behind the `models` feature so a plain `cargo test` works without models/;
# here they always run (and are linted), against the models fetched above.
features=ember-tests/models,ember-cli/models

# Lint and build in one compile. clippy-driver is rustc plus Clippy's lints (what `cargo clippy` runs,
# stopping at a check): as the workspace wrapper it lints our crates while compiling them for real,
# and the dependencies compile once (a separate `cargo clippy` check build of them took 4:41 of a
# 33-minute run). `cargo test` builds every target `--all-targets` would (there are no benches).
# Exported, so the fuzz runner and the SDK step reuse these artifacts and their cross builds are
# linted too. CLIPPY_ARGS is how `cargo clippy` hands `-D warnings` to the driver.
clippy_driver="$(command -v clippy-driver)" || {
  echo "test.sh: clippy-driver not found (rustup component add clippy)" >&2
  exit 1
}
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

step "lint and build (clippy -D warnings on every target while building)"
cargo test --release --workspace --features "$features" --no-run

# The SDK step's tools (apt packages, the Swift chroot, Kotlin, cbindgen) install meanwhile, once the
# build no longer needs both cores: the tests leave one idle much of the time and the fuzz step is
# timed, so installing costs no wall time there (compiling cbindgen during the build did). Their
# log is printed when the SDK step starts. (cbindgen's own install is no place for our lints.)
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS bash scripts/sdk/test-bindings.sh --tools >target/sdk-tools.log 2>&1 &
tools_pid=$!

step "tests"
cargo test --release --workspace --features "$features"

step "fuzz (every target 60 s; docs/reliability.md)"
bash scripts/check/fuzz.sh 60

step "SDK surfaces: header and bindings up to date, C (x86_64, aarch64), Kotlin, Swift, Android, iOS"
tools_rc=0
wait "$tools_pid" || tools_rc=$?
cat target/sdk-tools.log
[ "$tools_rc" = 0 ] || { echo "test.sh: installing the SDK tools failed ($tools_rc), log above" >&2; exit 1; }
bash scripts/sdk/test-bindings.sh

step "done"
