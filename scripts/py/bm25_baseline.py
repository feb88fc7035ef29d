#!/usr/bin/env python3
"""Independent BM25 baseline: SQLite FTS5 (porter tokenizer) nDCG@10 and recall@10 on BEIR sets.

Indexes title + "\n" + text per passage with tokenize='porter unicode61', runs each query as an
OR of its words (FTS5's default is AND), ranks by bm25() (k1 1.2, b 0.75), and scores the top 10
with the same definitions as core/examples/keywords_eval.rs: graded gains from the qrels, log2
discount, the ideal from the qrels; recall over passages with a positive grade.

Chinese text has no spaces for unicode61 to split on, so for the Chinese set (data/zh-docs, made by
scripts/fetch/make-zh-corpus.sh) passages and queries are first cut here into overlapping
character bigrams of CJK runs (Lucene's CJKAnalyzer approach) plus lowercased words, and FTS5
indexes those (tokenize='unicode61', no stemming).

    python3 scripts/py/bm25_baseline.py [DATA_DIR] [ZH_DIR]   (default ../shared/data data/zh-docs)
"""
import json
import math
import re
import sqlite3
import sys

SETS = [("pydocs", "test.tsv"), ("pydocs", "headings.tsv"), ("manpages", "test.tsv")]
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def cjk_terms(text):
    """Lowercased words, with each CJK run cut into overlapping bigrams (a lone character stays)."""
    out = []
    for piece in re.findall(r"\w+", text.lower()):
        pos = 0
        for m in CJK.finditer(piece):
            if m.start() > pos:
                out.append(piece[pos : m.start()])
            run = m.group()
            out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
            pos = m.end()
        if pos < len(piece):
            out.append(piece[pos:])
    return out


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def qrels(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 3:
                out.setdefault(cols[0], {})[cols[1]] = float(cols[2])
    return out


def metrics(ranked, rel):
    dcg = sum(rel.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    relevant = sum(1 for g in rel.values() if g > 0)
    found = sum(1 for d in ranked[:10] if rel.get(d, 0) > 0)
    return (dcg / idcg if idcg else 0.0, found / relevant if relevant else 0.0)


def evaluate(label, corpus, queries, rels, tokenize, terms):
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, tokenize = '{tokenize}')")
    db.executemany(
        "INSERT INTO t(rowid, body) VALUES (?, ?)",
        [(i, terms((d.get("title") or "") + "\n" + d["text"])) for i, d in enumerate(corpus)],
    )
    ids = [d["_id"] for d in corpus]
    total_n = total_r = 0.0
    for qid in sorted(rels):
        words = terms(queries.get(qid, "")).split()
        ranked = []
        if words:
            match = " OR ".join('"' + w.replace('"', '""') + '"' for w in dict.fromkeys(words))
            rows = db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 10", (match,)).fetchall()
            ranked = [ids[r] for (r,) in rows]
        n, r = metrics(ranked, rels[qid])
        total_n += n
        total_r += r
    q = len(rels)
    print(f"| {label} | {q} | {total_n / q:.3f} | {total_r / q:.3f} |")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    zh = sys.argv[2] if len(sys.argv) > 2 else "data/zh-docs"
    print(f"SQLite {sqlite3.sqlite_version} FTS5, tokenize='porter unicode61', OR of query words")
    print("| set | queries | nDCG@10 | R@10 |")
    print("|---|---|---|---|")
    for name, qfile in SETS:
        corpus = jsonl(f"{root}/{name}/corpus.jsonl")
        queries = {q["_id"]: q["text"] for q in jsonl(f"{root}/{name}/queries.jsonl")}
        words = lambda t: " ".join(re.findall(r"\w+", t.lower()))
        evaluate(f"{name}/{qfile}", corpus, queries, qrels(f"{root}/{name}/qrels/{qfile}"), "porter unicode61", words)
    corpus = jsonl(f"{zh}/corpus.jsonl")
    queries = {q["_id"]: q["text"] for q in jsonl(f"{zh}/queries.jsonl")}
    bigrams = lambda t: " ".join(cjk_terms(t))
    evaluate("zh-docs/test.tsv (CJK bigrams)", corpus, queries, qrels(f"{zh}/qrels/test.tsv"), "unicode61", bigrams)


if __name__ == "__main__":
    main()
