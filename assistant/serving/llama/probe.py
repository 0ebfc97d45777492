"""Does llama.cpp decode here? One weight type per process, so a crash is a result, not a dead caller.

llama.cpp picks its matmul kernels from the CPU it was compiled on and runs (AVX2, AVX-512, AMX,
weight repacking); a kernel that crashes on one CPU class passes on every other. This module loads
the bundled model in one weight type the project can serve (`generation.weights`: the Q4_1 file
as shipped, or bf16 / f16 / q8_0 converted from it once) through llama-cpp-python's `Llama`, the
way llama.cpp's model server loads it, and decodes a few greedy tokens.

    python -m assistant.serving.llama.probe --system-info          # the CPU features llama.cpp was built with
    python -m assistant.serving.llama.probe --weights as-is --json # decode the shipped Q4_1
    python -m assistant.serving.llama.probe --weights all          # every type, each in its own process

`probe(weights)` is what tests call: it runs this module in a child process and turns a signal
into a message (`tests/test_llama_weights.py`).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

SERVABLE = ("as-is", "bf16", "f16", "q8_0")  # every value of generation.weights but `auto`
PROMPT = "The capital of France is"
TOKENS = 12


@dataclass
class ProbeResult:
    weights: str
    ok: bool
    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    error: str = ""


def system_info() -> str:
    """llama.cpp's own list of the CPU features it was compiled for (`AVX512 = 1 | AMX_INT8 = 1 | ...`)."""
    import llama_cpp as ll

    return ll.llama_print_system_info().decode(errors="replace").strip()


def amx_compiled(info: str) -> bool:
    """Whether this llama.cpp has ggml's AMX kernels (compiled in only on AMX CPUs by -march=native)."""
    return "AMX_INT8 = 1" in info


def decode(cfg, weights: str, tokens: int = TOKENS) -> ProbeResult:
    """Convert (once, cached under the configured home) and decode greedily, in this process."""
    from pathlib import Path

    import llama_cpp

    from assistant.serving.llama.weights import base_gguf_path, serving_gguf

    base = base_gguf_path(cfg.models.generator, cfg.home)
    path = serving_gguf(base, cfg.home, weights)
    model = llama_cpp.Llama(str(Path(path)), n_ctx=256, n_threads=2, n_threads_batch=2, verbose=False, seed=0)
    t0 = time.perf_counter()
    out = model.create_completion(PROMPT, max_tokens=tokens, temperature=0.0, top_k=1, stream=False)
    seconds = time.perf_counter() - t0
    assert isinstance(out, dict)  # stream=False: one response, not an iterator
    return ProbeResult(weights, True, out["choices"][0]["text"], out["usage"]["completion_tokens"], round(seconds, 3))


def probe(weights: str, timeout: float = 600.0) -> ProbeResult:
    """`decode` in a child process: a SIGSEGV/SIGILL there comes back as a result naming the signal."""
    return run_child(
        [sys.executable, "-m", "assistant.serving.llama.probe", "--weights", weights, "--json"], weights, timeout
    )


def run_child(cmd: list[str], weights: str, timeout: float = 600.0) -> ProbeResult:
    """Run a probe command; its last stdout line is a ProbeResult in JSON, a signal is an error."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ProbeResult(weights, False, error=f"no answer in {timeout:.0f} s")
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        tail = done.stderr.strip().splitlines()[-3:]
        return ProbeResult(
            weights, False, error=f"llama.cpp died with {name} decoding {weights} weights; " + " | ".join(tail)
        )
    if done.returncode != 0:
        return ProbeResult(weights, False, error=(done.stderr.strip().splitlines() or ["exit code"])[-1])
    return ProbeResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", choices=[*SERVABLE, "all"], help="decode the bundled model in this weight type")
    ap.add_argument("--system-info", action="store_true", help="print the CPU features llama.cpp was built with")
    ap.add_argument("--json", action="store_true", help="one JSON line per result")
    args = ap.parse_args(argv)
    if args.system_info or not args.weights:
        info = system_info()
        print(json.dumps({"system_info": info, "amx_compiled": amx_compiled(info)}) if args.json else info)
        if not args.weights:
            return 0
    if args.weights != "all":
        from assistant.config import load_config

        result = decode(load_config(), args.weights)
        print(json.dumps(asdict(result)) if args.json else f"{result.weights}: {result.text!r}")
        return 0
    failed = 0
    for weights in SERVABLE:
        r = probe(weights)
        failed += not r.ok
        print(
            json.dumps(asdict(r)) if args.json else f"{weights:6} {'ok' if r.ok else 'FAILED'}  {r.text or r.error!r}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
