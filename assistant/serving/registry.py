"""Where generation engines plug in: each entry opens a `Generator` and prepares a promoted adapter.

An engine is one module that defines `ENGINE = Engine(...)` and one line in `_BUILTIN` below (the
module path, imported only when an engine is chosen, so `import assistant` stays light). Promotion
(`finetune`) asks `prepare_adapter(cfg)` and never imports a particular engine; `assistant.build`
asks `open_generator(cfg)`.

    python -m assistant.serving.registry      # the engines and which one `generation.engine=auto` picks here
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from assistant.config import Config
from assistant.plugins import Registry
from assistant.serving.engine import Engine
from assistant.types import Generator

log = logging.getLogger("loopdesk.generation")

# name -> module defining ENGINE; order is the preference of `generation.engine = "auto"` on a CPU
_BUILTIN: dict[str, str] = {
    "openai": "assistant.serving.openai_generator",  # a model server by URL (`openai:http://...`)
    "llama.cpp": "assistant.serving.llama.generator",
    "transformers": "assistant.serving.transformers_generator",
}
_REGISTRY: Registry["Engine"] = Registry(_BUILTIN, "ENGINE")


def register(engine: Engine) -> Engine:
    """Add (or replace) one; tests register fakes this way."""
    return _REGISTRY.register(engine.name, engine)


def unregister(name: str) -> None:
    _REGISTRY.unregister(name)


def engines() -> dict[str, Engine]:
    return _REGISTRY.all()


def choose_engine(cfg: Config) -> tuple[Engine, str, bool]:
    """(engine, why, degraded): the engine that owns the model reference; else `generation.engine`;
    else for `auto` the GPU engine where CUDA is present, then the first engine that can run here —
    a later choice than the first CPU engine is degraded (slower), and said so in the log."""
    all_engines = engines()
    for engine in all_engines.values():
        if engine.owns is not None and engine.owns(cfg.models.generator):
            return engine, "a model server", False
    g = cfg.generation
    if g.engine != "auto":
        if g.engine not in all_engines:
            from assistant.errors import ConfigError

            raise ConfigError(f"generation.engine={g.engine!r} is none of {', '.join(all_engines)}")
        return all_engines[g.engine], "generation.engine", False
    if g.device == "cuda" or (g.device == "auto" and _cuda()):
        gpu = next(e for e in all_engines.values() if e.gpu)
        return gpu, "a GPU is present (bf16)", False
    why_not: list[str] = []
    for engine in all_engines.values():
        if engine.owns is not None:
            continue
        reason = engine.unavailable(cfg)
        if not reason:
            return engine, "; ".join(why_not) or engine.runs_because, bool(why_not)
        why_not.append(reason)
    raise AssertionError("the transformers engine always runs")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def open_generator(cfg: Config) -> Generator:
    """The generator `assistant.build` serves with; the log says which engine and why."""
    engine, why, degraded = choose_engine(cfg)
    generator = engine.open(cfg, why)
    (log.warning if degraded else log.info)("generation engine: %s (%s)", engine.name, generator.engine_reason)
    return generator


def prepare_adapter(cfg: Config) -> Callable[[Path], Path] | None:
    """What a promotion writes before an adapter goes live: each engine that can run here prepares
    it for itself (llama.cpp: a GGUF LoRA, and the model with it folded in), since replicas may
    serve with another engine than the process that promotes. None when no engine needs anything."""
    steps = [p for e in engines().values() if not e.unavailable(cfg) and (p := e.prepare_adapter(cfg))]
    if not steps:
        return None

    def prepare(adapter_dir: Path) -> Path:
        out = adapter_dir
        for step in steps:
            out = step(adapter_dir)
        return out

    return prepare


if __name__ == "__main__":
    from assistant.config import load_config

    c = load_config()
    for n, e in engines().items():
        status = "chosen by its models.generator reference" if e.owns else e.unavailable(c) or "available"
        print(f"{n:13} {status}")
    chosen, reason, _ = choose_engine(c)
    print(f"auto picks: {chosen.name} ({reason})")
