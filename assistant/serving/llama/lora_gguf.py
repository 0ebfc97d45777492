"""Convert a peft LoRA adapter (safetensors) into a GGUF LoRA adapter that llama.cpp applies at run time.

    python -m assistant.serving.llama.lora_gguf models/adapters/grounded-v1  # writes adapter.gguf there

The fast CPU engine (`assistant.serving.llama.generator`) serves the bundled GGUF with the live adapter
applied per request, so a promotion needs this file next to the peft weights. `finetune promote`
writes it; the engine also writes it on first use for adapters promoted before it existed. The
write is atomic (a temp file and os.replace), so a replica never reads half a file.

What the conversion does, and why:
- tensor names follow llama.cpp's llama layout (`blk.N.attn_q.weight.lora_a` / `.lora_b`);
- peft's lora_A (r x in) and lora_B (out x r) are already in the row-major order GGUF expects;
- llama.cpp stores q and k with the rotary halves interleaved differently from Hugging Face (the
  GGUF converter permutes them; transformers un-permutes them when it loads a GGUF), so lora_B of
  q_proj and k_proj is permuted the same way, on its output rows;
- `adapter.lora.alpha` carries peft's lora_alpha: llama.cpp scales by alpha / r as peft does.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from assistant.errors import AdapterError

GGUF_NAME = "adapter.gguf"
_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"(?:base_model\.model\.)?model\.layers\.(\d+)\.(.+)\.lora_([AB])(?:\.default)?\.weight$")


def _permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Hugging Face -> llama.cpp rotary layout for the output rows of a q or k projection."""
    return rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def base_metadata(base_gguf: Path) -> dict:
    """Architecture and head counts of the base model (needed for the q/k permutation)."""
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))

    def field(name: str):
        f = reader.fields.get(name)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if arch != "llama":
        raise AdapterError(f"{base_gguf}: LoRA conversion supports llama-architecture models, not {arch!r}")
    return {
        "arch": arch,
        "n_head": int(field("llama.attention.head_count")),
        "n_head_kv": int(field("llama.attention.head_count_kv")),
    }


def gguf_is_current(adapter_dir: Path) -> bool:
    """adapter.gguf exists and is newer than the peft weights it was made from."""
    target, source = adapter_dir / GGUF_NAME, adapter_dir / "adapter_model.safetensors"
    try:
        return target.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except OSError:
        return False


def servable_by_llama_cpp(adapter_dir: str | Path) -> None:
    """Refuse adapters llama.cpp cannot apply (it applies LoRA matrices only), saying what can."""
    try:
        kind = json.loads((Path(adapter_dir) / "adapter_config.json").read_text()).get("peft_type", "LORA")
    except (OSError, ValueError) as exc:
        raise AdapterError(f"adapter {adapter_dir} cannot be read: {exc}") from exc
    if kind != "LORA":
        raise AdapterError(
            f"{kind} adapters cannot be served by llama.cpp (it applies LoRA only): train with --method lora, "
            "or serve with the transformers engine"
        )


def convert_adapter(adapter_dir: str | Path, base_gguf: str | Path) -> Path:
    """Write `<adapter_dir>/adapter.gguf` (unless current); returns its path. Raises AdapterError."""
    import gguf
    from safetensors.numpy import load_file

    d = Path(adapter_dir)
    servable_by_llama_cpp(d)
    if gguf_is_current(d):
        return d / GGUF_NAME
    try:
        config = json.loads((d / "adapter_config.json").read_text())
        weights = load_file(str(d / "adapter_model.safetensors"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"adapter {d} cannot be read for conversion: {exc}") from exc
    if config.get("use_dora") or config.get("use_rslora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise AdapterError(f"adapter {d}: DoRA, rsLoRA and per-module ranks have no llama.cpp form")
    meta = base_metadata(Path(base_gguf))
    tensors: dict[str, np.ndarray] = {}
    for key, value in weights.items():
        m = _KEY.match(key)
        if m is None or m.group(2) not in _MODULES:
            raise AdapterError(f"adapter {d}: tensor {key} has no llama.cpp counterpart")
        layer, module, part = int(m.group(1)), m.group(2), m.group(3)
        array = value.astype(np.float32)
        if part == "B" and module == "self_attn.q_proj":
            array = _permute(array, meta["n_head"])
        elif part == "B" and module == "self_attn.k_proj":
            array = _permute(array, meta["n_head_kv"])
        tensors[f"blk.{layer}.{_MODULES[module]}.weight.lora_{part.lower()}"] = np.ascontiguousarray(array)
    if not tensors:
        raise AdapterError(f"adapter {d} holds no LoRA weights")
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".adapter-", suffix=".gguf")
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, meta["arch"])
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config.get("lora_alpha", config.get("r", 8))))
        for name in sorted(tensors):
            writer.add_tensor(name, tensors[name])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)  # mkstemp makes it private; other replicas' users read it too
        os.replace(tmp, d / GGUF_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return d / GGUF_NAME


if __name__ == "__main__":
    from assistant.config import load_config
    from assistant.serving.llama.weights import base_gguf_path

    cfg = load_config()
    for arg in sys.argv[1:]:
        print(convert_adapter(arg, base_gguf_path(cfg.models.generator, cfg.home)))
