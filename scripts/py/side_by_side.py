r"""One table from an Ember + HNSW side-by-side run (scripts/bench/bench-side-by-side.sh).

Reads `ember eval --json` rows and `scripts/py/bench_hnsw.py --json` rows and prints a Markdown table,
each system sorted by recall: recall@3/@10 against exact search (both tie-aware), single-query search
latency on one thread, the bytes each system holds in memory per passage, the bytes it keeps on flash
per passage, and (Ember) the bytes it reads per query.

Usage: python3 scripts/py/side_by_side.py EMBER.jsonl HNSW.jsonl
"""
import json
import sys


def rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def ember_rows(path):
    out = []
    for r in rows(path):
        n = max(r["passages"], 1)
        out.append({
            "system": f"Ember {r['mode']}",
            "knobs": f"beam {r['beam']}, rerank {r['rerank']}",
            "r3": r["recall@3"], "r10": r["recall@10"],
            "p50": r["search_ms_p50"], "p95": r["search_ms_p95"],
            "memory": r["index_bytes"] / n,
            "flash": r["sidecar_bytes"] / n if r["mode"] == "stored" else 0.0,
            "read": r["bytes_read_mean"],
        })
    return out


def hnsw_rows(path):
    out = []
    for r in rows(path):
        if r["library"] == "numpy":
            system, memory = "numpy brute force", r["bytes_per_vector"]
        else:
            system = f"{r['library']} HNSW" + (" f16" if "f16" in r["params"] else " f32")
            memory = r.get("memory_bytes_per_vector") or r["bytes_per_vector"]
        out.append({
            "system": system, "knobs": r["params"],
            "r3": r["recall@3"], "r10": r["recall@10"],
            "p50": r["search_ms_p50"], "p95": r["search_ms_p95"],
            "memory": memory, "flash": 0.0, "read": None,
        })
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    table = ember_rows(sys.argv[1]) + hnsw_rows(sys.argv[2])
    table.sort(key=lambda r: (r["system"], r["r3"]))
    print("| system | knobs | R@3 | R@10 | search p50 ms | p95 ms | in memory B/passage | on flash B/passage "
          "| read per query |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        read = "–" if r["read"] is None else f"{r['read'] / 1024:.0f} KiB"
        flash = "–" if not r["flash"] else f"{r['flash']:,.0f}"
        print(f"| {r['system']} | {r['knobs']} | {r['r3']:.3f} | {r['r10']:.3f} | {r['p50']:.3f} | {r['p95']:.3f} "
              f"| {r['memory']:,.0f} | {flash} | {read} |")


if __name__ == "__main__":
    main()
