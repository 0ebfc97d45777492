"""The generator: a causal LM from transformers, streamed, with an optional peft LoRA adapter.

Device auto: CUDA with bf16 when present, else CPU fp32; `quantize = "int8"` applies dynamic int8
quantization to the Linear layers on the CPU (about 2x faster decoding on small CPUs). With int8
the adapter is merged into the fp32 weights before quantizing, so swapping adapters rebuilds
from the cached fp32 checkpoint (a few seconds). `set_adapter()` is thread-safe and takes effect
for the next reply: the running app never restarts.

    python -m assistant.serving.transformers_generator "How do I return a shirt?"
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from assistant.config import GenerationConfig
from assistant.serving.engine import Engine
from assistant.errors import AdapterError
from assistant.models import load_causal_lm, pick_device


# peft type -> (its name, a substring every saved weight name of that kind contains)
WEIGHT_MARKERS = {
    "LORA": ("LoRA", "lora_"),
    "ADALORA": ("AdaLoRA", "lora_"),
    "IA3": ("IA3", "ia3_l"),
    "PREFIX_TUNING": ("prefix-tuning", "prompt_embeddings"),
}


def check_adapter_dir(path: str | Path, base_model_id: str | None = None) -> dict:
    """Validate a peft adapter directory; return its adapter_config. Raises AdapterError."""
    d = Path(path)
    if not d.is_dir():
        raise AdapterError(f"adapter {d} does not exist")
    missing = [f for f in ("adapter_config.json", "adapter_model.safetensors") if not (d / f).is_file()]
    if missing:
        raise AdapterError(f"adapter {d} is missing {', '.join(missing)}")
    try:
        config = json.loads((d / "adapter_config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterError(f"adapter {d}: adapter_config.json is not valid JSON") from exc
    kind = config.get("peft_type", "LORA")
    if kind not in WEIGHT_MARKERS:
        raise AdapterError(f"adapter {d}: {kind} adapters are not supported (LoRA, AdaLoRA, prefix tuning, IA3 are)")
    name, marker = WEIGHT_MARKERS[kind]
    try:
        from safetensors import safe_open

        with safe_open(str(d / "adapter_model.safetensors"), framework="pt") as fh:
            if not any(marker in k for k in fh.keys()):
                raise AdapterError(f"adapter {d} holds no {name} weights")
    except AdapterError:
        raise
    except Exception as exc:  # safetensors raises its own error types for truncated files
        raise AdapterError(f"adapter {d}: weights file is corrupt ({exc})") from exc
    base = config.get("base_model_name_or_path")
    if base_model_id and base and Path(base).name.lower() != Path(base_model_id).name.lower():
        raise AdapterError(f"adapter {d} was trained on {base!r}, not on {base_model_id!r}")
    return config


def chat_ids(tokenizer, messages: list[dict], generation_prompt: bool = True) -> list[int]:
    """Token ids of messages under the model's chat template (transformers 5 may return a dict)."""
    enc = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    ids = enc["input_ids"] if hasattr(enc, "keys") else enc
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def sampling_kwargs(cfg: GenerationConfig) -> dict:
    """How replies are decoded (greedy unless `generation.temperature` > 0): one place for serving and
    for the held-out evaluation's answers (`finetune.gen_eval`), so an eval reads what customers read."""
    kwargs: dict = dict(do_sample=cfg.temperature > 0, repetition_penalty=cfg.repetition_penalty)
    if cfg.temperature > 0:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    return kwargs


class TransformersGenerator:
    """`Generator` implementation over a Hugging Face causal LM."""

    engine_name = "transformers"
    engine_reason = ""

    def __init__(self, model_ref: str, home: Path, cfg: GenerationConfig, adapter: str | Path | None = None) -> None:
        self.cfg, self.home, self.model_ref = cfg, home, model_ref
        self.device, self.dtype = pick_device(cfg.device)
        self.quantized = cfg.quantize == "int8" and self.device == "cpu"
        self._lock = threading.RLock()
        t0 = time.perf_counter()
        self.base, self.tokenizer, self.resolved = load_causal_lm(model_ref, home, cfg.device)
        self.load_seconds = time.perf_counter() - t0
        self.model_id = self.resolved.model_id
        self.model = self.base
        self.adapter_id: str | None = None
        self.adapter_path: Path | None = None
        self.set_adapter(adapter)

    # --- adapters ---------------------------------------------------------------------------
    def first_text_eta(self, messages: list[dict], tokens: int) -> float | None:
        """Not known for this engine: the pipeline's deadline alone decides."""
        return None

    def set_adapter(self, adapter: str | Path | None, adapter_id: str | None = None) -> None:
        """Switch to another LoRA adapter (or none). On failure the current one stays."""
        import torch
        from peft import PeftModel

        if adapter is not None:
            check_adapter_dir(adapter, self.model_id)
        with self._lock:
            if self.quantized:
                base = (
                    self.base
                    if adapter is None and self.adapter_id is None
                    else load_causal_lm(self.model_ref, self.home, "cpu")[0]
                )
            else:
                base = self.model.unload() if isinstance(self.model, PeftModel) else self.base
            try:
                model = base if adapter is None else PeftModel.from_pretrained(base, str(adapter))
            except Exception as exc:
                # Put the previous adapter back so a bad candidate never leaves the app without one.
                self.model = base
                if self.adapter_path is not None and not self.quantized:
                    self.model = PeftModel.from_pretrained(base, str(self.adapter_path)).eval()
                raise AdapterError(f"adapter {adapter} cannot be loaded: {exc}") from exc
            if self.quantized:
                if adapter is not None:
                    model = model.merge_and_unload()
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self.model = model.eval()
            self.adapter_path = None if adapter is None else Path(adapter)
            self.adapter_id = None if adapter is None else (adapter_id or Path(adapter).name)

    # --- text -------------------------------------------------------------------------------
    def count_tokens(self, messages: list[dict]) -> int:
        return len(chat_ids(self.tokenizer, messages))

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop = threading.Event()

        class StopWhenClosed(StoppingCriteria):
            """Ends generation when the caller stops reading (a loop or an unsupported claim was seen)."""

            def __call__(self, input_ids, scores, **kw):
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

        max_new = max_new_tokens or self.cfg.max_new_tokens
        ids = chat_ids(self.tokenizer, messages)
        keep = max(16, self.cfg.context_tokens - max_new)
        ids = ids[-keep:]  # over-long prompts lose their oldest tokens, never the question
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
        kwargs = dict(
            input_ids=torch.tensor([ids], device=self.device),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self.device),
            max_new_tokens=max_new,
            streamer=streamer,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            stopping_criteria=StoppingCriteriaList([StopWhenClosed()]),
            **sampling_kwargs(self.cfg),
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    torch.manual_seed(self.cfg.seed)
                    self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced to the caller after the stream ends
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:  # also on close(): the model thread stops at its next token instead of running on
            stop.set()
            thread.join()
        if errors:
            raise errors[0]


def print_stream(generator, text: str) -> None:
    """Stream one reply to the terminal with its timings (the generators' `python -m` demos)."""
    t0, n, first = time.perf_counter(), 0, None
    for piece in generator.stream([{"role": "user", "content": text or "Hello!"}]):
        first = first or time.perf_counter() - t0
        n += 1
        print(piece, end="", flush=True)
    print(f"\n[first piece {first:.2f}s, {n} pieces in {time.perf_counter() - t0:.1f}s]")


def _open(cfg, why: str) -> TransformersGenerator:
    generator = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation)
    generator.engine_reason = why
    return generator


ENGINE = Engine("transformers", open=_open, gpu=True)  # loads peft adapters as they are: nothing to prepare


if __name__ == "__main__":
    from assistant.config import load_config

    c = load_config()
    g = TransformersGenerator(c.models.generator, c.home, c.generation)
    print(f"loaded in {g.load_seconds:.1f}s on {g.device}")
    print_stream(g, " ".join(sys.argv[1:]))
