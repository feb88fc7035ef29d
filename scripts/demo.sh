#!/usr/bin/env bash
#! The main job for a newcomer: fetch the default model (multilingual-e5-small), build `ember`, index the bundled man-page corpus
#! (../shared/data/manpages, 2,353 passages) with a keyword index beside the vectors, and run example
#! searches: hybrid (the default with keywords) in every mode, then dense and keywords alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/fetch/fetch-models.sh
cargo build --release -p ember-cli
ember=target/release/ember
model=models/multilingual-e5-small
corpus=${1:-../shared/data/manpages/corpus.jsonl}
index=target/demo-index
[ -f "$corpus" ] || { echo "demo: corpus $corpus not found (expected ../shared beside this repo)" >&2; exit 1; }

"$ember" index --model "$model" --corpus "$corpus" --out "$index" --vectors f16 --keywords
"$ember" info "$index"
# The last query is Chinese ("show free disk space"): the default model matches across languages.
for q in "copy files between two directories" "show free disk space" "change the owner of a file" "显示磁盘剩余空间"; do
  for mode in recompute stored codes; do
    "$ember" search "$index" --model "$model" --query "$q" -k 3 --mode "$mode"
  done
  for retrieval in dense keywords; do
    "$ember" search "$index" --model "$model" --query "$q" -k 3 --retrieval "$retrieval"
  done
done
