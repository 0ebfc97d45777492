"""Retrieval quality on the Bitext customer-support set: dense vs BM25 vs fused, with the real MiniLM.

    .venv/bin/python benchmarks/retrieval_quality.py [--data ../shared/data/bitext/customer_support_3997.csv]

Knowledge base: one markdown file per intent ("# Cancel order", then its first three answers, each
under its own heading). Queries: every other request of the file (the three rows whose answers
became the documents are held out), expected source = the intent's file. Prints a table and
writes benchmarks/results/retrieval_quality.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def make_kb(rows: list[dict], out: Path) -> list[tuple[str, str]]:
    by_intent: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_intent[r["intent"]].append(r)
    queries = []
    for intent, items in sorted(by_intent.items()):
        docs, rest = items[:3], items[3:]
        title = intent.replace("_", " ").capitalize()
        body = "\n\n".join(f"## Answer {i}\n\n{d['response'].strip()}" for i, d in enumerate(docs, 1))
        (out / f"{intent}.md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        queries += [(r["instruction"], f"{intent}.md") for r in rest]
    return queries


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from assistant.config import load_config
    from index.builder import build_index
    from index.embedder import SentenceEmbedder
    from index.evaluate import eval_retrieval
    from index.searcher import Index

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/bitext/customer_support_3997.csv"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/retrieval_quality.json"))
    ap.add_argument("--stride", type=int, default=1, help="Use every n-th held-out query (faster runs).")
    args = ap.parse_args()
    with open(args.data, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    tmp = Path(tempfile.mkdtemp())
    (tmp / "kb").mkdir()
    queries = make_kb(rows, tmp / "kb")[:: args.stride]
    cfg = load_config(env={})
    emb = SentenceEmbedder(cfg.models.embedder, cfg.home)
    report = build_index([tmp / "kb"], tmp / "ix", emb)
    plain = Index(tmp / "ix", emb, title_weight=0.0)
    ix = Index(tmp / "ix", emb)
    results = []
    for name, index, mode in (("dense (plain)", plain, "dense"), ("dense+title", ix, "dense"), ("bm25", ix, "bm25"),
                              ("hybrid", ix, "hybrid")):
        t0 = time.perf_counter()
        r = eval_retrieval(index, queries, mode)
        r["mode"] = name
        r["ms_per_query"] = round((time.perf_counter() - t0) * 1000 / len(queries), 2)
        results.append(r)
    print(f"{report['files_indexed']} intent files, {report['chunks_total']} chunks, {len(queries)} held-out queries")
    print(f"{'mode':>14} | {'hit@1':>7} | {'hit@5':>7} | {'mrr':>7} | {'ms/query':>8}")
    for r in results:
        print(f"{r['mode']:>14} | {r['hit@1']:>7.4f} | {r['hit@5']:>7.4f} | {r['mrr']:>7.4f} | {r['ms_per_query']:>8}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"files": report["files_indexed"], "chunks": report["chunks_total"],
                                          "queries": len(queries), "results": results}, indent=1))


if __name__ == "__main__":
    main()
