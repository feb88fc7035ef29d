r"""HNSW baselines: faiss and USearch on the same vectors Ember indexes.

Embeds a BEIR-style corpus (each passage is `title + "\n" + text`, or just
`text` when the title is empty, exactly as Ember's CLI does) and its queries
with onnxruntime through scripts/py/golden_reference.py's `Model` (parity with
Ember <= 1e-6), then compares, single-threaded:

  exact     numpy brute force (inner product); its top-10 is the ground truth
  faiss     IndexHNSWFlat, METRIC_INNER_PRODUCT, M=--m, efConstruction=--ef-construction,
            efSearch in --ef
  usearch   Index(metric='ip', dtype=f16 (see --usearch-dtypes), connectivity=--m,
            expansion_add=--ef-construction), expansion_search in --ef

For each configuration it reports recall@3 and recall@10 against exact search,
tie-aware: a returned passage counts as a hit when its true inner product is at
least the exact k-th best score (within 1e-5), so returning one of several
identical passages (the manpages corpus has 2,353 passages but only 1,064
distinct texts) is not a miss; --json rows also carry the strict id-overlap
recall (id_recall@k = |approx top-k & exact top-k| / k). Search
latency p50/p95 in ms (a Python loop of single-query searches, so every row
includes the same per-call Python overhead; each query is timed --repeats times
and its fastest time kept, to damp noise from other processes on a shared box),
build time in seconds (one thread), and bytes per vector (serialized index size
/ n; for exact, the f32 vectors only).

Vectors are cached as .npy under --cache, keyed by the input file's absolute
path, size and mtime, the model (id and model.onnx size) and --max-tokens, so
repeat runs skip embedding. Embedding sorts texts by token length and runs
batches of --batch with --embed-threads onnxruntime threads (the only
multi-threaded phase); everything else is pinned to one thread.

Usage:
  $(scripts/py/python-tools.sh) scripts/py/bench_hnsw.py \
      --corpus ../shared/data/manpages/corpus.jsonl \
      --queries ../shared/data/manpages/queries.jsonl \
      --model-dir models/paraphrase-MiniLM-L3-v2 --max-tokens 128 \
      [--qrels FILE] [--limit-queries 1000] [--cache .tools/cache] [--json]
  # pydocs: only its 169 judged FAQ queries (queries.jsonl also has 2,256 heading queries)
  ... --corpus ../shared/data/pydocs/corpus.jsonl --queries ../shared/data/pydocs/queries.jsonl \
      --qrels ../shared/data/pydocs/qrels/test.tsv --model-dir models/paraphrase-MiniLM-L3-v2
"""
import os

# Single-threaded BLAS/OpenMP for numpy and faiss; must precede importing numpy.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_reference import Model, die  # noqa: E402

K = 10
TIE_EPS = 1e-5  # scores within this of the exact k-th best count as ties


def read_jsonl(path, what):
    p = Path(path)
    if not p.is_file():
        die(f"missing {what} {path}")
    out = []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                die(f"{path}:{n}: bad JSON: {e}")
    if not out:
        die(f"{what} {path} is empty")
    return out


def passage(doc):
    title = doc.get("title") or ""
    return f"{title}\n{doc['text']}" if title else doc["text"]


class Embedder:
    """Lazily loads the model; embeds texts with length bucketing, caching by file."""

    def __init__(self, a):
        self.a = a
        self.model = None
        d = Path(a.model_dir)
        manifest = d / "ember-model.json"
        onnx = d / "model.onnx"
        if not manifest.is_file() or not onnx.is_file():
            die(f"model dir {a.model_dir} is missing ember-model.json or model.onnx "
                "(run scripts/fetch/fetch-models.sh?)")
        self.model_key = f"{json.loads(manifest.read_text()).get('id', d.name)}|{onnx.stat().st_size}|{a.max_tokens}"

    def vectors(self, path, texts, kind):
        st = Path(path).stat()
        key = f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.model_key}|{kind}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        cache = Path(self.a.cache) / f"{kind}-{Path(path).parent.name}-{digest}.npy"
        if cache.is_file():
            v = np.load(cache)
            if v.shape[0] == len(texts):
                log(f"{kind}: {v.shape[0]} vectors from cache {cache}")
                return v
        if self.model is None:
            self.model = Model(self.a.model_dir, self.a.max_tokens, threads=self.a.embed_threads)
        t0 = time.perf_counter()
        ids = self.model.tokenize(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), 0), dtype=np.float32)
        for s in range(0, len(order), self.a.batch):
            rows = order[s : s + self.a.batch]
            v = self.model.embed_ids([ids[i] for i in rows]).astype(np.float32)
            if out.shape[1] == 0:
                out = np.zeros((len(ids), v.shape[1]), dtype=np.float32)
            out[rows] = v
        log(f"{kind}: embedded {len(texts)} texts in {time.perf_counter() - t0:.1f}s")
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(cache)
        return out


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def exact_topk(xb, xq, k):
    s = xq @ xb.T
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


class Truth:
    """Exact top-K ids and scores per query; scores the tie-aware recall of a result list."""

    def __init__(self, xb, xq):
        self.xb, self.xq = xb, xq
        self.ids = exact_topk(xb, xq, K)
        self.scores = np.take_along_axis(xq @ xb.T, self.ids, axis=1)

    def recall(self, found, k):
        """Mean over queries of hits/k, where a returned id is a hit when its true inner product is
        at least the exact k-th best score (minus TIE_EPS). Unlike |found & exact| / k this does not
        punish returning one of several equally close passages (e.g. identical duplicate texts)."""
        total = 0.0
        for qi, f in enumerate(found):
            f = np.asarray(f[:k], dtype=np.int64)
            f = f[f >= 0]
            s = self.xb[f] @ self.xq[qi]
            total += min(k, int(np.sum(s >= self.scores[qi, k - 1] - TIE_EPS))) / k
        return total / len(found)

    def id_recall(self, found, k):
        """Strict |found top-k & exact top-k| / k (ill-defined when scores tie at rank k)."""
        return float(np.mean([len(set(np.asarray(f[:k]).tolist()) & set(t[:k].tolist())) / k
                              for f, t in zip(found, self.ids)]))


def timed_loop(search_one, xq, repeats):
    """Runs search_one on each query; returns (top-K ids per query, per-query best seconds)."""
    for q in xq[: min(20, len(xq))]:  # warm-up
        search_one(q)
    best = np.full(len(xq), np.inf)
    found = [None] * len(xq)
    clock = time.perf_counter
    for _ in range(repeats):
        for i, q in enumerate(xq):
            t0 = clock()
            ids = search_one(q)
            dt = clock() - t0
            if dt < best[i]:
                best[i] = dt
            found[i] = ids
    return found, best


def row(library, params, found, truth, secs, build_s, bytes_per_vector, **extra):
    r = {"library": library, "params": params,
         "recall@3": round(truth.recall(found, 3), 4), "recall@10": round(truth.recall(found, 10), 4),
         "search_ms_p50": round(float(np.percentile(secs, 50)) * 1e3, 4),
         "search_ms_p95": round(float(np.percentile(secs, 95)) * 1e3, 4),
         "build_s": None if build_s is None else round(build_s, 3),
         "bytes_per_vector": round(bytes_per_vector, 1),
         "id_recall@3": round(truth.id_recall(found, 3), 4), "id_recall@10": round(truth.id_recall(found, 10), 4)}
    r.update(extra)
    return r


def bench_exact(xb, xq, truth, a):
    def one(q):
        s = xb @ q
        idx = np.argpartition(-s, K - 1)[:K]
        return idx[np.argsort(-s[idx], kind="stable")]

    found, secs = timed_loop(one, xq, a.repeats)
    return [row("numpy", "brute-force f32", found, truth, secs, None, xb.shape[1] * 4)]


def bench_faiss(xb, xq, truth, a):
    import faiss

    faiss.omp_set_num_threads(1)
    n, dim = xb.shape
    index = faiss.IndexHNSWFlat(dim, a.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = a.ef_construction
    t0 = time.perf_counter()
    index.add(xb)
    build_s = time.perf_counter() - t0
    bpv = len(faiss.serialize_index(index)) / n
    rows = []
    for ef in a.ef:
        index.hnsw.efSearch = ef

        def one(q):
            _, ids = index.search(q[None, :], K)
            return ids[0]

        found, secs = timed_loop(one, xq, a.repeats)
        rows.append(row("faiss", f"M={a.m} efC={a.ef_construction} efS={ef}", found, truth, secs, build_s, bpv,
                        version=faiss.__version__))
    return rows


def bench_usearch(xb, xq, truth, a, dtype):
    import usearch
    from usearch.index import Index

    n, dim = xb.shape
    index = Index(ndim=dim, metric="ip", dtype=dtype, connectivity=a.m, expansion_add=a.ef_construction)
    keys = np.arange(n, dtype=np.uint64)
    t0 = time.perf_counter()
    index.add(keys, xb, threads=1)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "index.usearch"
        index.save(str(f))
        bpv = f.stat().st_size / n
    mem_bpv = index.memory_usage / n
    rows = []
    for ef in a.ef:
        index.expansion_search = ef

        def one(q):
            return index.search(q, K, threads=1).keys

        found, secs = timed_loop(one, xq, a.repeats)
        rows.append(row("usearch", f"{dtype} M={a.m} efC={a.ef_construction} efS={ef}", found, truth, secs,
                        build_s, bpv, memory_bytes_per_vector=round(mem_bpv, 1), version=usearch.__version__))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--corpus", required=True, help="BEIR corpus.jsonl (_id, title, text)")
    ap.add_argument("--queries", required=True, help="BEIR queries.jsonl (_id, text)")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--qrels", help="BEIR qrels TSV: use only the queries it judges (e.g. pydocs qrels/test.tsv)")
    ap.add_argument("--limit-queries", type=int, default=0, help="use only the first N queries (0 = all)")
    ap.add_argument("--cache", default=".tools/cache", help="where embedded vectors are cached as .npy")
    ap.add_argument("--json", action="store_true", help="print one JSON object per row instead of a table")
    ap.add_argument("--m", type=int, default=16, help="HNSW M / USearch connectivity")
    ap.add_argument("--ef-construction", type=int, default=40,
                    help="faiss efConstruction and USearch expansion_add (faiss's default)")
    ap.add_argument("--ef", default="16,32,64,128", help="comma-separated efSearch / expansion_search values")
    ap.add_argument("--usearch-dtypes", default="f16", help="comma-separated USearch storage dtypes, e.g. f16,f32")
    ap.add_argument("--repeats", type=int, default=3, help="time each query this many times, keep the fastest")
    ap.add_argument("--batch", type=int, default=32, help="embedding batch size")
    ap.add_argument("--embed-threads", type=int, default=os.cpu_count() or 1, help="onnxruntime threads")
    a = ap.parse_args()
    a.ef = [int(x) for x in a.ef.split(",") if x]
    if not Path(a.model_dir).is_dir():
        die(f"model dir {a.model_dir} not found (run scripts/fetch/fetch-models.sh?)")

    docs = read_jsonl(a.corpus, "corpus")
    queries = read_jsonl(a.queries, "queries")
    emb = Embedder(a)
    xb = np.ascontiguousarray(emb.vectors(a.corpus, [passage(d) for d in docs], "passages"))
    xq = emb.vectors(a.queries, [q["text"] for q in queries], "queries")
    if a.qrels:
        if not Path(a.qrels).is_file():
            die(f"missing qrels {a.qrels}")
        with open(a.qrels, encoding="utf-8") as f:
            judged = {ln.split("\t", 1)[0] for ln in f if ln.strip()} - {"query-id"}
        keep = [i for i, q in enumerate(queries) if q["_id"] in judged]
        if not keep:
            die(f"no query in {a.queries} is judged in {a.qrels}")
        xq = xq[keep]
    if a.limit_queries:
        xq = xq[: a.limit_queries]
    xq = np.ascontiguousarray(xq)
    if len(xb) < K:
        die(f"corpus has {len(xb)} passages, need at least {K}")
    log(f"{len(xb)} passages, {len(xq)} queries, dim {xb.shape[1]}")

    truth = Truth(xb, xq)
    dup = len(xb) - len(np.unique(xb.round(5), axis=0))
    if dup:
        log(f"note: {dup} passage vectors duplicate another (to 1e-5); recall is tie-aware (see --help)")
    rows = bench_exact(xb, xq, truth, a)
    rows += bench_faiss(xb, xq, truth, a)
    for dt in [x for x in a.usearch_dtypes.split(",") if x]:
        rows += bench_usearch(xb, xq, truth, a, dt)

    meta = {"corpus": a.corpus, "n": int(len(xb)), "distinct": int(len(xb) - dup), "queries": int(len(xq)),
            "dim": int(xb.shape[1])}
    if a.json:
        for r in rows:
            print(json.dumps({**meta, **r}))
        return
    cols = ["library", "params", "recall@3", "recall@10", "search_ms_p50", "search_ms_p95", "build_s",
            "bytes_per_vector"]
    cells = [[("-" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    w = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    print(f"# {a.corpus}: n={meta['n']} (distinct {meta['distinct']}) queries={meta['queries']} "
          f"dim={meta['dim']} k={K}; recall is tie-aware")
    print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(cols)))
    for x in cells:
        print("  ".join(v.ljust(w[i]) if i < 2 else v.rjust(w[i]) for i, v in enumerate(x)))


if __name__ == "__main__":
    main()
