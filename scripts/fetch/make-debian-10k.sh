#!/usr/bin/env bash
# debian-10k (data/debian-10k, BEIR layout): every 11th passage of data/debian-docs, the first
# 10,000, and 500 section-heading queries whose section keeps a passage in it
# (scripts/py/debian_10k.py says exactly how).
#
# Usage: bash scripts/fetch/make-debian-10k.sh   (after scripts/fetch/make-debian-corpus.sh)
#
# Re-reads the packages extracted by make-debian-corpus.sh to list every unique heading (its own
# query list stops at 500), checks that the passages come out byte-identical, then cuts the set.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DOCS="$ROOT/data/debian-docs"
ALL="$ROOT/data/.debian-docs-headings"
die() { echo "make-debian-10k: error: $*" >&2; exit 1; }

[[ -f "$DOCS/corpus.jsonl" && -d "$ROOT/data/.debs/extract" ]] ||
  die "no data/debian-docs: run bash scripts/fetch/make-debian-corpus.sh first"
SPECS=()
while read -r pkg ver _sha; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  SPECS+=("$pkg=$ver")
done < "$ROOT/scripts/fetch/debian-corpus.lock"
python3 "$ROOT/scripts/py/debian_corpus.py" --extract "$ROOT/data/.debs/extract" --out "$ALL" \
  --min-passages 0 --queries 0 --packages "${SPECS[@]}" >/dev/null
cmp -s "$ALL/corpus.jsonl" "$DOCS/corpus.jsonl" ||
  die "passages differ from data/debian-docs (rebuild it with make-debian-corpus.sh)"
python3 "$ROOT/scripts/py/debian_10k.py" --docs "$DOCS" --headings "$ALL" --out "$ROOT/data/debian-10k"
