#!/usr/bin/env bash
#! Relevance of every model beside BM25, in one run: nDCG@10 and recall@10 of exact (brute-force)
#! search on pydocs (FAQ and headings), man pages and the Chinese set, and SQLite FTS5 BM25 on the
#! same queries (scripts/py/bm25_baseline.py). Prints one Markdown table (docs/BENCHMARKS.md).
#! Usage: bash scripts/bench/bench-relevance.sh [SHARED_DATA_DIR] [THREADS]
#! Each model runs at its manifest's token limit, the default a newcomer gets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
shared=${1:-../shared/data}
threads=${2:-2}
zh=data/zh-docs
out=target/relevance
mkdir -p "$out"
[ -f "$zh/corpus.jsonl" ] || bash scripts/fetch/make-zh-corpus.sh >&2
bash scripts/fetch/fetch-models.sh >&2
cargo build --release --workspace --features ember-tests/models,ember-cli/models --examples >&2
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$out/models.jsonl"
for model in paraphrase-MiniLM-L3-v2 all-MiniLM-L6-v2-int8 all-MiniLM-L6-v2 multilingual-e5-small; do
  tokens=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_tokens"])' "models/$model/ember-model.json")
  echo "relevance: $model ($tokens tokens, $threads threads)" >&2
  target/release/examples/exact_ndcg "models/$model" "$tokens" "$threads" \
    "$shared/pydocs:test.tsv,headings.tsv" "$shared/manpages:test.tsv" "$zh:test.tsv" | tee -a "$out/models.jsonl" >&2
done
python3 scripts/py/bm25_baseline.py "$shared" "$zh" >"$out/bm25.md"
python3 - "$out/models.jsonl" "$out/bm25.md" <<'EOF'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sets = ["pydocs/test.tsv", "pydocs/headings.tsv", "manpages/test.tsv", "zh-docs/test.tsv"]
names = {"pydocs/test.tsv": "pydocs FAQ", "pydocs/headings.tsv": "pydocs headings",
         "manpages/test.tsv": "man pages", "zh-docs/test.tsv": "zh-docs (Chinese)"}
bm25 = {}
for line in open(sys.argv[2]):
    m = re.match(r"\| (\S+)[^|]*\| \d+ \| ([\d.]+) \| ([\d.]+) \|", line)
    if m:
        bm25[m.group(1)] = (float(m.group(2)), float(m.group(3)))
print("nDCG@10 / recall@10 of exact search; BM25 = SQLite FTS5 (porter; CJK bigrams for Chinese)")
print()
print("| model (tokens) | " + " | ".join(names[s] for s in sets) + " | passages/s (2 thr) |")
print("|---|" + "---|" * (len(sets) + 1))
models = list(dict.fromkeys(r["model"] for r in rows))
for m in models:
    cells, speed = [], []
    for s in sets:
        r = next((r for r in rows if r["model"] == m and r["set"] == s), None)
        cells.append(f'{r["ndcg@10"]:.3f} / {r["recall@10"]:.3f}' if r else "–")
        if r:
            speed.append(r["embed_passages_per_s"])
    tokens = next(r["max_tokens"] for r in rows if r["model"] == m)
    print(f"| {m.split('@')[0]} ({tokens}) | " + " | ".join(cells) + f" | {min(speed):.0f}–{max(speed):.0f} |")
print("| BM25 | " + " | ".join(f"{bm25[s][0]:.3f} / {bm25[s][1]:.3f}" if s in bm25 else "–" for s in sets) + " | – |")
EOF
