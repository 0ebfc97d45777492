"""Turn latency benchmark: real turns through the pipeline per engine, and raw decoding side by side.

    .venv/bin/python benchmarks/turn_latency.py [--turns 20] [--modes fp32,int8,llama.cpp] [--max-new-tokens 64]
                                                [--raw-mode reply|forced] [--out FILE]

Part 1, turns: per mode (transformers fp32, transformers int8, loopdesk's llama.cpp engine), 20
real turns: p50/p95 time to the first text shown and to the end of the turn, how many replies were
the model's own (the rest: the evidence, see `generation.reader`), and the pipeline's own overhead
before generation (language + taggers + retrieval + prompt). Every turn waits for the model here.

Part 2, raw decoding (`--decode-repeats` runs per engine and round): one prompt — the pipeline's
real prompt for a question (system prompt, passages, question), the same token ids for every engine —
and greedy tokens to the end of the reply (at most `--max-new-tokens`; greedy engines give the same
reply, so the same number of tokens, shown) or, with `--raw-mode forced`, exactly that many (past the
reply's end, where guessing from the prompt helps little), 2 threads. Each engine runs in a process of its own,
in two rounds, the second in reverse order (in one process, the threads an engine leaves behind
slowed the next one: the order decided the ratio). Engines: loopdesk's engine with the live adapter
folded into its weights (guessing ahead from the prompt, as served, and without) and applied at run
time (the timed prompt read anew each run, only the system prompt's cache reused, as in a turn);
llama-cpp-python's own `Llama` on the bundled Q4_1 without and with the adapter (its GGUF LoRA), with
its own prompt-lookup decoding, and on the weights loopdesk serves; transformers fp32 and int8. Time
to first token, decode tokens/s, and the ratios to llama.cpp's own on the bundled file (base, and
with the adapter).

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
                           # each engine's own speed: no turn answered from the evidence for lack of time
                           "LOOPDESK_GENERATION_FIRST_TEXT_SECONDS": "0",
                           "LOOPDESK_GENERATION_TEMPERATURE": "0"})
    t0 = time.perf_counter()
    assistant = build_assistant(cfg, index.open_for_config)
    load_s = time.perf_counter() - t0
    assistant.respond(None, "warm-up question about returns")
    ttft, turn, overhead, model = [], [], [], 0
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
        turn.append((time.perf_counter() - start) * 1000)
        model += result.grounding == "generated"
    # No decode rate here: checked text is shown once it carries the evidence, often in one piece
    # (the raw decoding table measures decoding).
    return {"mode": mode, "turns": turns, "load_seconds": round(load_s, 2),
            "ttft_ms_p50": round(pct(ttft, 0.5), 1), "ttft_ms_p95": round(pct(ttft, 0.95), 1),
            "turn_ms_p50": round(pct(turn, 0.5), 1), "turn_ms_p95": round(pct(turn, 0.95), 1),
            "model_replies": model,
            "overhead_ms_p50": round(pct(overhead, 0.5), 1), "overhead_ms_p95": round(pct(overhead, 0.95), 1),
            "taggers": bool(assistant.sentiment)}


def timed(run, n_expected: int) -> tuple[float, float, int]:
    """(seconds to the first token, decode tokens/s after it, tokens) of `run()`: an iterator of
    tokens, or of the times each token came (transformers reports them from a logits processor)."""
    t0 = time.perf_counter()
    stamps = [x if isinstance(x, float) else time.perf_counter() for x in run()]
    assert len(stamps) >= n_expected - 1, f"{len(stamps)} tokens, wanted {n_expected}"
    return stamps[0] - t0, (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps)


RAW_ENGINES = ["loopdesk", "loopdesk-no-guess", "loopdesk-run-time-lora", "llama.cpp-base", "llama.cpp-adapter", "llama.cpp-adapter-lookup",
               "llama.cpp-served", "transformers-fp32", "transformers-int8"]


def raw_decode(max_new: int, repeats: int, mode: str = "reply", rounds: int = 2) -> list[dict]:
    """Each engine in a process of its own (one engine's threads cannot slow the next), in `rounds`
    rounds, the order reversed in the second; per engine the median over every run of every round."""
    import subprocess
    import sys

    runs: dict[str, list[dict]] = {}
    for k in range(rounds):
        for name in RAW_ENGINES if k % 2 == 0 else RAW_ENGINES[::-1]:
            out = subprocess.run([sys.executable, __file__, "--raw-one", name, "--max-new-tokens", str(max_new),
                                  "--decode-repeats", str(repeats), "--raw-mode", mode],
                                 capture_output=True, text=True, check=True)
            runs.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    for name in RAW_ENGINES:
        first = runs[name][0]
        rows.append({**{k: first[k] for k in ("engine", "prompt_tokens", "new_tokens")}, "mode": mode,
                     "ttft_s": round(statistics.median(t for r in runs[name] for t in r["ttft_runs"]), 3),
                     "decode_tok_s": round(statistics.median(d for r in runs[name] for d in r["decode_runs"]), 1)})
    base = rows[RAW_ENGINES.index("llama.cpp-base")]
    with_adapter = rows[RAW_ENGINES.index("llama.cpp-adapter")]
    for r in rows:
        r["decode_vs_llama_cpp"] = round(r["decode_tok_s"] / base["decode_tok_s"], 2)
        r["decode_vs_llama_cpp_adapter"] = round(r["decode_tok_s"] / with_adapter["decode_tok_s"], 2)
        r["ttft_vs_llama_cpp"] = round(r["ttft_s"] / base["ttft_s"], 2)
    return rows


def raw_one(name: str, max_new: int, repeats: int, mode: str = "reply") -> dict:
    """One engine of the raw decoding table, in this process: same prompt ids, greedy tokens until the
    end of the reply (`reply`, at most `max_new`: greedy engines give the same reply, so the same
    number of tokens, reported) or exactly `max_new` (`forced`: past the reply's end)."""
    whole = mode == "forced"
    import itertools

    import llama_cpp
    import torch
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    import index
    from assistant.build import Profile, build_assistant
    from assistant.config import load_config
    from assistant.serving.transformers_generator import TransformersGenerator, chat_ids
    from assistant.serving.llama.engine import Sampling
    from assistant.serving.llama.weights import base_gguf_path
    from assistant.serving.llama.lora_gguf import convert_adapter

    db = Path(tempfile.mkdtemp()) / "bench.db"
    cfg = load_config(env={**os.environ, "LOOPDESK_STORE_URL": f"sqlite:///{db}", "LOOPDESK_GENERATION_THREADS": "2",
                           "LOOPDESK_GENERATION_ENGINE": "llama.cpp", "LOOPDESK_GENERATION_BATCH_SLOTS": "2"})
    assistant = build_assistant(cfg, index.open_for_config, Profile("raw decoding", taggers=False))
    fast = assistant.generator
    adapter = fast.adapter_path
    plan = assistant.plan("How long do I have to return a shirt that does not fit?", [])
    ids = chat_ids(fast.tokenizer, plan.messages)
    gguf = base_gguf_path(cfg.models.generator, cfg.home)
    lora = str(convert_adapter(adapter, gguf)) if adapter else None
    if not name.startswith("loopdesk"):
        fast.engine.close()  # only the engine measured runs threads

    def hf(quantize: str):
        cfg.generation.quantize = quantize
        g = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation, adapter=adapter)
        x = torch.tensor([ids])
        torch.set_num_threads(2)  # transformers gets both cores (the app leaves torch one beside llama.cpp)

        def run():
            stamps: list[float] = []

            class Stamp:
                def __call__(self, input_ids, scores):
                    stamps.append(time.perf_counter())
                    return scores

            with torch.inference_mode():
                out = g.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=max_new,
                                       min_new_tokens=max_new if whole else None, do_sample=False,
                                       logits_processor=[Stamp()], pad_token_id=2)
            n = out.shape[1] - x.shape[1]
            ended = not whole and int(out[0, -1]) in (g.tokenizer.eos_token_id, 2)
            return iter(stamps[: n - 1] if ended else stamps)  # the end token is no text
        return run

    def own(lora_path, model_file=gguf, lookup: bool = False):
        draft = LlamaPromptLookupDecoding(num_pred_tokens=8) if lookup else None
        m = llama_cpp.Llama(str(model_file), n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False,
                            lora_path=lora_path, draft_model=draft)

        def run():
            m.reset()
            tokens = itertools.islice(m.generate(ids, temp=0.0, reset=True), max_new)
            return tokens if whole else itertools.takewhile(lambda t: not llama_cpp.llama_vocab_is_eog(
                m._model.vocab, t), tokens)
        return run

    def ours(draft_tokens: int):
        fast.engine.draft_tokens = draft_tokens
        # The engine shares the system prompt across turns: warm it with another question's prompt,
        # so the timed prompt reuses what every real turn reuses (the system prompt), not itself.
        other = chat_ids(fast.tokenizer, assistant.plan("Do you ship to Canada?", []).messages)
        for _ in range(2):
            req = fast.engine.submit(other, Sampling(1), 60)
            while req.out.get()[0] == "piece":
                pass

        def run():
            fast.engine.forget_replies()  # the prompt is new each time, as another turn's would be
            req = fast.engine.submit(ids, Sampling(max_new, ignore_eos=whole), 600)
            pieces = 0
            while (item := req.out.get())[0] == "piece":
                pieces += 1
                yield item[1]
            # A token that completes no character (half of a multi-byte one), or several tokens checked
            # in one step, send fewer pieces: those count as arriving with the last piece, so every
            # engine is timed over the same number of tokens.
            last = time.perf_counter()
            yield from [last] * (len(req.generated) - pieces)
        return run

    def run_time_lora():  # the adapter applied by llama.cpp at run time instead of folded into the weights
        fast.merge = False
        fast.set_adapter(adapter, fast.adapter_id)
        return ours(cfg.generation.draft_tokens)

    folded = "folded in" if fast.merge else "at run time"
    label, run = {
        "loopdesk": lambda: (f"loopdesk engine, {fast.weight_type} + {fast.adapter_id} {folded}, guessing "
                             f"{cfg.generation.draft_tokens} tokens ahead", ours(cfg.generation.draft_tokens)),
        "loopdesk-no-guess": lambda: (f"loopdesk engine, {fast.weight_type} + {fast.adapter_id} {folded}, no guessing",
                                      ours(0)),
        "loopdesk-run-time-lora": lambda: (f"loopdesk engine, {fast.weight_type} + {fast.adapter_id} at run time, "
                                           f"guessing {cfg.generation.draft_tokens} tokens ahead", run_time_lora()),
        "llama.cpp-base": lambda: ("llama.cpp (llama-cpp-python Llama), bundled Q4_1, base", own(None)),
        "llama.cpp-adapter": lambda: (f"llama.cpp, bundled Q4_1 + {fast.adapter_id}", own(lora)),
        "llama.cpp-adapter-lookup": lambda: (f"llama.cpp, bundled Q4_1 + {fast.adapter_id}, its prompt-lookup "
                                             "decoding (8)", own(lora, lookup=True)),
        "llama.cpp-served": lambda: (f"llama.cpp, {fast.weight_type} + {fast.adapter_id}", own(lora, fast.served)),
        "transformers-fp32": lambda: (f"transformers fp32 + {fast.adapter_id}", hf("none")),
        "transformers-int8": lambda: (f"transformers int8 + {fast.adapter_id}", hf("int8")),
    }[name]()
    timed(run, 2)  # warm-up
    runs = [timed(run, max_new if whole else 2) for _ in range(repeats)]
    return {"engine": label, "prompt_tokens": len(ids), "new_tokens": runs[0][2],
            "ttft_runs": [round(r[0], 4) for r in runs], "decode_runs": [round(r[1], 2) for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--modes", default="fp32,int8,llama.cpp")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--decode-repeats", type=int, default=3, help="0 skips the raw decoding table")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "turn_latency.json"))
    ap.add_argument("--raw-mode", default="reply", choices=["reply", "forced"],
                    help="raw decoding to the end of the reply (at most --max-new-tokens), or exactly that many")
    ap.add_argument("--raw-one", choices=RAW_ENGINES, help=argparse.SUPPRESS)  # one engine, in a child process
    args = ap.parse_args()
    if args.raw_one:
        print(json.dumps(raw_one(args.raw_one, args.max_new_tokens, args.decode_repeats, args.raw_mode)))
        return
    rows = [run_mode(m, args.turns, args.max_new_tokens) for m in args.modes.split(",") if m]
    cols = ["mode", "load_seconds", "ttft_ms_p50", "ttft_ms_p95", "turn_ms_p50", "turn_ms_p95", "model_replies",
            "overhead_ms_p50", "overhead_ms_p95"]
    print(" | ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print(" | ".join(f"{str(r[c]):>16}" for c in cols))
    decode = raw_decode(args.max_new_tokens, args.decode_repeats, args.raw_mode) if args.decode_repeats else []
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
