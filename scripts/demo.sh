#!/usr/bin/env bash
#! The main job for a newcomer: fetch the tiny model, build `ember`, embed and compare a few sentences.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/fetch-models.sh
cargo build --release --locked -p ember-cli
ember=target/release/ember
model=models/paraphrase-MiniLM-L3-v2

sentences=$'How do I free up storage on my phone?\nDelete old photos to make room on the device.\nThe recipe needs two eggs and a cup of flour.\nBake the cake for forty minutes.'
printf '%s\n' "$sentences" | "$ember" embed --model "$model" --input - --json > target/demo-vectors.json
python3 - target/demo-vectors.json <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
v = doc["vectors"]
print(f"model {doc['model']}, {len(v)} vectors of {doc['dim']} dims; cosine similarities:")
for i, a in enumerate(v):
    print("  " + "  ".join(f"{sum(x * y for x, y in zip(a, b)):5.2f}" for b in v))
PY
