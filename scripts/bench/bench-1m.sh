#!/usr/bin/env bash
#! Ember at a million passages (issue 14 item 5) on data/debian-1m (1,056,886 short passages): build
#! time with the embedding apart from the rest, peak RSS, index and directory bytes, recall and
#! latency in stored and codes modes against exact search, and resident memory after 1,000 searches.
#! Usage (from anywhere): scripts/bench/bench-1m.sh [OUT_DIR]      (default target/bench-1m)
#! Environment: MODEL (default models/paraphrase-MiniLM-L3-v2: the default model, e5, would embed for
#! about 12 hours on a 2-core VM, L3 for about 1.2 hours quiet), CORPUS (default
#! data/debian-1m/corpus.jsonl, from bash scripts/fetch/make-debian-1m.sh), QUERIES (default the 500
#! debian-docs headings: the 1M corpus holds debian-docs' sentences).
#! The embeddings are cached in OUT/MODEL.emb and the cache resumes (OUT/MODEL.emb.partial): rerun
#! after an interruption. Each step leaves OUT/NAME.json (ember's output) and OUT/NAME.time
#! (`/usr/bin/time -v`: wall time, peak RSS). Needs target/release/ember.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-target/bench-1m}
model=${MODEL:-models/paraphrase-MiniLM-L3-v2}
corpus=${CORPUS:-data/debian-1m/corpus.jsonl}
queries=${QUERIES:-data/debian-docs/queries.jsonl}
ember=target/release/ember
cache="$out/$(basename "$model").emb"
say() { printf 'bench-1m: %s\n' "$*" >&2; }
[ -x "$ember" ] || { say "$ember missing: cargo build --release -p ember-cli"; exit 1; }
[ -f "$corpus" ] || { say "$corpus missing: bash scripts/fetch/make-debian-1m.sh"; exit 1; }
[ -f "$queries" ] || { say "$queries missing: bash scripts/fetch/make-debian-corpus.sh"; exit 1; }
[ -x /usr/bin/time ] || { say "/usr/bin/time missing: apt-get install time"; exit 1; }
mkdir -p "$out"

# run NAME CMD...: stdout to OUT/NAME.json, `time -v` to OUT/NAME.time; prints wall time and peak RSS.
run() {
  local name=$1
  shift
  say "$name: $*"
  /usr/bin/time -v -o "$out/$name.time" "$@" >"$out/$name.json"
  say "$name: $(sed -n 's/^\tElapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out/$name.time") wall, \
peak RSS $(sed -n 's/^\tMaximum resident set size (kbytes): //p' "$out/$name.time") KB"
}

index=("$ember" index --model "$model" --corpus "$corpus" --out "$out/idx" --vectors f16 --threads 2
  --embeddings-cache "$cache" --json)
# 1. Embedding: only when the cache is not complete (this run also builds; its progress lines say
#    when the embedding ended). 2. The build from the complete cache: graph, codes, calibration and
#    write (and reading the cache's rows), with its peak RSS.
if [ ! -f "$cache" ]; then
  run index-embed "${index[@]}"
fi
run index-build "${index[@]}"
run info "$ember" info "$out/idx" --json

# 3. Recall against exact search (truth by brute force over the cached vectors) and latency, one
#    search thread, defaults and a tuned pair.
ev=("$ember" eval "$out/idx" --model "$model" --queries "$queries" --embeddings-cache "$cache"
  --search-threads 1 --limit 300 --json)
run eval-default "${ev[@]}" --mode stored,codes
run eval-tuned "${ev[@]}" --mode stored --beam 1024,2048 --rerank 100,200

# 4. Resident memory of a process that opened the index and ran 1,000 searches (stored mode, with
#    the model): its peak RSS, and the same over an index of the first 1,000 passages, whose
#    difference is what the large index holds resident.
python3 - "$queries" "$out/q1000.jsonl" <<'EOF'
import sys
lines = [l for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.writelines((lines * (1000 // max(len(lines), 1) + 1))[:1000])
EOF
head -n 1000 "$corpus" >"$out/small.jsonl"
run index-small "$ember" index --model "$model" --corpus "$out/small.jsonl" --out "$out/idx-small" \
  --vectors f16 --threads 2 --json
for idx in idx idx-small; do
  run "search-1000-$idx" "$ember" search "$out/$idx" --model "$model" --queries "$out/q1000.jsonl" \
    --mode stored --json
done
say "done: $out"
