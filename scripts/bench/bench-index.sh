#!/usr/bin/env bash
#! Build an index of a BEIR dataset and measure it (docs/BENCHMARKS.md is made from this output).
#! Usage: scripts/bench/bench-index.sh DATASET_DIR OUT_DIR [QUERY_LIMIT] [extra `ember index` flags...]
#! The model is the default, multilingual-e5-small (EMBER_MODEL=DIR for another).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data=${1:?dataset folder with corpus.jsonl and queries.jsonl}
out=${2:?output index folder}
limit=${3:-300}
shift 3 || shift $#
ember=target/release/ember
model=${EMBER_MODEL:-models/multilingual-e5-small}
cargo build --release -p ember-cli >&2
qrels=()
[ -f "$data/qrels/test.tsv" ] && qrels=(--qrels "$data/qrels/test.tsv")
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p') $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# build"
"$ember" index --model "$model" --corpus "$data/corpus.jsonl" --out "$out" --vectors f16 --threads 2 --json "$@"
"$ember" info "$out" --json
echo "# search: the defaults the build measured, then a sweep; stored and codes (warm, one thread)"
"$ember" eval "$out" --model "$model" --queries "$data/queries.jsonl" "${qrels[@]}" --limit "$limit" \
  --mode stored,codes --search-threads 1 --json
"$ember" eval "$out" --model "$model" --queries "$data/queries.jsonl" "${qrels[@]}" --limit "$limit" \
  --mode stored --beam 256,512,1024,2048 --rerank 30,50,100 --search-threads 1 --json
echo "# search: recompute with a cold cache, the defaults"
"$ember" eval "$out" --model "$model" --queries "$data/queries.jsonl" "${qrels[@]}" --limit "$((limit / 10))" \
  --mode recompute --cache-bytes 0 --json
