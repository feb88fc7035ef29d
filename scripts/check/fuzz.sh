#!/usr/bin/env bash
#! Fuzz every target (ember_tests::fuzz::TARGETS, one folder each in fuzz/corpus/) for a while.
#
#   bash scripts/check/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]       (default: 60 s, every target)
#
# Two engines, FUZZ_ENGINE:
#   stable     (default; what CI runs) the runner tests/examples/fuzz.rs: blind stacked mutations of the
#              committed corpus, on the ordinary release build that scripts/test.sh's `cargo test --release --workspace`
#              already made, so it adds no compile time.
#   libfuzzer  cargo-fuzz: coverage-guided libFuzzer with AddressSanitizer, on the stable toolchain through
#              RUSTC_BOOTSTRAP=1. Its instrumented build of every dependency (tract included) takes longer
#              than CI's budget for this step, so it is the engine for long runs (docs/reliability.md).
# Targets run FUZZ_JOBS (2) at a time. A crash, a hang (one input over FUZZ_TIMEOUT s) or, under libFuzzer,
# one allocation over FUZZ_MALLOC_MB fails the script; the input is saved under fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root="$PWD"

secs="${1:-60}"
[ "$#" -gt 0 ] && shift
engine="${FUZZ_ENGINE:-stable}"
jobs="${FUZZ_JOBS:-2}"
timeout_s="${FUZZ_TIMEOUT:-20}"
malloc_mb="${FUZZ_MALLOC_MB:-512}"
CARGO_FUZZ_VERSION=0.13.2

say() { printf 'fuzz: %s\n' "$*" >&2; }

[ -f models/paraphrase-MiniLM-L3-v2/model.onnx ] || {
  say "the embed target needs the model: run bash scripts/fetch/fetch-models.sh first"
  exit 1
}
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for d in fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
for t in "${targets[@]}"; do
  [ -n "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ] || { say "target $t has no seeds in fuzz/corpus/$t"; exit 1; }
done

# The cargo-fuzz crate is outside the workspace: keep its one-line shims formatted too.
rustfmt --edition 2021 --check fuzz/fuzz_targets/*.rs

logs="fuzz/target/logs"
tmp="fuzz/target/tmp"
mkdir -p "$logs" "$tmp"
start=$(date +%s)
case "$engine" in
  stable)
    # Same package selection as the test step, so nothing but the example is compiled.
    cargo build --release --workspace --examples --features ember-tests/models,ember-cli/models >&2
    runner="$root/target/release/examples/fuzz"
    ;;
  libfuzzer)
    fuzz_bin="$root/.tools/cargo-fuzz/bin/cargo-fuzz"
    if ! { [ -x "$fuzz_bin" ] && "$fuzz_bin" --version | grep -qF "$CARGO_FUZZ_VERSION"; }; then
      say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz"
      cargo install --quiet --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$root/.tools/cargo-fuzz"
    fi
    # cargo-fuzz passes nightly-only flags (-Zsanitizer, sanitizer-coverage options); this machine has only
    # the stable toolchain, and RUSTC_BOOTSTRAP=1 lets it accept them. Scoped to this engine.
    export RUSTC_BOOTSTRAP=1
    # Debug assertions and overflow checks stay on (cargo-fuzz's default); 16 codegen units build faster.
    fuzz_flags=(--fuzz-dir fuzz --codegen-units 16)
    for t in "${targets[@]}"; do
      [ -f "fuzz/fuzz_targets/$t.rs" ] || { say "no cargo-fuzz binary for $t (fuzz/fuzz_targets/$t.rs)"; exit 1; }
    done
    "$fuzz_bin" build "${fuzz_flags[@]}" >&2
    ;;
  *) say "FUZZ_ENGINE must be stable or libfuzzer, not $engine"; exit 2 ;;
esac
say "$engine engine built in $(( $(date +%s) - start )) s; running each target for $secs s, $jobs at a time"

run_one() { # target
  local t="$1"
  # Targets write their scratch index directories under TMPDIR: a fresh one per run.
  rm -rf "${tmp:?}/$t"
  mkdir -p "$tmp/$t"
  if [ "$engine" = stable ]; then
    TMPDIR="$root/$tmp/$t" "$runner" "$t" "$secs" --timeout "$timeout_s" >"$logs/$t.log" 2>&1
  else
    mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
    # New inputs go to fuzz/target/corpus/NAME (kept between runs); the committed seeds are only read.
    TMPDIR="$root/$tmp/$t" "$fuzz_bin" run "${fuzz_flags[@]}" "$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout="$timeout_s" -malloc_limit_mb="$malloc_mb" -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$logs/$t.log" 2>&1
  fi
}

pids=()
names=()
failed=()
wait_first() {
  wait "${pids[0]}" || failed+=("${names[0]}")
  pids=("${pids[@]:1}")
  names=("${names[@]:1}")
}
for t in "${targets[@]}"; do
  if [ "${#pids[@]}" -ge "$jobs" ]; then wait_first; fi
  run_one "$t" &
  pids+=("$!")
  names+=("$t")
done
while [ "${#pids[@]}" -gt 0 ]; do wait_first; done
rm -rf "$tmp"

printf '\n%-12s %12s %8s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  if [ "$engine" = stable ]; then
    runs=$(grep -oE '[0-9]+ mutated executions' "$log" | grep -oE '^[0-9]+' || echo '-')
    rate=$(grep -oE '\(([0-9]+)/s\)' "$log" | grep -oE '[0-9]+' || echo '-')
  else
    runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1 || echo '-')
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1 || echo '-')
  fi
  result=ok
  for f in "${failed[@]+"${failed[@]}"}"; do [ "$f" = "$t" ] && result="FAILED ($log)"; done
  printf '%-12s %12s %8s  %s\n' "$t" "$runs" "$rate" "$result"
done
say "done in $(( $(date +%s) - start )) s"

if [ "${#failed[@]}" -gt 0 ]; then
  for t in "${failed[@]}"; do
    say "$t failed; the end of $logs/$t.log:"
    tail -n 30 "$logs/$t.log" >&2
  done
  printf 'fuzz: %s passed, %s failed\n' "$(( ${#targets[@]} - ${#failed[@]} ))" "${#failed[@]}"
  exit 1
fi
printf 'fuzz: %s passed, 0 failed\n' "${#targets[@]}"
