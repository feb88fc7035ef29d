#!/usr/bin/env bash
#! Fuzz every target in fuzz/fuzz_targets/ with cargo-fuzz (libFuzzer + AddressSanitizer) for a while.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60 s, every target)
#
# Targets run two at a time (FUZZ_JOBS). Each starts from its committed seeds (fuzz/corpus/NAME/, never
# written to) plus the corpus it grew before (fuzz/target/corpus/NAME/, kept between runs). Any crash, leak,
# timeout (FUZZ_TIMEOUT s for one input) or allocation over FUZZ_MALLOC_MB fails the script; the input is
# saved under fuzz/artifacts/NAME/. It ends with a table of executions per target. RELIABILITY.md has the
# long-run and replay commands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

secs="${1:-60}"
shift || true
jobs="${FUZZ_JOBS:-2}"
timeout_s="${FUZZ_TIMEOUT:-20}"
malloc_mb="${FUZZ_MALLOC_MB:-512}"
CARGO_FUZZ_VERSION=0.13.2

say() { printf 'fuzz: %s\n' "$*" >&2; }

# cargo-fuzz, installed repo-locally (gitignored .tools/) at a pinned version.
fuzz_bin="$root/.tools/cargo-fuzz/bin/cargo-fuzz"
if ! { [ -x "$fuzz_bin" ] && "$fuzz_bin" --version | grep -qF "$CARGO_FUZZ_VERSION"; }; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz"
  cargo install --quiet --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$root/.tools/cargo-fuzz"
fi
# cargo-fuzz passes nightly-only flags (-Zsanitizer, sanitizer coverage options). This machine has only
# the stable toolchain; RUSTC_BOOTSTRAP=1 lets it accept them. Scoped to the fuzz build only.
export RUSTC_BOOTSTRAP=1
[ -f models/paraphrase-MiniLM-L3-v2/model.onnx ] || {
  say "the embed target needs the model: run bash scripts/fetch-models.sh first"
  exit 1
}

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { say "no target $t (fuzz/fuzz_targets/$t.rs)"; exit 1; }
  [ -n "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ] || { say "target $t has no seeds in fuzz/corpus/$t"; exit 1; }
done

# Debug assertions and overflow checks stay on (cargo-fuzz's default); 16 codegen units build faster.
build_flags=(--codegen-units 16)
say "building ${#targets[@]} targets"
start=$(date +%s)
"$fuzz_bin" build --fuzz-dir fuzz "${build_flags[@]}" >&2
say "built in $(( $(date +%s) - start )) s"

logs="fuzz/target/logs"
tmp="fuzz/target/tmp"
mkdir -p "$logs" "$tmp"
run_one() { # target
  local t="$1"
  mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
  # Targets write their scratch index directories under TMPDIR; a fresh one per run.
  rm -rf "${tmp:?}/$t"
  mkdir -p "$tmp/$t"
  TMPDIR="$root/$tmp/$t" "$fuzz_bin" run --fuzz-dir fuzz "${build_flags[@]}" "$t" \
    "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout="$timeout_s" -malloc_limit_mb="$malloc_mb" -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$logs/$t.log" 2>&1
}

say "running each target for $secs s, $jobs at a time"
pids=()
names=()
failed=()
wait_one() {
  local i=0
  wait "${pids[0]}" || failed+=("${names[0]}")
  pids=("${pids[@]:1}")
  names=("${names[@]:1}")
  : "$i"
}
for t in "${targets[@]}"; do
  if [ "${#pids[@]}" -ge "$jobs" ]; then wait_one; fi
  run_one "$t" &
  pids+=("$!")
  names+=("$t")
done
while [ "${#pids[@]}" -gt 0 ]; do wait_one; done

printf '\n%-12s %12s %10s %8s %8s  %s\n' target executions exec/s seconds corpus result
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$' || echo 0)
  rate=$(grep -oE 'stat::average_exec_per_sec: [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$' || echo 0)
  took=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n1 | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || echo '-')
  corpus=$(find "fuzz/target/corpus/$t" -type f | wc -l)
  result=ok
  for f in "${failed[@]+"${failed[@]}"}"; do [ "$f" = "$t" ] && result="FAILED (see $log)"; done
  printf '%-12s %12s %10s %8s %8s  %s\n' "$t" "$runs" "$rate" "$took" "$corpus" "$result"
done
rm -rf "$tmp"

if [ "${#failed[@]}" -gt 0 ]; then
  for t in "${failed[@]}"; do
    say "$t failed; last lines of $logs/$t.log:"
    tail -n 40 "$logs/$t.log" >&2
    say "reproduce: RUSTC_BOOTSTRAP=1 .tools/cargo-fuzz/bin/cargo-fuzz run --fuzz-dir fuzz $t fuzz/artifacts/$t/<file>"
  done
  exit 1
fi
printf 'fuzz: %s passed, 0 failed\n' "${#targets[@]}"
