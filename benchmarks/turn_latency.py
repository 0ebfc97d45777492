"""Turn latency benchmark: 20 real turns through the pipeline, fp32 and int8 side by side.

    .venv/bin/python benchmarks/turn_latency.py [--turns 20] [--modes fp32,int8] [--max-new-tokens 64]

Reports per mode: p50/p95 time to first token, decode tokens/s (tokens after the first / time
after the first), and the pipeline's own overhead before generation (language + taggers +
retrieval + prompt). Prints a table and writes benchmarks/results/turn_latency.json.
Uses a throw-away SQLite store; the demo index under LOOPDESK_HOME must exist (make install).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUESTIONS = [
    "How do I return a shirt that does not fit?", "When will I get my refund?", "How long does express shipping take?",
    "I forgot my password, what do I do?", "Which payment methods do you accept?", "Is my blender under warranty?",
    "Can I cancel my order?", "Do you ship to Canada?", "My parcel says delivered but it is not here.",
    "How do I change my shipping address?", "Can I use two promo codes?", "How do I delete my account?",
    "What are your opening hours?", "Can I return an online order in a store?", "How do I find my size?",
    "My card was declined, why?", "Do gift cards expire?", "The zip on my jacket broke after a month.",
    "How do I get an invoice?", "Can I exchange shoes for a bigger size?",
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_mode(mode: str, turns: int, max_new: int) -> dict:
    import index
    from assistant.build import build_assistant
    from assistant.config import load_config

    db = Path(tempfile.mkdtemp()) / "bench.db"
    cfg = load_config(env={**os.environ, "LOOPDESK_STORE_URL": f"sqlite:///{db}",
                           "LOOPDESK_GENERATION_QUANTIZE": "int8" if mode == "int8" else "none",
                           "LOOPDESK_GENERATION_MAX_NEW_TOKENS": str(max_new),
                           "LOOPDESK_GENERATION_TEMPERATURE": "0"})
    t0 = time.perf_counter()
    assistant = build_assistant(cfg, index.open_for_config)
    load_s = time.perf_counter() - t0
    tok = assistant.generator.tokenizer
    assistant.respond(None, "warm-up question about returns")
    ttft, rates, overhead = [], [], []
    for i in range(turns):
        stamps: list[float] = []
        start = time.perf_counter()
        result = None
        for kind, value in assistant.respond_stream(None, QUESTIONS[i % len(QUESTIONS)]):
            if kind == "token":
                stamps.append(time.perf_counter())
            else:
                result = value
        t = result.timings
        overhead.append(sum(t.get(k, 0.0) for k in ("language", "sentiment", "entities", "retrieval", "prompt")))
        ttft.append((stamps[0] - start) * 1000)
        n_tokens = len(tok(result.reply, add_special_tokens=False)["input_ids"])
        if n_tokens > 1 and stamps[-1] > stamps[0]:
            rates.append((n_tokens - 1) / (stamps[-1] - stamps[0]))
    return {"mode": mode, "turns": turns, "load_seconds": round(load_s, 2),
            "ttft_ms_p50": round(pct(ttft, 0.5), 1), "ttft_ms_p95": round(pct(ttft, 0.95), 1),
            "decode_tok_s_p50": round(statistics.median(rates), 2) if rates else None,
            "overhead_ms_p50": round(pct(overhead, 0.5), 1), "overhead_ms_p95": round(pct(overhead, 0.95), 1),
            "taggers": assistant.sentiment is not None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--modes", default="fp32,int8")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "turn_latency.json"))
    args = ap.parse_args()
    rows = [run_mode(m, args.turns, args.max_new_tokens) for m in args.modes.split(",")]
    cols = ["mode", "load_seconds", "ttft_ms_p50", "ttft_ms_p95", "decode_tok_s_p50", "overhead_ms_p50", "overhead_ms_p95"]
    print(" | ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print(" | ".join(f"{str(r[c]):>16}" for c in cols))
    if len(rows) == 2 and rows[0]["decode_tok_s_p50"] and rows[1]["decode_tok_s_p50"]:
        print(f"decode speed-up {rows[1]['mode']} vs {rows[0]['mode']}: {rows[1]['decode_tok_s_p50'] / rows[0]['decode_tok_s_p50']:.2f}x")
    import torch

    out = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                       "cuda": torch.cuda.is_available()}, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
