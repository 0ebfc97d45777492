"""The fast CPU generator: the bundled GGUF through llama.cpp, the live LoRA adapter folded into the
served weights (`assistant.serving.llama.lora_merge`; or applied at run time), replies of many customers decoded
together (`assistant.serving.llama.engine`).

The prompt is built with the same chat template and tokenizer as the transformers path (the
tokenizer of the converted model), so both engines see identical token ids; only the arithmetic
differs (llama.cpp multiplies the Q4_1 weights directly instead of de-quantized fp32 copies).

    python -m assistant.serving.llama.generator "How do I return a shirt?"
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from assistant.config import GenerationConfig
from assistant.serving.engine import Engine
from assistant.errors import AdapterError, GenerationError, ModelNotFoundError
from assistant.serving.transformers_generator import chat_ids, check_adapter_dir, print_stream
from assistant.serving.llama.engine import LlamaEngine, Sampling
from assistant.serving.llama.lora_gguf import convert_adapter
from assistant.serving.llama.lora_merge import can_merge, merge_lora
from assistant.models import resolve
from assistant.serving.llama.weights import base_gguf_path, pick_weight_type, serving_gguf


def engine_files(ref: str, home: Path, cfg: GenerationConfig | None = None):
    """What a promotion writes for this engine, before the adapter goes live: `adapter.gguf` in the
    adapter's directory and, when the served weights take it, the model with the adapter folded in
    (`assistant.serving.llama.lora_merge`; the serving process then only loads it). Both atomic. None when the
    generator has no GGUF form (a model server, a Hugging Face directory)."""
    try:
        gguf = base_gguf_path(ref, home)
    except ModelNotFoundError:
        return None

    def prepare(adapter_dir) -> Path:
        lora = convert_adapter(adapter_dir, gguf)
        if cfg is not None and cfg.merge_adapter:
            served = serving_gguf(gguf, home, pick_weight_type(cfg.weights))
            if can_merge(served):
                merge_lora(served, lora)
        return lora

    return prepare


HEARTBEAT_S = 0.25  # how often `stream` yields "" while a reply waits for the engine


class LlamaCppGenerator:
    """`Generator` over llama.cpp with continuous batching; `set_adapter` is the hot swap."""

    engine_name = "llama.cpp"
    engine_reason = ""

    def __init__(self, model_ref: str, home: Path, cfg: GenerationConfig, turn_seconds: float = 90.0) -> None:
        from transformers import AutoTokenizer

        t0 = time.perf_counter()
        self.cfg, self.turn_seconds = cfg, turn_seconds
        self.gguf = base_gguf_path(model_ref, home)
        if model_ref.startswith("bundled:"):
            resolved = resolve(model_ref, home)  # the converted model dir holds the tokenizer and template
            self.tokenizer = AutoTokenizer.from_pretrained(resolved.location)
            self.model_id = resolved.model_id
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.gguf.parent), gguf_file=self.gguf.name)
            self.model_id = str(self.gguf.resolve())
        self.weight_type = pick_weight_type(cfg.weights)
        self.served = serving_gguf(self.gguf, home, self.weight_type)
        self.engine = LlamaEngine(
            self.served,
            slots=cfg.batch_slots,
            context_tokens=cfg.context_tokens,
            threads=cfg.threads,
            max_waiting=max(64, cfg.batch_slots * 8),
            draft_tokens=cfg.draft_tokens,
        )
        self.load_seconds = time.perf_counter() - t0
        self.merge = cfg.merge_adapter and can_merge(self.served)
        self.adapter_id: str | None = None
        self.adapter_path: Path | None = None
        self._adapter_lock = threading.Lock()
        self._last_prompt = threading.local()  # this thread's last prompt and its ids (see _prompt_ids)
        self._lora: Path | None = None  # the run-time adapter applied (none when folded in)

    def set_adapter(self, adapter: str | Path | None, adapter_id: str | None = None) -> None:
        """Serve this peft adapter directory (converted to GGUF once, atomically) or none; on failure
        the current one stays. Turns that ask at the same time (replicas read the live adapter from the
        database before each turn) wait for the first, then find it served: the model is swapped once."""
        with self._adapter_lock:
            if adapter is None:
                self._serve(self.served, None)
            else:
                check_adapter_dir(adapter, self.model_id)
                try:
                    lora = convert_adapter(adapter, self.gguf)
                    if self.merge:
                        self._serve(merge_lora(self.served, lora), None)
                    else:
                        self._serve(self.served, lora)
                except GenerationError as exc:
                    raise AdapterError(f"adapter {adapter} cannot be loaded by llama.cpp: {exc}") from exc
            self.adapter_path = None if adapter is None else Path(adapter)
            self.adapter_id = None if adapter is None else (adapter_id or Path(adapter).name)

    def _serve(self, model: Path, lora: Path | None) -> None:
        if self.engine.path != model:
            self.engine.use_model(model, timeout=self.turn_seconds + 120)
            self._lora = None  # a new context has no run-time adapter
        if lora != self._lora:
            self.engine.use_lora(lora)  # also drops the kept caches: they were computed without it
            self._lora = lora

    def _prompt_ids(self, messages: list[dict]) -> list[int]:
        """The prompt's token ids; a turn asks three times for the same messages (their length to fit
        the context, the first-text estimate, the reply), so its thread's last answer is kept."""
        key = tuple((m["role"], m["content"]) for m in messages)
        last = getattr(self._last_prompt, "value", None)
        if last is not None and last[0] == key:
            return last[1]
        ids = chat_ids(self.tokenizer, messages)
        self._last_prompt.value = (key, ids)
        return ids

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self._prompt_ids(messages))

    def first_text_eta(self, messages: list[dict], tokens: int) -> float | None:
        """Seconds until a reply to `messages`, asked now, would have its first `tokens` tokens
        (None: not known yet); the pipeline answers from the evidence when that is too late."""
        return self.engine.eta(self._prompt_ids(messages), tokens)

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        c = self.cfg
        sampling = Sampling(max_new_tokens or c.max_new_tokens, c.temperature, c.top_p, c.repetition_penalty, c.seed)
        request = self.engine.submit(self._prompt_ids(messages), sampling, self.turn_seconds)
        try:
            while True:
                try:
                    kind, value = request.out.get(timeout=HEARTBEAT_S)
                except queue.Empty:
                    yield ""  # still waiting: the caller may give up (see Generator.stream)
                    continue
                if kind == "piece":
                    yield str(value)
                elif kind == "end":
                    return
                else:
                    raise value  # type: ignore[misc]  # an exception the engine put there
        finally:  # the caller stopped reading (a loop, an unsupported claim): free the slot now
            request.cancelled.set()


def _unavailable(cfg) -> str:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install llama-cpp-python): slower CPU decoding"
    try:
        base_gguf_path(cfg.models.generator, cfg.home)
    except ModelNotFoundError as exc:
        return f"no GGUF for llama.cpp ({exc}): slower CPU decoding"
    return ""


def _open(cfg, why: str) -> LlamaCppGenerator:
    generator = LlamaCppGenerator(cfg.models.generator, cfg.home, cfg.generation, cfg.app.turn_seconds)
    adapter = "folded into the weights" if generator.merge else "applied at run time"
    generator.engine_reason = (
        f"{why}; {generator.weight_type} weights, adapter {adapter}, {generator.engine.slots} replies per batch"
    )
    _leave_cores_to_llama()
    return generator


def _leave_cores_to_llama() -> None:
    """One torch thread beside llama.cpp: the taggers and the embedder are small, and torch's OpenMP
    threads spinning against llama.cpp's own slowed decoding from 56 to 24 tokens/s on 2 cores
    (measured in one process, a turn's tagging then 64 tokens)."""
    import torch

    torch.set_num_threads(1)


ENGINE = Engine(
    "llama.cpp",
    open=_open,
    unavailable=_unavailable,
    prepare_adapter=lambda cfg: engine_files(cfg.models.generator, cfg.home, cfg.generation),
    runs_because="CPU, GGUF model",
)


if __name__ == "__main__":
    from assistant.config import load_config

    c = load_config()
    g = LlamaCppGenerator(c.models.generator, c.home, c.generation)
    print(f"loaded {g.served.name} in {g.load_seconds:.1f}s, {g.engine.slots} slots, {g.engine.threads} threads")
    print_stream(g, " ".join(sys.argv[1:]))
