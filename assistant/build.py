"""Compose an `Assistant` from a config: generator, store, taggers and an injected retriever.

The retriever comes from a factory the caller passes in (app.py and the CLI pass
`index.open_for_config`), so `assistant` never imports `index`.
"""

from __future__ import annotations

import logging
from typing import Callable

from assistant.adapters import LiveAdapterWatcher
from assistant.config import Config, local_path
from assistant.errors import LoopdeskError
from assistant.generation import TransformersGenerator
from assistant.llama_generator import LlamaCppGenerator
from assistant.pipeline import Assistant
from assistant.pii import PiiRedactor
from assistant.spool import Spool
from assistant.store import Store
from assistant.types import Retriever
from assistant.unavailable import Unavailable


def open_store(cfg: Config) -> Store:
    """The conversation store of a config (every entry point opens it here)."""
    return Store(cfg.store_url, cfg.store.retries)


def choose_engine(cfg: Config) -> tuple[str, str, bool]:
    """(engine, why, degraded) for an in-process generator: `generation.engine`, or for `auto`
    transformers on a GPU, llama.cpp on a CPU when it is installed and the model is a GGUF, else
    transformers on the CPU — degraded: slower, and said so in the log."""
    import importlib.util

    from assistant.llama_generator import base_gguf_path

    g = cfg.generation
    if g.engine != "auto":
        return g.engine, "generation.engine", False
    if g.device == "cuda" or (g.device == "auto" and _cuda()):
        return "transformers", "a GPU is present (bf16)", False
    if importlib.util.find_spec("llama_cpp") is None:
        return (
            "transformers",
            "llama-cpp-python is not installed (pip install llama-cpp-python): slower CPU decoding",
            True,
        )
    try:
        base_gguf_path(cfg.models.generator, cfg.home)
    except LoopdeskError as exc:
        return "transformers", f"no GGUF for llama.cpp ({exc}): slower CPU decoding", True
    return "llama.cpp", "CPU, GGUF model", False


def _leave_cores_to_llama() -> None:
    """One torch thread beside llama.cpp: the taggers and the embedder are small, and torch's OpenMP
    threads spinning against llama.cpp's own slowed decoding from 56 to 24 tokens/s on 2 cores
    (measured in one process, a turn's tagging then 64 tokens)."""
    import torch

    torch.set_num_threads(1)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def open_generator(cfg: Config):
    """A model server by URL (`openai:http://host:8000/v1#model`), or in process: llama.cpp with
    continuous batching (the CPU default) or transformers (GPUs, training, evals that need logits)."""
    from assistant.openai_generator import PREFIX, OpenAIGenerator

    if cfg.models.generator.startswith(PREFIX):
        return OpenAIGenerator(cfg.models.generator, cfg.generation)
    engine, why, degraded = choose_engine(cfg)
    generator: LlamaCppGenerator | TransformersGenerator
    if engine == "llama.cpp":
        generator = LlamaCppGenerator(cfg.models.generator, cfg.home, cfg.generation, cfg.app.turn_seconds)
        adapter = "folded into the weights" if generator.merge else "applied at run time"
        why += f"; {generator.weight_type} weights, adapter {adapter}, {generator.engine.slots} replies per batch"
        _leave_cores_to_llama()
    else:
        generator = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation)
    generator.engine_reason = why
    log = logging.getLogger("loopdesk.generation")
    (log.warning if degraded else log.info)("generation engine: %s (%s)", engine, why)
    return generator


def build_assistant(
    cfg: Config, open_retriever: Callable[[Config], Retriever] | None = None, with_taggers: bool = True
) -> Assistant:
    from assistant.taggers import load_taggers

    store = open_store(cfg)
    generator = open_generator(cfg)
    watcher = None
    registry = local_path(cfg.models.adapters_dir)
    if registry is not None:
        # The database record is what every replica follows; live.json until one exists.
        watcher = LiveAdapterWatcher(registry, generator, pointer=lambda: store.deployed("live_adapter"))
        watcher.refresh()  # loads the live adapter now; a corrupt one leaves the base model serving
    retriever, problem = None, None
    if open_retriever is not None:
        try:
            retriever = follow_deployment(open_retriever(cfg), store)
        except LoopdeskError as exc:
            problem = str(exc)
    sentiment, ner = Unavailable("sentiment tagger", "taggers disabled"), Unavailable("NER tagger", "taggers disabled")
    problems = ["taggers disabled"]
    if with_taggers:
        sentiment, ner, problems = load_taggers(cfg)
    return Assistant(
        cfg,
        generator,
        store,
        retriever,
        sentiment,
        ner,
        retriever_problem=problem,
        tagger_problems=problems,
        adapter_watcher=watcher,
        open_retriever=lambda c: follow_deployment(open_retriever(c), store) if open_retriever else None,
        spool=Spool(cfg.spool_path),
        redactor=PiiRedactor(cfg.store.redact_contact, cfg.home),
    )


def follow_deployment(retriever, store: Store):
    """Make an index follow the build recorded in the database (what every replica serves) — a record
    for another index directory (a config that moved) is ignored rather than chased."""
    from pathlib import Path

    if retriever is not None and hasattr(retriever, "pointer"):
        here = Path(retriever.directory).resolve()

        def pointer() -> str | None:
            record = store.deployed("index_build") or {}
            return record.get("name") if Path(record.get("dir") or "/").resolve() == here else None

        retriever.pointer = pointer
    return retriever
