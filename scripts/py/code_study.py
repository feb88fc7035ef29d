r"""Code study: how well do compact codes rank the true neighbours, per byte? (docs/BENCHMARKS.md)

Reads passage vectors from an `ember index --embeddings-cache` file and query vectors from a
scripts/py/bench_hnsw.py `.npy` cache (same model), then, single-threaded with faiss-cpu, ranks every
passage by each code's estimated inner product (brute force over the codes, no graph) and prints,
for R in 20, 50, 100, 200, the fraction of each query's exact top-3 found in the code's top R.
"Top 50" is the ceiling of Ember's rerank-50 step: the graph walk can only lose more.

Codes compared (bytes per passage, excluding shared tables):
  RaBitQ 1 bit/dim (faiss IndexRaBitQ; Ember's default codes): dim / 8 bytes
  PQ Mx8 on a random rotation (no stored basis): M bytes
  OPQ Mx8 (learned rotation, dim^2 floats shared): M bytes
  PCA-D 1 bit: RaBitQ's sign code and estimator in the top D principal directions (randomly
  rotated within them; numpy, not faiss): D / 8 + 4 bytes, the basis shared

Usage: .tools/venv/bin/python scripts/py/code_study.py EMB_CACHE QUERIES_NPY [--queries N] [--train N]
"""

import argparse
import json
import time

import faiss
import numpy as np


def load_embeddings_cache(path):
    raw = open(path, "rb").read()
    newline = raw.index(b"\n")
    dim = json.loads(raw[:newline])["dim"]
    return np.frombuffer(raw[newline + 1 :], dtype="<f4").reshape(-1, dim).astype("float32")


def top3_found(true3, ranked, r):
    return np.mean([len(set(t) & set(c[:r])) / 3 for t, c in zip(true3, ranked)])


def pca_rabitq_ranked(x, q, sample, dims, rng, r=200):
    """Rank passages by RaBitQ's 1-bit estimate of <x, q> in the top `dims` principal directions.

    Per passage the code keeps the signs, the norm of the projected residual and <x - mu, mu> (the
    last two are the 4 bytes of factors): <x, q> = <x - mu, q - mu> + <x - mu, mu> + <mu, q>."""
    mu = sample.mean(0)
    centred = sample - mu
    eigval, eigvec = np.linalg.eigh(centred.T @ centred)
    basis = eigvec[:, np.argsort(-eigval)[:dims]] @ np.linalg.qr(rng.standard_normal((dims, dims)))[0]
    o = (x - mu) @ basis
    norm = np.linalg.norm(o, axis=1)
    signs = np.where(o >= 0, 1.0, -1.0) / np.sqrt(dims)
    unit_ip = np.sum(signs * o, axis=1) / np.maximum(norm, 1e-9)  # <code, o / |o|>
    scores = ((q - mu) @ basis) @ signs.T * (norm / np.maximum(unit_ip, 1e-9)) + (x - mu) @ mu
    top = np.argpartition(-scores, r, axis=1)[:, :r]
    return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("emb_cache")
    ap.add_argument("queries_npy")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--train", type=int, default=30000, help="training sample (PQ, OPQ, RaBitQ centre)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    faiss.omp_set_num_threads(1)
    x = load_embeddings_cache(a.emb_cache)
    q = np.load(a.queries_npy).astype("float32")[: a.queries]
    n, dim = x.shape
    rng = np.random.default_rng(a.seed)
    sample = x[rng.choice(n, min(n, a.train), replace=False)]
    _, exact = faiss.knn(q, x, 3, metric=faiss.METRIC_INNER_PRODUCT)
    print(f"{n} passages, {dim} dims, {len(q)} queries; fraction of the exact top-3 in the code's top R")
    print(f"{'code':16s} {'B/passage':>9s} {'shared KB':>9s} " + " ".join(f"top{r:<4d}" for r in (20, 50, 100, 200)))

    def report(name, index, code_bytes, shared_bytes, qq=q):
        t = time.time()
        _, ranked = index.search(qq, 200)
        row = " ".join(f"{top3_found(exact, ranked, r):.3f}  " for r in (20, 50, 100, 200))
        print(f"{name:16s} {code_bytes:9d} {shared_bytes / 1024:9.0f} {row} ({time.time() - t:.0f} s)", flush=True)

    rabitq = faiss.IndexRaBitQ(dim, faiss.METRIC_INNER_PRODUCT)
    rabitq.train(sample)
    rabitq.add(x)
    report("RaBitQ 1 bit", rabitq, dim // 8 + 4, dim * 4)

    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype("float32")
    for m in (24, 32):
        pq = faiss.IndexPQ(dim, m, 8, faiss.METRIC_INNER_PRODUCT)
        pq.train(sample @ rotation)
        pq.add(x @ rotation)
        report(f"rotated PQ {m}x8", pq, m, 256 * dim * 2, q @ rotation)

    for m in (16, 24, 32):
        opq = faiss.IndexPreTransform(faiss.OPQMatrix(dim, m), faiss.IndexPQ(dim, m, 8, faiss.METRIC_INNER_PRODUCT))
        opq.train(sample)
        opq.add(x)
        # Shared: the rotation and the codebooks, both as f16.
        report(f"OPQ {m}x8", opq, m, dim * dim * 2 + 256 * dim * 2)

    class Ranked:  # report() takes anything with faiss's search signature
        def __init__(self, ranked):
            self.ranked = ranked

        def search(self, _q, _r):
            return None, self.ranked

    for dims in (256, 192, 128):
        ranked = pca_rabitq_ranked(x, q, sample, dims, rng)
        report(f"PCA-{dims} 1 bit", Ranked(ranked), dims // 8 + 4, dim * dims * 2)


if __name__ == "__main__":
    main()
