#!/usr/bin/env bash
#! Build an index of a BEIR dataset and measure it (docs/BENCHMARKS.md is made from this output).
#! Usage: scripts/bench/bench-index.sh DATASET_DIR OUT_DIR [QUERY_LIMIT] [extra `ember index` flags...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data=${1:?dataset folder with corpus.jsonl and queries.jsonl}
out=${2:?output index folder}
limit=${3:-300}
shift 3 || shift $#
ember=target/release/ember
model=models/paraphrase-MiniLM-L3-v2
cargo build --release -p ember-cli >&2
qrels=()
[ -f "$data/qrels/test.tsv" ] && qrels=(--qrels "$data/qrels/test.tsv")
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p') $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# build"
"$ember" index --model "$model" --corpus "$data/corpus.jsonl" --out "$out" --vectors f16 --threads 2 --json "$@"
"$ember" info "$out" --json
echo "# search: stored and codes (warm), recompute with a cold cache"
"$ember" eval "$out" --model "$model" --queries "$data/queries.jsonl" "${qrels[@]}" --limit "$limit" \
  --mode stored,codes --beam 32,64,128,256 --rerank 10,20,50 --json
"$ember" eval "$out" --model "$model" --queries "$data/queries.jsonl" "${qrels[@]}" --limit "$((limit / 3))" \
  --mode recompute --beam 128 --rerank 10,20,32 --cache-bytes 0 --json
