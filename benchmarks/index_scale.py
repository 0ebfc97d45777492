"""FAISS scale benchmark: 100k and 1M synthetic 384-d vectors, Flat vs IVF vs HNSW.

    .venv/bin/python benchmarks/index_scale.py [--sizes 100000,1000000] [--queries 500] [--kinds flat,ivf,hnsw]

Vectors are a Gaussian mixture on the unit sphere (real sentence embeddings cluster by topic; uniform
random vectors would make every approximate index look worse than it is in practice). Queries come
from the same mixture. Reports build time, index memory (serialized size), search p50/p99 for one
query at a time, and recall@10 against exact search. Prints a table and writes
benchmarks/results/index_scale.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIM = 384


def mixture(n: int, centers: np.ndarray, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    """Unit vectors around random topic centres; noise 1.0 puts a point at cosine ~0.7 from its
    centre and ~0.5 from its topic neighbours, like related sentences under MiniLM."""
    out = np.empty((n, DIM), dtype="float32")
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = centers[rng.integers(0, len(centers), m)] + noise * rng.standard_normal((m, DIM)).astype("float32")
        out[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def build(kind: str, xb: np.ndarray):
    """The index loopdesk's builder makes for this kind (index.builder.make_faiss), so the benchmark
    measures what `loopdesk index build` ships."""
    from index.builder import make_faiss

    index, _, _ = make_faiss(xb, ann_above=len(xb) if kind == "flat" else 0, ann=kind)
    return index


def tune(kind: str, index, xq, truth, target: float = 0.95):
    """Smallest search breadth (nprobe / efSearch) whose recall@10 reaches the target."""
    if kind == "flat":
        return None, recall(index, xq, truth)
    for value in ([8, 16, 32, 64, 128, 256] if kind == "ivf" else [16, 32, 64, 128, 256]):
        if kind == "ivf":
            index.nprobe = value
        else:
            index.hnsw.efSearch = value
        r = recall(index, xq, truth)
        if r >= target:
            return value, r
    return value, r


def recall(index, xq, truth) -> float:
    _, ids = index.search(xq, 10)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth)]))


def latency(index, xq) -> tuple[float, float]:
    times = []
    for q in xq:
        t0 = time.perf_counter()
        index.search(q[None, :], 10)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    import faiss

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--kinds", default="flat,ivf,hnsw")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "index_scale.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((2000, DIM)).astype("float32")
    rows = []
    for n in map(int, args.sizes.split(",")):
        xb = mixture(n, centers, rng)
        xq = mixture(args.queries, centers, rng)
        exact = faiss.IndexFlatIP(DIM)
        exact.add(xb)
        _, truth = exact.search(xq, 10)
        for kind in args.kinds.split(","):
            t0 = time.perf_counter()
            index = build(kind, xb)
            build_s = time.perf_counter() - t0
            breadth, rec = tune(kind, index, xq, truth)
            p50, p99 = latency(index, xq)
            mem_mb = faiss.serialize_index(index).nbytes / 1e6
            rows.append({"vectors": n, "kind": kind, "build_s": round(build_s, 1), "memory_mb": round(mem_mb, 1),
                         "breadth": breadth, "search_p50_ms": round(p50, 3), "search_p99_ms": round(p99, 3),
                         "recall@10": round(rec, 4)})
            print(json.dumps(rows[-1]), flush=True)
            del index
    print(f"\n{'vectors':>9} | {'kind':>5} | {'build s':>8} | {'MB':>7} | {'nprobe/ef':>9} | {'p50 ms':>7} | {'p99 ms':>7} | recall@10")
    for r in rows:
        print(f"{r['vectors']:>9} | {r['kind']:>5} | {r['build_s']:>8} | {r['memory_mb']:>7} | {str(r['breadth']):>9} | "
              f"{r['search_p50_ms']:>7} | {r['search_p99_ms']:>7} | {r['recall@10']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"faiss": faiss.__version__, "threads": faiss.omp_get_max_threads(),
                                          "results": rows}, indent=1))


if __name__ == "__main__":
    main()
