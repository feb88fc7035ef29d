#!/usr/bin/env python3
"""Reference BM25 scores from SQLite FTS5 for the keyword index's correctness test.

Takes the first 300 passages of a BEIR corpus (default ../shared/data/manpages), indexes
title + "\n" + text in an FTS5 table with the `unicode61` tokenizer (lower case, no stemming,
diacritics kept), runs 30 of its queries as an OR of their words, and writes the top-10 rowids
(passage number, from 0) with their scores (-bm25(), so higher is better) to
tests/golden/fts5_bm25.json, together with the passages and queries, so the Rust test needs no
data outside the repository.

FTS5's bm25 uses k1 = 1.2, b = 0.75 and idf = ln((N - n + 0.5)/(n + 0.5)) floored at 1e-6.

    python3 scripts/py/fts5_reference.py [--data ../shared/data/manpages] [--out tests/golden/fts5_bm25.json]
"""
import argparse
import json
import re
import sqlite3

DOCS = 300
QUERIES = 30
TOP = 10


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/manpages")
    ap.add_argument("--out", default="tests/golden/fts5_bm25.json")
    args = ap.parse_args()

    docs = []
    with open(f"{args.data}/corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            text = (d.get("title") or "") + "\n" + d["text"]
            # ASCII only: unicode61 and our analyzer differ on some non-ASCII classes (unicode61
            # keeps private-use characters, we keep combining marks): the test compares scoring,
            # not those corners.
            if not text.isascii():
                continue
            docs.append(text)
            if len(docs) == DOCS:
                break
    queries = []
    with open(f"{args.data}/queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if q["text"].isascii() and re.search(r"[A-Za-z0-9]", q["text"]):
                queries.append(q)
            if len(queries) == QUERIES:
                break

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    db.executemany("INSERT INTO t(rowid, body) VALUES (?, ?)", [(i, d) for i, d in enumerate(docs)])
    out_queries = []
    for q in queries:
        words = re.findall(r"[A-Za-z0-9]+", q["text"].lower())
        match = " OR ".join(f'"{w}"' for w in words)
        rows = db.execute(
            "SELECT rowid, -bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", (match, TOP)
        ).fetchall()
        out_queries.append({"id": q["_id"], "text": q["text"], "hits": [[r, s] for r, s in rows]})

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "tool": f"SQLite {sqlite3.sqlite_version} FTS5 bm25(), tokenizer unicode61 remove_diacritics 0",
                "corpus": f"first {len(docs)} ASCII passages of {args.data.rstrip('/').split('/')[-1]}",
                "docs": docs,
                "queries": out_queries,
            },
            f,
            ensure_ascii=False,
            indent=0,
        )
        f.write("\n")
    print(f"{len(docs)} passages, {len(out_queries)} queries -> {args.out}")


if __name__ == "__main__":
    main()
