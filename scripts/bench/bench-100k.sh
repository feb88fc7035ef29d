#!/usr/bin/env bash
#! Ember at 100k passages with the default model (multilingual-e5-small) on debian-docs (110,960
#! passages): index and directory size, stored/codes/recompute recall and latency, a stored-mode
#! beam/rerank sweep, dense vs keywords vs hybrid, and CPU time / estimated energy per query.
#! Usage (from anywhere; it works from the repo root): scripts/bench/bench-100k.sh [OUT_DIR]
#!   OUT_DIR defaults to target/bench-100k. Each measurement leaves OUT/NAME.json (ember's JSON
#!   lines) and OUT/NAME.cmd (the exact command, the load before it and its wall time).
#! Needs data/debian-docs (bash scripts/fetch/make-debian-corpus.sh) and target/release/ember
#! (cargo build --release -p ember-cli). Every heavy command runs under `nice -n 10`.
#! Cost on a shared 2-core VM: the embedding of 110,960 passages, once, about 1.5 h (7,800 CPU-s;
#! cached in OUT/e5-debian-docs.emb, so re-runs skip it); the graph about 70 s; the evals a few
#! minutes, recompute about 2 min per 30 queries. `ember bench-energy` (ENERGY_TOOL=1) evicts and
#! re-materializes the whole sidecar, which re-embeds every passage again (≈ 2 h here), so it is off
#! by default and runs on a copy of the index; the default energy step reads `cpu_ms` from
#! `ember search --json` instead (same meter), with recompute from a few cold searches.
#! Environment: RECOMPUTE_QUERIES (30), ENERGY_QUERIES (20), ENERGY_TOOL (0), SKIP_ENERGY (0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-target/bench-100k}
ember=target/release/ember
model=models/multilingual-e5-small
data=data/debian-docs
corpus=$data/corpus.jsonl
queries=$data/queries.jsonl
qrels=$data/qrels/test.tsv
cache=$out/e5-debian-docs.emb
recompute_queries=${RECOMPUTE_QUERIES:-30}
energy_queries=${ENERGY_QUERIES:-20}
[ -x "$ember" ] || { echo "bench-100k: $ember missing: cargo build --release -p ember-cli" >&2; exit 1; }
[ -f "$corpus" ] || { echo "bench-100k: $corpus missing: bash scripts/fetch/make-debian-corpus.sh" >&2; exit 1; }
mkdir -p "$out"
n=(nice -n 10)
load() { cut -d' ' -f1-3 /proc/loadavg; }
run() {  # run NAME CMD...: stdout to OUT/NAME.json; command, load and wall time to OUT/NAME.cmd
  local name=$1; shift
  echo "# $(date +%FT%T) load $(load): $name" >&2
  { printf '%q ' "$@"; echo; echo "# start $(date +%FT%T) load $(load)"; } > "$out/$name.cmd"
  local t0=$SECONDS
  "$@" > "$out/$name.json"
  echo "# end $(date +%FT%T) load $(load) wall_s $((SECONDS - t0))" >> "$out/$name.cmd"
  cat "$out/$name.json"
}
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(load); $($ember --version)" >&2

# 2. Embed once (cached) and build the main index: f16 sidecar and keyword index.
run index-full "${n[@]}" "$ember" index --model "$model" --corpus "$corpus" --out "$out/idx-full" \
  --vectors f16 --keywords --threads 2 --embeddings-cache "$cache" --json
run info-full "$ember" info "$out/idx-full" --json
if [ -f scripts/py/kw_postings.py ]; then  # postings count and bytes per posting of the keyword file
  run keywords-postings python3 scripts/py/kw_postings.py "$(ls "$out"/idx-full/keywords-*.ember | tail -1)"
fi

# 3. What a newcomer gets with app-held text, from the same embeddings (nothing re-embedded):
#    dir_bytes / text_bytes is the footprint; build_ms is the graph build plus the cache load.
run index-none "${n[@]}" "$ember" index --model "$model" --corpus "$corpus" --out "$out/idx-none" \
  --text none --embeddings-cache "$cache" --json
run info-none "$ember" info "$out/idx-none" --json

# `eval --threads` only embeds the truth (from the cache here); `--search-threads` embeds the
# queries and recomputes candidates, so one search thread is `--search-threads 1`.
ev=("${n[@]}" "$ember" eval "$out/idx-full" --model "$model" --queries "$queries" --qrels "$qrels"
    --embeddings-cache "$cache" --threads 1 --json)
# 4a. Stored and codes at the default beam and rerank, dense retrieval, one search thread.
run eval-a-default "${ev[@]}" --retrieval dense --mode stored,codes --limit 300 --search-threads 1
# 4b. Stored beam/rerank sweep: the least beam and rerank at recall@3 >= 0.95.
run eval-b-sweep "${ev[@]}" --retrieval dense --mode stored --beam 512,768,1024,2048,4096 \
  --rerank 20,30,50,60,70,80,90,100,120 --limit 300 --search-threads 1
# 4c. Recompute, cold cache, default options, on 2 search threads and on 1; stored and codes on the
#     same queries for comparison (the first queries are easier than the 300).
run eval-c-recompute-2t "${ev[@]}" --retrieval dense --mode recompute --cache-bytes 0 \
  --limit "$recompute_queries" --search-threads 2
run eval-c-recompute-1t "${ev[@]}" --retrieval dense --mode recompute --cache-bytes 0 \
  --limit "$recompute_queries" --search-threads 1
run eval-c-stored-same "${ev[@]}" --retrieval dense --mode stored,codes \
  --limit "$recompute_queries" --search-threads 1
# 4d. Dense, keywords and hybrid (default fusion), stored and codes, one search thread: 300
#     queries for latency, then all 500 for nDCG@10.
run eval-d-hybrid "${ev[@]}" --retrieval dense,keywords,hybrid --mode stored,codes --limit 300 \
  --search-threads 1
run eval-d-hybrid-all "${ev[@]}" --retrieval dense,keywords,hybrid --mode stored,codes --search-threads 1
# Each side's share of a hybrid search (dense_ms, keyword_ms), per query.
head -n 300 "$queries" > "$out/queries-300.jsonl"
for r in dense keywords hybrid; do
  run "search-d-$r" "${n[@]}" "$ember" search "$out/idx-full" --model "$model" --queries "$out/queries-300.jsonl" \
    --mode stored --retrieval "$r" --threads 1 --json
done

# 4e. CPU time per query (cpu_ms: every thread's CPU clock, query embedding included) with 1 and 2
#     threads. `ember search` reports energy_mj at the platform's profile (laptop on x86); phone mJ
#     is cpu_ms x 1.15. Recompute: one process per query, so every search starts with a cold
#     cache and re-embeds all its candidates (ENERGY_QUERIES of them, a few seconds each).
if [ "${SKIP_ENERGY:-0}" != 1 ]; then
  for t in 1 2; do
    for m in stored codes; do
      for r in auto dense; do
        run "search-e-$m-$r-${t}t" "${n[@]}" "$ember" search "$out/idx-full" --model "$model" \
          --queries "$out/queries-300.jsonl" --mode "$m" --retrieval "$r" --threads "$t" --json
      done
    done
    name=search-e-recompute-dense-${t}t
    echo "# $(date +%FT%T) load $(load): $name" >&2
    : > "$out/$name.json"
    head -n "$energy_queries" "$queries" | python3 -c 'import json, sys; [print(json.loads(l)["text"]) for l in sys.stdin]' |
      while IFS= read -r q; do
        "${n[@]}" "$ember" search "$out/idx-full" --model "$model" --query "$q" --mode recompute \
          --retrieval dense --threads "$t" --json >> "$out/$name.json" < /dev/null
      done
  done
  if [ "${ENERGY_TOOL:-0}" = 1 ]; then
    # The tool itself: query embedding, cold recompute and codes per thread count, then it evicts
    # and re-materializes the sidecar (measured; ≈ 2 h at 100k) and runs stored; break-even last.
    rm -rf "$out/idx-energy"
    cp -a "$out/idx-full" "$out/idx-energy"
    run energy "${n[@]}" "$ember" bench-energy "$out/idx-energy" --model "$model" --queries "$queries" \
      --limit "$energy_queries" --threads 1,2 --json
    rm -rf "$out/idx-energy"
  fi
fi
echo "# $(date +%FT%T) load $(load): done" >&2
