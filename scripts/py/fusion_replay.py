#!/usr/bin/env python3
"""Replay hybrid fusions offline from each side's ranked lists, to compare fusions without re-running
searches: nDCG@10 per set, a query-level bootstrap of the mean gain over a baseline, and a
leave-one-set-out choice within each family (choose on the other sets, score the held-out one).

Each set is NAME=DENSE.jsonl,KEYWORDS.jsonl,QRELS.tsv, where the two .jsonl files are
`ember search INDEX --model M --queries Q -k 50 --retrieval dense|keywords --mode stored --json`
(50 = the depth each side hands the fusion by default). Ties are broken by passage id, where the
index breaks them by its internal node order, so exact ties (blend:0.5's two list heads) can differ.

usage: fusion_replay.py [--baseline blend:0.5] NAME=D,K,Q ...
"""
import argparse
import json
import math
import random
from collections import defaultdict


def runs(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out[r["query_id"]] = [(h["id"], h["score"]) for h in r["hits"]]
    return out


def qrels(path):
    q = defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            try:
                q[c[0]][c[1]] = float(c[2])
            except (IndexError, ValueError):
                continue  # header
    return q


def ndcg10(hits, rel):
    dcg = sum(rel.get(h, 0.0) / math.log2(i + 2) for i, h in enumerate(hits[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def minmax(lst):
    if not lst:
        return {}
    lo, hi = min(s for _, s in lst), max(s for _, s in lst)
    return {i: (s - lo) / (hi - lo) if hi > lo else 1.0 for i, s in lst}


def blend(d, k, alpha):
    acc = defaultdict(float)
    for lst, w in ((d, alpha), (k, 1 - alpha)):
        for i, v in minmax(lst).items():
            acc[i] += w * v
    return acc


def adaptive_alpha(k, rank, floor=0.2):
    r = k[rank - 1][1] / k[0][1] if len(k) >= rank and k[0][1] > 0 else 0.0
    return min(1 - floor, max(floor, r))


def fuse(name, d, k):
    kind, _, val = name.partition(":")
    if kind == "dense":
        return {i: -r for r, (i, _) in enumerate(d)}
    if kind == "keywords":
        return {i: -r for r, (i, _) in enumerate(k)}
    if kind == "rrf":
        acc = defaultdict(float)
        for lst in (d, k):
            for r, (i, _) in enumerate(lst):
                acc[i] += 1.0 / (float(val or 60) + r + 1)
        return acc
    if kind == "blend":
        return blend(d, k, float(val or 0.5))
    if kind == "adaptive":
        return blend(d, k, adaptive_alpha(k, int(val or 40)))
    raise SystemExit(f"unknown fusion {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--baseline", default="blend:0.5")
    ap.add_argument("--boot", type=int, default=2000)
    args = ap.parse_args()
    data = {}
    for spec in args.sets:
        name, _, files = spec.partition("=")
        dp, kp, qp = files.split(",")
        d, k, q = runs(dp), runs(kp), qrels(qp)
        data[name] = [(d[x][:50], k.get(x, [])[:50], q[x]) for x in d if x in q]
    fusions = ["dense", "keywords", "rrf:60", "rrf:20"]
    fusions += [f"blend:{a / 100:g}" for a in range(30, 81, 5)]
    fusions += [f"adaptive:{r}" for r in (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)]
    if args.baseline not in fusions:
        fusions.append(args.baseline)
    def top10(f, d, k):
        return [i for i, _ in sorted(fuse(f, d, k).items(), key=lambda x: (-x[1], x[0]))[:10]]

    per = {f: {n: [ndcg10(top10(f, d, k), rel) for d, k, rel in rows] for n, rows in data.items()}
           for f in fusions}
    names = list(data)

    def mean(f, ns=names):
        return sum(sum(per[f][n]) / len(per[f][n]) for n in ns) / len(ns)

    print("fusion\t" + "\t".join(names) + "\tmean")
    for f in fusions:
        print(f + "\t" + "\t".join(f"{sum(per[f][n]) / len(per[f][n]):.4f}" for n in names) + f"\t{mean(f):.4f}")
    rng = random.Random(7)
    best = max((f for f in fusions if f not in ("dense", "keywords")), key=mean)
    diffs = []
    for _ in range(args.boot):
        tot = 0.0
        for n in names:
            a, b = per[best][n], per[args.baseline][n]
            idx = [rng.randrange(len(a)) for _ in a]
            tot += sum(a[i] - b[i] for i in idx) / len(a)
        diffs.append(tot / len(names))
    diffs.sort()
    lo, hi = diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs))]
    print(f"best mean: {best}; minus {args.baseline}: {mean(best) - mean(args.baseline):+.4f} (95% {lo:+.4f} to {hi:+.4f})")
    for family in ("blend", "adaptive", "rrf"):
        cs = [f for f in fusions if f.startswith(family)]
        held = [sum(per[max(cs, key=lambda f: mean(f, [m for m in names if m != n]))][n]) / len(per[cs[0]][n])
                for n in names]
        print(f"leave one set out, {family}: {sum(held) / len(held):.4f}")


if __name__ == "__main__":
    main()
