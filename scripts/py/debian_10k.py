#!/usr/bin/env python3
"""debian-10k: a 10,000-passage BEIR set cut from debian-docs.

  corpus.jsonl   every 11th passage of debian-docs/corpus.jsonl (lines 0, 11, 22, ...), the first 10,000
  queries.jsonl  the first N section headings, in debian_corpus.py's fixed pseudo-random order,
                 whose section keeps at least one passage in the cut (the ids of debian-docs kept)
  qrels/test.tsv a heading -> its section's passages that are in the cut

--headings is a debian_corpus.py output run with --queries 0 (every unique heading); its first
500 queries are debian-docs' own.
"""
import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", required=True, type=Path, help="debian-docs folder (corpus.jsonl)")
    ap.add_argument("--headings", required=True, type=Path, help="debian_corpus.py output with --queries 0")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--step", type=int, default=11)
    ap.add_argument("--passages", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qrels").mkdir(exist_ok=True)
    kept: set[str] = set()
    with open(args.docs / "corpus.jsonl", encoding="utf-8") as f, \
            open(args.out / "corpus.jsonl", "w", encoding="utf-8", newline="\n") as out:
        for i, line in enumerate(f):
            if i % args.step or len(kept) >= args.passages:
                continue
            kept.add(json.loads(line)["_id"])
            out.write(line)
    if len(kept) < args.passages:
        print(f"error: only {len(kept)} passages", file=sys.stderr)
        return 1
    rel: dict[str, list[str]] = {}
    with open(args.headings / "qrels" / "test.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            q, pid, _ = line.rstrip("\n").split("\t")
            if pid in kept:
                rel.setdefault(q, []).append(pid)
    n = 0
    with open(args.headings / "queries.jsonl", encoding="utf-8") as f, \
            open(args.out / "queries.jsonl", "w", encoding="utf-8", newline="\n") as qf, \
            open(args.out / "qrels" / "test.tsv", "w", encoding="utf-8", newline="\n") as rf:
        rf.write("query-id\tcorpus-id\tscore\n")
        for line in f:
            q = json.loads(line)
            if q["_id"] not in rel:
                continue
            qf.write(line)
            for pid in rel[q["_id"]]:
                rf.write(f"{q['_id']}\t{pid}\t1\n")
            n += 1
            if n == args.queries:
                break
    print(f"debian-10k: {len(kept)} passages, {n} queries -> {args.out}")
    return 0 if n == args.queries else 1


if __name__ == "__main__":
    sys.exit(main())
