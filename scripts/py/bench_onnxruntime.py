"""Throughput baseline: embed corpus passages with onnxruntime (Python).

Takes the first --n passages of a BEIR-style corpus.jsonl (title + "\n" + text),
sorts them by token length (length bucketing), and embeds them in batches of
--batch padded to each batch's longest (or to --max-tokens with --pad-to-max),
with intra_op_num_threads=--threads and inter_op_num_threads=1. One warm-up
batch first; the timed loop covers tokenize + run + mean-pool + normalize.

Usage:
  python scripts/py/bench_onnxruntime.py --model-dir models/paraphrase-MiniLM-L3-v2 \
      --corpus ../shared/data/manpages/corpus.jsonl --n 256 --max-tokens 128 \
      --batch 1 --threads 1 [--pad-to-max] [--json]
"""
import argparse
import json
import sys
import time
from pathlib import Path

from golden_reference import Model, die


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--corpus", required=True, help="JSONL with _id, title, text")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pad-to-max", action="store_true", help="pad every passage to --max-tokens")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = ap.parse_args()

    if not Path(a.corpus).is_file():
        die(f"missing corpus {a.corpus}")
    passages = []
    with open(a.corpus, encoding="utf-8") as f:
        for line in f:
            if len(passages) == a.n:
                break
            doc = json.loads(line)
            passages.append(doc.get("title", "") + "\n" + doc["text"])
    if len(passages) < a.n:
        die(f"corpus has only {len(passages)} passages, wanted {a.n}")

    model = Model(a.model_dir, a.max_tokens, threads=a.threads)
    lengths = [len(ids) for ids in model.tokenize(passages)]
    passages = [p for _, p in sorted(zip(lengths, passages), key=lambda t: t[0])]
    batches = [passages[i : i + a.batch] for i in range(0, len(passages), a.batch)]
    pad_to = a.max_tokens if a.pad_to_max else None

    model.embed_ids(model.tokenize(batches[0]), pad_to)  # warm-up
    t0 = time.perf_counter()
    for b in batches:
        model.embed_ids(model.tokenize(b), pad_to)
    pps = len(passages) / (time.perf_counter() - t0)

    if a.json:
        print(json.dumps({"runtime": "onnxruntime", "model": model.manifest["id"], "max_tokens": a.max_tokens,
                          "batch": a.batch, "threads": a.threads, "n": len(passages),
                          "pad_to_max": a.pad_to_max, "passages_per_s": round(pps, 2)}))
    else:
        print(f"{model.manifest['id']} max_tokens={a.max_tokens} batch={a.batch} threads={a.threads} "
              f"pad_to_max={a.pad_to_max} n={len(passages)}: {pps:.1f} passages/s")


if __name__ == "__main__":
    main()
