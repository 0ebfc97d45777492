"""Tagger latency: one customer message through both taggers (sentiment + NER), and batch throughput.

    .venv/bin/python benchmarks/tagger_latency.py [--n 200]

Messages are customer-style sentences of varied length. Reports p50/p95 ms per message for
sentiment, NER and both, and messages/s for batched sentiment. Prints a table and writes
benchmarks/results/tagger_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEMPLATES = [
    "Where is my order {n}? It was supposed to arrive on Monday.",
    "I'm really angry, the jacket I bought from Northwind Goods arrived torn and nobody answers my e-mails.",
    "Can I return shoes bought in the Boston store to the online shop?",
    "Thanks a lot, Maria from support solved it in five minutes!",
    "My card was charged twice for order NW-{n}, please refund $45.99 to jane@example.com.",
    "hi",
    "How long does express shipping to Toronto take and how much does it cost for two parcels weighing about three kilos each?",
]


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import torch

    from assistant.config import load_config
    from assistant.taggers.loader import load_taggers

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "tagger_latency.json"))
    args = ap.parse_args()
    sentiment, ner, problems = load_taggers(load_config(env={}))
    if sentiment is None or ner is None:
        raise SystemExit(f"taggers unavailable: {problems}")
    texts = [TEMPLATES[i % len(TEMPLATES)].format(n=10000 + i) for i in range(args.n)]
    for t in texts[:10]:  # warm-up
        sentiment.tag(t), ner.tag(t)
    rows = {"sentiment": [], "ner": [], "both": []}
    for t in texts:
        t0 = time.perf_counter()
        sentiment.tag(t)
        t1 = time.perf_counter()
        ner.tag(t)
        t2 = time.perf_counter()
        rows["sentiment"].append((t1 - t0) * 1000)
        rows["ner"].append((t2 - t1) * 1000)
        rows["both"].append((t2 - t0) * 1000)
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        sentiment.tag_batch(texts[i:i + 32])
    batch_rate = len(texts) / (time.perf_counter() - t0)
    result = {"threads": torch.get_num_threads(), "messages": len(texts), "sentiment_batch_msgs_per_s": round(batch_rate, 1)}
    print(f"{'task':>10} | {'p50 ms':>7} | {'p95 ms':>7} | {'msgs/s':>7}")
    for k, v in rows.items():
        v = sorted(v)
        p50, p95 = statistics.median(v), v[int(0.95 * (len(v) - 1))]
        result[k] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "msgs_per_s": round(1000 / statistics.mean(v), 1)}
        print(f"{k:>10} | {p50:>7.2f} | {p95:>7.2f} | {result[k]['msgs_per_s']:>7}")
    print(f"sentiment batched (32): {batch_rate:.1f} msgs/s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
