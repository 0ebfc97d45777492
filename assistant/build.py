"""Compose an `Assistant` from a config: generator, store, taggers and an injected retriever.

The retriever comes from a factory the caller passes in (app.py and the CLI pass
`index.open_for_config`), so `assistant` never imports `index`.
"""

from __future__ import annotations

from typing import Callable

from assistant.config import Config
from assistant.errors import LoopdeskError
from assistant.generation import TransformersGenerator
from assistant.pipeline import Assistant
from assistant.store import Store
from assistant.types import Retriever


def live_adapter(cfg: Config):
    """(path, version) of the live generator adapter recorded in the registry, or (None, None)."""
    import json
    from pathlib import Path

    from assistant.taggers import _dir

    registry = _dir(cfg.models.adapters_dir)
    live = registry / "live.json" if registry else None
    if not live or not live.is_file():
        return None, None
    try:
        version = json.loads(live.read_text())["version"]
    except (ValueError, KeyError):
        return None, None
    path = registry / version
    return (path, version) if Path(path).is_dir() else (None, None)


def build_assistant(cfg: Config, open_retriever: Callable[[Config], Retriever] | None = None,
                    with_taggers: bool = True) -> Assistant:
    from assistant.taggers import load_taggers

    store = Store(cfg.store_url, cfg.store.retries)
    adapter, version = live_adapter(cfg)
    generator = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation, adapter)
    if version:
        generator.adapter_id = version
    retriever, problem = None, None
    if open_retriever is not None:
        try:
            retriever = open_retriever(cfg)
        except LoopdeskError as exc:
            problem = str(exc)
    sentiment = ner = None
    problems = ["taggers disabled"]
    if with_taggers:
        sentiment, ner, problems = load_taggers(cfg)
    return Assistant(cfg, generator, store, retriever, sentiment, ner, retriever_problem=problem,
                     tagger_problems=problems)
