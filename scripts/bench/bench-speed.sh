#!/usr/bin/env bash
#! Embedding throughput of every model, side by side with onnxruntime where an ONNX file exists, in
#! one run: passages/s at exactly 128 tokens, batch 1, one and two threads, interleaved per model so
#! a busy machine slows both sides alike. Prints one Markdown table (docs/BENCHMARKS.md).
#! Usage: bash scripts/bench/bench-speed.sh [N_PASSAGES] [SHARED_DATA_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
n=${1:-128}
corpus=${2:-../shared/data}/manpages/corpus.jsonl
bash scripts/fetch/fetch-models.sh >&2
cargo build --release -p ember-cli >&2
py=$(bash scripts/py/python-tools.sh)
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | threads | Ember passages/s | onnxruntime passages/s |"
echo "|---|---|---|---|"
for model in paraphrase-MiniLM-L3-v2 all-MiniLM-L6-v2-int8 all-MiniLM-L6-v2 multilingual-e5-small; do
  for threads in 1 2; do
    ours=$(target/release/ember bench-embed --model "models/$model" --corpus "$corpus" --n "$n" --max-tokens 128 \
      --batch 1 --threads "$threads" --full --json | python3 -c 'import json,sys; print(round(json.loads(sys.stdin.readline())["passages_per_s"], 1))')
    ort="–"
    if [ -f "models/$model/model.onnx" ]; then
      ort=$("$py" scripts/py/bench_onnxruntime.py --model-dir "models/$model" --corpus "$corpus" --n "$n" \
        --max-tokens 128 --batch 1 --threads "$threads" --pad-to-max --json |
        python3 -c 'import json,sys; print(round(json.loads(sys.stdin.readline())["passages_per_s"], 1))')
    fi
    echo "| $model | $threads | $ours | $ort |"
  done
done
echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
