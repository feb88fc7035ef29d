#!/usr/bin/env bash
#! Ember's stored mode beside faiss and USearch HNSW on the same passages and queries, in one run.
#! Usage: scripts/bench/bench-side-by-side.sh DATASET_DIR [QUERY_LIMIT] [OUT_DIR] [extra `ember index` flags...]
#! DATASET_DIR holds a BEIR corpus.jsonl and queries.jsonl (e.g. data/debian-10k after
#! scripts/fetch/make-debian-corpus.sh, or ../shared/data/pydocs). Prints one Markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data=${1:?dataset folder with corpus.jsonl and queries.jsonl}
limit=${2:-300}
out=${3:-target/side-by-side/$(basename "$data")}
shift 3 || shift $#
model=models/paraphrase-MiniLM-L3-v2
ember=target/release/ember
[ -d "$model" ] || { echo "bench-side-by-side: $model missing: run scripts/fetch/fetch-models.sh" >&2; exit 1; }
cargo build --release -p ember-cli >&2
py=$(scripts/py/python-tools.sh)
mkdir -p "$out" .tools/cache
cache=.tools/cache/$(basename "$data").emb
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -f "$out/index/CURRENT" ]; then
  rm -rf "$out/index"
  "$ember" index --model "$model" --corpus "$data/corpus.jsonl" --out "$out/index" --vectors f16 --threads 2 \
    --embeddings-cache "$cache" --json "$@" >&2
fi
# The same first $limit queries for every system; both sides time single queries on one thread.
"$ember" eval "$out/index" --model "$model" --queries "$data/queries.jsonl" --limit "$limit" --mode stored \
  --beam 64,128,256,512 --rerank 50 --embeddings-cache "$cache" --json > "$out/ember.jsonl"
# HNSW at the libraries' usual efConstruction (40) and at Ember's graph build beam (128).
: > "$out/hnsw.jsonl"
for efc in 40 128; do
  "$py" scripts/py/bench_hnsw.py --corpus "$data/corpus.jsonl" --queries "$data/queries.jsonl" \
    --model-dir "$model" --max-tokens 128 --limit-queries "$limit" --ef 32,64,128,256,512 \
    --ef-construction "$efc" --json | { [ "$efc" = 40 ] && cat || grep -v '"numpy"'; } >> "$out/hnsw.jsonl"
done
echo "# $(basename "$data"): $limit queries, k=10, recall tie-aware against exact search; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" scripts/py/side_by_side.py "$out/ember.jsonl" "$out/hnsw.jsonl"
