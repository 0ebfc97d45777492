"""Turn latency benchmark: real turns through the pipeline per engine, and raw decoding side by side.

    .venv/bin/python benchmarks/turn_latency.py [--turns 20] [--modes fp32,int8,llama.cpp] [--max-new-tokens 64]

Part 1, turns: per mode (transformers fp32, transformers int8, loopdesk's llama.cpp engine), 20
real turns: p50/p95 time to first token, decode tokens/s (tokens after the first / time after the
first), and the pipeline's own overhead before generation (language + taggers + retrieval + prompt).

Part 2, raw decoding (`--decode-repeats`, median of 3): one prompt — the pipeline's real prompt for
a question (system prompt, passages, question), the same token ids for every engine — and exactly
`--max-new-tokens` greedy tokens, 2 threads: transformers fp32 and int8, llama-cpp-python's own
`Llama` on the bundled Q4_1 without and with the live adapter (its GGUF LoRA) and on the weights
loopdesk serves (bf16 or f16), and loopdesk's engine with the live adapter. Time to first token and
decode tokens/s, and the ratio to llama.cpp's own on the bundled file with the adapter.

Prints tables and writes benchmarks/results/turn_latency.json. Uses a throw-away SQLite store;
the demo index under LOOPDESK_HOME must exist (make install).
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
                           "LOOPDESK_GENERATION_ENGINE": "llama.cpp" if mode == "llama.cpp" else "transformers",
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
            "taggers": bool(assistant.sentiment)}


def timed(run, n_expected: int) -> tuple[float, float]:
    """(seconds to the first token, decode tokens/s after it) of `run()`: an iterator of tokens, or
    of the times each token came (transformers reports them from a logits processor)."""
    t0 = time.perf_counter()
    stamps = [x if isinstance(x, float) else time.perf_counter() for x in run()]
    assert len(stamps) >= n_expected - 1, f"{len(stamps)} tokens, wanted {n_expected}"
    return stamps[0] - t0, (len(stamps) - 1) / (stamps[-1] - stamps[0])


def raw_decode(max_new: int, repeats: int) -> list[dict]:
    """Same prompt ids, same number of greedy tokens, 2 threads: each engine in turn."""
    import itertools

    import llama_cpp
    import torch

    import index
    from assistant.build import build_assistant
    from assistant.config import load_config
    from assistant.generation import TransformersGenerator, chat_ids
    from assistant.llama_engine import Sampling
    from assistant.llama_generator import LlamaCppGenerator, base_gguf_path
    from assistant.lora_gguf import convert_adapter

    db = Path(tempfile.mkdtemp()) / "bench.db"
    cfg = load_config(env={**os.environ, "LOOPDESK_STORE_URL": f"sqlite:///{db}", "LOOPDESK_GENERATION_THREADS": "2",
                           "LOOPDESK_GENERATION_ENGINE": "llama.cpp"})
    assistant = build_assistant(cfg, index.open_for_config, with_taggers=False)
    fast = assistant.generator
    adapter = fast.adapter_path
    plan = assistant.plan("How long do I have to return a shirt that does not fit?", [])
    ids = chat_ids(fast.tokenizer, plan.messages)
    gguf = base_gguf_path(cfg.models.generator, cfg.home)
    lora = str(convert_adapter(adapter, gguf)) if adapter else None
    engines = {}

    def hf(quantize: str):
        cfg.generation.quantize = quantize
        g = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation, adapter=adapter)
        x = torch.tensor([ids])

        def run():
            torch.set_num_threads(2)  # transformers gets both cores (the app leaves torch one beside llama.cpp)
            stamps: list[float] = []

            class Stamp:
                def __call__(self, input_ids, scores):
                    stamps.append(time.perf_counter())
                    return scores

            with torch.inference_mode():
                g.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=max_new, min_new_tokens=max_new,
                                 do_sample=False, logits_processor=[Stamp()], pad_token_id=2)
            return iter(stamps)
        return run

    def own(lora_path, model_file=gguf):
        m = llama_cpp.Llama(str(model_file), n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False, lora_path=lora_path)

        def run():
            m.reset()
            return itertools.islice(m.generate(ids, temp=0.0, reset=True), max_new)
        return run

    def ours():
        # The engine shares the system prompt across turns: warm it with another question's prompt,
        # so the timed prompt reuses what every real turn reuses (the system prompt), not itself.
        other = chat_ids(fast.tokenizer, assistant.plan("Do you ship to Canada?", []).messages)
        for _ in range(2):
            req = fast.engine.submit(other, Sampling(1), 60)
            while req.out.get()[0] == "piece":
                pass

        def run():
            req = fast.engine.submit(ids, Sampling(max_new, ignore_eos=True), 600)
            pieces = 0
            while (item := req.out.get())[0] == "piece":
                pieces += 1
                yield item[1]
            # A token that completes no character (half of a multi-byte one) sends no piece: count it
            # as arriving with the last one, so every engine is timed over the same number of tokens.
            last = time.perf_counter()
            yield from [last] * (len(req.generated) - pieces)
        return run

    # loopdesk's engine first: the others leave threads behind in this process (torch's OpenMP pool).
    engines[f"loopdesk engine, {fast.weight_type} + {fast.adapter_id}"] = ours()
    engines[f"transformers fp32 + {fast.adapter_id}"] = hf("none")
    engines[f"transformers int8 + {fast.adapter_id}"] = hf("int8")
    engines["llama.cpp (llama-cpp-python), bundled Q4_1, base"] = own(None)
    engines[f"llama.cpp (llama-cpp-python), bundled Q4_1 + {fast.adapter_id}"] = own(lora)
    engines[f"llama.cpp (llama-cpp-python), {fast.weight_type} + {fast.adapter_id}"] = own(lora, fast.served)
    rows = []
    for name, run in engines.items():
        timed(run, 2)  # warm-up
        runs = [timed(run, max_new) for _ in range(repeats)]
        rows.append({"engine": name, "prompt_tokens": len(ids), "new_tokens": max_new,
                     "ttft_s": round(statistics.median(r[0] for r in runs), 3),
                     "decode_tok_s": round(statistics.median(r[1] for r in runs), 1)})
    ref = next(r for r in rows if r["engine"].startswith("llama.cpp (llama-cpp-python), bundled Q4_1 +"))
    for r in rows:
        r["decode_vs_llama_cpp"] = round(r["decode_tok_s"] / ref["decode_tok_s"], 2)
        r["ttft_vs_llama_cpp"] = round(r["ttft_s"] / ref["ttft_s"], 2)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--modes", default="fp32,int8,llama.cpp")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--decode-repeats", type=int, default=3, help="0 skips the raw decoding table")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "turn_latency.json"))
    args = ap.parse_args()
    rows = [run_mode(m, args.turns, args.max_new_tokens) for m in args.modes.split(",") if m]
    cols = ["mode", "load_seconds", "ttft_ms_p50", "ttft_ms_p95", "decode_tok_s_p50", "overhead_ms_p50", "overhead_ms_p95"]
    print(" | ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print(" | ".join(f"{str(r[c]):>16}" for c in cols))
    decode = raw_decode(args.max_new_tokens, args.decode_repeats) if args.decode_repeats else []
    if decode:
        dcols = list(decode[0])
        print("\n| " + " | ".join(dcols) + " |\n|" + "---|" * len(dcols))
        for r in decode:
            print("| " + " | ".join(str(r[c]) for c in dcols) + " |")
    import torch

    out = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                       "cuda": torch.cuda.is_available()}, "results": rows, "raw_decode": decode}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
