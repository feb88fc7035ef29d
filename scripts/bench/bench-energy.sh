#!/usr/bin/env bash
#! CPU time and estimated energy per query for each mode at 10k passages, and the break-even of
#! materializing vectors (docs/BENCHMARKS.md, "Energy", is made from this output).
#! Usage: scripts/bench/bench-energy.sh OUT_DIR [QUERY_LIMIT] [extra `ember bench-energy` flags...]
#! The corpus is every man page and pydocs passage of ../shared/data (8,485), plus the second
#! halves of the 1,515 longest pydocs passages as passages of their own: 10,000 in all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:?output folder}
limit=${2:-50}
shift 2 || shift $#
ember=target/release/ember
model=models/paraphrase-MiniLM-L3-v2
data=../shared/data
mkdir -p "$out"
python3 - "$data" "$out" <<'PY'
import json, sys
data, out = sys.argv[1], sys.argv[2]
rows = []
for name in ("manpages", "pydocs"):
    with open(f"{data}/{name}/corpus.jsonl") as f:
        rows += [json.loads(l) for l in f if l.strip()]
py = sorted((r for r in rows if not r["_id"].startswith("man:")), key=lambda r: -len(r["text"]))
extra = []
for r in py[: 10000 - len(rows)]:
    words = r["text"].split()
    extra.append({"_id": r["_id"] + "#half2", "title": r.get("title", ""), "text": " ".join(words[len(words) // 2:])})
with open(f"{out}/corpus.jsonl", "w") as f:
    for r in rows + extra:
        f.write(json.dumps(r) + "\n")
queries = []
for name in ("pydocs", "manpages"):
    with open(f"{data}/{name}/queries.jsonl") as f:
        queries += [json.loads(l) for l in f if l.strip()][:500]
with open(f"{out}/queries.jsonl", "w") as f:
    # Interleaved, so any prefix has both kinds.
    for q in [q for pair in zip(queries[:500], queries[500:]) for q in pair]:
        f.write(json.dumps(q) + "\n")
print(f"{len(rows) + len(extra)} passages", file=sys.stderr)
PY
# Exactly the test suite's build (a plain `cargo build` unifies features differently and rebuilds tract).
nice -n 10 cargo test --release --workspace --features ember-tests/models,ember-cli/models --no-run >&2
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p') $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -d "$out/index" ] || nice -n 10 "$ember" index --model "$model" --corpus "$out/corpus.jsonl" --out "$out/index" --threads 2 --json
nice -n 10 "$ember" bench-energy "$out/index" --model "$model" --queries "$out/queries.jsonl" --limit "$limit" "$@"
