"""Embedding throughput: loopdesk's `SentenceEmbedder.embed` vs raw `SentenceTransformer.encode`, same texts.

    .venv/bin/python benchmarks/embed_throughput.py [--n 2000]

Both run side by side in one process on the demo KB chunks (repeated to n texts), alternating
three rounds each; reports texts/s and the ratio. Writes benchmarks/results/embed_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from assistant.config import load_config
    from index import DEMO_KB
    from index.chunking import chunk_document
    from index.embedder import SentenceEmbedder
    from index.loaders import load_documents

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/embed_throughput.json"))
    args = ap.parse_args()
    emb = SentenceEmbedder("bundled:all-minilm-l6-v2", load_config(env={}).home)
    docs, _ = load_documents([DEMO_KB])
    texts = [c.embed_text() for d in docs for c in chunk_document(d, emb.count_tokens)]
    texts = (texts * (args.n // len(texts) + 1))[: args.n]
    raw = emb.model
    timings = {"loopdesk": [], "raw_encode": []}
    for _ in range(3):
        t0 = time.perf_counter()
        emb.embed(texts)
        timings["loopdesk"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        raw.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        timings["raw_encode"].append(time.perf_counter() - t0)
    rate = {k: round(len(texts) / min(v), 1) for k, v in timings.items()}
    ratio = round(rate["loopdesk"] / rate["raw_encode"], 3)
    print(f"texts: {len(texts)} (demo KB chunks, mean {sum(map(len, texts)) / len(texts):.0f} chars)")
    print(f"loopdesk embed: {rate['loopdesk']} texts/s | raw encode: {rate['raw_encode']} texts/s | ratio {ratio}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"texts": len(texts), "texts_per_s": rate, "ratio": ratio}, indent=1))


if __name__ == "__main__":
    main()
