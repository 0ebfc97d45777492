"""The GGUF files llama.cpp serves: the bundled model's file, and the weight type it is served in
(converted once from the shipped Q4_1 and cached under `<home>/models/`).

    python -m assistant.serving.llama.probe --weights all   # convert and decode every servable type
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ModelNotFoundError
from assistant.models import BUNDLED, _package_dir


def base_gguf_path(ref: str, home: Path) -> Path:
    """The GGUF file behind a generator reference (a bundled model or a path to a .gguf file)."""
    if ref.startswith("bundled:"):
        info = BUNDLED.get(ref.split(":", 1)[1])
        pkg = _package_dir(info.package) if info else None
        if info is None or info.file is None or pkg is None:
            raise ModelNotFoundError(f"{ref} has no installed GGUF file for llama.cpp")
        return pkg / info.file
    path = Path(ref).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise ModelNotFoundError(f"llama.cpp needs a GGUF model; models.generator={ref!r} is not one")


WEIGHT_TYPES = {"bf16": 32, "f16": 1, "q8_0": 7}  # llama_ftype values


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def pick_weight_type(setting: str) -> str:
    """`auto`: bf16 where the CPU multiplies bf16 natively (AVX512-BF16, AMX), else f16."""
    if setting != "auto":
        return setting
    return "bf16" if cpu_flags() & {"avx512_bf16", "amx_bf16"} else "f16"


def serving_gguf(base: Path, home: Path, weight_type: str) -> Path:
    """The model in the weight type llama.cpp serves fastest here, converted once into
    `<home>/models/` (temp file + rename). Why: llama.cpp has no fast batched kernel for the bundled
    Q4_1, so a prompt is read at 214 tokens/s; the same weights de-quantized to bf16 read 942 tokens/s
    (f16 558) on this 2-core machine. bf16 rounds the
    Q4_1 values to 8 significant bits, f16 to 11: what the transformers path multiplies in fp32."""
    if weight_type == "as-is":
        return base
    target = home / "models" / f"{base.stem}.{weight_type}.gguf"
    if target.is_file():
        return target
    import ctypes
    import os
    import tempfile

    import llama_cpp as ll

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
    os.close(fd)
    try:
        params = ll.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize, params.nthread = WEIGHT_TYPES[weight_type], True, 2
        if ll.llama_model_quantize(str(base).encode(), tmp.encode(), ctypes.byref(params)) != 0:
            raise ModelNotFoundError(f"llama.cpp could not convert {base} to {weight_type}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
